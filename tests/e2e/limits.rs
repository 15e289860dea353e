//! Every request has a bounded cost: over-long queries and questions, oversized
//! filters, `limit` and `max_tokens` are refused before any work; lists come in
//! pages; originals and texts stream; failed keys are limited before argon2; and
//! one tenant flooding the server with the largest queries it may send leaves
//! another tenant's searches answered within seconds.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::harness::{client_with_key, create_tenant_key, folio, Server};

/// The default `limits.max_query_bytes`.
const MAX_QUERY_BYTES: usize = 4096;

/// Words of the flood's queries: each query a different mix, so nothing is cached.
const WORDS: &[&str] = &[
    "payment",
    "invoice",
    "termination",
    "notice",
    "licensee",
    "royalty",
    "warranty",
    "indemnify",
    "confidential",
    "schedule",
    "delivery",
    "breach",
    "remedy",
    "governing",
    "arbitration",
    "assignment",
    "force",
    "majeure",
    "audit",
    "territory",
    "exclusive",
    "renewal",
    "liability",
    "damages",
    "insurance",
    "subcontract",
    "milestone",
    "acceptance",
];

/// A query of exactly `bytes` bytes of contract words, varied by `seed`.
fn query_of(bytes: usize, seed: usize) -> String {
    let mut query = String::with_capacity(bytes + 16);
    let mut i = seed;
    while query.len() < bytes {
        query.push_str(WORDS[(i * 7 + i / WORDS.len()) % WORDS.len()]);
        query.push(' ');
        i += 1;
    }
    query.truncate(bytes);
    query
}

