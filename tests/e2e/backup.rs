//! Backups: `folio admin backup` while the server ingests, `folio admin restore`
//! into a new data directory, and the restored deployment answering the same
//! question with the same citations.

use serde_json::{json, Value};

use crate::harness::{consistency, eval_doc, folio, small_document_set, wait_all_ready, Server};

const QUESTION: &str = "Which party may terminate the agreement, and with how much notice?";

/// The parts of an answer that must survive a restore unchanged.
async fn answer_and_hits(server: &Server) -> (Value, Value, Vec<String>) {
    let (status, answer) = server
        .post(
            "/v1/ask",
            json!({"question": QUESTION, "pipeline": "plain"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let citations: Vec<Value> = answer["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["document_id"], c["char_start"], c["char_end"], c["quote"]]))
        .collect();
    let (status, hits) = server
        .post("/v1/search", json!({"query": QUESTION, "limit": 20}))
        .await;
    assert_eq!(status, 200, "{hits}");
    let ids = hits["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["chunk"]["id"].as_str().unwrap().to_string())
        .collect();
    (answer["answer"].clone(), Value::Array(citations), ids)
}

fn run_folio(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    folio(data_dir).args(args).output().expect("folio runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_while_ingesting_then_restore_answers_the_same() {
    let original = tempfile::tempdir().unwrap();
    let server = Server::start(original.path(), &[]);
    let mut files = small_document_set();
    let named: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let (status, body) = server.upload(&named, "default").await;
    assert_eq!(status, 202, "{body}");
    wait_all_ready(&server, files.len()).await;

    // One more document is still being ingested when the backup runs.
    let late = (
        "ulta.pdf".to_string(),
        eval_doc("fb-ULTABEAUTY_2023Q4_EARNINGS.pdf"),
    );
    let (status, body) = server.upload(&[(&late.0, late.1.clone())], "default").await;
    assert_eq!(status, 202, "{body}");
    files.push(late);
    let backups = tempfile::tempdir().unwrap();
    let backup_dir = backups.path().join("backup");
    let backup_arg = backup_dir.to_str().unwrap();
    let output = run_folio(original.path(), &["admin", "backup", backup_arg]);
    assert!(
        output.status.success(),
        "backup: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup_dir.join("folio-backup.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["missing_blobs"], json!([]), "{manifest}");
    assert_eq!(manifest["blobs"], files.len(), "{manifest}");
    let refused = run_folio(original.path(), &["admin", "backup", backup_arg]);
    assert!(
        !refused.status.success(),
        "a backup never overwrites another"
    );

    wait_all_ready(&server, files.len()).await;
    let before = answer_and_hits(&server).await;
    server.kill();

    let restored = tempfile::tempdir().unwrap();
    let output = run_folio(restored.path(), &["admin", "restore", backup_arg]);
    assert!(
        output.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A second restore over a deployment needs --force.
    let refused = run_folio(restored.path(), &["admin", "restore", backup_arg]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // With --force it replaces the deployment (database, blobs, rebuilt indexes).
    let forced = run_folio(
        restored.path(),
        &["admin", "restore", backup_arg, "--force"],
    );
    assert!(
        forced.status.success(),
        "restore --force: {}",
        String::from_utf8_lossy(&forced.stderr)
    );

    let server = Server::start(restored.path(), &[]);
    // The document that was mid-ingestion in the snapshot is ingested again.
    wait_all_ready(&server, files.len()).await;
    let after = answer_and_hits(&server).await;
    assert_eq!(after.2, before.2, "search ranks the same chunks");
    assert_eq!(after.1, before.1, "the same citations");
    assert_eq!(after.0, before.0, "the same answer");
    server.kill();
    let counts = consistency(restored.path()).await;
    assert_eq!(counts.ready_documents as usize, files.len(), "{counts:?}");
    counts.assert_indexes_agree("restored");
    assert_eq!(
        (counts.open_jobs, counts.orphan_blobs),
        (0, 0),
        "{counts:?}"
    );

    // `reindex` rebuilds the same indexes from the rows (an idempotent repair).
    let output = run_folio(restored.path(), &["admin", "reindex"]);
    assert!(
        output.status.success(),
        "reindex: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let again = consistency(restored.path()).await;
    assert_eq!(again.db_chunks, counts.db_chunks);
    again.assert_indexes_agree("reindexed");
}
