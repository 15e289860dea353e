//! Answering end to end: `POST /v1/ask` (JSON and server-sent events), `folio ask`,
//! Folio's OpenAI-compatible `/v1/chat/completions` driven by the OpenAI backend,
//! and a second node answering through the first one's model over that API.

use folio_llm::{ChatMessage, GenerateRequest, LanguageModel, OpenAiModel, OpenAiOptions};
use serde_json::{json, Value};

use crate::harness::{folio_ok, Server};

const CONTRACT: &str = "# SUPPLY AGREEMENT\n\n\
## Article 1 Delivery\n\n\
The Supplier shall deliver the valves every month to the Buyer's warehouse in Toledo, Ohio.\n\n\
## Article 2 Payment\n\n\
The Buyer shall pay each invoice within forty-five (45) days of receipt. Late payments bear interest at 1.5% per month.\n\n\
## Article 3 Termination\n\n\
Either party may terminate this Agreement for convenience on ninety (90) days' written notice.\n\n\
## Article 4 Governing Law\n\n\
This Agreement is governed by the laws of the State of Delaware.\n";

const QUESTION: &str = "Within how many days must the Buyer pay each invoice?";

async fn ingest(server: &Server) -> (String, String) {
    let id = server
        .ingest_one("supply.md", CONTRACT.as_bytes().to_vec(), "contracts")
        .await;
    let (status, body) = server.get(&format!("/v1/documents/{id}/text")).await;
    assert_eq!(status, 200, "{body}");
    (id, body["text"].as_str().unwrap().to_string())
}

/// Every citation's quote is exactly the stored text at its character offsets.
fn assert_citations_resolve(answer: &Value, text: &str) {
    let citations = answer["citations"].as_array().expect("citations");
    for c in citations {
        let start = c["char_start"].as_u64().unwrap() as usize;
        let end = c["char_end"].as_u64().unwrap() as usize;
        let slice: String = text.chars().skip(start).take(end - start).collect();
        assert_eq!(c["quote"].as_str().unwrap(), slice, "{c}");
        assert!(c["marker"].as_str().unwrap().len() >= 2);
    }
    // An answer is cited with nothing only when it names no source (no marker)
    // or names only sources it was not given, and does not quote one sentence by
    // sentence; the trace says which.
    if answer["no_answer"] == false && citations.is_empty() {
        let written = answer["answer"].as_str().unwrap_or("");
        let marked = written.match_indices('[').any(|(at, _)| {
            let rest = &written[at + 1..];
            rest.starts_with(['S', 'P']) && rest[1..].starts_with(|c: char| c.is_ascii_digit())
        });
        match answer["trace"]["notes"].as_array() {
            Some(notes) => {
                let said = |what: &str| {
                    notes
                        .iter()
                        .any(|n| n.as_str().unwrap_or("").contains(what))
                };
                assert!(
                    said("the answer cites no"),
                    "an uncited answer without its reason: {answer}"
                );
                assert!(
                    !marked || said("which is not a verified fact") || said("which was not given"),
                    "a marked answer without citations: {answer}"
                );
            }
            None => assert!(!marked, "a marked answer without citations: {answer}"),
        }
    }
}

