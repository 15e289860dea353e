//! Hostile input at the HTTP edge: upload names that try to escape the data
//! directory, JSON bodies over the limit, and streaming clients that leave in
//! the middle of an answer (their generation must stop and free its slot).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{chat_body, Server};

#[tokio::test(flavor = "multi_thread")]
async fn upload_names_never_reach_the_file_system_and_big_json_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let hostile = [
        ("../../../../tmp/folio-escape.txt", "folio-escape.txt"),
        ("/etc/cron.d/folio-abs.txt", "folio-abs.txt"),
        ("C:\\Windows\\folio-win.txt", "folio-win.txt"),
        ("..\\..\\folio-back.txt", "folio-back.txt"),
    ];
    for (raw, expected) in hostile {
        let (status, body) = server
            .upload(&[(raw, b"Plain text body.".to_vec())], "default")
            .await;
        assert_eq!(status, 202, "{raw}: {body}");
        assert_eq!(body["documents"][0]["name"], expected, "{raw}");
    }
    for name in ["..", ".", "/", "../"] {
        let (status, body) = server.upload(&[(name, b"x".to_vec())], "default").await;
        assert_eq!(status, 400, "{name:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_file_name");
    }
    assert!(!std::path::Path::new("/tmp/folio-escape.txt").exists());
    assert!(!std::path::Path::new("/etc/cron.d/folio-abs.txt").exists());

    // A JSON body over `server.max_json_bytes` (1 MiB) is refused before parsing.
    let huge = "x".repeat(2 * 1024 * 1024);
    let (status, body) = server.post("/v1/search", json!({"query": huge})).await;
    assert_eq!(status, 413, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_leaving_mid_stream_stops_its_generation() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            ("FOLIO__SERVER__LLM_CONCURRENCY", "1"),
            ("FOLIO__SERVER__LLM_QUEUE", "0"),
        ],
    );
    let story = "Write a very long story about a lighthouse.";
    let (status, body) = server
        .post("/v1/chat/completions", chat_body(story, 1, false))
        .await;
    assert_eq!(status, 200, "{body}");
    // 2,000 tokens would hold the only slot for far longer than this test waits.
    let mut stream = server.open_chat_stream(story, 2000).await;
    stream.chunk().await.unwrap().expect("tokens flow");
    drop(stream);
    let left = Instant::now();
    loop {
        let (status, body): (u16, Value) = server
            .post("/v1/chat/completions", chat_body(story, 2, false))
            .await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            left.elapsed() < Duration::from_secs(15),
            "the abandoned generation still holds the slot"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("slot free {:?} after the client left", left.elapsed());
}
