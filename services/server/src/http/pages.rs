//! `?limit=&offset=` on the list endpoints: every list answers at most
//! `limits.max_page_size` items, and says where the next page starts.

use crate::error_codes as codes;
use folio_common::config::LimitsConfig;
use folio_store::Page;
use serde::Deserialize;

use super::ApiError;

/// A list request's page, as the query string gives it. Numbers are read here
/// rather than by the extractor so that a bad one is an API error like any other.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub(super) limit: Option<String>,
    pub(super) offset: Option<String>,
}

impl PageQuery {
    /// The page asked for; without `limit`, `default_limit` (capped like any other).
    pub(super) fn page(
        &self,
        limits: &LimitsConfig,
        default_limit: Option<usize>,
    ) -> Result<Page, ApiError> {
        let max = limits.max_page_size.max(1);
        let number = |name: &str, raw: &Option<String>| -> Result<Option<usize>, ApiError> {
            raw.as_deref()
                .map(|text| {
                    text.trim().parse::<usize>().map_err(|_| {
                        ApiError::new(
                            &codes::INVALID_PAGE,
                            format!("`{name}` must be a whole number, not {text:?}"),
                        )
                    })
                })
                .transpose()
        };
        let limit = number("limit", &self.limit)?.unwrap_or(default_limit.unwrap_or(max).min(max));
        if limit == 0 || limit > max {
            return Err(ApiError::new(
                &codes::INVALID_PAGE,
                format!("`limit` must be between 1 and {max}"),
            ));
        }
        let offset = number("offset", &self.offset)?.unwrap_or(0);
        Ok(Page { limit, offset })
    }
}

/// Where the next page starts, when there is one.
pub(super) fn next_offset(page: Page, more: bool) -> Option<usize> {
    more.then(|| page.offset.saturating_add(page.limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(limit: Option<&str>, offset: Option<&str>) -> PageQuery {
        PageQuery {
            limit: limit.map(str::to_string),
            offset: offset.map(str::to_string),
        }
    }

    #[test]
    fn pages_default_to_the_cap_and_refuse_beyond_it() {
        let limits = LimitsConfig {
            max_page_size: 50,
            ..LimitsConfig::default()
        };
        let page = query(None, None).page(&limits, None).expect("defaults");
        assert_eq!(
            page,
            Page {
                limit: 50,
                offset: 0
            }
        );
        let page = query(None, Some("10"))
            .page(&limits, Some(20))
            .expect("a default");
        assert_eq!(
            page,
            Page {
                limit: 20,
                offset: 10
            }
        );
        assert_eq!(
            query(None, None).page(&limits, Some(200)).unwrap().limit,
            50
        );
        for bad in [
            query(Some("0"), None),
            query(Some("51"), None),
            query(Some("x"), None),
            query(None, Some("-1")),
        ] {
            let error = bad.page(&limits, None).expect_err("refused");
            assert_eq!(error.code.name, "invalid_page");
        }
        assert_eq!(
            next_offset(
                Page {
                    limit: 20,
                    offset: 10
                },
                true
            ),
            Some(30)
        );
        assert_eq!(
            next_offset(
                Page {
                    limit: 20,
                    offset: 10
                },
                false
            ),
            None
        );
    }
}