/// `(event, data)` pairs of a server-sent event stream.
fn sse_events(body: &str) -> Vec<(String, String)> {
    let mut events = Vec::new();
    for block in body.split("\n\n") {
        let mut name = String::from("message");
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
            }
        }
        if !data.is_empty() {
            events.push((name, data.join("\n")));
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread")]
async fn ask_over_http_sse_and_the_cli_with_exact_citations() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let (id, text) = ingest(&server).await;

    for pipeline in ["plain", "+alr2", "full"] {
        let (status, answer) = server
            .post(
                "/v1/ask",
                json!({"question": QUESTION, "documents": [id], "pipeline": pipeline, "trace": true}),
            )
            .await;
        assert_eq!(status, 200, "{pipeline}: {answer}");
        assert_eq!(answer["pipeline"], pipeline);
        assert!(answer["answer"].as_str().is_some_and(|a| !a.is_empty()));
        assert!(answer["timings"]["total_s"].as_f64().unwrap() > 0.0);
        assert_citations_resolve(&answer, &text);
    }

    let (status, answer) = server
        .post(
            "/v1/ask",
            json!({"question": QUESTION, "documents": [id], "pipeline": "full", "trace": true}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let trace = &answer["trace"];
    for call in trace["calls"].as_array().unwrap() {
        assert_ne!(call["finish_reason"], "cancelled", "{call}");
    }
    let stages: Vec<&str> = trace["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["stage"].as_str().unwrap())
        .collect();
    assert!(stages.contains(&"facts"), "{stages:?}");
    assert!(trace["key_context"]["selection"]["segments"].is_array());
    assert!(trace["facts"]["verified"].is_array());
    let units = trace["units"].as_array().unwrap();
    assert!(!units.is_empty());
    // The fact-listing stage saw the sentences most similar to the question,
    // best first, and facts rest only on those.
    let offered = trace["fact_candidates"].as_array().unwrap();
    assert_eq!(offered.len(), units.len().min(8), "{offered:?}");
    let ranked: Vec<f64> = offered
        .iter()
        .map(|c| c["similarity"].as_f64().unwrap())
        .collect();
    assert!(ranked.windows(2).all(|w| w[0] >= w[1]), "{ranked:?}");
    let offered_ids: Vec<u64> = offered
        .iter()
        .map(|c| c["unit"].as_u64().unwrap())
        .collect();
    for fact in trace["facts"]["verified"].as_array().unwrap() {
        let id = fact["unit"]["id"].as_u64().unwrap();
        assert!(
            offered_ids.contains(&id),
            "{id} was not shown: {offered_ids:?}"
        );
    }

    // Server-sent events: stages and tokens first, then citations, the answer, done.
    let body = server
        .http
        .post(server.url("/v1/ask"))
        .json(
            &json!({"question": QUESTION, "documents": [id], "pipeline": "+alr2", "stream": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(body.status().as_u16(), 200);
    assert!(body.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = sse_events(&body.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"stage"), "{names:?}");
    assert_eq!(
        &names[names.len() - 3..],
        ["citations", "answer", "done"],
        "{names:?}"
    );
    let streamed: String = events
        .iter()
        .filter(|(n, _)| n == "token")
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let answer: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
    assert!(
        streamed.contains(answer["answer"].as_str().unwrap().trim()),
        "streamed {streamed:?} vs {answer}"
    );
    assert!(answer.get("trace").is_none(), "the trace is opt-in");
    let citations: Value = serde_json::from_str(&events[events.len() - 3].1).unwrap();
    assert_eq!(citations, answer["citations"]);
    assert_citations_resolve(&answer, &text);

    // Errors keep the API's shape.
    for (body, status, code) in [
        (
            json!({"question": "  ", "documents": [id]}),
            400,
            "invalid_query",
        ),
        (
            json!({"question": QUESTION, "pipeline": "+magic"}),
            400,
            "invalid_query",
        ),
        (
            json!({"question": QUESTION, "documents": ["no-such-doc"]}),
            404,
            "not_found",
        ),
    ] {
        let (got, error) = server.post("/v1/ask", body.clone()).await;
        assert_eq!(got, status, "{body}: {error}");
        assert!(
            error["error"]["code"].as_str().unwrap().contains(code)
                || error["error"]["type"] == code,
            "{error}"
        );
        assert!(error["error"]["message"].is_string());
    }
    // Body rejections (unknown field, malformed JSON, no JSON content type) too.
    let (got, error) = server
        .post("/v1/ask", json!({"question": QUESTION, "colour": "red"}))
        .await;
    assert_eq!(
        (got, error["error"]["code"].as_str()),
        (422, Some("invalid_request")),
        "{error}"
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{error}"
    );
    for (content_type, body, status, code) in [
        ("application/json", "{\"query\" 1}", 400, "invalid_json"),
        ("text/plain", "{}", 415, "unsupported_media_type"),
    ] {
        let response = server
            .http
            .post(server.url("/v1/search"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{error}");
        assert_eq!(error["error"]["type"], "invalid_request", "{error}");
    }
    server.kill();

    // The CLI: streamed text with citations, and the same JSON body as the API.
    let printed = String::from_utf8(folio_ok(
        data.path(),
        &["ask", QUESTION, "--doc", &id, "--pipeline", "plain"],
    ))
    .unwrap();
    assert!(
        printed.contains("Citations:") || printed.contains("(no citations)"),
        "{printed}"
    );
    assert!(printed.contains("plain · SmolLM2"), "{printed}");
    let stdout = folio_ok(
        data.path(),
        &[
            "ask",
            QUESTION,
            "--doc",
            &id,
            "--pipeline",
            "+alr2",
            "--json",
            "--trace",
        ],
    );
    let answer: Value = serde_json::from_slice(&stdout).unwrap();
    for call in answer["trace"]["calls"].as_array().unwrap() {
        assert_ne!(
            call["finish_reason"], "cancelled",
            "nothing cancels a CLI answer: {call}"
        );
    }
    assert_citations_resolve(&answer, &text);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openai_backend_talks_to_folio_and_a_second_node_answers_through_it() {
    let model_dir = tempfile::tempdir().unwrap();
    let model_node = Server::start(model_dir.path(), &[]);
    let base_url = model_node.url("/v1");

    // The OpenAI-compatible backend (async-openai, streaming) against a real server.
    let backend = OpenAiModel::new(OpenAiOptions {
        base_url: base_url.clone(),
        api_key: model_node.key.clone(),
        model: "folio-local".into(),
        ..OpenAiOptions::default()
    })
    .unwrap();
    let (generation, streamed) = tokio::task::spawn_blocking(move || {
        let mut streamed = String::new();
        let request = GenerateRequest::greedy(
            vec![
                ChatMessage::system("You are a concise assistant."),
                ChatMessage::user("What is the capital of France? Answer with one word."),
            ],
            12,
        );
        let generation = backend
            .generate(&request, &mut |piece: &str| {
                streamed.push_str(piece);
                true
            })
            .unwrap();
        (generation, streamed)
    })
    .await
    .unwrap();
    assert!(generation.text.contains("Paris"), "{generation:?}");
    assert_eq!(streamed, generation.text);
    assert!(
        generation.prompt_tokens > 10,
        "usage comes from the server: {generation:?}"
    );
    assert!(generation.completion_tokens >= 1);

    // The plain JSON form, as any OpenAI client sends it.
    let (status, body) = model_node.post("/v1/chat/completions",
        json!({"model": "x", "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 4, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() <= 4);
    let (status, body) = model_node
        .post("/v1/chat/completions", json!({"messages": []}))
        .await;
    // A well-formed body with an unusable value: 422, like every other such field.
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    assert!(body["error"]["message"].is_string());

    // A query node whose generator is the model node: answers still cite its own
    // stored text exactly; XL3M still scores with its local model.
    let query_dir = tempfile::tempdir().unwrap();
    let query_node = Server::start(
        query_dir.path(),
        &[
            ("FOLIO__GENERATOR__BACKEND", "openai"),
            ("FOLIO__GENERATOR__BASE_URL", base_url.as_str()),
            ("FOLIO__GENERATOR__MODEL", "folio-local"),
            ("FOLIO__GENERATOR__API_KEY", model_node.key.as_str()),
        ],
    );
    let (id, text) = ingest(&query_node).await;
    let (status, answer) = query_node.post("/v1/ask",
        json!({"question": QUESTION, "documents": [id], "pipeline": "+xl3m+alr2", "trace": true}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model"], "folio-local");
    assert_citations_resolve(&answer, &text);
    assert!(
        answer["trace"]["key_context"]["selection"]["tokens_scored"]
            .as_u64()
            .unwrap()
            > 0
    );

    // The model node going away is a clear upstream error, not a hang or a 500.
    model_node.kill();
    let (status, error) = query_node
        .post(
            "/v1/ask",
            json!({"question": QUESTION, "documents": [id], "pipeline": "plain"}),
        )
        .await;
    assert_eq!(status, 502, "{error}");
    assert_eq!(error["error"]["code"], "model_unavailable");
}
