//! What one tenant does leaves no trace for another, and a deletion leaves no
//! trace at all: BM25 scores are per tenant; deleting a document (also while
//! another worker is ingesting it) removes its index entries and cached
//! embeddings; an upload dropped mid-body leaves no partial file.

use std::path::Path;
use std::time::{Duration, Instant};

use folio_index::{Bm25Index, EdgeVectorStore, SearchFilter, VectorStore};
use folio_store::MetadataStore;
use serde_json::{json, Value};

use crate::harness::{client_with_key, create_tenant_key, fixture, Server, SMALL_CONTRACTS};

const SETTLE: Duration = Duration::from_secs(180);

async fn upload_as(
    server: &Server,
    client: &reqwest::Client,
    name: &str,
    bytes: Vec<u8>,
) -> (String, String) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    let response = client
        .post(server.url("/v1/documents"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    let document = &body["documents"][0];
    (
        document["document_id"].as_str().unwrap().to_string(),
        document["job_id"].as_str().unwrap().to_string(),
    )
}

/// Polls a job until it is finished; returns it.
async fn wait_job(server: &Server, client: &reqwest::Client, job_id: &str) -> Value {
    let started = Instant::now();
    loop {
        let response = client
            .get(server.url(&format!("/v1/jobs/{job_id}")))
            .send()
            .await
            .unwrap();
        let job: Value = response.json().await.unwrap();
        if job["status"] == "succeeded" || job["status"] == "failed" {
            return job;
        }
        assert!(started.elapsed() < SETTLE, "job {job_id} still {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls a job until it reaches `stage` (or later); returns it.
async fn wait_stage(server: &Server, job_id: &str, stages: &[&str]) -> Value {
    let started = Instant::now();
    loop {
        let (_, job) = server.get(&format!("/v1/jobs/{job_id}")).await;
        if stages
            .iter()
            .any(|stage| job["progress"]["stage"] == *stage)
        {
            return job;
        }
        assert!(
            started.elapsed() < SETTLE,
            "job {job_id} never reached {stages:?}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The BM25 view of a search: each candidate's chunk id, BM25 rank and the exact
/// BM25 score, in order.
fn bm25_view(body: &Value) -> Vec<(String, Value, Value)> {
    body["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["chunk"]["id"].as_str().unwrap().to_string(),
                c["bm25"]["rank"].clone(),
                c["bm25"]["score"].clone(),
            )
        })
        .collect()
}

async fn searches(server: &Server) -> Vec<(Vec<(String, Value, Value)>, Vec<String>)> {
    let mut views = Vec::new();
    for query in [
        "ninety days written notice to terminate the Agreement",
        "confidential information disclosure",
        "What are the payment terms and fees?",
    ] {
        let (status, bm25) = server
            .post(
                "/v1/search",
                json!({"query": query, "limit": 10, "mode": "bm25"}),
            )
            .await;
        assert_eq!(status, 200, "{bm25}");
        let (status, hybrid) = server
            .post(
                "/v1/search",
                json!({"query": query, "limit": 10, "mode": "hybrid"}),
            )
            .await;
        assert_eq!(status, 200, "{hybrid}");
        let order = hybrid["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["chunk"]["id"].as_str().unwrap().to_string())
            .collect();
        views.push((bm25_view(&bm25), order));
    }
    views
}

/// Tenant A's BM25 scores and ranks (and its hybrid order) through `/v1/search`
/// are identical before and after tenant B uploads contracts full of A's words
/// and deletes them again.
#[tokio::test(flavor = "multi_thread")]
async fn another_tenants_uploads_and_deletions_do_not_move_a_tenants_scores() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let (status, body) = server
        .upload(
            &[(SMALL_CONTRACTS[0], fixture(SMALL_CONTRACTS[0]))],
            "default",
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let own = body["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    server.wait_settled(&own, SETTLE).await;
    let before = searches(&server).await;
    assert!(before.iter().all(|(bm25, _)| !bm25.is_empty()));

    let other = client_with_key(&create_tenant_key(data.path(), "other", "editor").await);
    let mut jobs = Vec::new();
    for name in &SMALL_CONTRACTS[1..] {
        jobs.push(upload_as(&server, &other, name, fixture(name)).await);
    }
    for (_, job) in &jobs {
        assert_eq!(wait_job(&server, &other, job).await["status"], "succeeded");
    }
    assert_eq!(
        searches(&server).await,
        before,
        "after the other tenant's uploads"
    );

    for (document, _) in &jobs {
        let response = other
            .delete(server.url(&format!("/v1/documents/{document}")))
            .send()
            .await
            .unwrap();
        let accepted: Value = response.json().await.unwrap();
        wait_job(&server, &other, accepted["job_id"].as_str().unwrap()).await;
    }
    assert_eq!(
        searches(&server).await,
        before,
        "after the other tenant's deletions"
    );
    server.kill();
}

/// What the stores of a stopped server hold for one document.
#[derive(Debug, PartialEq, Eq)]
struct Traces {
    bm25_entries: u64,
    vector_points: u64,
    cached_embeddings: i64,
    blob_dirs: usize,
}

async fn traces(data: &Path, document_id: &str) -> Traces {
    let store = MetadataStore::connect(&format!("sqlite://{}", data.join("folio.db").display()), 2)
        .await
        .unwrap();
    let tenant = store.ensure_tenant("default").await.unwrap();
    let filter = SearchFilter::tenant(&tenant.id).with_documents([document_id]);
    let bm25 = Bm25Index::open_or_create(&data.join("bm25")).unwrap();
    let vectors = EdgeVectorStore::open(&data.join("vectors")).await.unwrap();
    let blobs = folio_common::blob::BlobStore::new(data.join("blobs"));
    let orphans = blobs
        .orphans(&store.all_blob_keys().await.unwrap())
        .await
        .unwrap();
    Traces {
        bm25_entries: bm25.count(&filter).unwrap(),
        vector_points: vectors.count(&filter).await.unwrap(),
        cached_embeddings: store
            .embedding_count(&tenant.id, Some(document_id))
            .await
            .unwrap(),
        blob_dirs: orphans.len(),
    }
}

const NOTHING: Traces = Traces {
    bm25_entries: 0,
    vector_points: 0,
    cached_embeddings: 0,
    blob_dirs: 0,
};

/// Deleting a document removes its index entries and its cached embeddings;
/// a copy of it in another document keeps its own cached vectors.
#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_document_removes_its_index_entries_and_cached_embeddings() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let text = fixture(SMALL_CONTRACTS[1]);
    let (status, body) = server
        .upload(
            &[("first.txt", text.clone()), ("copy.txt", text)],
            "default",
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let first = body["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    let copy = body["documents"][1]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in [&first, &copy] {
        assert_eq!(server.wait_settled(id, SETTLE).await["status"], "ready");
    }
    let (status, accepted) = server.delete(&format!("/v1/documents/{first}")).await;
    assert_eq!(status, 202, "{accepted}");
    let job_id = accepted["job_id"].as_str().unwrap().to_string();
    wait_job(&server, &server.http, &job_id).await;
    server.kill();

    assert_eq!(traces(data.path(), &first).await, NOTHING);
    let kept = traces(data.path(), &copy).await;
    assert!(
        kept.bm25_entries > 0 && kept.vector_points == kept.bm25_entries,
        "{kept:?}"
    );
    assert!(
        kept.cached_embeddings >= kept.bm25_entries as i64,
        "the copy's texts stay cached: {kept:?}"
    );
}

/// Two workers; a delete arrives while the other worker ingests the document
/// (held after chunking, then again before its commit, while the delete job
/// is held between removing index entries and removing rows). Whatever the
/// ingestion writes after the delete job ran is removed too.
#[tokio::test(flavor = "multi_thread")]
async fn a_delete_during_ingestion_with_two_workers_leaves_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            ("FOLIO_WORKERS", "2"),
            (
                "FOLIO_FAILPOINTS",
                "after_chunk=sleep:3000,before_db_commit=sleep:6000,delete_after_indexes=sleep:2000",
            ),
        ],
    );
    let (status, body) = server
        .upload(
            &[(SMALL_CONTRACTS[2], fixture(SMALL_CONTRACTS[2]))],
            "default",
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let document = body["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ingest = body["documents"][0]["job_id"].as_str().unwrap().to_string();
    wait_stage(&server, &ingest, &["chunking", "embedding", "indexing"]).await;
    let (status, accepted) = server.delete(&format!("/v1/documents/{document}")).await;
    assert_eq!(status, 202, "{accepted}");
    let delete = accepted["job_id"].as_str().unwrap().to_string();
    assert_eq!(
        wait_job(&server, &server.http, &delete).await["status"],
        "succeeded"
    );
    wait_job(&server, &server.http, &ingest).await;
    let (status, _) = server.get(&format!("/v1/documents/{document}")).await;
    assert_eq!(status, 404);
    server.kill();
    assert_eq!(traces(data.path(), &document).await, NOTHING);
}

/// A client that sends half of an upload's body and hangs up leaves no
/// `original.part` behind, without waiting for a restart.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_dropped_mid_body_leaves_no_partial_file() {
    use tokio::io::AsyncWriteExt;

    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let address = server.base.trim_start_matches("http://").to_string();
    let boundary = "folio-boundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\nContent-Type: text/plain\r\n\r\n"
    );
    let declared = head.len() + 4 * 1024 * 1024;
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "POST /v1/documents HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {declared}\r\n\r\n{head}",
        server.key
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    for _ in 0..16 {
        stream.write_all(&chunk).await.unwrap();
    }
    stream.flush().await.unwrap();
    // The server has begun the upload: its partial file exists.
    let parts = || {
        walk(&data.path().join("blobs"))
            .into_iter()
            .filter(|path| path.ends_with("original.part"))
            .count()
    };
    let started = Instant::now();
    while parts() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the upload never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(stream);
    let started = Instant::now();
    while parts() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the dropped upload's original.part is still there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = server.get("/v1/documents").await;
    assert_eq!(status, 200, "the server carries on");
    server.kill();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
