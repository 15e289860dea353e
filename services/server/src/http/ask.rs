//! `POST /v1/ask`: a cited answer as one JSON body, or as server-sent events
//! (`stage`, `token`…, then `citations`, `answer`, optionally `trace`, and `done`;
//! a failure after the stream began is an `error` event with the API error body).

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use folio_query::answer::AskEvent;
use futures::stream::{self, Stream};
use serde_json::json;
use tokio::sync::mpsc;

use super::schema::ApiErrors;
use super::{ApiError, ApiJson, AppState};
use folio_app::ask::{self, answer_json, AskInput};
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
    let (sender, receiver) = mpsc::unbounded_channel::<Event>();
    let (progress, mut progress_rx) = mpsc::unbounded_channel::<AskEvent>();
    let trace = params.trace;
    let metrics_state = state.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let job = tokio::spawn(async move {
            answerer
                .ask(&request, Some(progress))
                .await
                .map_err(ApiError::from)
        });
        // Progress first, in order; the channel closes when the answer is done.
        while let Some(event) = progress_rx.recv().await {
            let event = match event {
                AskEvent::Stage(stage) => Event::default()
                    .event("stage")
                    .data(json!({"stage": stage}).to_string()),
                AskEvent::Text(text) => Event::default()
                    .event("token")
                    .data(json!({"text": text}).to_string()),
            };
            if sender.send(event).is_err() {
                // The client left: dropping the receiver cancels generation.
                job.abort();
                return;
            }
        }
        let result = match job.await {
            Ok(Ok(answer)) => {
                record_generation(&metrics_state, &answer);
                Ok(answer)
            }
            Ok(Err(e)) => Err(e),
            Err(e) => Err(ApiError::from(folio_app::AppError::from(e))),
        };
        let events = match result {
            Ok(answer) => {
                let mut events = vec![
                    Event::default()
                        .event("citations")
                        .data(serde_json::to_string(&answer.citations).unwrap_or_default()),
                    Event::default()
                        .event("answer")
                        .data(answer_json(&answer, false).to_string()),
                ];
                if trace {
                    events.push(
                        Event::default()
                            .event("trace")
                            .data(serde_json::to_string(&answer.trace).unwrap_or_default()),
                    );
                }
                events.push(Event::default().event("done").data("{}"));
                events
            }
            Err(error) => {
                error.log();
                vec![Event::default()
                    .event("error")
                    .data(error.body().to_string())]
            }
        };
        for event in events {
            if sender.send(event).is_err() {
                break;
            }
        }
    });
    Ok(Sse::new(event_stream(receiver))
        .keep_alive(KeepAlive::default())
        .into_response())
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

fn event_stream(
    receiver: mpsc::UnboundedReceiver<Event>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    })
}
