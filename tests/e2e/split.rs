//! Split mode on one machine, all real processes on loopback: one ingest worker
//! and two query replicas sharing PostgreSQL (metadata and the job queue), a
//! Qdrant server (vectors), the blob directory and the full-text index
//! directory (one writer, followers). Documents are uploaded through one
//! replica and followed through the other; the worker is SIGKILLed mid-job and a
//! second worker finishes its job once the lease expires.
//!
//! Needs `FOLIO_TEST_POSTGRES_URL` (scripts/test.sh starts PostgreSQL) and
//! `QDRANT_URL` (a Qdrant server's gRPC URL); skipped without them.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{
    client_with_key, create_database, folio, get_json, small_document_set, Server,
};

struct SplitEnv {
    vars: Vec<(String, String)>,
}

impl SplitEnv {
    fn as_pairs(&self) -> Vec<(&str, &str)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// A fresh database and Qdrant collection for this test, or `None` to skip.
async fn split_env() -> Option<SplitEnv> {
    let (Ok(admin_url), Ok(qdrant)) = (
        std::env::var("FOLIO_TEST_POSTGRES_URL"),
        std::env::var("QDRANT_URL"),
    ) else {
        eprintln!("split-mode test skipped: needs FOLIO_TEST_POSTGRES_URL and QDRANT_URL");
        return None;
    };
    let store_url = create_database(&admin_url, "split").await;
    let collection = store_url
        .rsplit_once('/')
        .map(|(_, name)| name.to_string())
        .unwrap();
    Some(SplitEnv {
        vars: vec![
            ("FOLIO_STORE_URL".into(), store_url),
            ("FOLIO__VECTORS__BACKEND".into(), "qdrant".into()),
            ("FOLIO__VECTORS__QDRANT_URL".into(), qdrant),
            ("FOLIO__VECTORS__COLLECTION".into(), collection),
            // A killed worker's job is claimed again once its lease lapses.
            ("FOLIO__INGEST__LEASE_SECONDS".into(), "3".into()),
        ],
    })
}

fn start(data: &std::path::Path, env: &SplitEnv, role: &str) -> Server {
    let mut pairs = env.as_pairs();
    pairs.push(("FOLIO_ROLE", role));
    pairs.push(("FOLIO_WORKERS", "1"));
    Server::start_bare(data, &pairs)
}

fn admin_key(data: &std::path::Path, env: &SplitEnv) -> String {
    let mut cmd = folio(data);
    for (k, v) in &env.vars {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["admin", "key", "create", "--role", "admin", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    created["key"].as_str().unwrap().to_string()
}

async fn get(client: &reqwest::Client, server: &Server, path: &str) -> Value {
    get_json(client, &server.url(path), 200).await
}

#[tokio::test(flavor = "multi_thread")]
async fn split_ingest_and_query_processes_share_the_stores_and_survive_a_dead_worker() {
    let Some(env) = split_env().await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let key = admin_key(data.path(), &env);
    let client = client_with_key(&key);
    let worker = start(data.path(), &env, "ingest");
    let replica_a = start(data.path(), &env, "query");
    let replica_b = start(data.path(), &env, "query");

    // The ingest process serves health and metrics only.
    let response = client
        .get(worker.url("/v1/documents"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        client
            .get(worker.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let files = small_document_set();
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in &files {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone()),
        );
    }
    let response = client
        .post(replica_a.url("/v1/documents?collection=split"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    // Kill the worker while it holds a job; a second worker takes over.
    let started = Instant::now();
    loop {
        let jobs = get(&client, &replica_b, "/v1/jobs").await;
        if jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["status"] == "running")
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no job started: {jobs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.kill();
    let worker = start(data.path(), &env, "ingest");

    // Followed through the other replica until every document is ready.
    let started = Instant::now();
    let documents = loop {
        let list = get(&client, &replica_b, "/v1/documents").await;
        let docs = list["documents"].as_array().unwrap().clone();
        if docs.len() == files.len() && docs.iter().all(|d| d["status"] == "ready") {
            break docs;
        }
        assert!(docs.iter().all(|d| d["status"] != "failed"), "{list}");
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not ready: {list}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut names: Vec<&str> = documents
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), files.len(), "every document exactly once");
    let jobs = get(&client, &replica_a, "/v1/jobs").await;
    let jobs = jobs["jobs"].as_array().unwrap();
    assert!(jobs.iter().all(|j| j["status"] == "succeeded"), "{jobs:?}");
    assert!(
        jobs.iter()
            .any(|j| j["attempts"].as_i64().unwrap_or(0) >= 2),
        "the killed worker's job was claimed again: {jobs:?}"
    );

    // Both replicas answer from both retrievers, for every document (the BM25
    // followers caught up with the writer's commits; the vectors are in Qdrant).
    for doc in &documents {
        let id = doc["id"].as_str().unwrap();
        let chunks = doc["chunk_count"].as_i64().unwrap();
        assert!(chunks > 0);
        for replica in [&replica_a, &replica_b] {
            for mode in ["bm25", "dense"] {
                // Followers see the writer's commits within a fraction of a second;
                // allow a little more on a loaded machine.
                let started = Instant::now();
                let body = loop {
                    let body: Value = client
                        .post(replica.url("/v1/search"))
                        .json(&json!({"query": "agreement term payment revenue", "documents": [id], "mode": mode, "limit": 5}))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    if !body["candidates"].as_array().unwrap().is_empty()
                        || started.elapsed() > Duration::from_secs(3)
                    {
                        break body;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                };
                let hits = body["candidates"].as_array().unwrap();
                assert!(
                    !hits.is_empty(),
                    "{mode} on {} for {id}: {body}",
                    replica.base
                );
                assert!(hits.iter().all(|h| h["chunk"]["document_id"] == id));
            }
        }
    }
    drop(worker);
}
