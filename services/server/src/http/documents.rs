//! Collections, documents (upload, list, status, text, chunks, versions,
//! delete) and jobs.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use folio_common::store::{StoreError, SubmitOutcome};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiJson, AppState};
use crate::upload::{Upload, UploadError};

impl From<UploadError> for ApiError {
    fn from(error: UploadError) -> Self {
        match error {
            UploadError::UnsupportedFormat(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_format",
                error.to_string(),
            ),
            UploadError::InvalidName(_) => {
                ApiError::bad_request("invalid_file_name", error.to_string())
            }
            UploadError::Blob(e) => e.into(),
            UploadError::Store(e) => e.into(),
        }
    }
}

/// `?collection=` filter or target.
#[derive(Debug, Deserialize)]
pub struct CollectionQuery {
    collection: Option<String>,
}

/// `POST /v1/collections` body.
#[derive(Debug, Deserialize)]
pub struct NewCollection {
    name: String,
}

pub async fn list_collections(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let collections = state
        .runtime
        .store
        .list_collections(&state.runtime.tenant.id)
        .await?;
    Ok(Json(json!({ "collections": collections })))
}

pub async fn create_collection(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewCollection>,
) -> Result<impl IntoResponse, ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_collection_name",
            "collection names are 1–200 printable characters",
        ));
    }
    let collection = state.runtime.collection(name).await.map_err(internal)?;
    Ok((StatusCode::CREATED, Json(json!(collection))))
}

fn internal(error: anyhow::Error) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        format!("{error:#}"),
    )
}

/// Multipart upload: one or more `file` parts; the collection comes from
/// `?collection=` or a `collection` part placed before the files.
pub async fn upload(
    State(state): State<AppState>,
    Query(query): Query<CollectionQuery>,
    mut multipart: Multipart,
) -> Result<impl IntoResponse, ApiError> {
    let mut collection_name = query.collection.unwrap_or_else(|| "default".into());
    let mut results = Vec::new();
    while let Some(mut field) = multipart.next_field().await? {
        if field.name() == Some("collection") {
            collection_name = field.text().await?.trim().to_string();
            continue;
        }
        let Some(raw_name) = field.file_name().map(str::to_string) else {
            continue;
        };
        let collection = state
            .runtime
            .collection(&collection_name)
            .await
            .map_err(internal)?;
        let mut upload = Upload::begin(&state.runtime, &raw_name).await?;
        loop {
            match field.chunk().await {
                Ok(Some(bytes)) => {
                    if let Err(e) = upload.write(&bytes).await {
                        upload.abort().await;
                        // Read (and discard) the rest of a refused upload, bounded
                        // by the body limit, so the client receives the error
                        // instead of a connection reset while it is still sending.
                        while let Ok(Some(_)) = field.chunk().await {}
                        drop(field);
                        while let Ok(Some(mut next)) = multipart.next_field().await {
                            while let Ok(Some(_)) = next.chunk().await {}
                        }
                        return Err(e.into());
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    upload.abort().await;
                    return Err(e.into());
                }
            }
        }
        let (name, outcome) = upload.finish(&state.runtime, &collection.id).await?;
        results.push(match outcome {
            SubmitOutcome::Queued { document_id, version, job_id } => {
                json!({"name": name, "document_id": document_id, "version": version, "job_id": job_id, "status": "queued"})
            }
            SubmitOutcome::Unchanged { document_id, version } => {
                json!({"name": name, "document_id": document_id, "version": version, "job_id": null, "status": "unchanged"})
            }
        });
        state.wake.notify_waiters();
    }
    if results.is_empty() {
        return Err(ApiError::bad_request(
            "no_file",
            "the request has no file part",
        ));
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "documents": results }))))
}

async fn collection_id(state: &AppState, name: Option<&str>) -> Result<Option<String>, ApiError> {
    match name {
        None => Ok(None),
        Some(name) => match state
            .runtime
            .store
            .find_collection(&state.runtime.tenant.id, name)
            .await?
        {
            Some(c) => Ok(Some(c.id)),
            None => Err(StoreError::NotFound(format!("collection {name}")).into()),
        },
    }
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<CollectionQuery>,
) -> Result<Json<Value>, ApiError> {
    let collection = collection_id(&state, query.collection.as_deref()).await?;
    let documents = state
        .runtime
        .store
        .list_documents(&state.runtime.tenant.id, collection.as_deref())
        .await?;
    Ok(Json(json!({ "documents": documents })))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let document = state
        .runtime
        .store
        .get_document(&state.runtime.tenant.id, &id)
        .await?;
    Ok(Json(json!(document)))
}

pub async fn text(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let text = crate::docs::document_text(&state.runtime, &id).await?;
    Ok(Json(json!(text)))
}

pub async fn chunks(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let document = state
        .runtime
        .store
        .get_document(&state.runtime.tenant.id, &id)
        .await?;
    let chunks = state
        .runtime
        .store
        .document_chunks(&state.runtime.tenant.id, &id)
        .await?;
    Ok(Json(
        json!({"document_id": id, "version": document.current_version, "chunks": chunks}),
    ))
}

pub async fn versions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let versions = state
        .runtime
        .store
        .list_versions(&state.runtime.tenant.id, &id)
        .await?;
    Ok(Json(json!({"document_id": id, "versions": versions})))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let job_id = state
        .runtime
        .store
        .request_delete(&state.runtime.tenant.id, &id)
        .await?;
    state.wake.notify_waiters();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"document_id": id, "job_id": job_id, "status": "deleting"})),
    ))
}

pub async fn list_jobs(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let jobs = state
        .runtime
        .store
        .list_jobs(&state.runtime.tenant.id, 200)
        .await?;
    Ok(Json(json!({ "jobs": jobs })))
}

pub async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = state
        .runtime
        .store
        .get_job(&state.runtime.tenant.id, &id)
        .await?;
    Ok(Json(json!(job)))
}
