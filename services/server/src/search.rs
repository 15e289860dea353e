//! Search as the CLI and the HTTP API offer it: names resolved to ids, the tenant
//! applied, results with each retriever's rank.

use folio_index::SearchFilter;
use folio_query::retrieve::{RetrievalMode, SearchRequest, SearchResults};
use serde::Deserialize;

use crate::http::ApiError;
use crate::runtime::Runtime;

/// Default number of results.
pub const DEFAULT_LIMIT: usize = 10;

/// A search as a client states it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
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

/// Runs a search within a tenant.
///
/// Unknown collection names are an error; unknown document ids simply match
/// nothing.
pub async fn search(
    runtime: &Runtime,
    tenant: &str,
    params: SearchParams,
) -> Result<SearchResults, ApiError> {
    let collection_ids = resolve_collections(runtime, tenant, &params.collections).await?;
    let request = SearchRequest {
        query: params.query,
        filter: SearchFilter::tenant(tenant.to_string())
            .with_collections(collection_ids)
            .with_documents(params.documents),
        limit: params.limit.unwrap_or(DEFAULT_LIMIT),
        mode: params.mode.unwrap_or(RetrievalMode::Hybrid),
    };
    Ok(runtime.retriever.search(&request).await?)
}

/// Collection ids of a tenant for names (or ids); an unknown one is an
/// error, since a typo should not silently widen a search to everything.
pub async fn resolve_collections(
    runtime: &Runtime,
    tenant: &str,
    names: &[String],
) -> Result<Vec<String>, ApiError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let known = runtime.store.list_collections(tenant).await?;
    names
        .iter()
        .map(|name| {
            known
                .iter()
                .find(|c| c.name == *name || c.id == *name)
                .map(|c| c.id.clone())
                .ok_or_else(|| {
                    ApiError::new(
                        axum::http::StatusCode::NOT_FOUND,
                        "collection_not_found",
                        format!("no collection named {name:?}"),
                    )
                })
        })
        .collect()
}
