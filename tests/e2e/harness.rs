//! Starting and stopping `folio serve`, and checking that the stores agree.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use folio_index::{Bm25Index, EdgeVectorStore, SearchFilter, VectorStore};
use folio_store::MetadataStore;
use serde_json::Value;

/// The repository's models directory (filled by `folio models fetch`).
pub fn models_dir() -> PathBuf {
    let dir = std::env::var_os("FOLIO_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    assert!(
        dir.join("all-minilm-l6-v2/model.onnx").exists(),
        "models missing in {}: run `folio models fetch` (the test script does)",
        dir.display()
    );
    dir
}

/// The documents the tests upload, committed with the tests (`tests/fixtures`).
pub fn fixture_docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/docs")
}

/// A `folio` command with the data and models directories set.
pub fn folio(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_folio"));
    cmd.env("FOLIO_DATA_DIR", data_dir)
        .env("FOLIO_MODELS_DIR", models_dir())
        .env_remove("FOLIO_FAILPOINTS")
        .env_remove("FOLIO_CONFIG")
        .env("FOLIO_LOG", "warn");
    cmd
}

/// A running `folio serve`.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// HTTP client sending the admin key (when the server has one).
    pub http: reqwest::Client,
    /// The default tenant's admin key the harness created for this data directory.
    pub key: String,
    /// What the server printed before it listened.
    pub preamble: Vec<String>,
}

/// The default tenant's admin key of a data directory, created on first use with
/// `folio admin key create` and remembered next to the data.
pub fn admin_key(data_dir: &Path) -> String {
    let remembered = data_dir.join("test-admin-key");
    if let Ok(key) = std::fs::read_to_string(&remembered) {
        return key.trim().to_string();
    }
    let out = folio_ok(
        data_dir,
        &[
            "admin", "key", "create", "--role", "admin", "--name", "e2e", "--json",
        ],
    );
    let created: Value = serde_json::from_slice(&out).expect("key create prints JSON");
    let key = created["key"].as_str().expect("a key").to_string();
    std::fs::write(&remembered, &key).unwrap();
    key
}

/// A client that sends `key` on every request.
pub fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if !key.is_empty() {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {key}").parse().unwrap(),
        );
    }
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .default_headers(headers)
        .build()
        .unwrap()
}

