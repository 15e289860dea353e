//! The one table of API error codes: each code's name, HTTP status and type.
//! Every error the API sends and every code `folio ingest --json` reports is an
//! entry here; [`of`] maps each [`AppError`] variant to its entry, and a test
//! holds the README's table to this one.

use axum::http::StatusCode;
use folio_app::AppError;

/// One error code as clients see it.
#[derive(Debug, PartialEq, Eq)]
pub struct ErrorCode {
    /// Stable snake_case code clients may match on.
    pub name: &'static str,
    /// HTTP status.
    pub status: StatusCode,
    /// Coarse class: `auth`, `not_found`, `invalid_request`, `unavailable` or `internal`.
    pub kind: &'static str,
}

macro_rules! codes {
    ($($constant:ident = $name:literal, $status:ident, $kind:literal;)*) => {
        $(
            #[doc = concat!("`", $name, "`")]
            pub const $constant: ErrorCode = ErrorCode {
                name: $name,
                status: StatusCode::$status,
                kind: $kind,
            };
        )*
        /// Every code, in the README's order.
        pub const ALL: &[&ErrorCode] = &[$(&$constant),*];
    };
}

codes! {
    INVALID_JSON = "invalid_json", BAD_REQUEST, "invalid_request";
    INVALID_BODY = "invalid_body", BAD_REQUEST, "invalid_request";
    INVALID_MULTIPART = "invalid_multipart", BAD_REQUEST, "invalid_request";
    INVALID_QUERY = "invalid_query", BAD_REQUEST, "invalid_request";
    INVALID_COLLECTION_NAME = "invalid_collection_name", BAD_REQUEST, "invalid_request";
    INVALID_FILE_NAME = "invalid_file_name", BAD_REQUEST, "invalid_request";
    NO_FILE = "no_file", BAD_REQUEST, "invalid_request";
    TOO_MANY_FILTERS = "too_many_filters", BAD_REQUEST, "invalid_request";
    MAX_TOKENS_TOO_LARGE = "max_tokens_too_large", BAD_REQUEST, "invalid_request";
    INVALID_PAGE = "invalid_page", BAD_REQUEST, "invalid_request";
    MISSING_API_KEY = "missing_api_key", UNAUTHORIZED, "auth";
    INVALID_API_KEY = "invalid_api_key", UNAUTHORIZED, "auth";
    INSUFFICIENT_ROLE = "insufficient_role", FORBIDDEN, "auth";
    NOT_FOUND = "not_found", NOT_FOUND, "not_found";
    COLLECTION_NOT_FOUND = "collection_not_found", NOT_FOUND, "not_found";
    ROUTE_NOT_FOUND = "route_not_found", NOT_FOUND, "not_found";
    CONFLICT = "conflict", CONFLICT, "invalid_request";
    DOCUMENT_NOT_READY = "document_not_ready", CONFLICT, "invalid_request";
    FILE_TOO_LARGE = "file_too_large", PAYLOAD_TOO_LARGE, "invalid_request";
    QUERY_TOO_LONG = "query_too_long", PAYLOAD_TOO_LARGE, "invalid_request";
    UNSUPPORTED_FORMAT = "unsupported_format", UNSUPPORTED_MEDIA_TYPE, "invalid_request";
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "invalid_request";
    INVALID_REQUEST = "invalid_request", UNPROCESSABLE_ENTITY, "invalid_request";
    INVALID_ROLE = "invalid_role", UNPROCESSABLE_ENTITY, "invalid_request";
    INVALID_KEY_NAME = "invalid_key_name", UNPROCESSABLE_ENTITY, "invalid_request";
    CONTEXT_OVERFLOW = "context_overflow", UNPROCESSABLE_ENTITY, "invalid_request";
    RATE_LIMITED = "rate_limited", TOO_MANY_REQUESTS, "invalid_request";
    TENANT_BUSY = "tenant_busy", TOO_MANY_REQUESTS, "invalid_request";
    TOO_MANY_FAILED_ATTEMPTS = "too_many_failed_attempts", TOO_MANY_REQUESTS, "invalid_request";
    MODEL_UNAVAILABLE = "model_unavailable", BAD_GATEWAY, "unavailable";
    LLM_BUSY = "llm_busy", SERVICE_UNAVAILABLE, "unavailable";
    MODEL_NOT_LOADED = "model_not_loaded", SERVICE_UNAVAILABLE, "unavailable";
    SHUTTING_DOWN = "shutting_down", SERVICE_UNAVAILABLE, "unavailable";
    REQUEST_TIMEOUT = "request_timeout", GATEWAY_TIMEOUT, "unavailable";
    INTERNAL_ERROR = "internal_error", INTERNAL_SERVER_ERROR, "internal";
    STORE_ERROR = "store_error", INTERNAL_SERVER_ERROR, "internal";
    INDEX_ERROR = "index_error", INTERNAL_SERVER_ERROR, "internal";
    BLOB_ERROR = "blob_error", INTERNAL_SERVER_ERROR, "internal";
    MODEL_ERROR = "model_error", INTERNAL_SERVER_ERROR, "internal";
    CORRUPT_STRUCTURE = "corrupt_structure", INTERNAL_SERVER_ERROR, "internal";
}

