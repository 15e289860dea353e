//! `POST /v1/search`.

use super::resources::{RetrievalMode, SearchResults};
use axum::extract::State;
use axum::{Extension, Json};

use super::schema::ApiErrors;
use super::{ApiError, ApiJson, AppState};
use folio_app::keys::Caller;
use folio_app::search::{search as run_search, SearchInput};

/// A search as a client states it.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The query text.
    pub query: String,
    /// Only these documents (ids); empty = all.
    #[serde(default)]
    pub documents: Vec<String>,
    /// Only these collections (names); empty = all.
    #[serde(default)]
    pub collections: Vec<String>,
    /// Results wanted (default 10, at most 1000).
    #[serde(default)]
    pub limit: Option<usize>,
    /// `hybrid` (default), `bm25` or `dense`.
    #[serde(default)]
    pub mode: Option<RetrievalMode>,
}

impl From<SearchParams> for SearchInput {
    fn from(params: SearchParams) -> Self {
        SearchInput {
            query: params.query,
            documents: params.documents,
            collections: params.collections,
            limit: params.limit,
            mode: params.mode.map(Into::into),
        }
    }
}

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
    let results = run_search(&state.runtime, &caller.tenant_id, params.into()).await?;
    state
        .metrics
        .observe_retrieval(std::time::Duration::from_secs_f64(
            results.timings.total_ms / 1000.0,
        ));
    Ok(Json(results.into()))
}
