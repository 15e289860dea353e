//! OpenTelemetry export: with `telemetry.otlp_endpoint` set, the server sends
//! its request spans over OTLP/HTTP (protobuf) to a collector; here the
//! collector is a stub that records what it receives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use tokio::sync::Mutex;

use crate::harness::Server;

/// One export the collector received: content type and body.
type Export = (String, Vec<u8>);

#[tokio::test(flavor = "multi_thread")]
async fn request_spans_reach_an_otlp_collector() {
    let received: Arc<Mutex<Vec<Export>>> = Arc::default();
    let app = {
        let received = received.clone();
        Router::new().route(
            "/v1/traces",
            post(move |headers: HeaderMap, body: Bytes| {
                let received = received.clone();
                async move {
                    let kind = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    received.lock().await.push((kind, body.to_vec()));
                    ""
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            ("FOLIO__TELEMETRY__OTLP_ENDPOINT", endpoint.as_str()),
            ("FOLIO__TELEMETRY__SERVICE_NAME", "folio-e2e"),
            ("FOLIO_LOG", "info"),
            // Export batches every 200 ms instead of every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    let response = server
        .http
        .get(server.url("/v1/documents"))
        .header("x-request-id", "otel-trace-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    loop {
        let batches = received.lock().await.clone();
        let seen = batches.iter().any(|(_, body)| {
            let text = String::from_utf8_lossy(body);
            text.contains("otel-trace-7") && text.contains("folio-e2e") && text.contains("request")
        });
        if seen {
            assert!(batches
                .iter()
                .all(|(kind, _)| kind == "application/x-protobuf"));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no span with the request id reached the collector ({} batches)",
            batches.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