impl Server {
    /// Starts the server on a free port with extra environment variables; its
    /// client sends the data directory's admin key.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let key = admin_key(data_dir);
        let mut server = Server::start_bare(data_dir, env);
        server.http = client_with_key(&key);
        server.key = key;
        server
    }

    /// Starts the server without creating a key first (the client sends none).
    pub fn start_bare(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::try_start_bare(data_dir, env).unwrap_or_else(|status| {
            panic!("folio serve exited before listening (status {status:?})")
        })
    }

    /// [`Server::start`], or the exit status of a server that ended before it
    /// listened (a worker that crashed on a job claimed at start, say).
    pub fn try_start(
        data_dir: &Path,
        env: &[(&str, &str)],
    ) -> Result<Server, Option<std::process::ExitStatus>> {
        let key = admin_key(data_dir);
        let mut server = Server::try_start_bare(data_dir, env)?;
        server.http = client_with_key(&key);
        server.key = key;
        Ok(server)
    }

    fn try_start_bare(
        data_dir: &Path,
        env: &[(&str, &str)],
    ) -> Result<Server, Option<std::process::ExitStatus>> {
        let mut cmd = folio(data_dir);
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("folio serve starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut lines = BufReader::new(stdout).lines();
        let mut preamble = Vec::new();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix("folio listening on ") {
                        break addr.trim().to_string();
                    }
                    preamble.push(line);
                }
                _ => return Err(child.wait().ok()),
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Server {
            child,
            base,
            http: client_with_key(""),
            key: String::new(),
            preamble,
        })
    }

    /// Full URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Uploads files (name, bytes) in one request.
    pub async fn upload(&self, files: &[(&str, Vec<u8>)], collection: &str) -> (u16, Value) {
        let mut form = reqwest::multipart::Form::new();
        for (name, bytes) in files {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string()),
            );
        }
        let response = self
            .http
            .post(self.url(&format!("/v1/documents?collection={collection}")))
            .multipart(form)
            .send()
            .await
            .expect("upload request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POST of a JSON body returning (status, JSON).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// DELETE returning (status, JSON).
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GET returning (status, JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until the document reaches a terminal status; returns it.
    pub async fn wait_settled(&self, document_id: &str, timeout: Duration) -> Value {
        let started = Instant::now();
        loop {
            let (status, doc) = self.get(&format!("/v1/documents/{document_id}")).await;
            assert_eq!(status, 200, "{doc}");
            let state = doc["status"].as_str().unwrap_or("");
            if state == "ready" || state == "failed" {
                return doc;
            }
            assert!(
                started.elapsed() < timeout,
                "document {document_id} still {state} after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Uploads one file into `collection` and waits until it is ingested;
    /// returns its document id.
    pub async fn ingest_one(&self, name: &str, bytes: Vec<u8>, collection: &str) -> String {
        let (status, body) = self.upload(&[(name, bytes)], collection).await;
        assert_eq!(status, 202, "{name}: {body}");
        let id = body["documents"][0]["document_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no document id in {body}"))
            .to_string();
        let settled = self.wait_settled(&id, SETTLE).await;
        assert_eq!(settled["status"], "ready", "{name}: {settled}");
        id
    }

    /// SIGKILLs the server.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself (e.g. an `abort` failpoint).
    pub fn wait_exit(mut self, timeout: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < timeout,
                "server did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What each store holds for the default tenant, read with no server running.
#[derive(Debug, PartialEq, Eq)]
pub struct Consistency {
    /// Ready documents.
    pub ready_documents: i64,
    /// Chunk rows in the DB.
    pub db_chunks: i64,
    /// Entries in tantivy.
    pub bm25_entries: u64,
    /// Points in the vector store.
    pub vector_points: u64,
    /// Jobs queued or running.
    pub open_jobs: i64,
    /// Blob directories no version references.
    pub orphan_blobs: usize,
}

/// Opens the stores of a stopped server's data directory and counts.
pub async fn consistency(data_dir: &Path) -> Consistency {
    consistency_with_store(
        &format!("sqlite://{}", data_dir.join("folio.db").display()),
        data_dir,
    )
    .await
}

/// [`consistency`] for a deployment whose metadata lives at `store_url`.
pub async fn consistency_with_store(store_url: &str, data_dir: &Path) -> Consistency {
    let store = MetadataStore::connect(store_url, 2).await.unwrap();
    let tenant = store.ensure_tenant("default").await.unwrap();
    let counts = store.counts().await.unwrap();
    let filter = SearchFilter {
        tenant: tenant.id.clone(),
        collections: vec![],
        documents: vec![],
    };
    let bm25 = Bm25Index::open_or_create(&data_dir.join("bm25")).unwrap();
    let vectors = EdgeVectorStore::open(&data_dir.join("vectors"))
        .await
        .unwrap();
    let blobs = folio_common::blob::BlobStore::new(data_dir.join("blobs"));
    let orphans = blobs
        .orphans(&store.all_blob_keys().await.unwrap())
        .await
        .unwrap();
    Consistency {
        ready_documents: counts.ready_documents,
        db_chunks: counts.chunks,
        bm25_entries: bm25.count(&filter).unwrap(),
        vector_points: vectors.count(&filter).await.unwrap(),
        open_jobs: counts.open_jobs,
        orphan_blobs: orphans.len(),
    }
}

/// Reads one of the fixture documents.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_docs().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A contract as its original PDF (CUAD), 93 KB over 13 pages.
pub const CONTRACT_PDF: &str = "cuad-CORIOINC_07_20_2000-EX-10.5-LICENSE_AND_HOSTING_AGREEMENT.pdf";

/// Small documents used across tests (CUAD contracts as text).
pub const SMALL_CONTRACTS: &[&str] = &[
    "cuad-ElPolloLocoHoldingsInc_20200306_10-K_EX-10.16_12041700_EX-10.16_Development_Agreement.txt",
    "cuad-CORIOINC_07_20_2000-EX-10.5-LICENSE_AND_HOSTING_AGREEMENT.txt",
    "cuad-INKTOMICORP_06_08_1998-EX-10.14-SOFTWARE_HOSTING_AGREEMENT.txt",
];

/// The small contracts plus one earnings release (as text): a quick, mixed set
/// for ingestion tests, as (file name, bytes). The contract of [`CONTRACT_PDF`]
/// is left out, so a test adding that PDF holds no two copies of one text
/// (their chunks would tie in every ranking).
pub fn small_document_set() -> Vec<(String, Vec<u8>)> {
    let pdf_contract = CONTRACT_PDF.trim_end_matches(".pdf");
    let mut files: Vec<(String, Vec<u8>)> = SMALL_CONTRACTS
        .iter()
        .filter(|n| !n.starts_with(pdf_contract))
        .map(|n| (n.to_string(), fixture(n)))
        .collect();
    files.push((
        "earnings.txt".into(),
        fixture("earnings-harbor-lane-2024q4.txt"),
    ));
    files
}

/// Checks every chunk of a document is the exact slice of its canonical text.
pub async fn assert_chunks_are_exact_slices(server: &Server, document_id: &str) -> usize {
    let (status, text) = server
        .get(&format!("/v1/documents/{document_id}/text"))
        .await;
    assert_eq!(status, 200, "{text}");
    let chars: Vec<char> = text["text"].as_str().unwrap().chars().collect();
    let (status, chunks) = server
        .get(&format!("/v1/documents/{document_id}/chunks"))
        .await;
    assert_eq!(status, 200);
    let chunks = chunks["chunks"].as_array().unwrap();
    assert!(!chunks.is_empty());
    for chunk in chunks {
        let start = chunk["char_start"].as_u64().unwrap() as usize;
        let end = chunk["char_end"].as_u64().unwrap() as usize;
        let slice: String = chars[start..end].iter().collect();
        assert_eq!(
            slice,
            chunk["text"].as_str().unwrap(),
            "chunk {}",
            chunk["ordinal"]
        );
    }
    chunks.len()
}

impl Consistency {
    /// Asserts that the DB, tantivy and the vector store hold the same chunks.
    pub fn assert_indexes_agree(&self, context: &str) {
        assert_eq!(
            self.db_chunks as u64, self.bm25_entries,
            "{context}: {self:?}"
        );
        assert_eq!(
            self.db_chunks as u64, self.vector_points,
            "{context}: {self:?}"
        );
    }
}

/// Runs `folio` on a data directory, asserts it succeeded, returns its stdout.
pub fn folio_ok(data_dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = folio(data_dir).args(args).output().expect("folio runs");
    assert!(
        output.status.success(),
        "folio {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// GET with any client; panics unless the status is `expected`; returns the JSON.
pub async fn get_json(client: &reqwest::Client, url: &str, expected: u16) -> Value {
    let response = client.get(url).send().await.expect("GET");
    assert_eq!(response.status().as_u16(), expected, "GET {url}");
    response.json().await.unwrap_or(Value::Null)
}

/// An OpenAI chat completion request for `/v1/chat/completions`.
pub fn chat_body(prompt: &str, max_tokens: u64, stream: bool) -> Value {
    serde_json::json!({
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens, "temperature": 0, "stream": stream,
    })
}

impl Server {
    /// Starts a streamed chat completion and waits for its first bytes.
    pub async fn open_chat_stream(&self, prompt: &str, max_tokens: u64) -> reqwest::Response {
        let mut stream = self
            .http
            .post(self.url("/v1/chat/completions"))
            .json(&chat_body(prompt, max_tokens, true))
            .send()
            .await
            .expect("stream request");
        assert_eq!(stream.status(), 200);
        let first = stream.chunk().await.expect("stream readable");
        assert!(first.is_some(), "the stream started");
        stream
    }
}

/// How long a test waits for ingestion to settle.
pub const SETTLE: Duration = Duration::from_secs(300);

/// Waits until exactly `expected` documents are listed, all ready, with no job
/// queued or running; returns them.
pub async fn wait_all_ready(server: &Server, expected: usize) -> Vec<serde_json::Value> {
    let started = std::time::Instant::now();
    loop {
        let (status, list) = server.get("/v1/documents").await;
        assert_eq!(status, 200);
        let docs = list["documents"].as_array().unwrap().clone();
        if docs.len() == expected && docs.iter().all(|d| d["status"] == "ready") {
            let (_, jobs) = server.get("/v1/jobs").await;
            let open = jobs["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|j| j["status"] == "queued" || j["status"] == "running");
            if !open {
                return docs;
            }
        }
        assert!(started.elapsed() < SETTLE, "not settled: {list}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A new, empty database on the test server; its URL.
pub async fn create_database(admin_url: &str, label: &str) -> String {
    let name = format!(
        "folio_{label}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(admin_url)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap();
    format!("{base}/{name}")
}

/// A minimal PDF written object by object, with a correct cross-reference table.
#[derive(Default)]
pub struct PdfWriter {
    objects: Vec<Vec<u8>>,
}

impl PdfWriter {
    pub fn new() -> Self {
        PdfWriter::default()
    }

    /// Adds an object; returns its number.
    pub fn add(&mut self, body: Vec<u8>) -> usize {
        self.objects.push(body);
        self.objects.len()
    }

    /// Sets object `number` (reserved earlier with a placeholder).
    pub fn set(&mut self, number: usize, body: Vec<u8>) {
        self.objects[number - 1] = body;
    }

    pub fn finish(self, root: usize) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in self.objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes(),
        );
        for offset in offsets {
            out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root {root} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                self.objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }
}

/// Creates tenant `tenant` and a key of `role` for it; returns the key.
pub async fn create_tenant_key(data: &Path, tenant: &str, role: &str) -> String {
    folio_ok(data, &["admin", "tenant", "create", tenant]);
    let out = folio_ok(
        data,
        &[
            "admin", "key", "create", "--tenant", tenant, "--role", role, "--json",
        ],
    );
    let created: Value = serde_json::from_slice(&out).expect("key create prints JSON");
    created["key"].as_str().expect("a key").to_string()
}
