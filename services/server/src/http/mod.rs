//! The HTTP API (axum), under `/v1`, plus health endpoints.

mod ask;
mod chat;
mod documents;
mod error;
mod search;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Notify;

pub use error::{ApiError, ApiJson};

use crate::runtime::Runtime;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// Stores, indexes and models.
    pub runtime: Runtime,
    /// Wakes the ingestion workers when a job is queued.
    pub wake: Arc<Notify>,
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    // Multipart framing adds a little to the file itself.
    let body_limit = state.runtime.config.server.max_upload_bytes as usize + 64 * 1024;
    Router::new()
        .route("/", get(web_ui))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/v1/collections",
            get(documents::list_collections).post(documents::create_collection),
        )
        .route(
            "/v1/documents",
            post(documents::upload)
                .get(documents::list)
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .route(
            "/v1/documents/{id}",
            get(documents::get).delete(documents::delete),
        )
        .route("/v1/documents/{id}/text", get(documents::text))
        .route("/v1/documents/{id}/chunks", get(documents::chunks))
        .route("/v1/documents/{id}/versions", get(documents::versions))
        .route("/v1/search", post(search::search))
        .route("/v1/ask", post(ask::ask))
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/jobs", get(documents::list_jobs))
        .route("/v1/jobs/{id}", get(documents::get_job))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
}

/// The web UI (a static page calling the API), compiled into the binary.
async fn web_ui() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("../../../../web/index.html"))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store_ok = state.runtime.store.ping().await.is_ok();
    let embedder = state.runtime.pipeline.indexes().embedder.model_id();
    let body = json!({
        "status": if store_ok { "ready" } else { "unavailable" },
        "store": {"ok": store_ok, "dialect": format!("{:?}", state.runtime.store.dialect()).to_lowercase()},
        "embedder": {"ok": true, "model": embedder},
        "vectors": {"ok": true, "backend": state.runtime.pipeline.indexes().vectors.name()},
        "llm": state.runtime.llm,
    });
    let status = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
