//! Search as the CLI and the HTTP API offer it: names resolved to ids, the tenant
//! applied, results with each retriever's rank.

use folio_common::config::LimitsConfig;
use folio_index::SearchFilter;
use folio_query::retrieve::{RetrievalMode, SearchRequest, SearchResults};

use crate::runtime::Runtime;
use crate::AppError;

/// Results when a search does not say how many.
pub const DEFAULT_LIMIT: usize = 10;

/// A search as a front end received it.
#[derive(Debug, Clone, Default)]
pub struct SearchInput {
    /// The query text.
    pub query: String,
    /// Restrict to these document ids.
    pub documents: Vec<String>,
    /// Restrict to these collections (names or ids).
    pub collections: Vec<String>,
    /// How many results ([`DEFAULT_LIMIT`] when absent).
    pub limit: Option<usize>,
    /// bm25, dense or hybrid (the default).
    pub mode: Option<RetrievalMode>,
}

/// Ranked chunks for a query within the tenant.
pub async fn search(
    runtime: &Runtime,
    tenant: &str,
    input: SearchInput,
) -> Result<SearchResults, AppError> {
    let limits = &runtime.config.limits;
    check_query_length(limits, "query", &input.query)?;
    check_filters(limits, &input.documents, &input.collections)?;
    let collection_ids = resolve_collections(runtime, tenant, &input.collections).await?;
    let request = SearchRequest {
        query: input.query,
        filter: SearchFilter::tenant(tenant.to_string())
            .with_collections(collection_ids)
            .with_documents(input.documents),
        limit: input.limit.unwrap_or(DEFAULT_LIMIT),
        mode: input.mode.unwrap_or(RetrievalMode::Hybrid),
    };
    Ok(runtime.retriever.search(&request).await?)
}

/// Collection names (or ids) to ids; see [`crate::collections::resolve`].
pub(crate) async fn resolve_collections(
    runtime: &Runtime,
    tenant: &str,
    names: &[String],
) -> Result<Vec<String>, AppError> {
    crate::collections::resolve_ids(runtime, tenant, names).await
}

/// Refuses a query or question over `limits.max_query_bytes`.
pub fn check_query_length(
    limits: &LimitsConfig,
    what: &'static str,
    text: &str,
) -> Result<(), AppError> {
    if text.len() > limits.max_query_bytes {
        return Err(AppError::QueryTooLong {
            what,
            bytes: text.len(),
            limit: limits.max_query_bytes,
        });
    }
    Ok(())
}

/// Refuses more document or collection ids than `limits.max_filter_items`.
pub fn check_filters(
    limits: &LimitsConfig,
    documents: &[String],
    collections: &[String],
) -> Result<(), AppError> {
    for (field, entries) in [("documents", documents), ("collections", collections)] {
        if entries.len() > limits.max_filter_items {
            return Err(AppError::TooManyFilters {
                field,
                count: entries.len(),
                limit: limits.max_filter_items,
            });
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
        assert!(matches!(error, AppError::QueryTooLong { .. }), "{error:?}");
        assert!(
            error.to_string().starts_with("the question has 4098 bytes"),
            "{error}"
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
        assert!(
            matches!(error, AppError::TooManyFilters { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("`collections`"), "{error}");
    }
}
