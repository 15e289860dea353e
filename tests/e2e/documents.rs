//! Upload, ingestion, text and chunk endpoints, versions and delete, and bad
//! input, through HTTP against the real server.

use std::io::Write;
use std::time::Duration;

use crate::harness::{
    assert_chunks_are_exact_slices, consistency, fixture, Server, CONTRACT_PDF, SMALL_CONTRACTS,
};

const SETTLE: Duration = Duration::from_secs(300);

/// A DOCX with a heading, a paragraph and a table, built in memory.
pub fn tiny_docx(body_paragraph: &str) -> Vec<u8> {
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>ARTICLE 1 DEFINITIONS</w:t></w:r></w:p>
<w:p><w:r><w:t>{body_paragraph}</w:t></w:r></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Fee</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Amount</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p><w:r><w:t>Setup</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>$1,000</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
</w:body></w:document>"#
    );
    docx_with(&document)
}

/// A DOCX package holding `document` as its `word/document.xml`.
pub fn docx_with(document: &str) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("[Content_Types].xml", options).unwrap();
        zip.write_all(br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#).unwrap();
        zip.start_file("word/document.xml", options).unwrap();
        zip.write_all(document.as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    out.into_inner()
}

pub fn zip_bomb_docx() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        zip.start_file("word/document.xml", options).unwrap();
        let block = vec![b' '; 1 << 20];
        for _ in 0..1200 {
            zip.write_all(&block).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

pub fn entity_bomb_docx() -> Vec<u8> {
    let mut xml =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        xml.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    xml.push_str("]>\n<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>");
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        zip.start_file(
            "word/document.xml",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(xml.as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_ingest_version_and_delete_over_http() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let contract = fixture(SMALL_CONTRACTS[0]);
    let html = b"<html><head><title>Q3 report</title><script>alert('x')</script></head><body>\
        <h1>Item 7. Management's Discussion</h1><p>Revenue grew 12% to $4.2 billion.</p>\
        <table><tr><th>Segment</th><th>Revenue</th></tr><tr><td>Cloud</td><td>$2.1B</td></tr></table></body></html>"
        .to_vec();
    let docx = tiny_docx("\"Affiliate\" means any entity controlling a Party.");
    let markdown =
        b"# Terms\n\n## 1. Fees\n\nThe fee is $10.\n\n## 2. Term\n\nOne year.\n".to_vec();
    let (status, body) = server
        .upload(
            &[
                ("contract.txt", contract.clone()),
                ("report.html", html),
                ("policy.docx", docx),
                ("terms.md", markdown),
            ],
            "legal",
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let uploaded = body["documents"].as_array().unwrap().clone();
    assert_eq!(uploaded.len(), 4);
    for doc in &uploaded {
        let id = doc["document_id"].as_str().unwrap();
        let settled = server.wait_settled(id, SETTLE).await;
        assert_eq!(settled["status"], "ready", "{settled}");
        assert!(assert_chunks_are_exact_slices(&server, id).await > 0);
    }

    // The HTML's script never reaches the canonical text; its table does, as rows.
    let html_id = uploaded[1]["document_id"].as_str().unwrap();
    let (_, text) = server.get(&format!("/v1/documents/{html_id}/text")).await;
    let canonical = text["text"].as_str().unwrap();
    assert!(!canonical.contains("alert"), "{canonical}");
    assert!(canonical.contains("| Segment | Revenue |"), "{canonical}");
    assert_eq!(text["structure"]["title"], "Q3 report");

    // Listing by collection.
    let (status, list) = server.get("/v1/documents?collection=legal").await;
    assert_eq!(status, 200);
    assert_eq!(list["documents"].as_array().unwrap().len(), 4);
    let (status, error) = server.get("/v1/documents?collection=nope").await;
    assert_eq!(status, 404);
    // The same code as a search or a question naming that collection.
    assert_eq!(error["error"]["code"], "collection_not_found", "{error}");

    // Identical bytes: a no-op. Changed bytes: version 2 replaces version 1.
    let contract_id = uploaded[0]["document_id"].as_str().unwrap().to_string();
    let (status, again) = server
        .upload(&[("contract.txt", contract.clone())], "legal")
        .await;
    assert_eq!(status, 202);
    assert_eq!(again["documents"][0]["status"], "unchanged");
    let mut changed = contract.clone();
    changed.extend_from_slice(b"\n\nAMENDMENT NO. 1\n\nThe Term is extended by one year.\n");
    let (_, v2) = server.upload(&[("contract.txt", changed)], "legal").await;
    assert_eq!(v2["documents"][0]["document_id"], contract_id.as_str());
    assert_eq!(v2["documents"][0]["version"], 2);
    let settled = server.wait_settled(&contract_id, SETTLE).await;
    assert_eq!(settled["current_version"], 2);
    let (_, versions) = server
        .get(&format!("/v1/documents/{contract_id}/versions"))
        .await;
    let states: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["superseded", "ready"]);
    let (_, text) = server
        .get(&format!("/v1/documents/{contract_id}/text"))
        .await;
    assert!(text["text"].as_str().unwrap().contains("AMENDMENT NO. 1"));

    // Delete one document.
    let docx_id = uploaded[2]["document_id"].as_str().unwrap();
    let (status, body) = server.delete(&format!("/v1/documents/{docx_id}")).await;
    assert_eq!(status, 202, "{body}");
    let started = std::time::Instant::now();
    loop {
        let (_, jobs) = server.get("/v1/jobs").await;
        let open = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["status"] == "queued" || j["status"] == "running")
            .count();
        if open == 0 {
            break;
        }
        assert!(started.elapsed() < SETTLE, "jobs still open: {jobs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = server.get(&format!("/v1/documents/{docx_id}")).await;
    assert_eq!(status, 404);
    let (status, err) = server.get("/v1/documents/does-not-exist/text").await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "not_found");
    server.kill();

    // DB, tantivy and the vector store agree; nothing is left behind.
    let counts = consistency(data.path()).await;
    assert_eq!(counts.ready_documents, 3, "{counts:?}");
    counts.assert_indexes_agree("stores");
    assert_eq!(
        (counts.open_jobs, counts.orphan_blobs),
        (0, 0),
        "{counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_fails_only_its_own_job() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[("FOLIO__SERVER__MAX_UPLOAD_BYTES", "5000000")],
    );
    let pdf = fixture(CONTRACT_PDF);
    let mut garbage = vec![0u8; 4096];
    for (i, b) in garbage.iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    let encrypted = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n\
3 0 obj << /Filter /Standard /V 1 /R 2 /O (xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx) /U (xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx) /P -4 >> endobj\n\
trailer << /Root 1 0 R /Encrypt 3 0 R /Size 4 >>\n%%EOF\n"
        .to_vec();
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("empty.txt", Vec::new()),
        ("truncated.pdf", pdf[..pdf.len() / 3].to_vec()),
        (
            "corrupt.pdf",
            b"%PDF-1.7\nthis is not really a pdf\n%%EOF".to_vec(),
        ),
        ("encrypted.pdf", encrypted),
        ("bomb.docx", zip_bomb_docx()),
        ("entities.docx", entity_bomb_docx()),
        (
            "not-a-zip.docx",
            b"PK\x03\x04 definitely not a zip".to_vec(),
        ),
        ("binary.txt", garbage),
    ];
    let mut ids = Vec::new();
    for (name, bytes) in &bad {
        let (status, body) = server.upload(&[(name, bytes.clone())], "default").await;
        assert_eq!(status, 202, "{name}: {body}");
        ids.push((
            name.to_string(),
            body["documents"][0]["document_id"]
                .as_str()
                .unwrap()
                .to_string(),
        ));
    }
    // Scripts everywhere still leave the text.
    let scripts = b"<html><body><script>document.write('evil')</script><p>Governing law: Delaware.</p>\
        <style>p{color:red}</style><img src=x onerror=alert(1)><noscript>hidden</noscript></body></html>"
        .to_vec();
    let (_, body) = server.upload(&[("scripts.html", scripts)], "default").await;
    let scripts_id = body["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Over the limit, and unsupported types, are refused at the door. (Just over
    // the limit: the server drains what the body limit lets through, so the client
    // reads the 413; far larger bodies are cut off with the connection.)
    let (status, body) = server
        .upload(&[("huge.txt", vec![b'a'; 5_010_000])], "default")
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "file_too_large");
    let (status, body) = server
        .upload(&[("tool.exe", b"MZ\x90\x00\x03".to_vec())], "default")
        .await;
    assert_eq!(status, 415, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_format");
    // A good document after all that is ingested normally.
    let (_, body) = server
        .upload(
            &[("good.txt", fixture(crate::harness::SMALL_CONTRACTS[1]))],
            "default",
        )
        .await;
    let good_id = body["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();

    for (name, id) in &ids {
        let doc = server.wait_settled(id, SETTLE).await;
        assert_eq!(doc["status"], "failed", "{name} should fail: {doc}");
        let code = doc["error"]["code"].as_str().unwrap_or("");
        assert!(
            !code.is_empty() && !doc["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{name}: {doc}"
        );
        assert_ne!(
            code, "internal_error",
            "{name} must fail with a specific reason: {doc}"
        );
    }
    // A document whose first ingestion failed has no text to read or ask about:
    // every route says so with the same code.
    let (_, failed_id) = &ids[0];
    for (status, error) in [
        server.get(&format!("/v1/documents/{failed_id}/text")).await,
        server
            .get(&format!("/v1/documents/{failed_id}/original"))
            .await,
        server
            .post(
                "/v1/ask",
                serde_json::json!({"question": "What is the term?", "documents": [failed_id]}),
            )
            .await,
    ] {
        assert_eq!(status, 409, "{error}");
        assert_eq!(error["error"]["code"], "document_not_ready", "{error}");
    }
    let doc = server.wait_settled(&scripts_id, SETTLE).await;
    assert_eq!(doc["status"], "ready", "{doc}");
    let (_, text) = server
        .get(&format!("/v1/documents/{scripts_id}/text"))
        .await;
    let canonical = text["text"].as_str().unwrap();
    assert!(
        canonical.contains("Governing law: Delaware."),
        "{canonical}"
    );
    assert!(
        !canonical.contains("evil") && !canonical.contains("color:red"),
        "{canonical}"
    );
    let doc = server.wait_settled(&good_id, SETTLE).await;
    assert_eq!(doc["status"], "ready", "{doc}");
    assert!(server.child.id() > 0);
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200, "the server survived every bad document");
}
