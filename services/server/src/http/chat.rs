//! `POST /v1/chat/completions`: the OpenAI chat API over Folio's own generator, so
//! a split deployment (or any OpenAI client) can use the model a Folio node holds.
//! JSON or, with `"stream": true`, `chat.completion.chunk` events ending in
//! `data: [DONE]`; `stream_options.include_usage` adds the usage chunk.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use folio_app::chat::{self, ChatUpdate};
use folio_app::keys::Caller;
use folio_app::AppError;
use folio_common::config::LimitsConfig;
use folio_llm::{ChatMessage, ChatRole, FinishReason, GenerateRequest, Generation};
use serde::Deserialize;
use serde_json::{json, Value};

use super::schema::ApiErrors;
use super::{sse, ApiError, ApiJson, AppState};

/// The subset of the OpenAI request Folio honours; other fields are ignored, as
/// OpenAI-compatible servers do.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<MessageIn>,
    #[serde(default)]
    max_tokens: Option<usize>,
    #[serde(default)]
    max_completion_tokens: Option<usize>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    stop: Option<Stop>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Debug, Deserialize)]
struct MessageIn {
    role: String,
    content: Content,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// The generation a chat request asks for, within the app's limits.
pub(super) fn to_request(
    body: &ChatRequest,
    limits: &LimitsConfig,
) -> Result<GenerateRequest, ApiError> {
    let max_tokens = chat::max_tokens(limits, body.max_completion_tokens.or(body.max_tokens))?;
    let messages = body
        .messages
        .iter()
        .map(|m| {
            let role = match m.role.as_str() {
                "system" | "developer" => ChatRole::System,
                "user" => ChatRole::User,
                "assistant" => ChatRole::Assistant,
                other => {
                    return Err(AppError::InvalidRequest(format!(
                        "unsupported message role {other:?}"
                    )))
                }
            };
            let content = match &m.content {
                Content::Text(text) => text.clone(),
                Content::Parts(parts) => parts
                    .iter()
                    .filter_map(|p| p.text.as_deref())
                    .collect::<Vec<_>>()
                    .join(""),
            };
            Ok(ChatMessage { role, content })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let stop = match &body.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s.clone()],
        Some(Stop::Many(v)) => v.clone(),
    };
    let request = GenerateRequest {
        messages,
        max_tokens,
        temperature: body.temperature.unwrap_or(1.0).clamp(0.0, 2.0),
        seed: body.seed,
        stop,
    };
    chat::check(&request)?;
    Ok(request)
}

fn finish_name(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
}

fn usage(generation: &Generation) -> Value {
    json!({
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "total_tokens": generation.prompt_tokens + generation.completion_tokens,
    })
}

/// Chat completion with the node's generator.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "llm",
    summary = "OpenAI-compatible chat completion over this node's generator (JSON or SSE)",
    request_body(content = Object, description = "An OpenAI chat completion request: messages, max_tokens, temperature, seed, stop, stream, stream_options"),
    responses((status = 200, description = "An OpenAI chat completion (or its chunks as SSE)", body = Object), ApiErrors),
    security(("api_key" = []))
)]
pub async fn completions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let request = to_request(&body, &state.runtime.config.limits)?;
    let model = chat::model(&state.runtime).await?;
    let slot = super::guard::generation_slot(&state, &caller.tenant_id).await?;
    let model_name = body.model.clone().unwrap_or_else(|| model.describe().id);
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if !body.stream.unwrap_or(false) {
        let generation = chat::complete(model, request, slot).await?;
        record_generation(&state, &generation);
        return Ok(Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model_name,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": generation.text},
                "finish_reason": finish_name(generation.finish_reason),
            }],
            "usage": usage(&generation),
        }))
        .into_response());
    }
    let include_usage = body
        .stream_options
        .as_ref()
        .is_some_and(|o| o.include_usage);
    let chunk = move |delta: Value, finish: Option<&str>| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model_name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let event = |chunk: Value| Event::default().data(chunk.to_string());
    let opening = vec![event(chunk(
        json!({"role": "assistant", "content": ""}),
        None,
    ))];
    let metrics_state = state.clone();
    let updates = chat::complete_stream(model, request, slot);
    Ok(sse::respond(opening, updates, move |update| {
        let mut events = Vec::new();
        match update {
            ChatUpdate::Text(piece) => events.push(event(chunk(json!({"content": piece}), None))),
            ChatUpdate::Done(generation) => {
                record_generation(&metrics_state, &generation);
                events.push(event(chunk(
                    json!({}),
                    Some(finish_name(generation.finish_reason)),
                )));
                if include_usage {
                    // The usage chunk has no choices (OpenAI's `include_usage`).
                    let mut last = chunk(json!({}), None);
                    last["choices"] = json!([]);
                    last["usage"] = usage(&generation);
                    events.push(event(last));
                }
                events.push(Event::default().data("[DONE]"));
            }
            ChatUpdate::Failed(error) => {
                let error = ApiError::from(error);
                error.log();
                events.push(Event::default().data(error.body().to_string()));
                events.push(Event::default().data("[DONE]"));
            }
        }
        events
    }))
}

/// Decode speed of one completion: generated tokens after the first one arrived.
fn record_generation(state: &AppState, generation: &Generation) {
    let decoding = (generation.total_s - generation.first_token_s).max(0.0);
    state.metrics.observe_generation(
        generation.completion_tokens,
        std::time::Duration::from_secs_f64(decoding),
    );
}