/// The entry of a use case's error.
pub fn of(error: &AppError) -> &'static ErrorCode {
    match error {
        AppError::InvalidQuery(_) => &INVALID_QUERY,
        AppError::InvalidRequest(_) => &INVALID_REQUEST,
        AppError::MaxTokensTooLarge(_) => &MAX_TOKENS_TOO_LARGE,
        AppError::QueryTooLong { .. } => &QUERY_TOO_LONG,
        AppError::TooManyFilters { .. } => &TOO_MANY_FILTERS,
        AppError::InvalidCollectionName => &INVALID_COLLECTION_NAME,
        AppError::InvalidFileName(_) => &INVALID_FILE_NAME,
        AppError::NoFile => &NO_FILE,
        AppError::UnsupportedFormat(_) => &UNSUPPORTED_FORMAT,
        AppError::FileTooLarge { .. } => &FILE_TOO_LARGE,
        AppError::CollectionNotFound(_) => &COLLECTION_NOT_FOUND,
        AppError::NotFound(_) => &NOT_FOUND,
        AppError::Conflict(_) => &CONFLICT,
        AppError::DocumentNotReady { .. } => &DOCUMENT_NOT_READY,
        AppError::InvalidKeyName => &INVALID_KEY_NAME,
        AppError::InvalidRole(_) => &INVALID_ROLE,
        AppError::MissingApiKey => &MISSING_API_KEY,
        AppError::InvalidApiKey => &INVALID_API_KEY,
        AppError::TooManyFailedAttempts { .. } => &TOO_MANY_FAILED_ATTEMPTS,
        AppError::ContextOverflow(_) => &CONTEXT_OVERFLOW,
        AppError::GeneratorUnavailable(_) => &MODEL_UNAVAILABLE,
        AppError::ModelNotLoaded(_) => &MODEL_NOT_LOADED,
        AppError::CorruptStructure { .. } => &CORRUPT_STRUCTURE,
        AppError::Store(_) => &STORE_ERROR,
        AppError::Blob(_) => &BLOB_ERROR,
        AppError::Index(_) => &INDEX_ERROR,
        AppError::Model(_) => &MODEL_ERROR,
        AppError::Internal(_) => &INTERNAL_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `(status, code, type)` rows of the README's "Errors and limits" table.
    fn readme_rows() -> BTreeSet<(u16, String, String)> {
        let readme = include_str!("../../../README.md");
        let mut rows = BTreeSet::new();
        let table = readme
            .lines()
            .skip_while(|line| !line.starts_with("| HTTP | code | type | when |"))
            .take_while(|line| line.starts_with('|'));
        for line in table {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // | status | codes | type | when |
            let [_, status, codes, kind, _, _] = cells.as_slice() else {
                continue;
            };
            let Ok(status) = status.parse::<u16>() else {
                continue;
            };
            let kind = kind.trim_matches('`');
            for code in codes.split(',') {
                let code = code.trim().trim_matches('`');
                rows.insert((status, code.to_string(), kind.to_string()));
            }
        }
        rows
    }

    #[test]
    fn the_readme_lists_exactly_the_codes_of_the_table() {
        let table: BTreeSet<(u16, String, String)> = ALL
            .iter()
            .map(|c| (c.status.as_u16(), c.name.to_string(), c.kind.to_string()))
            .collect();
        let readme = readme_rows();
        assert!(!readme.is_empty(), "the README's error table was not found");
        let missing: Vec<_> = table.difference(&readme).collect();
        let extra: Vec<_> = readme.difference(&table).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "README lacks {missing:?}; README has, the table not, {extra:?}"
        );
    }

    #[test]
    fn every_code_is_named_once() {
        let names: BTreeSet<&str> = ALL.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), ALL.len());
        for code in ALL {
            assert!(
                code.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                code.name
            );
        }
    }
}
