//! `POST /v1/ask`: a cited answer as one JSON body, or as server-sent events
//! (`stage`, `token`…, then `citations`, `answer`, optionally `trace`, and `done`;
//! a failure after the stream began is an `error` event with the API error body).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use super::schema::ApiErrors;
use super::{sse, ApiError, ApiJson, AppState};
use folio_app::ask::{self, answer_json, AnswerUpdate, AskInput};
use folio_app::keys::Caller;

/// A question as a client states it (`POST /v1/ask`).
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskParams {
    /// The question.
    pub question: String,
    /// Only these documents (ids); empty = all.
    #[serde(default)]
    pub documents: Vec<String>,
    /// Only these collections (names); empty = all.
    #[serde(default)]
    pub collections: Vec<String>,
    /// `extract`, `plain`, `+xl3m`, `+alr2`, `+demos` or `full` (default: `[answer] pipeline`,
    /// `auto`: `extract` with the built-in model on CPU, `full` otherwise).
    #[serde(default)]
    pub pipeline: Option<String>,
    /// Include the trace (prompts, scores, facts, timings).
    #[serde(default)]
    pub trace: bool,
    /// Stream server-sent events instead of one JSON body.
    #[serde(default)]
    pub stream: bool,
}

impl AskParams {
    /// The question as the use case takes it.
    pub fn input(&self) -> AskInput {
        AskInput {
            question: self.question.clone(),
            documents: self.documents.clone(),
            collections: self.collections.clone(),
            pipeline: self.pipeline.clone(),
        }
    }
}

/// Answers a question within the caller's tenant.
#[utoipa::path(
    post,
    path = "/v1/ask",
    tag = "query",
    summary = "A cited answer, as one JSON body or as server-sent events (`stream: true` or `Accept: text/event-stream`)",
    request_body(content = AskParams),
    responses((status = 200, description = "The answer: `answer`, `no_answer`, `citations` (document, section path, char_start/char_end into the canonical text, page, quote), `pipeline`, `model`, timings and token counts, and `trace` when asked. As SSE: `stage`, `token`…, `citations`, `answer`, `trace`, `done` (or `error`).", body = Object), ApiErrors),
    security(("api_key" = []))
)]
pub async fn ask(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(params): ApiJson<AskParams>,
) -> Result<Response, ApiError> {
    let wants_stream = params.stream
        || headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"));
    // Resolved before committing to a stream, so bad requests get a plain 4xx.
    let request = ask::prepare(&state.runtime, &caller.tenant_id, &params.input()).await?;
    let answerer = ask::answerer(&state.runtime).await?;
    // Held until the answer is complete (for a stream, until its last event).
    let slot = super::guard::generation_slot(&state, &caller.tenant_id).await?;
    if !wants_stream {
        let answer = answerer.ask(&request, None).await?;
        drop(slot);
        record_generation(&state, &answer);
        return Ok(Json(answer_json(&answer, params.trace)).into_response());
    }
    let metrics_state = state.clone();
    let trace = params.trace;
    let updates = ask::answer_stream(answerer, request, slot);
    Ok(sse::respond(
        Vec::new(),
        updates,
        move |update| match update {
            AnswerUpdate::Stage(stage) => vec![sse::json_event("stage", &json!({"stage": stage}))],
            AnswerUpdate::Text(text) => vec![sse::json_event("token", &json!({"text": text}))],
            AnswerUpdate::Done(answer) => {
                record_generation(&metrics_state, &answer);
                let mut events = vec![
                    sse::json_event("citations", &answer.citations),
                    sse::json_event("answer", &answer_json(&answer, false)),
                ];
                if trace {
                    events.push(sse::json_event("trace", &answer.trace));
                }
                events.push(Event::default().event("done").data("{}"));
                events
            }
            AnswerUpdate::Failed(error) => {
                let error = ApiError::from(error);
                error.log();
                vec![Event::default()
                    .event("error")
                    .data(error.body().to_string())]
            }
        },
    ))
}

/// Generation speed of one answer: its generated tokens over the time of the
/// stages that generate (demos, facts, the answer).
fn record_generation(state: &AppState, answer: &folio_query::answer::Answer) {
    let t = &answer.timings;
    let seconds = t.demos_s + t.facts_s + t.answer_s;
    state.metrics.observe_generation(
        answer.completion_tokens,
        std::time::Duration::from_secs_f64(seconds.max(0.0)),
    );
}
