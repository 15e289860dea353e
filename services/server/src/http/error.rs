//! The one place where errors become HTTP responses: a stable
//! `{"error": {"code", "message", "type"}}` body and a status per code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use folio_common::blob::BlobError;
use folio_common::store::StoreError;
use serde_json::json;

/// An error as the API reports it.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable snake_case code clients may match on.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Seconds after which retrying makes sense (429 and 503), sent as `Retry-After`.
    pub retry_after: Option<axum::http::HeaderValue>,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn kind(&self) -> &'static str {
        match self.status.as_u16() {
            401 | 403 => "auth",
            404 => "not_found",
            400..=499 => "invalid_request",
            503 => "unavailable",
            _ => "internal",
        }
    }
}

impl ApiError {
    /// The JSON body every error response (and every SSE `error` event) carries.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code, "message": self.message, "type": self.kind()}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::GATEWAY_TIMEOUT
        {
            tracing::warn!(code = self.code, message = %self.message, "request refused");
        } else if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = self.body();
        let mut response = (self.status, Json(body)).into_response();
        if let Some(value) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            StoreError::Conflict(what) => ApiError::new(StatusCode::CONFLICT, "conflict", what),
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store_error",
                other.to_string(),
            ),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(error: BlobError) -> Self {
        match error {
            BlobError::TooLarge { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                format!("the file exceeds the upload limit of {limit} bytes"),
            ),
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "blob_error",
                other.to_string(),
            ),
        }
    }
}

impl From<axum::extract::multipart::MultipartError> for ApiError {
    fn from(error: axum::extract::multipart::MultipartError) -> Self {
        let status = error.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(status, "file_too_large", error.body_text());
        }
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_multipart",
            error.body_text(),
        )
    }
}

/// A JSON request body whose rejections (malformed JSON, wrong content type, a
/// missing or unknown field) are API errors like every other failure.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection;
        let code = match &rejection {
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            JsonRejection::JsonSyntaxError(_) => "invalid_json",
            JsonRejection::JsonDataError(_) => "invalid_request",
            _ => "invalid_body",
        };
        ApiError::new(rejection.status(), code, rejection.body_text())
    }
}

impl From<folio_query::QueryError> for ApiError {
    fn from(error: folio_query::QueryError) -> Self {
        use folio_query::QueryError;
        match error {
            QueryError::InvalidRequest(message) => ApiError::bad_request("invalid_query", message),
            QueryError::Store(e) => e.into(),
            QueryError::Index(e) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "index_error",
                e.to_string(),
            ),
            QueryError::Model(folio_llm::LlmError::Remote(message)) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "model_unavailable", message)
            }
            QueryError::Model(e @ folio_llm::LlmError::ContextOverflow { .. }) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "context_overflow",
                e.to_string(),
            ),
            QueryError::Model(e) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "model_error",
                e.to_string(),
            ),
            QueryError::Task(message) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
            }
        }
    }
}
