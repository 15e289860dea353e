//! Answers a user can trust: on a real contract PDF, the plain questions a new
//! user asks get the governing law named and no date the contract does not
//! hold, from the default pipeline (`extract` on the built-in model) and from a
//! generator pipeline whose claims are checked.

use folio_eval::answers::{literal_grounding, LiteralGrounding};
use folio_query::answer::Answer;
use folio_query::document::DocumentView;
use serde_json::{json, Value};

use crate::harness::{fixture, Server, CONTRACT_PDF};

/// `folio eval`'s literal check of a shown answer (asked with its trace, so the
/// body is a whole [`Answer`]): claims whose figures or names their citations
/// lack, and figures the document lacks.
fn grounding(answer: &Value, view: &DocumentView) -> LiteralGrounding {
    let answer: Answer = serde_json::from_value(answer.clone()).expect("an answer body");
    literal_grounding(&answer, Some(view))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contract_pdf_gets_its_governing_law_and_no_invented_date() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let id = server
        .ingest_one("corio.pdf", fixture(CONTRACT_PDF), "contracts")
        .await;
    let (_, text) = server.get(&format!("/v1/documents/{id}/text")).await;
    let view = DocumentView::new(
        id.clone(),
        "corio.pdf".into(),
        text["version"].as_i64().unwrap_or(1),
        text["text"].as_str().unwrap().to_string(),
        Default::default(),
        Vec::new(),
    );

    // The default pipeline on the built-in model: the evidence itself.
    for (question, must_name) in [
        ("Which state's law governs this agreement?", "california"),
        ("governing law?", "california"),
        ("What is the date of this agreement?", "october 29, 1999"),
        ("effective date?", "october 29, 1999"),
        ("how long is the initial term", "five (5) years"),
    ] {
        let (status, answer) = server
            .post(
                "/v1/ask",
                json!({"question": question, "documents": [id], "trace": true}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["pipeline"], "extract", "{answer}");
        assert_eq!(answer["no_answer"], false, "{question}: {answer}");
        let shown = answer["answer"].as_str().unwrap().to_lowercase();
        assert!(shown.contains(must_name), "{question}: {shown}");
        // Quotes and values only: every figure and name is in its citation.
        let checked = grounding(&answer, &view);
        assert_eq!(
            (checked.unsupported, checked.fabricated),
            (0, 0),
            "{question}: {shown}"
        );
        assert!(!answer["citations"].as_array().unwrap().is_empty());
        assert!(answer["timings"]["total_s"].as_f64().unwrap() < 30.0);
    }

    // A generator pipeline: whatever the 135M model writes, no shown claim
    // carries a figure its sources lack, and every claim has its verdict.
    for question in [
        "Which state's law governs this agreement?",
        "What is the date of this agreement?",
    ] {
        let (status, answer) = server
            .post(
                "/v1/ask",
                json!({"question": question, "documents": [id], "pipeline": "plain", "trace": true}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        let checked = grounding(&answer, &view);
        assert_eq!(checked.fabricated, 0, "{question}: {answer}");
        for claim in answer["claims"].as_array().unwrap() {
            assert!(
                claim["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{claim}"
            );
            if claim["supported"] == false {
                assert_eq!(
                    claim["shown"], false,
                    "the built-in model's unsupported claims are dropped: {claim}"
                );
            }
        }
    }
}
