//! Answers a user can trust: on a real contract PDF, the plain questions a new
//! user asks get the governing law named and no date the contract does not
//! hold, from the default pipeline (`extract` on the built-in model) and from a
//! generator pipeline whose claims are checked.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::harness::{fixture, Server, CONTRACT_PDF, SETTLE};

/// Every digit run of `text` ("October 29, 1999" → 29, 1999), separators dropped.
fn figures(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == ','))
        .map(|run| run.trim_matches(',').replace(',', ""))
        .filter(|run| !run.is_empty())
        .collect()
}

/// The figures an answer shows (its markers and citation quotes aside) that the
/// document does not hold.
fn absent_figures(answer: &Value, document: &HashSet<String>) -> Vec<String> {
    let mut text = answer["answer"].as_str().unwrap_or("").to_string();
    // `[S3]`, `[P1, P2]`: markers, not figures.
    while let (Some(open), Some(close)) = (text.find('['), text.find(']')) {
        if close < open {
            break;
        }
        text.replace_range(open..=close, " ");
    }
    figures(&text)
        .into_iter()
        .filter(|f| !document.contains(f))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contract_pdf_gets_its_governing_law_and_no_invented_date() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let (status, body) = server
        .upload(&[("corio.pdf", fixture(CONTRACT_PDF))], "contracts")
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    let settled = server.wait_settled(&id, SETTLE).await;
    assert_eq!(settled["status"], "ready", "{settled}");
    let (_, text) = server.get(&format!("/v1/documents/{id}/text")).await;
    let document: HashSet<String> = figures(text["text"].as_str().unwrap())
        .into_iter()
        .collect();

    // The default pipeline on the built-in model: the evidence itself.
    for (question, must_name) in [
        ("Which state's law governs this agreement?", "california"),
        ("governing law?", "california"),
        ("What is the date of this agreement?", "october 29, 1999"),
        ("effective date?", "october 29, 1999"),
        ("how long is the initial term", "five (5) years"),
    ] {
        let (status, answer) = server
            .post("/v1/ask", json!({"question": question, "documents": [id]}))
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["pipeline"], "extract", "{answer}");
        assert_eq!(answer["no_answer"], false, "{question}: {answer}");
        let shown = answer["answer"].as_str().unwrap().to_lowercase();
        assert!(shown.contains(must_name), "{question}: {shown}");
        assert!(
            absent_figures(&answer, &document).is_empty(),
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
                json!({"question": question, "documents": [id], "pipeline": "plain"}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        let absent = absent_figures(&answer, &document);
        assert!(absent.is_empty(), "{question}: shows {absent:?}: {answer}");
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
