//! `POST /v1/search`.

use axum::extract::State;
use axum::{Extension, Json};
use folio_query::retrieve::SearchResults;

use super::schema::ApiErrors;
use super::{ApiError, ApiJson, AppState};
use crate::auth::Caller;
use crate::search::{search as run_search, SearchParams};

/// Hybrid (or single-retriever) search within the caller's tenant.
#[utoipa::path(
    post,
    path = "/v1/search",
    tag = "query",
    summary = "Hybrid (BM25 + dense, fused by RRF) or single-retriever search",
    request_body(content = SearchParams),
    responses((status = 200, body = SearchResults), ApiErrors),
    security(("api_key" = []))
)]
pub async fn search(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(params): ApiJson<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    let _share = state.tenant_searches.enter(&caller.tenant_id)?;
    let results = run_search(&state.runtime, &caller.tenant_id, params).await?;
    state
        .metrics
        .observe_retrieval(std::time::Duration::from_secs_f64(
            results.timings.total_ms / 1000.0,
        ));
    Ok(Json(results))
}
