//! `POST /v1/search`.

use axum::extract::State;
use axum::Json;
use folio_query::retrieve::SearchResults;

use super::{ApiError, ApiJson, AppState};
use crate::search::{search as run_search, SearchParams};

/// Hybrid (or single-retriever) search within the caller's tenant.
pub async fn search(
    State(state): State<AppState>,
    ApiJson(params): ApiJson<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    Ok(Json(run_search(&state.runtime, params).await?))
}
