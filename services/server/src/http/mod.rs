//! The HTTP API (axum), under `/v1`, plus health endpoints.

mod ask;
mod chat;
mod documents;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
mod keys;
mod openapi;
mod pages;
mod resources;
mod schema;
mod search;
mod sse;
mod stream;
mod web;

use crate::error_codes as codes;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde_json::json;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ApiJson};

use crate::metrics::Metrics;
use folio_app::keys::KeyVerifier;
use folio_app::Runtime;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// Stores, indexes and models.
    pub runtime: Runtime,
    /// Recognizes API keys.
    pub keys: Arc<KeyVerifier>,
    /// Per-key request rate limit.
    pub limiter: Arc<guard::RateLimiter>,
    /// Bounds generation work in flight and waiting.
    pub llm_gate: Arc<guard::LlmGate>,
    /// Each tenant's share of concurrent searches.
    pub tenant_searches: Arc<guard::TenantGate>,
    /// Each tenant's share of concurrent answers and chat completions.
    pub tenant_asks: Arc<guard::TenantGate>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// State for a runtime, with limits from its configuration.
    pub fn new(runtime: Runtime, metrics: Arc<Metrics>) -> Self {
        let server = &runtime.config.server;
        let limits = &runtime.config.limits;
        AppState {
            tenant_searches: guard::TenantGate::new(limits.tenant_searches, "searches"),
            tenant_asks: guard::TenantGate::new(limits.tenant_asks, "answers"),
            keys: Arc::new(KeyVerifier::new(runtime.store.clone(), limits)),
            limiter: Arc::new(guard::RateLimiter::new(server.rate_limit_per_minute)),
            llm_gate: Arc::new(guard::LlmGate::new(
                server.llm_concurrency,
                server.llm_queue,
            )),
            runtime,
            metrics,
        }
    }
}

/// The API routes with their OpenAPI entries: `(authorized /v1 routes, public routes)`.
fn api_routes(upload_limit: usize) -> (OpenApiRouter<AppState>, OpenApiRouter<AppState>) {
    let uploads = OpenApiRouter::new()
        .routes(routes!(documents::upload, documents::list))
        .layer(DefaultBodyLimit::max(upload_limit));
    let v1 = OpenApiRouter::new()
        .routes(routes!(keys::me))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::revoke))
        .routes(routes!(
            documents::list_collections,
            documents::create_collection
        ))
        .merge(uploads)
        .routes(routes!(documents::get, documents::delete))
        .routes(routes!(documents::text))
        .routes(routes!(documents::original))
        .routes(routes!(documents::chunks))
        .routes(routes!(documents::versions))
        .routes(routes!(search::search))
        .routes(routes!(ask::ask))
        .routes(routes!(chat::completions))
        .routes(routes!(documents::list_jobs))
        .routes(routes!(documents::get_job));
    let public = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics));
    (v1, public)
}

/// The OpenAPI 3.1 description of every route.
pub fn openapi_spec() -> utoipa::openapi::OpenApi {
    split_routes(0).2
}

/// The routers and the spec they carry, split once: `(v1, public, spec)`.
fn split_routes(
    upload_limit: usize,
) -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let (v1, public) = api_routes(upload_limit);
    let (v1, v1_spec) = v1.split_for_parts();
    let (public, public_spec) = public.split_for_parts();
    let mut spec = openapi::ApiDoc::openapi();
    spec.merge(v1_spec);
    spec.merge(public_spec);
    (v1, public, spec)
}

/// The spec as `folio openapi` prints it and `docs/openapi.json` holds it.
pub fn render_openapi() -> String {
    openapi::render(&openapi_spec())
}

/// The router of an ingest-only process: health, readiness and metrics.
pub fn health_router(state: AppState) -> Router {
    let (_, public, _) = split_routes(0);
    public
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::observe,
        ))
        .with_state(state)
        .layer(middleware::from_fn(web::security_headers))
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    // Multipart framing adds a little to the file itself.
    let upload_limit = state.runtime.config.server.max_upload_bytes as usize + 64 * 1024;
    let json_limit = state.runtime.config.server.max_json_bytes;
    // The served spec is the one these very routes carry.
    let (v1, public, spec) = split_routes(upload_limit);
    let spec = openapi::SpecJson(Arc::new(spec));
    let v1 = v1.route_layer(middleware::from_fn_with_state(
        state.clone(),
        guard::authorize,
    ));
    let docs = Router::new()
        .route("/openapi.json", axum::routing::get(openapi::spec_json))
        .with_state(spec);
    Router::new()
        .route("/", axum::routing::get(web::ui_page))
        .route("/docs", axum::routing::get(openapi::docs_page))
        .route("/assets/{file}", axum::routing::get(web::asset))
        .merge(public)
        .merge(v1)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::deadline,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::observe,
        ))
        .layer(DefaultBodyLimit::max(json_limit))
        .with_state(state)
        .merge(docs)
        .layer(middleware::from_fn(web::security_headers))
}

async fn not_found() -> ApiError {
    ApiError::new(&codes::ROUTE_NOT_FOUND, "no such route")
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive", body = Object)))]
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let depth = state.runtime.store.open_job_count().await.ok();
    state.metrics.set_llm_waiting(state.llm_gate.waiting());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(depth),
    )
}

/// Readiness: the store answers; which models and vector backend are in use, and
/// whether the stored vectors come from the configured embedder.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Object),
        (status = 503, description = "A dependency is down", body = Object)
    )
)]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let readiness = folio_app::health::readiness(&state.runtime).await;
    let status = if readiness.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}
