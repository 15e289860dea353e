//! Collections, documents (upload, list, status, text, chunks, versions,
//! delete) and jobs.

use super::resources::{shown, Collection, DocumentRecord, JobRecord};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use folio_store::SubmitOutcome;
use serde::Deserialize;

use super::pages::{next_offset, PageQuery};
use super::schema::{
    ApiErrors, ChunkList, CollectionList, DeleteAccepted, DocumentList, JobList, UploadResult,
    UploadedDocument, VersionList,
};
use super::{ApiError, ApiJson, AppState};
use folio_app::keys::Caller;
use folio_app::upload::Upload;
use folio_app::{collections, documents};

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
    let listed = collections::list(&state.runtime, &caller.tenant_id, page).await?;
    Ok(Json(CollectionList {
        collections: shown(listed.items),
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
    let collection = collections::ensure(&state.runtime, &caller.tenant_id, &body.name).await?;
    Ok((StatusCode::CREATED, Json(Collection::from(collection))))
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
    let mut store = StoreUploads {
        state: &state,
        tenant: &caller.tenant_id,
        upload: None,
    };
    let results = read_upload_form(
        &mut multipart,
        query.collection.as_deref().unwrap_or("default"),
        &mut store,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(UploadResult { documents: results }),
    ))
}

/// Where [`read_upload_form`] puts each file: the real handler stores it, the
/// fuzz target only reads it.
pub(super) trait FileSink {
    /// What a stored file becomes.
    type Stored;
    /// A file part named `raw_name` begins, for collection `collection`
    /// (a checked name).
    async fn begin(&mut self, collection: &str, raw_name: &str) -> Result<(), ApiError>;
    /// The next bytes of the file.
    async fn write(&mut self, bytes: &[u8]) -> Result<(), ApiError>;
    /// The file is refused or its part broke off.
    async fn abort(&mut self);
    /// The file is complete.
    async fn finish(&mut self) -> Result<Self::Stored, ApiError>;
}

/// The multipart upload format: an optional `collection` part (it applies to
/// the files after it) and `file` parts, each streamed to `sink`. At least one
/// file is required.
pub(super) async fn read_upload_form<S: FileSink>(
    multipart: &mut Multipart,
    default_collection: &str,
    sink: &mut S,
) -> Result<Vec<S::Stored>, ApiError> {
    let mut target = collections::checked_name(default_collection)?;
    let mut stored = Vec::new();
    while let Some(mut field) = multipart.next_field().await? {
        if field.name() == Some("collection") {
            target = collections::checked_name(&field.text().await?)?;
            continue;
        }
        let Some(raw_name) = field.file_name().map(str::to_string) else {
            continue;
        };
        sink.begin(&target, &raw_name).await?;
        loop {
            match field.chunk().await {
                Ok(Some(bytes)) => {
                    if let Err(e) = sink.write(&bytes).await {
                        sink.abort().await;
                        // Read (and discard) the rest of a refused upload, bounded
                        // by the body limit, so the client receives the error
                        // instead of a connection reset while it is still sending.
                        while let Ok(Some(_)) = field.chunk().await {}
                        drop(field);
                        while let Ok(Some(mut next)) = multipart.next_field().await {
                            while let Ok(Some(_)) = next.chunk().await {}
                        }
                        return Err(e);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    sink.abort().await;
                    return Err(e.into());
                }
            }
        }
        stored.push(sink.finish().await?);
    }
    if stored.is_empty() {
        return Err(folio_app::AppError::NoFile.into());
    }
    Ok(stored)
}

/// Stores each file of an upload request as a new document version.
struct StoreUploads<'a> {
    state: &'a AppState,
    tenant: &'a str,
    upload: Option<(Upload, String)>,
}

impl FileSink for StoreUploads<'_> {
    type Stored = UploadedDocument;

    async fn begin(&mut self, collection: &str, raw_name: &str) -> Result<(), ApiError> {
        let runtime = &self.state.runtime;
        let collection = collections::ensure(runtime, self.tenant, collection).await?;
        let upload = Upload::begin(runtime, self.tenant, raw_name).await?;
        self.upload = Some((upload, collection.id));
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        match &mut self.upload {
            Some((upload, _)) => Ok(upload.write(bytes).await?),
            None => Err(folio_app::AppError::Internal("a write outside a file part".into()).into()),
        }
    }

    async fn abort(&mut self) {
        if let Some((upload, _)) = self.upload.take() {
            upload.abort().await;
        }
    }

    async fn finish(&mut self) -> Result<UploadedDocument, ApiError> {
        let Some((upload, collection_id)) = self.upload.take() else {
            return Err(
                folio_app::AppError::Internal("a file part that never began".into()).into(),
            );
        };
        let (name, outcome) = upload.finish(&self.state.runtime, &collection_id).await?;
        Ok(match outcome {
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
        })
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
    let listed = documents::list(
        &state.runtime,
        &caller.tenant_id,
        query.collection.as_deref(),
        page,
    )
    .await?;
    Ok(Json(DocumentList {
        documents: shown(listed.items),
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
    let document = documents::get(&state.runtime, &caller.tenant_id, &id).await?;
    Ok(Json(document.into()))
}

#[utoipa::path(
    get,
    path = "/v1/documents/{id}/text",
    tag = "documents",
    summary = "Canonical text of the current version, with page map, sections and defined terms",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, body = super::schema::DocumentText), ApiErrors),
    security(("api_key" = []))
)]
pub async fn text(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (source, file) = documents::text_file(&state.runtime, &caller.tenant_id, &id).await?;
    let structure = serde_json::to_string(&source.structure).map_err(|e| {
        folio_app::AppError::CorruptStructure {
            id: id.clone(),
            reason: e.to_string(),
        }
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
    let original = documents::original(&state.runtime, &caller.tenant_id, &id).await?;
    // Originals are untrusted: only PDFs are shown inline, in a sandbox, and no
    // browser may sniff a download into something it would run.
    let (content_type, disposition) = if original.format == "pdf" {
        ("application/pdf", "inline")
    } else {
        ("application/octet-stream", "attachment")
    };
    let file_name: String = original
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
            (header::CONTENT_LENGTH, original.length.to_string()),
        ],
        super::stream::file_body(original.file),
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
    let (version, chunks) = documents::chunks(&state.runtime, &caller.tenant_id, &id).await?;
    Ok(Json(ChunkList {
        document_id: id,
        version,
        chunks: shown(chunks),
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
    let versions = documents::versions(&state.runtime, &caller.tenant_id, &id).await?;
    Ok(Json(VersionList {
        document_id: id,
        versions: shown(versions),
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
    let job_id = documents::delete(&state.runtime, &caller.tenant_id, &id).await?;
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
    let listed = documents::jobs(&state.runtime, &caller.tenant_id, page).await?;
    Ok(Json(JobList {
        jobs: shown(listed.items),
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
    let job = documents::job(&state.runtime, &caller.tenant_id, &id).await?;
    Ok(Json(job.into()))
}
