//! The OpenAI-compatible backend's failure handling, against a scripted HTTP
//! server that fails on purpose (the real-server test is in the end-to-end suite:
//! the backend against `folio serve`'s `/v1/chat/completions`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use folio_llm::{
    ChatMessage, GenerateRequest, LanguageModel, LlmError, OpenAiModel, OpenAiOptions,
};

/// Serves the scripted responses in order, one per connection; returns the base
/// URL and the request bodies received.
fn scripted(responses: Vec<String>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for response in responses {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let mut stream = stream;
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (format!("http://{address}/v1"), bodies)
}

fn status(code: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn stream_of(pieces: &[&str]) -> String {
    let mut body = String::new();
    for piece in pieces {
        body.push_str(&format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
            serde_json::to_string(piece).unwrap()
        ));
    }
    body.push_str("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    body.push_str("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":2,\"total_tokens\":23}}\n\n");
    body.push_str("data: [DONE]\n\n");
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn model(base_url: String, max_retries: u32) -> OpenAiModel {
    OpenAiModel::new(OpenAiOptions {
        base_url,
        model: "m".into(),
        max_retries,
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(10),
        ..OpenAiOptions::default()
    })
    .unwrap()
}

fn request() -> GenerateRequest {
    GenerateRequest {
        stop: vec!["\nQ:".into()],
        ..GenerateRequest::greedy(vec![ChatMessage::user("Say hello")], 8)
    }
}

#[test]
fn overload_and_server_errors_are_retried_with_backoff() {
    let (url, bodies) = scripted(vec![
        status(
            "429 Too Many Requests",
            r#"{"error":{"message":"slow down","type":"rate_limit","param":null,"code":null}}"#,
        ),
        status("503 Service Unavailable", "overloaded"),
        stream_of(&["Hel", "lo"]),
    ]);
    let mut streamed = String::new();
    let generation = model(url, 3)
        .generate(&request(), &mut |piece: &str| {
            streamed.push_str(piece);
            true
        })
        .unwrap();
    assert_eq!(generation.text, "Hello");
    assert_eq!(streamed, "Hello");
    assert_eq!(
        (generation.prompt_tokens, generation.completion_tokens),
        (21, 2)
    );
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 3, "two failures, then success");
    let sent: serde_json::Value = serde_json::from_str(&bodies[2]).unwrap();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["max_completion_tokens"], 8);
    assert_eq!(sent["stop"], serde_json::json!(["\nQ:"]));
    assert_eq!(sent["messages"][0]["content"], "Say hello");
}

#[test]
fn client_errors_are_not_retried_and_retries_run_out() {
    let (url, bodies) = scripted(vec![status(
        "400 Bad Request",
        r#"{"error":{"message":"bad model","type":"invalid_request_error","param":null,"code":null}}"#,
    )]);
    let error = model(url, 3)
        .generate(&request(), &mut |_: &str| true)
        .unwrap_err();
    assert!(
        matches!(&error, LlmError::Remote(m) if m.contains("bad model")),
        "{error}"
    );
    assert_eq!(bodies.lock().unwrap().len(), 1);

    let (url, bodies) = scripted(vec![
        status("500 Internal Server Error", "boom"),
        status("502 Bad Gateway", "boom"),
    ]);
    let error = model(url, 1)
        .generate(&request(), &mut |_: &str| true)
        .unwrap_err();
    assert!(matches!(error, LlmError::Remote(_)));
    assert_eq!(bodies.lock().unwrap().len(), 2, "one try and one retry");
}

#[test]
fn an_unreachable_server_is_a_remote_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let model = model(url, 1);
    assert!(!model.describe().supports_scoring);
    assert!(matches!(
        model.score(&[folio_llm::ScoreInput::new("a", "b")]),
        Err(LlmError::Unsupported(_))
    ));
    let error = model.generate(&request(), &mut |_: &str| true).unwrap_err();
    assert!(matches!(error, LlmError::Remote(_)), "{error}");
}
