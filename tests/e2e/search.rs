//! Search over HTTP and from the command line, and `folio eval` on a tiny set.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{folio_ok, Server};

const CONTRACT: &str = "# SUPPLY AGREEMENT\n\n\
## Article 1 Delivery\n\n\
The Supplier shall deliver the valves every month to the Buyer's warehouse in Toledo, Ohio. \
Each shipment carries purchase order number PO-77341-ZX.\n\n\
## Article 2 Payment\n\n\
The Buyer shall pay each invoice within forty-five (45) days of receipt.\n\n\
## Article 3 Termination\n\n\
Either party may terminate this Agreement for convenience on ninety (90) days' written notice.\n\n\
## Article 4 Governing Law\n\n\
This Agreement is governed by the laws of the State of Delaware.\n";

const MEMO: &str = "# Memo\n\nThe cafeteria serves soup on Mondays. Staff may terminate lunch plans at any time.\n";

#[tokio::test(flavor = "multi_thread")]
async fn search_over_http_and_the_cli() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let (status, body) = server
        .upload(&[("supply.md", CONTRACT.as_bytes().to_vec())], "contracts")
        .await;
    assert_eq!(status, 202, "{body}");
    let contract = body["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = server
        .upload(&[("memo.md", MEMO.as_bytes().to_vec())], "memos")
        .await;
    assert_eq!(status, 202, "{body}");
    let memo = body["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in [&contract, &memo] {
        let doc = server.wait_settled(id, Duration::from_secs(120)).await;
        assert_eq!(doc["status"], "ready", "{doc}");
    }

    let (status, body) = server.post("/v1/search",
        json!({"query": "ninety days written notice to terminate the Agreement for convenience", "limit": 3}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "hybrid");
    let top = &body["candidates"][0];
    assert_eq!(top["rank"], 1);
    assert!(
        top["chunk"]["text"]
            .as_str()
            .unwrap()
            .contains("ninety (90) days"),
        "{top}"
    );
    assert!(
        top["bm25"]["rank"].is_u64() && top["dense"]["rank"].is_u64(),
        "{top}"
    );
    assert!(body["timings"]["total_ms"].is_number());

    // Filters: a collection by name, a document by id.
    let (status, body) = server
        .post(
            "/v1/search",
            json!({"query": "terminate", "collections": ["memos"], "mode": "bm25"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let hits = body["candidates"].as_array().unwrap();
    assert!(!hits.is_empty());
    assert!(hits
        .iter()
        .all(|c| c["chunk"]["document_id"] == memo.as_str()));
    let (status, body) = server
        .post(
            "/v1/search",
            json!({"query": "terminate", "documents": [contract.clone()], "mode": "dense"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["chunk"]["document_id"] == contract.as_str()));

    // Errors keep the API's error shape.
    let (status, body) = server.post("/v1/search", json!({"query": "  "})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_query")),
        "{body}"
    );
    let (status, body) = server
        .post("/v1/search", json!({"query": "x", "collections": ["nope"]}))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("collection_not_found")),
        "{body}"
    );
    server.kill();

    // The CLI gives the same body with --json.
    let body: Value = serde_json::from_slice(&folio_ok(
        data.path(),
        &[
            "search",
            "PO-77341-ZX",
            "--mode",
            "bm25",
            "--limit",
            "1",
            "--json",
        ],
    ))
    .unwrap();
    assert!(body["candidates"][0]["chunk"]["text"]
        .as_str()
        .unwrap()
        .contains("PO-77341-ZX"));
    // With `retrieval.query_embed_threads` > 0 questions are embedded by a session
    // of their own; both sessions run the same model.
    let dense_search = |query_threads: &str| -> Vec<(String, f64)> {
        let output = crate::harness::folio(data.path())
            .env("FOLIO__RETRIEVAL__QUERY_EMBED_THREADS", query_threads)
            .args(["search", "paying invoices", "--mode", "dense", "--json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let body: Value = serde_json::from_slice(&output.stdout).unwrap();
        body["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let id = c["chunk"]["id"].as_str().unwrap().to_string();
                (id, c["dense"]["score"].as_f64().unwrap())
            })
            .collect()
    };
    let (own, shared) = (dense_search("1"), dense_search("0"));
    assert_eq!(own.len(), 2, "{own:?}");
    for ((own_id, own_score), (shared_id, shared_score)) in own.iter().zip(&shared) {
        assert_eq!(own_id, shared_id);
        assert!(
            (own_score - shared_score).abs() < 1e-4,
            "{own:?} vs {shared:?}"
        );
    }
    let text = String::from_utf8(folio_ok(
        data.path(),
        &["search", "Delaware law", "--doc", &contract],
    ))
    .unwrap();
    // A document this short is one chunk: its heading path and the timing line show.
    assert!(
        text.contains("SUPPLY AGREEMENT") && text.contains("results in"),
        "{text}"
    );

    // XL3M selection with the local model: the trace carries every segment's scores.
    let question = "Which state's law governs?";
    let context: Value = serde_json::from_slice(&folio_ok(
        data.path(),
        &["select", question, "--doc", &contract, "--json"],
    ))
    .unwrap();
    assert_eq!(context["scope"], "retrieved");
    let segments = context["selection"]["segments"].as_array().unwrap();
    assert!(!segments.is_empty());
    assert_eq!(segments[0]["kept"], true);
    assert!(segments[0]["scores"]["entropy"].as_f64().unwrap() > 0.0);
    assert!(context["selection"]["key_context"]
        .as_str()
        .unwrap()
        .contains("Delaware"));
    let text = String::from_utf8(folio_ok(
        data.path(),
        &["select", question, "--doc", &contract, "--whole-document"],
    ))
    .unwrap();
    assert!(text.contains("key context"), "{text}");
}

#[test]
fn eval_reports_every_mode_on_a_tiny_set() {
    let data = tempfile::tempdir().unwrap();
    let set = tempfile::tempdir().unwrap();
    std::fs::create_dir(set.path().join("docs")).unwrap();
    std::fs::write(set.path().join("docs/supply.txt"), CONTRACT).unwrap();
    let span = |needle: &str| {
        let byte = CONTRACT.find(needle).unwrap();
        let start = CONTRACT[..byte].chars().count();
        (start, start + needle.chars().count())
    };
    let mut lines = String::new();
    for (id, question, needle, source) in [
        (
            "q1",
            "What purchase order number do shipments carry?",
            "Each shipment carries purchase order number PO-77341-ZX.",
            "CUAD v1",
        ),
        (
            "q2",
            "Which state's laws govern the agreement?",
            "This Agreement is governed by the laws of the State of Delaware.",
            "FinanceBench",
        ),
        ("q3", "Is there a non-compete?", "", "CUAD v1"),
    ] {
        let evidence = if needle.is_empty() {
            json!([])
        } else {
            let (start, end) = span(needle);
            json!([{"doc_id": "supply", "start": start, "end": end, "text": needle}])
        };
        let answers = if needle.is_empty() {
            json!([])
        } else {
            json!([needle])
        };
        lines.push_str(
            &json!({"id": id, "doc_id": "supply", "question": question, "answers": answers, "evidence": evidence, "source": source})
                .to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(set.path().join("questions.jsonl"), lines).unwrap();

    let set_dir = set.path().to_string_lossy().into_owned();
    let run = || {
        let args = [
            "eval",
            "--mode",
            "bm25,dense,hybrid,hybrid+window",
            "--json",
            "--set",
            &set_dir,
        ];
        serde_json::from_slice::<Value>(&folio_ok(data.path(), &args)).unwrap()
    };
    let report = run();
    assert_eq!(
        report["questions"], 2,
        "unanswerable questions are not scored: {report}"
    );
    for mode in ["bm25", "dense", "hybrid", "hybrid+window"] {
        let r = &report["retrieval"][mode];
        assert_eq!(r["n"], 2, "{mode}: {report}");
        for key in [
            "recall@1",
            "recall@3",
            "recall@10",
            "mrr",
            "p50_ms",
            "p95_ms",
        ] {
            assert!(r[key].is_number(), "{mode}.{key}: {report}");
        }
        // A four-section contract: every mode finds both spans in its top 10.
        assert_eq!(r["recall@10"], 1.0, "{mode}: {report}");
    }
    assert_eq!(report["retrieval"]["bm25"]["recall@1"], 1.0, "{report}");
    assert_eq!(report["by_source"]["CUAD"]["hybrid"]["n"], 1, "{report}");
    assert_eq!(
        report["by_source"]["FinanceBench"]["hybrid"]["n"], 1,
        "{report}"
    );
    // The second run reuses the ingested cache and gives the same figures.
    let again = run();
    assert_eq!(
        again["retrieval"]["bm25"]["recall@3"],
        report["retrieval"]["bm25"]["recall@3"]
    );

    // Answer metrics: every question, the unanswerable one included.
    let args = [
        "eval",
        "--mode",
        "none",
        "--answers",
        "plain,+alr2",
        "--json",
        "--set",
        &set_dir,
    ];
    let report: Value = serde_json::from_slice(&folio_ok(data.path(), &args)).unwrap();
    assert!(
        report["retrieval"].as_object().unwrap().is_empty(),
        "{report}"
    );
    assert_eq!(report["answers_setup"]["questions"], 3, "{report}");
    for pipeline in ["plain", "+alr2"] {
        let r = &report["answers"][pipeline];
        assert_eq!(r["n"], 3, "{pipeline}: {report}");
        assert_eq!(r["citation_validity"], 1.0, "{pipeline}: {report}");
        for key in [
            "cuad_span_f1",
            "no_answer_acc",
            "fin_match",
            "fin_page_hit",
            "p50_s",
        ] {
            assert!(r[key].is_number(), "{pipeline}.{key}: {report}");
        }
        for key in [
            "cuad_span_f1",
            "no_answer_acc",
            "fin_match",
            "answered_rate",
        ] {
            let value = r[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&value), "{pipeline}.{key}: {report}");
        }
    }
    assert!(report["answers"]["plain"]["rejected_fact_rate"].is_null());
    assert!(report["answers"]["+alr2"]["rejected_fact_rate"].is_number());
    let log = std::fs::read_to_string(
        data.path()
            .join("eval")
            .join(set.path().file_name().unwrap())
            .join("answers.jsonl"),
    )
    .unwrap();
    assert_eq!(
        log.lines().count(),
        6,
        "one record per question and pipeline"
    );
}
