//! Collections, documents (upload, list, status, text, chunks, versions,
//! delete) and jobs.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use folio_common::store::{Collection, DocumentRecord, JobRecord, StoreError, SubmitOutcome};
use serde::Deserialize;

use super::pages::{next_offset, PageQuery};
use super::schema::{
    ApiErrors, ChunkList, CollectionList, DeleteAccepted, DocumentList, JobList, UploadResult,
    UploadedDocument, VersionList,
};
use super::{ApiError, ApiJson, AppState};
use crate::auth::Caller;
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
    pub(super) collection: Option<String>,
}

/// `GET /v1/documents` query: a collection filter and a page.
#[derive(Debug, Deserialize)]
pub struct DocumentListQuery {
    collection: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

/// Jobs in a page without `limit`: what the endpoint always returned.
const DEFAULT_JOB_PAGE: usize = 200;

/// `POST /v1/collections` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewCollection {
    pub(super) name: String,
}

#[utoipa::path(
    get,
    path = "/v1/collections",
    tag = "collections",
    summary = "List the tenant's collections",
    params(("limit" = Option<usize>, Query, description = "Items in this page (default and most: `limits.max_page_size`, 1000)"),
        ("offset" = Option<usize>, Query, description = "Items skipped (the previous page's `next_offset`)")),
    responses((status = 200, body = CollectionList), ApiErrors),
    security(("api_key" = []))
)]
pub async fn list_collections(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<PageQuery>,
) -> Result<Json<CollectionList>, ApiError> {
    let page = query.page(&state.runtime.config.limits, None)?;
    let listed = state
        .runtime
        .store
        .list_collections_page(&caller.tenant_id, page)
        .await?;
    Ok(Json(CollectionList {
        collections: listed.items,
        next_offset: next_offset(page, listed.more),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/collections",
    tag = "collections",
    summary = "Create a collection (idempotent)",
    request_body(content = NewCollection),
    responses((status = 201, body = Collection), ApiErrors),
    security(("api_key" = []))
)]
pub async fn create_collection(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewCollection>,
) -> Result<impl IntoResponse, ApiError> {
    let name = collection_name(&body.name)?;
    let collection = state
        .runtime
        .store
        .ensure_collection(&caller.tenant_id, &name)
        .await?;
    Ok((StatusCode::CREATED, Json::<Collection>(collection)))
}

/// Multipart upload: one or more `file` parts; the collection comes from
/// `?collection=` or a `collection` part placed before the files.
#[utoipa::path(
    post,
    path = "/v1/documents",
    tag = "documents",
    summary = "Upload documents (multipart `file` parts); each is queued for ingestion",
    params(("collection" = Option<String>, Query, description = "Collection name")),
    request_body(content_type = "multipart/form-data", description = "One or more `file` parts, optionally a `collection` part first"),
    responses((status = 202, body = UploadResult), ApiErrors),
    security(("api_key" = []))
)]
pub async fn upload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<CollectionQuery>,
    mut multipart: Multipart,
) -> Result<impl IntoResponse, ApiError> {
    let mut target = collection_name(query.collection.as_deref().unwrap_or("default"))?;
    let mut results = Vec::new();
    while let Some(mut field) = multipart.next_field().await? {
        if field.name() == Some("collection") {
            target = collection_name(&field.text().await?)?;
            continue;
        }
        let Some(raw_name) = field.file_name().map(str::to_string) else {
            continue;
        };
        let collection = state
            .runtime
            .store
            .ensure_collection(&caller.tenant_id, &target)
            .await?;
        let mut upload = Upload::begin(&state.runtime, &caller.tenant_id, &raw_name).await?;
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
            SubmitOutcome::Queued {
                document_id,
                version,
                job_id,
            } => UploadedDocument {
                name,
                document_id,
                version,
                job_id: Some(job_id),
                status: "queued".into(),
            },
            SubmitOutcome::Unchanged {
                document_id,
                version,
            } => UploadedDocument {
                name,
                document_id,
                version,
                job_id: None,
                status: "unchanged".into(),
            },
        });
        state.wake.notify_waiters();
    }
    if results.is_empty() {
        return Err(ApiError::bad_request(
            "no_file",
            "the request has no file part",
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(UploadResult { documents: results }),
    ))
}

/// A collection name as given (query, multipart part or JSON), trimmed and checked.
pub(super) fn collection_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_collection_name",
            "collection names are 1–200 printable characters",
        ));
    }
    Ok(name.to_string())
}

async fn collection_id(
    state: &AppState,
    caller: &Caller,
    name: Option<&str>,
) -> Result<Option<String>, ApiError> {
    match name {
        None => Ok(None),
        Some(name) => match state
            .runtime
            .store
            .find_collection(&caller.tenant_id, name)
            .await?
        {
            Some(c) => Ok(Some(c.id)),
            None => Err(StoreError::NotFound(format!("collection {name}")).into()),
        },
    }
}

