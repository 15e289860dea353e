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

/// Server-side refusals whose messages Folio words itself (limits, shutdown,
/// deadlines) and that carry nothing from a dependency: shown as they are.
const OWN_WORDS: [&str; 3] = ["llm_busy", "shutting_down", "request_timeout"];

impl ApiError {
    /// The JSON body every error response (and every SSE `error` event) carries.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code, "message": self.public_message(), "type": self.kind()}})
    }

    /// What a client may read. A server-side failure's message comes from a
    /// store, a file system, a model loader or a remote server and may carry file
    /// paths, database URLs or credentials; the client gets only what failed, and
    /// the log (see [`ApiError::log`]) the detail, under the request id that the
    /// response's `x-request-id` header repeats.
    pub fn public_message(&self) -> &str {
        if !self.status.is_server_error() || OWN_WORDS.contains(&self.code) {
            return &self.message;
        }
        match self.status {
            StatusCode::BAD_GATEWAY => {
                "the language model server failed or could not be reached; the server log has the details under this request's id"
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                "a dependency of this request is unavailable; the server log has the details under this request's id"
            }
            _ => "internal error; the server log has the details under this request's id",
        }
    }

    /// Logs a server-side error with its full message. Inside a request's span,
    /// so the line carries the request id.
    pub fn log(&self) {
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::GATEWAY_TIMEOUT
        {
            tracing::warn!(code = self.code, message = %self.message, "request refused");
        } else if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_keep_their_detail_out_of_the_body() {
        let leaky = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store_error",
            "error connecting to postgres://folio:s3cret@db:5432/folio at /var/lib/folio/blobs/x",
        );
        let body = leaky.body().to_string();
        assert!(
            !body.contains("s3cret") && !body.contains("/var/lib"),
            "{body}"
        );
        assert_eq!(leaky.body()["error"]["code"], "store_error");
        let upstream = ApiError::new(
            StatusCode::BAD_GATEWAY,
            "model_unavailable",
            "http://user:pw@llm:8000/v1 refused",
        );
        assert!(!upstream.body().to_string().contains("pw@"));
        // Client errors and Folio's own refusals are shown as written.
        let client = ApiError::bad_request("invalid_query", "the query is empty");
        assert_eq!(client.body()["error"]["message"], "the query is empty");
        let busy = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "llm_busy", "2 answers");
        assert_eq!(busy.body()["error"]["message"], "2 answers");
    }
}
