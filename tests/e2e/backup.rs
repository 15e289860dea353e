//! Backups: `folio admin backup` while the server ingests, `folio admin restore`
//! into a new data directory, and the restored deployment answering the same
//! question with the same citations; with SQLite, and with PostgreSQL
//! (`FOLIO_TEST_POSTGRES_URL`, which scripts/test.sh provides).

use crate::harness::{
    client_with_key, consistency, consistency_with_store, create_database, fixture, folio,
    small_document_set, wait_all_ready, Server, CONTRACT_PDF,
};
use serde_json::{json, Value};

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

/// Ingests the small document set, uploads one more document and backs up while
/// it is still being ingested (`backup` runs `folio admin backup DIR`). Returns
/// the files, the directory holding the backup (kept alive), the backup's path and
/// its manifest, checked: every referenced blob copied.
async fn ingest_then_back_up(
    server: &Server,
    backup: impl Fn(&str) -> std::process::Output,
) -> (
    Vec<(String, Vec<u8>)>,
    tempfile::TempDir,
    std::path::PathBuf,
    Value,
) {
    let mut files = small_document_set();
    let named: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let (status, body) = server.upload(&named, "default").await;
    assert_eq!(status, 202, "{body}");
    wait_all_ready(server, files.len()).await;

    // One more document is still being ingested when the backup runs.
    let late = ("contract.pdf".to_string(), fixture(CONTRACT_PDF));
    let (status, body) = server.upload(&[(&late.0, late.1.clone())], "default").await;
    assert_eq!(status, 202, "{body}");
    files.push(late);
    let backups = tempfile::tempdir().unwrap();
    let backup_dir = backups.path().join("backup");
    let output = backup(backup_dir.to_str().unwrap());
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
    (files, backups, backup_dir, manifest)
}

/// Restores into a new deployment with `restore` (`folio admin restore` and its
/// arguments), checks that a second restore over it is refused without
/// `--force` and accepted with it, and returns the restored data directory.
fn restore_then_force(
    restore: impl Fn(&std::path::Path, &[&str]) -> std::process::Output,
    backup_arg: &str,
) -> tempfile::TempDir {
    let restored = tempfile::tempdir().unwrap();
    let output = restore(restored.path(), &["admin", "restore", backup_arg]);
    assert!(
        output.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A second restore over a deployment needs --force.
    let refused = restore(restored.path(), &["admin", "restore", backup_arg]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // With --force it replaces the deployment (database, blobs, rebuilt indexes).
    let forced = restore(
        restored.path(),
        &["admin", "restore", backup_arg, "--force"],
    );
    assert!(
        forced.status.success(),
        "restore --force: {}",
        String::from_utf8_lossy(&forced.stderr)
    );
    restored
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_while_ingesting_then_restore_answers_the_same() {
    let original = tempfile::tempdir().unwrap();
    let server = Server::start(original.path(), &[]);
    let (files, _backups, backup_dir, manifest) = ingest_then_back_up(&server, |dir| {
        run_folio(original.path(), &["admin", "backup", dir])
    })
    .await;
    assert_eq!(manifest["database"], "sqlite", "{manifest}");
    let backup_arg = backup_dir.to_str().unwrap();
    let refused = run_folio(original.path(), &["admin", "backup", backup_arg]);
    assert!(
        !refused.status.success(),
        "a backup never overwrites another"
    );

    wait_all_ready(&server, files.len()).await;
    let before = answer_and_hits(&server).await;
    server.kill();

    let restored = restore_then_force(run_folio, backup_arg);

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

fn run_folio_with(
    data_dir: &std::path::Path,
    store_url: &str,
    args: &[&str],
) -> std::process::Output {
    folio(data_dir)
        .env("FOLIO_STORE_URL", store_url)
        .args(args)
        .output()
        .expect("folio runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_backup_while_ingesting_then_restore_answers_the_same() {
    let Ok(admin_url) = std::env::var("FOLIO_TEST_POSTGRES_URL") else {
        eprintln!("PostgreSQL backup test skipped: needs FOLIO_TEST_POSTGRES_URL");
        return;
    };
    let source_db = create_database(&admin_url, "backup_source").await;
    let target_db = create_database(&admin_url, "backup_target").await;

    let original = tempfile::tempdir().unwrap();
    let created = run_folio_with(
        original.path(),
        &source_db,
        &["admin", "key", "create", "--role", "admin", "--json"],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = serde_json::from_slice::<Value>(&created.stdout).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut server = Server::start_bare(original.path(), &[("FOLIO_STORE_URL", &source_db)]);
    server.http = client_with_key(&key);
    server.key = key.clone();
    let (files, _backups, backup_dir, manifest) = ingest_then_back_up(&server, |dir| {
        run_folio_with(original.path(), &source_db, &["admin", "backup", dir])
    })
    .await;
    let backup_arg = backup_dir.to_str().unwrap();
    assert_eq!(manifest["database"], "postgres", "{manifest}");
    assert!(backup_dir.join("folio.pgdump").is_file());

    wait_all_ready(&server, files.len()).await;
    let before = answer_and_hits(&server).await;
    server.kill();

    // An SQLite deployment refuses a PostgreSQL backup, and says why.
    let elsewhere = tempfile::tempdir().unwrap();
    let refused = run_folio(elsewhere.path(), &["admin", "restore", backup_arg]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("postgres"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The second restore is refused because the database holds documents.
    let restored = restore_then_force(
        |dir, args| run_folio_with(dir, &target_db, args),
        backup_arg,
    );

    // The keys came back with the database.
    // (A job that was running in the snapshot is claimed again once its lease
    // lapses; a short lease keeps the test quick.)
    let mut server = Server::start_bare(
        restored.path(),
        &[
            ("FOLIO_STORE_URL", &target_db),
            ("FOLIO__INGEST__LEASE_SECONDS", "3"),
        ],
    );
    server.http = client_with_key(&key);
    server.key = key;
    // The document that was mid-ingestion in the snapshot is ingested again.
    wait_all_ready(&server, files.len()).await;
    let after = answer_and_hits(&server).await;
    assert_eq!(after.2, before.2, "search ranks the same chunks");
    assert_eq!(after.1, before.1, "the same citations");
    assert_eq!(after.0, before.0, "the same answer");
    server.kill();
    let counts = consistency_with_store(&target_db, restored.path()).await;
    assert_eq!(counts.ready_documents as usize, files.len(), "{counts:?}");
    counts.assert_indexes_agree("restored from PostgreSQL");
    assert_eq!(
        (counts.open_jobs, counts.orphan_blobs),
        (0, 0),
        "{counts:?}"
    );
}
