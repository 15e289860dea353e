//! Search as the CLI and the HTTP API offer it: names resolved to ids, the tenant
//! applied, results with each retriever's rank.

use axum::http::StatusCode;
use folio_common::config::LimitsConfig;
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
    let limits = &runtime.config.limits;
    check_query_length(limits, "query", &params.query)?;
    check_filters(limits, &params.documents, &params.collections)?;
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
                        StatusCode::NOT_FOUND,
                        "collection_not_found",
                        format!("no collection named {name:?}"),
                    )
                })
        })
        .collect()
}

/// Refuses a query or question longer than `limits.max_query_bytes` before any
/// work is done for it: tokenising, embedding and scoring all cost as much as the
/// text is long.
pub fn check_query_length(limits: &LimitsConfig, what: &str, text: &str) -> Result<(), ApiError> {
    if text.len() > limits.max_query_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "query_too_long",
            format!(
                "the {what} has {} bytes; at most {} are accepted",
                text.len(),
                limits.max_query_bytes
            ),
        ));
    }
    Ok(())
}

/// Refuses `documents` / `collections` filters longer than `limits.max_filter_items`:
/// each entry becomes a clause of every index query and a store lookup.
pub fn check_filters(
    limits: &LimitsConfig,
    documents: &[String],
    collections: &[String],
) -> Result<(), ApiError> {
    for (field, entries) in [("documents", documents), ("collections", collections)] {
        if entries.len() > limits.max_filter_items {
            return Err(ApiError::bad_request(
                "too_many_filters",
                format!(
                    "`{field}` has {} entries; at most {} are accepted",
                    entries.len(),
                    limits.max_filter_items
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_over_the_cap_is_413_and_at_the_cap_passes() {
        let limits = LimitsConfig::default();
        let at_cap = "a".repeat(limits.max_query_bytes);
        assert!(check_query_length(&limits, "query", &at_cap).is_ok());
        let over = format!("{at_cap}é");
        let error = check_query_length(&limits, "question", &over).expect_err("over the cap");
        assert_eq!(error.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error.code, "query_too_long");
        assert!(
            error.message.starts_with("the question has 4098 bytes"),
            "{}",
            error.message
        );
    }

    #[test]
    fn filters_over_the_cap_are_refused_by_field() {
        let limits = LimitsConfig {
            max_filter_items: 2,
            ..LimitsConfig::default()
        };
        let two = vec!["a".to_string(), "b".to_string()];
        let three = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        assert!(check_filters(&limits, &two, &two).is_ok());
        let error = check_filters(&limits, &two, &three).expect_err("three collections");
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.code, "too_many_filters");
        assert!(error.message.contains("`collections`"), "{}", error.message);
    }
}
