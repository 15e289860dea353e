//! Load with backpressure: 50 concurrent clients mix search, ask and upload
//! against `folio serve`, whose generator is a throttled OpenAI-compatible test
//! server (a set time to first token and tokens per second), so the generation
//! queue fills. Overload must be answered with 503/429 and Retry-After, never an
//! unintended 5xx; the process must not grow without bound or leak descriptors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::sse::{Event, Sse};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use futures::stream;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::harness::{client_with_key, Server};

/// How the test model server behaves.
#[derive(Clone, Copy)]
struct Throttle {
    first_token: Duration,
    tokens_per_second: f64,
    tokens: usize,
}

/// Starts the throttled OpenAI-compatible server; returns its `/v1` base URL.
async fn throttled_model_server(throttle: Throttle) -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |Json(body): Json<Value>| async move {
            let streaming = body["stream"].as_bool().unwrap_or(false);
            let gap = Duration::from_secs_f64(1.0 / throttle.tokens_per_second);
            if !streaming {
                tokio::time::sleep(throttle.first_token + gap * throttle.tokens as u32).await;
                return Json(json!({
                    "id": "x", "object": "chat.completion", "created": 0, "model": "throttled",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Forty-five days [P1]."}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": throttle.tokens, "total_tokens": 100 + throttle.tokens}
                }))
                .into_response();
            }
            let chunk = |delta: Value, finish: Value| {
                Ok::<_, std::convert::Infallible>(Event::default().data(
                    json!({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "throttled",
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
                    .to_string(),
                ))
            };
            let events = stream::unfold(0usize, move |i| async move {
                if i == 0 {
                    tokio::time::sleep(throttle.first_token).await;
                } else {
                    tokio::time::sleep(gap).await;
                }
                match i {
                    i if i < throttle.tokens => Some((chunk(json!({"content": if i == 0 { "Forty-five days [P1]" } else { "." }}), Value::Null), i + 1)),
                    i if i == throttle.tokens => Some((chunk(json!({}), json!("stop")), i + 1)),
                    i if i == throttle.tokens + 1 => Some((
                        Ok(Event::default().data(
                            json!({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "throttled", "choices": [],
                                   "usage": {"prompt_tokens": 100, "completion_tokens": throttle.tokens, "total_tokens": 100 + throttle.tokens}})
                            .to_string(),
                        )),
                        i + 1,
                    )),
                    i if i == throttle.tokens + 2 => Some((Ok(Event::default().data("[DONE]")), i + 1)),
                    _ => None,
                }
            });
            Sse::new(events).into_response()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/v1")
}

fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One request of the run: endpoint, status, seconds, whether Retry-After came.
type Outcome = (&'static str, u16, f64, bool);

/// Resident memory the server must stay under during the run (MiB): the
/// embedder's ONNX arena and the local scoring model dominate.
const RSS_BOUND_MIB: u64 = 3072;

#[tokio::test(flavor = "multi_thread")]
async fn fifty_clients_get_answers_or_a_clean_503_and_nothing_leaks() {
    let model = throttled_model_server(Throttle {
        first_token: Duration::from_millis(300),
        tokens_per_second: 40.0,
        tokens: 20,
    })
    .await;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            ("FOLIO__GENERATOR__BACKEND", "openai"),
            ("FOLIO__GENERATOR__BASE_URL", model.as_str()),
            ("FOLIO__GENERATOR__MODEL", "throttled"),
            ("FOLIO__SERVER__LLM_CONCURRENCY", "2"),
            ("FOLIO__SERVER__LLM_QUEUE", "4"),
            ("FOLIO__SERVER__RATE_LIMIT_PER_MINUTE", "0"),
            // Fifty users of one tenant: what is measured is the shared queue, not
            // a tenant's share of it (the flood test in limits.rs measures that).
            ("FOLIO__LIMITS__TENANT_SEARCHES", "0"),
            ("FOLIO__LIMITS__TENANT_ASKS", "0"),
        ],
    );
    let pid = server.child.id();
    let (status, body) = server
        .upload(&[("supply.txt", b"The Buyer shall pay each invoice within forty-five (45) days of receipt. Either party may terminate on ninety (90) days' notice.".to_vec())], "load")
        .await;
    assert_eq!(status, 202, "{body}");
    let document = body["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .wait_settled(&document, Duration::from_secs(120))
        .await;
    // Warm the answer path (loads the local scorer) before measuring.
    let (status, body) = server
        .post("/v1/ask", json!({"question": "When is payment due?", "documents": [document], "pipeline": "plain"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let fds_before = open_fds(pid);

    const CLIENTS: usize = 50;
    const REQUESTS_PER_CLIENT: usize = 8;
    let results: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let peak_rss = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let peak = peak_rss.clone();
        tokio::spawn(async move {
            loop {
                let rss = proc_status(pid, "VmRSS:");
                peak.fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let started = Instant::now();
    // A client of its own, so its pooled connections close when the run is over.
    let load_client = client_with_key(&server.key);
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let http = load_client.clone();
        let base = server.base.clone();
        let document = document.clone();
        let results = results.clone();
        clients.push(tokio::spawn(async move {
            for r in 0..REQUESTS_PER_CLIENT {
                let kind = match (c + r) % 10 {
                    0..=5 => "search",
                    6..=8 => "ask",
                    _ => "upload",
                };
                let request = match kind {
                    "search" => http.post(format!("{base}/v1/search")).json(&json!({"query": "payment invoice days", "limit": 5})),
                    "ask" => http.post(format!("{base}/v1/ask")).json(&json!({"question": "When must the Buyer pay?", "documents": [document], "pipeline": "plain"})),
                    _ => http.post(format!("{base}/v1/documents?collection=load")).multipart(
                        reqwest::multipart::Form::new().part(
                            "file",
                            reqwest::multipart::Part::bytes(format!("Client {c} note {r}: deliveries are monthly.").into_bytes())
                                .file_name(format!("note-{c}-{r}.txt")),
                        ),
                    ),
                };
                let sent = Instant::now();
                let response = request.send().await.expect("the server answers");
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                let _ = response.bytes().await;
                results.lock().await.push((kind, status, sent.elapsed().as_secs_f64(), retry_after));
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    drop(load_client);
    let wall = started.elapsed();
    sampler.abort();
    let results = results.lock().await.clone();
    assert_eq!(results.len(), CLIENTS * REQUESTS_PER_CLIENT);

    let mut by_kind: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut statuses: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    for (kind, status, seconds, retry_after) in &results {
        *statuses.entry((kind, *status)).or_default() += 1;
        match status {
            200 | 202 => by_kind.entry(kind).or_default().push(*seconds),
            429 | 503 => assert!(retry_after, "{kind} {status} without Retry-After"),
            other => panic!("unintended status {other} for {kind}"),
        }
    }
    println!(
        "load: {} requests from {CLIENTS} clients in {wall:.1?}",
        results.len()
    );
    println!("load: statuses {statuses:?}");
    for (kind, mut seconds) in by_kind {
        seconds.sort_by(f64::total_cmp);
        println!(
            "load: {kind:<6} n={:<4} p50 {:>7.1} ms  p95 {:>7.1} ms  p99 {:>7.1} ms",
            seconds.len(),
            percentile(&seconds, 0.50) * 1000.0,
            percentile(&seconds, 0.95) * 1000.0,
            percentile(&seconds, 0.99) * 1000.0
        );
    }
    let busy = statuses.get(&("ask", 503)).copied().unwrap_or(0);
    assert!(busy > 0, "the generation queue never filled: {statuses:?}");
    assert!(
        statuses.get(&("ask", 200)).copied().unwrap_or(0) > 0,
        "{statuses:?}"
    );
    let peak_mib = peak_rss.load(std::sync::atomic::Ordering::Relaxed) / 1024;
    println!("load: peak RSS {peak_mib} MiB (bound {RSS_BOUND_MIB} MiB)");
    assert!(peak_mib < RSS_BOUND_MIB, "RSS {peak_mib} MiB");

    // Nothing left behind: descriptors back to where they were once the
    // uploads are ingested and idle connections close, and no answer waiting.
    let settle = Instant::now();
    loop {
        let (_, list) = server.get("/v1/documents?collection=load").await;
        let docs = list["documents"].as_array().unwrap();
        if docs.iter().all(|d| d["status"] == "ready") {
            break;
        }
        assert!(
            settle.elapsed() < Duration::from_secs(240),
            "uploads not ingested"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(results);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fds_after = open_fds(pid);
    println!("load: open descriptors {fds_before} before, {fds_after} after");
    assert!(
        fds_after <= fds_before + 16,
        "descriptor leak: {fds_before} → {fds_after}"
    );
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("folio_llm_queue_waiting 0"), "{metrics}");
}
