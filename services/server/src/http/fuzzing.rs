//! Entry points for the `api_requests` fuzz target (`fuzz/`): the API's request
//! decoding, run in-process through the same extractors and checks the handlers
//! use, without stores or models. Not part of the API.

use crate::error_codes as codes;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Query};
use axum::http::{header, Request};
use axum::response::IntoResponse;

use folio_app::collections::checked_name as collection_name;
use folio_app::upload::clean_file_name;

use super::ask::AskParams;
use super::chat::{to_request, ChatRequest};
use super::documents::{read_upload_form, CollectionQuery, FileSink, NewCollection};
use super::keys::NewKey;
use super::search::SearchParams;
use super::{ApiError, ApiJson};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime starts")
    })
}

/// Decodes `body` as the request of one route (chosen by `route`, any value) and
/// asserts the outcome is well formed: either a decoded request or an API error
/// with a 4xx status and a JSON `{"error": {message, code, type}}` body.
pub fn decode_request(route: u8, body: &[u8]) {
    runtime().block_on(async move {
        let outcome = match route % 7 {
            0 => json::<AskParams>(body).await.map(drop),
            1 => json::<SearchParams>(body).await.map(drop),
            2 => match json::<ChatRequest>(body).await {
                Ok(request) => {
                    to_request(&request, &folio_common::config::LimitsConfig::default()).map(drop)
                }
                Err(e) => Err(e),
            },
            3 => match json::<NewCollection>(body).await {
                Ok(request) => collection_name(&request.name)
                    .map(drop)
                    .map_err(ApiError::from),
                Err(e) => Err(e),
            },
            4 => json::<NewKey>(body).await.map(|key| {
                // Unknown roles are refused by the handler; parsing must not fail otherwise.
                let _ = folio_app::keys::Role::parse(&key.role);
            }),
            5 => multipart(body).await,
            _ => query(body),
        };
        if let Err(error) = outcome {
            check_error(error).await;
        }
    });
}

async fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let request = Request::builder()
        .method("POST")
        .uri("/")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .map_err(|e| ApiError::new(&codes::INVALID_BODY, e.to_string()))?;
    ApiJson::<T>::from_request(request, &())
        .await
        .map(|ApiJson(value)| value)
}

/// The upload route's decoding: multipart fields, their names and file names.
async fn multipart(body: &[u8]) -> Result<(), ApiError> {
    let request = Request::builder()
        .method("POST")
        .uri("/")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=FUZZ")
        .body(Body::from(body.to_vec()))
        .map_err(|e| ApiError::new(&codes::INVALID_BODY, e.to_string()))?;
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| ApiError::new(&codes::INVALID_BODY, e.body_text()))?;
    // The upload handler's own decoder, with files read and dropped.
    match read_upload_form(&mut form, "default", &mut Discard).await {
        Ok(_) => Ok(()),
        Err(error) if *error.code == codes::NO_FILE => Ok(()),
        Err(error) => Err(error),
    }
}

/// Reads each file of an upload and drops it, checking the cleaned name.
struct Discard;

impl FileSink for Discard {
    type Stored = ();

    async fn begin(&mut self, _collection: &str, raw_name: &str) -> Result<(), ApiError> {
        if let Some(name) = clean_file_name(raw_name) {
            assert!(
                !name.contains(['/', '\\']) && !name.chars().any(char::is_control),
                "a cleaned file name is one plain component: {name:?}"
            );
        }
        Ok(())
    }

    async fn write(&mut self, _bytes: &[u8]) -> Result<(), ApiError> {
        Ok(())
    }

    async fn abort(&mut self) {}

    async fn finish(&mut self) -> Result<(), ApiError> {
        Ok(())
    }
}

fn query(body: &[u8]) -> Result<(), ApiError> {
    let uri = format!("/?{}", String::from_utf8_lossy(body));
    let Ok(uri) = uri.parse::<axum::http::Uri>() else {
        return Ok(());
    };
    match Query::<CollectionQuery>::try_from_uri(&uri) {
        Ok(Query(query)) => match query.collection {
            Some(name) => collection_name(&name).map(drop).map_err(ApiError::from),
            None => Ok(()),
        },
        Err(rejection) => Err(ApiError::new(&codes::INVALID_QUERY, rejection.body_text())),
    }
}

async fn check_error(error: ApiError) {
    let response = error.into_response();
    let status = response.status();
    assert!(status.is_client_error(), "decoding failed with {status}");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("an error body is small");
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("an error body is JSON");
    for field in ["message", "code", "type"] {
        assert!(
            body["error"][field].is_string(),
            "error body without error.{field}: {body}"
        );
    }
}