async fn post(client: &reqwest::Client, url: String, body: &Value) -> (u16, Value) {
    let response = client.post(url).json(body).send().await.expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn upload_with(client: &reqwest::Client, base: &str, name: &str, bytes: Vec<u8>) -> String {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    let response = client
        .post(format!("{base}/v1/documents?collection=default"))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.expect("JSON");
    body["documents"][0]["document_id"]
        .as_str()
        .expect("an id")
        .to_string()
}

async fn wait_ready(client: &reqwest::Client, base: &str, id: &str) {
    let started = Instant::now();
    loop {
        let response = client
            .get(format!("{base}/v1/documents/{id}"))
            .send()
            .await
            .expect("GET");
        let doc: Value = response.json().await.expect("JSON");
        match doc["status"].as_str() {
            Some("ready") => return,
            Some("failed") => panic!("{doc}"),
            _ => {}
        }
        assert!(started.elapsed() < Duration::from_secs(300), "{doc}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn contract(seed: usize) -> Vec<u8> {
    let mut text = format!("# Agreement {seed}\n\n");
    for clause in 0..12 {
        text.push_str(&format!(
            "## {clause}. Clause\n\nThe Licensee shall pay each invoice within {} days. {}\n\n",
            30 + seed + clause,
            query_of(300, seed * 13 + clause)
        ));
    }
    text.into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn over_long_queries_big_filters_limits_and_max_tokens_are_refused_before_any_work() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let at_cap = query_of(MAX_QUERY_BYTES, 1);
    let over = query_of(MAX_QUERY_BYTES + 1, 1);
    let megabyte = query_of(1_000_000, 1);

    let (status, body) = server.post("/v1/search", json!({"query": at_cap})).await;
    assert_eq!(status, 200, "a query at the cap is served: {body}");
    for query in [&over, &megabyte] {
        let started = Instant::now();
        let (status, body) = server.post("/v1/search", json!({"query": query})).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["error"]["code"], "query_too_long");
        println!(
            "search of {} bytes refused in {:?}",
            query.len(),
            started.elapsed()
        );
        // The question is checked before the models load: no model work at all.
        let (status, body) = server.post("/v1/ask", json!({"question": query})).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["error"]["code"], "query_too_long");
    }

    let many: Vec<String> = (0..101).map(|i| format!("doc-{i}")).collect();
    for (path, text_field) in [("/v1/search", "query"), ("/v1/ask", "question")] {
        for filter in ["documents", "collections"] {
            let (status, body) = server
                .post(path, json!({text_field: "payment", filter: many}))
                .await;
            assert_eq!(status, 400, "{path} {filter}: {body}");
            assert_eq!(body["error"]["code"], "too_many_filters");
        }
    }
    let (status, body) = server
        .post("/v1/search", json!({"query": "payment", "limit": 1001}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query");
    let (status, body) = server
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1_000_000}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "max_tokens_too_large");

    // The CLI passes the same use-case functions.
    server.kill();
    for args in [
        vec!["search", over.as_str()],
        vec!["ask", over.as_str(), "--json"],
    ] {
        let output = folio(data.path()).args(&args).output().expect("folio runs");
        assert!(!output.status.success(), "{:?} accepted", args[0]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("[query_too_long]"), "{}: {stderr}", args[0]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn list_endpoints_come_in_pages_that_tile_the_whole_list() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    for i in 0..5 {
        let (status, body) = server
            .post("/v1/collections", json!({"name": format!("c{i}")}))
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = server
            .upload(
                &[(&format!("n{i}.txt"), format!("Note {i}.").into_bytes())],
                "default",
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let (status, body) = server
            .post(
                "/v1/keys",
                json!({"name": format!("k{i}"), "role": "viewer"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    for (path, field, at_least) in [
        ("/v1/collections", "collections", 5),
        ("/v1/documents", "documents", 5),
        ("/v1/keys", "keys", 6),
        ("/v1/jobs", "jobs", 5),
    ] {
        let (status, whole) = server.get(path).await;
        assert_eq!(status, 200, "{whole}");
        assert!(whole["next_offset"].is_null(), "{path}: one page holds all");
        let whole = whole[field].as_array().expect("a list").clone();
        assert!(whole.len() >= at_least, "{path}: {}", whole.len());
        let mut paged = Vec::new();
        let mut offset = Some(0u64);
        while let Some(at) = offset {
            let (status, page) = server.get(&format!("{path}?limit=2&offset={at}")).await;
            assert_eq!(status, 200, "{page}");
            let items = page[field].as_array().expect("a list");
            assert!(items.len() <= 2);
            paged.extend(items.iter().cloned());
            offset = page["next_offset"].as_u64();
        }
        let ids = |items: &[Value]| -> Vec<String> {
            items.iter().map(|item| item["id"].to_string()).collect()
        };
        assert_eq!(ids(&paged), ids(&whole), "{path}: the pages tile the list");
        for bad in ["limit=0", "limit=1001", "limit=two", "offset=-1"] {
            let (status, body) = server.get(&format!("{path}?{bad}")).await;
            assert_eq!(status, 400, "{path}?{bad}: {body}");
            assert_eq!(body["error"]["code"], "invalid_page");
        }
    }
    let (status, page) = server
        .get("/v1/documents?collection=default&limit=3&offset=3")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["documents"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn text_and_original_stream_exactly_the_stored_bytes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    // Multi-byte characters on both sides of every 64 KiB piece boundary.
    let mut text = String::from("# Streamed\n\n");
    let mut i = 0;
    while text.len() < 300 * 1024 {
        text.push_str(&format!(
            "Clause {i}: Prix 5 €, délai « {i} » jours — 𝄞.\n\n"
        ));
        i += 1;
    }
    let id = upload_with(
        &server.http,
        &server.base,
        "streamed.md",
        text.clone().into_bytes(),
    )
    .await;
    wait_ready(&server.http, &server.base, &id).await;

    let original = server
        .http
        .get(server.url(&format!("/v1/documents/{id}/original")))
        .send()
        .await
        .expect("GET original");
    assert_eq!(original.status(), 200);
    assert_eq!(
        original.content_length(),
        Some(text.len() as u64),
        "the length is known before the bytes"
    );
    let bytes = original.bytes().await.expect("the body");
    assert!(
        bytes.as_ref() == text.as_bytes(),
        "the original comes back byte for byte"
    );

    let (status, served) = server.get(&format!("/v1/documents/{id}/text")).await;
    assert_eq!(status, 200, "{served}");
    assert_eq!(served["document_id"], id.as_str());
    assert!(served["version"].as_i64().is_some());
    assert!(served["structure"].is_object(), "{}", served["structure"]);
    let canonical = served["text"].as_str().expect("the text");
    assert!(canonical.contains("Clause 0: Prix 5 €, délai « 0 » jours — 𝄞."));
    assert!(canonical.len() > 290 * 1024, "{}", canonical.len());
    // The chunks' offsets still index the streamed text exactly.
    crate::harness::assert_chunks_are_exact_slices(&server, &id).await;
}

/// A client whose connections come from `address` (any 127.0.0.0/8 address is
/// loopback on Linux), so that one test can be several client addresses.
fn client_from(address: Ipv4Addr, key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().expect("a header value"),
    );
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .local_address(IpAddr::V4(address))
        .default_headers(headers)
        .build()
        .expect("a client")
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_key_attempts_are_limited_per_address_and_per_key_id_before_hashing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let (status, viewer) = server
        .post("/v1/keys", json!({"name": "reader", "role": "viewer"}))
        .await;
    assert_eq!(status, 201, "{viewer}");
    let viewer_key = viewer["key"].as_str().expect("a key").to_string();
    let viewer_id = viewer["id"].as_str().expect("an id").to_string();
    let me = server.url("/v1/me");
    // The owner has used its key: a proven key is never locked out by others' guesses.
    let owner = client_from(Ipv4Addr::new(127, 0, 0, 2), &viewer_key);
    assert_eq!(owner.get(&me).send().await.unwrap().status(), 200);

    // One address guessing keys of random ids: 10 failures, then refused unhashed.
    let random_key = |i: usize| format!("folio_{:016x}_{}", 0xabc000 + i, "0".repeat(64));
    let guesser = Ipv4Addr::new(127, 0, 0, 3);
    for i in 0..10 {
        let status = client_from(guesser, &random_key(i))
            .get(&me)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401, "guess {i}");
    }
    let refused = client_from(guesser, &random_key(10))
        .get(&me)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429, "the address is over its failures");
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_failed_attempts");
    // Even a valid key from that address waits, unless it was proven before.
    let (status, fresh) = server
        .post("/v1/keys", json!({"name": "fresh", "role": "viewer"}))
        .await;
    assert_eq!(status, 201, "{fresh}");
    let fresh_key = fresh["key"].as_str().unwrap().to_string();
    let status = client_from(guesser, &fresh_key)
        .get(&me)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 429);

    // One key id guessed from many addresses: 10 failures, then refused unhashed.
    let wrong_secret = format!("folio_{viewer_id}_{}", "f".repeat(64));
    let mut timings = Vec::new();
    for i in 0..10u8 {
        let started = Instant::now();
        let status = client_from(Ipv4Addr::new(127, 0, 1, 10 + i), &wrong_secret)
            .get(&me)
            .send()
            .await
            .unwrap()
            .status();
        timings.push(started.elapsed());
        assert_eq!(status, 401, "wrong secret {i}");
    }
    let started = Instant::now();
    let refused = client_from(Ipv4Addr::new(127, 0, 1, 100), &wrong_secret)
        .get(&me)
        .send()
        .await
        .unwrap();
    let refused_in = started.elapsed();
    assert_eq!(refused.status(), 429, "the key id is over its failures");
    assert!(refused.headers().contains_key("retry-after"));
    println!("wrong secrets hashed in {timings:?}; the refusal took {refused_in:?}");
    // Its owner, proven before, still gets in; another key from a clean address too.
    assert_eq!(owner.get(&me).send().await.unwrap().status(), 200);
    let clean = client_from(Ipv4Addr::new(127, 0, 2, 1), &fresh_key);
    assert_eq!(clean.get(&me).send().await.unwrap().status(), 200);
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// How long one tenant floods.
const FLOOD: Duration = Duration::from_secs(20);
/// Concurrent flooding clients: more than a tenant's share of searches (4).
const FLOODERS: usize = 12;
/// Requests each flooding client sends at most.
const FLOOD_REQUESTS_EACH: usize = 400;
/// What another tenant's normal search may take while the flood runs.
const PROBE_BOUND: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread")]
async fn one_tenants_flood_of_maximum_queries_leaves_another_tenant_answered() {
    let data = tempfile::tempdir().unwrap();
    // No per-key rate limit: what must hold is the bounded cost of each request and
    // the tenant's share, not a flooder running out of tokens.
    let server = Server::start(
        data.path(),
        &[("FOLIO__SERVER__RATE_LIMIT_PER_MINUTE", "0")],
    );
    let pid = server.child.id();
    for seed in 0..6 {
        let id = upload_with(
            &server.http,
            &server.base,
            &format!("a{seed}.md"),
            contract(seed),
        )
        .await;
        wait_ready(&server.http, &server.base, &id).await;
    }
    let (status, viewer) = server
        .post("/v1/keys", json!({"name": "flood", "role": "viewer"}))
        .await;
    assert_eq!(status, 201, "{viewer}");
    let flooder = client_with_key(viewer["key"].as_str().unwrap());
    let other = client_with_key(&create_tenant_key(data.path(), "other", "editor").await);
    let id = upload_with(&other, &server.base, "b.md", contract(99)).await;
    wait_ready(&other, &server.base, &id).await;
    let probe_body = json!({"query": "when must the licensee pay an invoice", "limit": 5});
    let (status, body) = post(&other, server.url("/v1/search"), &probe_body).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &flooder,
        server.url("/v1/search"),
        &json!({"query": query_of(MAX_QUERY_BYTES, 0)}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rss_before = rss_kib(pid);

    let outcomes: Arc<Mutex<Vec<(u16, f64)>>> = Arc::default();
    let started = Instant::now();
    let mut flood = Vec::new();
    for client in 0..FLOODERS {
        let (flooder, url, outcomes) =
            (flooder.clone(), server.url("/v1/search"), outcomes.clone());
        flood.push(tokio::spawn(async move {
            for request in 0..FLOOD_REQUESTS_EACH {
                if started.elapsed() > FLOOD {
                    break;
                }
                // Mostly the largest query accepted; now and then the 1 MB one of
                // the report, which must be refused before it costs anything.
                let bytes = if request % 5 == 4 {
                    1_000_000
                } else {
                    MAX_QUERY_BYTES
                };
                let body = json!({"query": query_of(bytes, client * 1000 + request), "limit": 50});
                let sent = Instant::now();
                let response = flooder
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .expect("the server answers");
                let status = response.status().as_u16();
                let _ = response.bytes().await;
                outcomes
                    .lock()
                    .await
                    .push((status, sent.elapsed().as_secs_f64()));
            }
        }));
    }
    let peak_rss = Arc::new(std::sync::atomic::AtomicU64::new(rss_before));
    let sampler = {
        let peak = peak_rss.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // Another tenant's normal searches, sent while the flood runs.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut probes = Vec::new();
    while started.elapsed() < FLOOD {
        let sent = Instant::now();
        let (status, body) = post(&other, server.url("/v1/search"), &probe_body).await;
        let took = sent.elapsed();
        assert_eq!(status, 200, "the other tenant's search failed: {body}");
        assert!(
            body["candidates"].as_array().is_some_and(|c| !c.is_empty()),
            "{body}"
        );
        probes.push(took.as_secs_f64());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for client in flood {
        client.await.expect("a flooding client");
    }
    sampler.abort();

    let outcomes = outcomes.lock().await.clone();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut served = Vec::new();
    for (status, seconds) in &outcomes {
        *statuses.entry(*status).or_default() += 1;
        match status {
            200 => served.push(*seconds),
            413 | 429 => {}
            other => panic!("unintended status {other} in the flood"),
        }
    }
    served.sort_by(f64::total_cmp);
    probes.sort_by(f64::total_cmp);
    let ms = |s: f64| s * 1000.0;
    println!(
        "flood: {} requests from {FLOODERS} clients in {:.1?}, statuses {statuses:?}",
        outcomes.len(),
        started.elapsed()
    );
    println!(
        "flood: served 4 KiB searches p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        ms(percentile(&served, 0.5)),
        ms(percentile(&served, 0.95)),
        ms(served.last().copied().unwrap_or(0.0))
    );
    println!(
        "flood: other tenant's searches n={} p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        probes.len(),
        ms(percentile(&probes, 0.5)),
        ms(percentile(&probes, 0.95)),
        ms(probes.last().copied().unwrap_or(0.0))
    );
    let peak = peak_rss.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "flood: RSS {} MiB before, peak {} MiB",
        rss_before / 1024,
        peak / 1024
    );
    assert!(
        statuses.get(&200).copied().unwrap_or(0) > 0,
        "the flood never ran: {statuses:?}"
    );
    assert!(statuses.get(&413).copied().unwrap_or(0) > 0, "{statuses:?}");
    assert!(probes.len() >= 4, "too few probes: {}", probes.len());
    let worst = probes.last().copied().unwrap_or(f64::MAX);
    assert!(
        worst < PROBE_BOUND.as_secs_f64(),
        "the other tenant waited {worst:.1} s for a search"
    );
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_past_its_deadline_leaves_no_work_running() {
    let data = tempfile::tempdir().unwrap();
    // Many long segments for the model to score: far more work than the deadline.
    let server = Server::start(
        data.path(),
        &[
            ("FOLIO__SERVER__REQUEST_TIMEOUT_SECS", "2"),
            ("FOLIO__XL3M__CANDIDATES", "60"),
            ("FOLIO__XL3M__SEGMENT_TOKENS", "512"),
        ],
    );
    let mut text = String::new();
    for n in 1..=120 {
        text.push_str(&format!(
            "Section {n}. The Supplier shall deliver the goods of schedule {n} within {} days of the \
             purchase order, and the Buyer shall pay each invoice for schedule {n} within {} days \
             of receipt, failing which interest accrues at {} percent per annum on the unpaid \
             amount until payment in full.\n\n",
            n + 10,
            n + 30,
            n % 7 + 2
        ));
    }
    let id = server
        .ingest_one("schedules.txt", text.into_bytes(), "default")
        .await;
    let pid = server.child.id();

    let asked = Instant::now();
    let (status, body) = server
        .post(
            "/v1/ask",
            json!({"question": "When must the Buyer pay the invoices of each schedule?",
                   "documents": [id], "pipeline": "+xl3m"}),
        )
        .await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "request_timeout");
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "{:?}",
        asked.elapsed()
    );
    // The batch being scored when the deadline passed may finish; nothing after it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let used = cpu_seconds(pid) - before;
    println!("CPU used in the 4 s after the deadline (+3 s): {used:.2} s");
    assert!(
        used < 1.0,
        "the abandoned answer kept the server busy: {used:.2} CPU s in 4 s"
    );
}
