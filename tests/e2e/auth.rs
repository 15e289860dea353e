//! API keys, roles, tenant isolation and limits, against the real server: every
//! route of the OpenAPI spec is walked with no key, a wrong key, another tenant's
//! key and a key whose role is too low; a property test looks for any result of
//! another tenant through search, ask, text and chunks; the rate limit and the
//! bounded generation queue answer 429/503 with Retry-After.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

use crate::harness::{chat_body, client_with_key, create_tenant_key, folio_ok, get_json, Server};

/// What a route needs, as the API promises it (README, "Keys and roles").
fn expected_role(method: &str, path: &str) -> &'static str {
    match (method, path) {
        (_, p) if p.starts_with("/v1/keys") => "admin",
        ("get", _) => "viewer",
        ("post", "/v1/search" | "/v1/ask" | "/v1/chat/completions") => "viewer",
        _ => "editor",
    }
}

/// Sends one request of a route with a body that would be valid for it.
async fn call(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    document_id: &str,
) -> (u16, Value) {
    let url = format!("{base}{path}");
    let request = match (method, path) {
        ("get", _) => client.get(&url),
        ("delete", _) => client.delete(&url),
        ("post", "/v1/documents") => {
            client
                .post(&url)
                .multipart(reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(b"Probe text.".to_vec()).file_name("probe.txt"),
                ))
        }
        ("post", "/v1/search") => client
            .post(&url)
            .json(&json!({"query": "supplier payment"})),
        ("post", "/v1/ask") => client.post(&url).json(
            &json!({"question": "Who pays?", "documents": [document_id], "pipeline": "plain"}),
        ),
        // An empty message list is refused after authorization, without generating.
        ("post", "/v1/chat/completions") => client.post(&url).json(&json!({"messages": []})),
        ("post", "/v1/collections") => client.post(&url).json(&json!({"name": "probe"})),
        ("post", "/v1/keys") => client
            .post(&url)
            .json(&json!({"name": "probe", "role": "viewer"})),
        other => panic!("no probe request for {other:?}: add one"),
    };
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_refuses_a_missing_wrong_foreign_or_underpowered_key() {
    let data = tempfile::tempdir().unwrap();
    // Hundreds of wrong keys from one address: the failed-attempt limit (its
    // own test is in limits.rs) would answer 429 before the 401s checked here.
    let server = Server::start(
        data.path(),
        &[("FOLIO__LIMITS__FAILED_KEYS_PER_MINUTE", "0")],
    );
    let other_tenant = client_with_key(&create_tenant_key(data.path(), "other", "admin").await);

    // Tenant A's data: a document, its job, a collection, a viewer key.
    let (status, body) = server
        .upload(
            &[(
                "supply.txt",
                b"The Supplier ships valves monthly. The Buyer pays within 45 days.".to_vec(),
            )],
            "a-only",
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let document_id = body["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    let job_id = body["documents"][0]["job_id"].as_str().unwrap().to_string();
    server
        .wait_settled(&document_id, Duration::from_secs(120))
        .await;
    let (status, viewer) = server
        .post("/v1/keys", json!({"name": "reader", "role": "viewer"}))
        .await;
    assert_eq!(status, 201, "{viewer}");
    let viewer_id = viewer["id"].as_str().unwrap().to_string();
    let viewer = client_with_key(viewer["key"].as_str().unwrap());
    let wrong = client_with_key(&format!("folio_{}_{}", "0".repeat(16), "0".repeat(64)));
    let malformed = client_with_key("not-a-key");
    let anonymous = client_with_key("");

    let (status, spec) = {
        let response = anonymous
            .get(server.url("/openapi.json"))
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 200);
    assert_eq!(spec["openapi"], "3.1.0");
    let mut walked = BTreeMap::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let concrete = path
                .replace(
                    "/v1/documents/{id}",
                    &format!("/v1/documents/{document_id}"),
                )
                .replace("/v1/jobs/{id}", &format!("/v1/jobs/{job_id}"))
                .replace("/v1/keys/{id}", &format!("/v1/keys/{viewer_id}"));
            if operation.get("security").is_none() {
                let (status, _) =
                    call(&anonymous, &server.base, method, &concrete, &document_id).await;
                assert_eq!(status, 200, "public route {method} {path}");
                walked.insert(format!("{method} {path}"), "public");
                continue;
            }
            for (client, code) in [
                (&anonymous, "missing_api_key"),
                (&wrong, "invalid_api_key"),
                (&malformed, "invalid_api_key"),
            ] {
                let (status, body) =
                    call(client, &server.base, method, &concrete, &document_id).await;
                assert_eq!(status, 401, "{method} {path}: {body}");
                assert_eq!(body["error"]["code"], code, "{method} {path}");
            }
            let role = expected_role(method, path);
            if role != "viewer" {
                let (status, body) =
                    call(&viewer, &server.base, method, &concrete, &document_id).await;
                assert_eq!(status, 403, "viewer on {method} {path}: {body}");
                assert_eq!(body["error"]["code"], "insufficient_role");
            }
            // Another tenant's key: a named resource of tenant A does not exist for
            // it; a list, search or question never shows anything of tenant A.
            let (status, body) =
                call(&other_tenant, &server.base, method, &concrete, &document_id).await;
            let text = body.to_string();
            if path.contains("{id}") || path == "/v1/ask" {
                assert_eq!(status, 404, "other tenant on {method} {path}: {body}");
            } else {
                assert!(status < 500, "other tenant on {method} {path}: {body}");
                for secret in [&document_id, &job_id, &viewer_id] {
                    assert!(
                        !text.contains(secret.as_str()),
                        "{method} {path} leaked {secret}: {body}"
                    );
                }
                assert!(
                    !text.contains("a-only") && !text.contains("Supplier"),
                    "{method} {path}: {body}"
                );
            }
            walked.insert(format!("{method} {path}"), role);
        }
    }
    // The spec is generated from the router, so this walked every route.
    assert!(walked.len() >= 20, "{walked:?}");
    println!("walked {} routes: {walked:?}", walked.len());

    // The owner still sees its data: the walk changed nothing of tenant A.
    let (status, doc) = server.get(&format!("/v1/documents/{document_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(doc["status"], "ready");

    // Every response carries a request id (the client's own when it sent one), and
    // the metrics saw the walk: latency by route template, ingestion stages.
    let response = anonymous
        .get(server.url("/metrics"))
        .header("x-request-id", "walk-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "walk-42");
    let metrics = response.text().await.unwrap();
    for series in [
        "folio_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/documents/{id}\",status=\"200\"}",
        "folio_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/documents/{id}\",status=\"401\"}",
        "folio_ingest_stage_duration_seconds_count{stage=\"parse\"}",
        "folio_ingest_jobs_total{kind=\"ingest\",outcome=\"succeeded\"}",
        "folio_retrieval_duration_seconds_count",
        "folio_ingest_queue_depth",
    ] {
        assert!(metrics.contains(series), "{series} missing from:\n{metrics}");
    }
    assert!(!metrics.contains(&document_id), "ids never become labels");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_start_prints_an_admin_key_and_revoked_keys_stop_working() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_bare(
        data.path(),
        &[("FOLIO__SERVER__RATE_LIMIT_PER_MINUTE", "60")],
    );
    let key = server
        .preamble
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("folio_"))
        .unwrap_or_else(|| panic!("no key printed: {:?}", server.preamble))
        .to_string();
    let admin = client_with_key(&key);
    let me = get_json(&admin, &server.url("/v1/me"), 200).await;
    assert_eq!(me["role"], "admin", "{me}");

    let created: Value = admin
        .post(server.url("/v1/keys"))
        .json(&json!({"name": "temp", "role": "editor"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let editor = client_with_key(created["key"].as_str().unwrap());
    get_json(&editor, &server.url("/v1/documents"), 200).await;
    let listed = get_json(&admin, &server.url("/v1/keys"), 200).await;
    assert_eq!(listed["keys"].as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains("argon2"),
        "hashes never leave the server"
    );
    let revoked = admin
        .delete(server.url(&format!("/v1/keys/{}", created["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let refused = editor
        .get(server.url("/v1/documents"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // 60 a minute means bursts of 10: the key is refused with Retry-After.
    let mut limited = None;
    for _ in 0..15 {
        let response = admin.get(server.url("/v1/me")).send().await.unwrap();
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("the 16th request within a second is over a burst of 10");
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    drop(server);

    // A key exists now, so a restart prints none.
    let again = Server::start_bare(data.path(), &[]);
    assert!(
        !again.preamble.iter().any(|l| l.contains("folio_")),
        "{:?}",
        again.preamble
    );
    drop(again);

    // Every key revoked: a restart still prints none (a revoked store is not a new
    // one); `folio admin key create` is the way back in.
    let listed = String::from_utf8(folio_ok(data.path(), &["admin", "key", "list"])).unwrap();
    for line in listed.lines().filter(|l| l.contains("active")) {
        let id = line.split_whitespace().next().unwrap();
        folio_ok(data.path(), &["admin", "key", "revoke", id]);
    }
    let locked = Server::start_bare(data.path(), &[]);
    assert!(
        !locked.preamble.iter().any(|l| l.contains("folio_")),
        "a key was printed after every key was revoked: {:?}",
        locked.preamble
    );
    let refused = client_with_key(&key)
        .get(locked.url("/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let created: Value = serde_json::from_slice(&folio_ok(
        data.path(),
        &["admin", "key", "create", "--role", "admin", "--json"],
    ))
    .unwrap();
    let recovered = client_with_key(created["key"].as_str().unwrap());
    get_json(&recovered, &locked.url("/v1/me"), 200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_generation_queue_answers_503_with_retry_after() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            ("FOLIO__SERVER__LLM_CONCURRENCY", "1"),
            ("FOLIO__SERVER__LLM_QUEUE", "0"),
        ],
    );
    let chat = |max_tokens, stream| {
        chat_body(
            "Count from one to one hundred in words.",
            max_tokens,
            stream,
        )
    };
    // Loads the model first, so the next request's slot is held only by generation.
    let (status, body) = server.post("/v1/chat/completions", chat(1, false)).await;
    assert_eq!(status, 200, "{body}");
    let mut stream = server
        .open_chat_stream("Count from one to one hundred in words.", 200)
        .await;
    let busy = server
        .http
        .post(server.url("/v1/chat/completions"))
        .json(&chat(4, false))
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 503);
    assert!(busy.headers().contains_key("retry-after"));
    let body: Value = busy.json().await.unwrap();
    assert_eq!(body["error"]["code"], "llm_busy");
    // Once the stream is gone, its slot is free again.
    while let Ok(Some(_)) = stream.chunk().await {}
    let (status, body) = server.post("/v1/chat/completions", chat(2, false)).await;
    assert_eq!(status, 200, "{body}");
}

/// Words every tenant's documents draw from, so queries match across tenants.
const VOCABULARY: &[&str] = &[
    "supplier",
    "buyer",
    "invoice",
    "termination",
    "notice",
    "warranty",
    "indemnity",
    "royalty",
    "license",
    "territory",
    "exclusivity",
    "audit",
    "payment",
    "delivery",
    "confidential",
    "arbitration",
    "insurance",
    "revenue",
    "dividend",
    "lease",
];

#[tokio::test(flavor = "multi_thread")]
async fn no_query_ever_sees_another_tenants_documents() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[("FOLIO__ANSWER__MAX_ANSWER_TOKENS", "8")]);
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    // Random tenants with random documents over one shared vocabulary.
    let documents_strategy = prop::collection::vec(
        prop::collection::vec(prop::sample::select(VOCABULARY), 30..80),
        2..4,
    );
    let mut tenants: Vec<(reqwest::Client, HashSet<String>)> = Vec::new();
    for t in 0..3 {
        let key = if t == 0 {
            server.key.clone()
        } else {
            create_tenant_key(data.path(), &format!("tenant-{t}"), "editor").await
        };
        let client = client_with_key(&key);
        let docs = documents_strategy.new_tree(&mut runner).unwrap().current();
        let mut ids = HashSet::new();
        for (i, words) in docs.iter().enumerate() {
            let text = words
                .chunks(10)
                .map(|s| format!("The {}.", s.join(" ")))
                .collect::<Vec<_>>()
                .join(" ");
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(text.into_bytes())
                    .file_name(format!("doc-{t}-{i}.txt")),
            );
            let body: Value = client
                .post(server.url("/v1/documents"))
                .multipart(form)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            ids.insert(
                body["documents"][0]["document_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        tenants.push((client, ids));
    }
    for (client, ids) in &tenants {
        for id in ids {
            let started = std::time::Instant::now();
            loop {
                let doc: Value = client
                    .get(server.url(&format!("/v1/documents/{id}")))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if doc["status"] == "ready" {
                    break;
                }
                assert!(
                    doc["status"] != "failed" && started.elapsed() < Duration::from_secs(120),
                    "{doc}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let all: Vec<String> = tenants
        .iter()
        .flat_map(|(_, ids)| ids.iter().cloned())
        .collect();
    let handle = tokio::runtime::Handle::current();
    let asks = std::sync::atomic::AtomicUsize::new(0);
    let outcome = tokio::task::block_in_place(|| {
        runner.run(
            &(
                0..tenants.len(),
                prop::collection::vec(prop::sample::select(VOCABULARY), 1..4),
                0..all.len(),
                0..4usize,
            ),
            |(tenant, words, target, endpoint)| {
                let (client, own) = &tenants[tenant];
                let query = words.join(" ");
                let target = &all[target];
                handle.block_on(async {
                    let post = |path: &str, body: Value| {
                        let request = client.post(server.url(path)).json(&body);
                        async move {
                            let response = request.send().await.unwrap();
                            (response.status().as_u16(), response.json::<Value>().await.unwrap())
                        }
                    };
                    let get = |path: String| {
                        let request = client.get(server.url(&path));
                        async move {
                            let response = request.send().await.unwrap();
                            (response.status().as_u16(), response.json::<Value>().await.unwrap())
                        }
                    };
                    let seen: Vec<String> = match endpoint {
                        0 => {
                            let (status, body) = post("/v1/search", json!({"query": query, "limit": 50})).await;
                            prop_assert_eq!(status, 200);
                            body["candidates"].as_array().unwrap().iter()
                                .map(|c| c["chunk"]["document_id"].as_str().unwrap().to_string()).collect()
                        }
                        1 if asks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 3 => {
                            let (status, body) = post("/v1/ask", json!({"question": format!("What about {query}?"), "pipeline": "plain"})).await;
                            prop_assert_eq!(status, 200, "{}", body);
                            body["citations"].as_array().unwrap().iter()
                                .map(|c| c["document_id"].as_str().unwrap().to_string()).collect()
                        }
                        1 => Vec::new(),
                        2 | 3 => {
                            let path = if endpoint == 2 { "text" } else { "chunks" };
                            let (status, _) = get(format!("/v1/documents/{target}/{path}")).await;
                            if own.contains(target) {
                                prop_assert_eq!(status, 200);
                            } else {
                                prop_assert_eq!(status, 404, "tenant {} read {} of another tenant", tenant, target);
                            }
                            Vec::new()
                        }
                        _ => unreachable!(),
                    };
                    for id in seen {
                        prop_assert!(own.contains(&id), "tenant {} saw document {} of another tenant", tenant, id);
                    }
                    Ok::<(), TestCaseError>(())
                })
            },
        )
    });
    outcome.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_open_answer_stream_finish_and_slow_requests_time_out() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[("FOLIO__SERVER__REQUEST_TIMEOUT_SECS", "2")]);
    let story = "Write a long story about a lighthouse keeper.";
    // The models load in the background at start; wait for them, so the deadline
    // below measures generation only.
    let started = std::time::Instant::now();
    while get_json(&server.http, &server.url("/readyz"), 200).await["llm_loaded"] != true {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "models never loaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A reply that takes longer than the deadline to produce: 504, not a hang.
    let slow = server
        .http
        .post(server.url("/v1/chat/completions"))
        .json(&chat_body(story, 2000, false))
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), 504);
    let body: Value = slow.json().await.unwrap();
    assert_eq!(body["error"]["code"], "request_timeout");

    // A stream's start counts, not its length: it outlives the deadline and a
    // shutdown signal, and ends with its last event.
    let mut stream = server.open_chat_stream(story, 150).await;
    let mut received = String::new();
    let pid = server.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    while let Some(chunk) = stream.chunk().await.unwrap() {
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(received.trim_end().ends_with("data: [DONE]"), "{received}");
    assert!(
        received.contains("\"finish_reason\":\"length\"")
            || received.contains("\"finish_reason\":\"stop\"")
    );
    let status = server.wait_exit(Duration::from_secs(40));
    assert!(status.success(), "{status:?}");
}
