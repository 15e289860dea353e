//! The one place where errors become HTTP responses: a stable
//! `{"error": {"code", "message", "type"}}` body and a status per code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use folio_app::AppError;
use folio_common::blob::BlobError;
use folio_store::StoreError;

use crate::error_codes::{self as codes, ErrorCode};
use serde_json::json;

/// An error as the API reports it.
#[derive(Debug)]
pub struct ApiError {
    /// Its entry in the code table.
    pub code: &'static ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// Seconds after which retrying makes sense (429 and 503), sent as `Retry-After`.
    pub retry_after: Option<axum::http::HeaderValue>,
}

impl ApiError {
    /// An error of a code.
    pub fn new(code: &'static ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The HTTP status of its code.
    pub fn status(&self) -> StatusCode {
        self.code.status
    }
}

/// Server-side refusals whose messages Folio words itself (limits, shutdown,
/// deadlines) and that carry nothing from a dependency: shown as they are.
const OWN_WORDS: [&ErrorCode; 3] = [
    &codes::LLM_BUSY,
    &codes::SHUTTING_DOWN,
    &codes::REQUEST_TIMEOUT,
];

impl ApiError {
    /// The JSON body every error response (and every SSE `error` event) carries.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code.name, "message": self.public_message(), "type": self.code.kind}})
    }

    /// What a client may read. A server-side failure's message comes from a
    /// store, a file system, a model loader or a remote server and may carry file
    /// paths, database URLs or credentials; the client gets only what failed, and
    /// the log (see [`ApiError::log`]) the detail, under the request id that the
    /// response's `x-request-id` header repeats.
    pub fn public_message(&self) -> &str {
        if !self.status().is_server_error() || OWN_WORDS.contains(&self.code) {
            return &self.message;
        }
        match self.status() {
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
        let status = self.status();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::GATEWAY_TIMEOUT {
            tracing::warn!(code = self.code.name, message = %self.message, "request refused");
        } else if status.is_server_error() {
            tracing::error!(code = self.code.name, message = %self.message, "request failed");
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let body = self.body();
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(value) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        let api = ApiError::new(codes::of(&error), error.to_string());
        match error {
            AppError::TooManyFailedAttempts { retry_after } => api.retry_after(retry_after),
            _ => api,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        AppError::from(error).into()
    }
}

impl From<BlobError> for ApiError {
    fn from(error: BlobError) -> Self {
        AppError::from(error).into()
    }
}

impl From<folio_llm::LlmError> for ApiError {
    fn from(error: folio_llm::LlmError) -> Self {
        AppError::from(error).into()
    }
}

impl From<axum::extract::multipart::MultipartError> for ApiError {
    fn from(error: axum::extract::multipart::MultipartError) -> Self {
        let status = error.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(&codes::FILE_TOO_LARGE, error.body_text());
        }
        ApiError::new(&codes::INVALID_MULTIPART, error.body_text())
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
            JsonRejection::MissingJsonContentType(_) => &codes::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::JsonSyntaxError(_) => &codes::INVALID_JSON,
            JsonRejection::JsonDataError(_) => &codes::INVALID_REQUEST,
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => &codes::FILE_TOO_LARGE,
            _ => &codes::INVALID_BODY,
        };
        ApiError::new(code, rejection.body_text())
    }
}

impl From<folio_query::QueryError> for ApiError {
    fn from(error: folio_query::QueryError) -> Self {
        AppError::from(error).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_keep_their_detail_out_of_the_body() {
        let leaky = ApiError::new(
            &codes::STORE_ERROR,
            "error connecting to postgres://folio:s3cret@db:5432/folio at /var/lib/folio/blobs/x",
        );
        let body = leaky.body().to_string();
        assert!(
            !body.contains("s3cret") && !body.contains("/var/lib"),
            "{body}"
        );
        assert_eq!(leaky.body()["error"]["code"], "store_error");
        let upstream = ApiError::new(
            &codes::MODEL_UNAVAILABLE,
            "http://user:pw@llm:8000/v1 refused",
        );
        assert!(!upstream.body().to_string().contains("pw@"));
        // Client errors and Folio's own refusals are shown as written.
        let client = ApiError::new(&codes::INVALID_QUERY, "the query is empty");
        assert_eq!(client.body()["error"]["message"], "the query is empty");
        let busy = ApiError::new(&codes::LLM_BUSY, "2 answers");
        assert_eq!(busy.body()["error"]["message"], "2 answers");
    }
}