#[utoipa::path(
    get,
    path = "/v1/documents",
    tag = "documents",
    summary = "List documents with status and ingestion progress",
    params(
        ("collection" = Option<String>, Query, description = "Collection name"),
        ("limit" = Option<usize>, Query, description = "Items in this page (default and most: `limits.max_page_size`, 1000)"),
        ("offset" = Option<usize>, Query, description = "Items skipped (the previous page's `next_offset`)")
    ),
    responses((status = 200, body = DocumentList), ApiErrors),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<DocumentListQuery>,
) -> Result<Json<DocumentList>, ApiError> {
    let page = query.page.page(&state.runtime.config.limits, None)?;
    let collection = collection_id(&state, &caller, query.collection.as_deref()).await?;
    let listed = state
        .runtime
        .store
        .list_documents_page(&caller.tenant_id, collection.as_deref(), page)
        .await?;
    Ok(Json(DocumentList {
        documents: listed.items,
        next_offset: next_offset(page, listed.more),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/documents/{id}",
    tag = "documents",
    summary = "One document with status and progress",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, body = DocumentRecord), ApiErrors),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<DocumentRecord>, ApiError> {
    let document = state
        .runtime
        .store
        .get_document(&caller.tenant_id, &id)
        .await?;
    Ok(Json(document))
}

#[utoipa::path(
    get,
    path = "/v1/documents/{id}/text",
    tag = "documents",
    summary = "Canonical text of the current version, with page map, sections and defined terms",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, body = crate::docs::DocumentText), ApiErrors),
    security(("api_key" = []))
)]
pub async fn text(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let source = crate::docs::document_text_source(&state.runtime, &caller.tenant_id, &id).await?;
    let (file, _) = state.runtime.blobs.open_canonical(&source.blob_key).await?;
    let structure = serde_json::to_string(&source.structure).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "corrupt_structure",
            e.to_string(),
        )
    })?;
    let head = format!(
        "\"document_id\":{},\"version\":{},\"structure\":{structure}",
        serde_json::Value::String(source.document_id),
        source.version
    );
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        super::stream::json_with_text_body(head, file),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/documents/{id}/original",
    tag = "documents",
    summary = "The original file of the current version: PDFs inline (for the page view), anything else as a download",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, description = "The original bytes", content_type = "application/octet-stream", body = Vec<u8>), ApiErrors),
    security(("api_key" = []))
)]
pub async fn original(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let document = state
        .runtime
        .store
        .get_document(&caller.tenant_id, &id)
        .await?;
    let Some(version) = document.current_version else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "document_not_ready",
            format!("document {id} has no ingested version yet"),
        ));
    };
    let record = state.runtime.store.get_version(&id, version).await?;
    let (file, length) = state.runtime.blobs.open_original(&record.blob_key).await?;
    // Originals are untrusted: only PDFs are shown inline, in a sandbox, and no
    // browser may sniff a download into something it would run.
    let (content_type, disposition) = if record.format == "pdf" {
        ("application/pdf", "inline")
    } else {
        ("application/octet-stream", "attachment")
    };
    let file_name: String = record
        .file_name
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("{disposition}; filename=\"{file_name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CONTENT_SECURITY_POLICY, "sandbox".to_string()),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        super::stream::file_body(file),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/documents/{id}/chunks",
    tag = "documents",
    summary = "Chunks of the current version with exact character offsets",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, body = ChunkList), ApiErrors),
    security(("api_key" = []))
)]
pub async fn chunks(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ChunkList>, ApiError> {
    let document = state
        .runtime
        .store
        .get_document(&caller.tenant_id, &id)
        .await?;
    let chunks = state
        .runtime
        .store
        .document_chunks(&caller.tenant_id, &id)
        .await?;
    Ok(Json(ChunkList {
        document_id: id,
        version: document.current_version,
        chunks,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/documents/{id}/versions",
    tag = "documents",
    summary = "Every version of a document",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, body = VersionList), ApiErrors),
    security(("api_key" = []))
)]
pub async fn versions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<VersionList>, ApiError> {
    let versions = state
        .runtime
        .store
        .list_versions(&caller.tenant_id, &id)
        .await?;
    Ok(Json(VersionList {
        document_id: id,
        versions,
    }))
}

#[utoipa::path(
    delete,
    path = "/v1/documents/{id}",
    tag = "documents",
    summary = "Delete a document from every store (asynchronously)",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 202, body = DeleteAccepted), ApiErrors),
    security(("api_key" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let job_id = state
        .runtime
        .store
        .request_delete(&caller.tenant_id, &id)
        .await?;
    state.wake.notify_waiters();
    Ok((
        StatusCode::ACCEPTED,
        Json(DeleteAccepted {
            document_id: id,
            job_id,
            status: "deleting".into(),
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    summary = "The tenant's jobs, newest first (200 a page unless `limit` says otherwise)",
    params(("limit" = Option<usize>, Query, description = "Items in this page (default and most: `limits.max_page_size`, 1000)"),
        ("offset" = Option<usize>, Query, description = "Items skipped (the previous page's `next_offset`)")),
    responses((status = 200, body = JobList), ApiErrors),
    security(("api_key" = []))
)]
pub async fn list_jobs(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<PageQuery>,
) -> Result<Json<JobList>, ApiError> {
    let page = query.page(&state.runtime.config.limits, Some(DEFAULT_JOB_PAGE))?;
    let listed = state
        .runtime
        .store
        .list_jobs_page(&caller.tenant_id, page)
        .await?;
    Ok(Json(JobList {
        jobs: listed.items,
        next_offset: next_offset(page, listed.more),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    summary = "One job",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobRecord), ApiErrors),
    security(("api_key" = []))
)]
pub async fn get_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<JobRecord>, ApiError> {
    let job = state.runtime.store.get_job(&caller.tenant_id, &id).await?;
    Ok(Json(job))
}
