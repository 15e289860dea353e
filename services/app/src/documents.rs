//! Documents and their jobs, as a tenant sees them: listing, reading (text,
//! original, chunks, versions) and deletion. Every read of a document's
//! current version goes through [`DocumentSource::current`], the reader that
//! answering uses too.

use folio_query::document::{current_version, DocumentSource};
use folio_store::{ChunkRecord, DocumentRecord, JobRecord, Page, PageOf, VersionRecord};
use tokio::fs::File;

use crate::runtime::Runtime;
use crate::AppError;

/// The tenant's documents, optionally of one collection (a name or id).
pub async fn list(
    runtime: &Runtime,
    tenant: &str,
    collection: Option<&str>,
    page: Page,
) -> Result<PageOf<DocumentRecord>, AppError> {
    let collection_id = match collection {
        Some(name) => Some(crate::collections::find(runtime, tenant, name).await?.id),
        None => None,
    };
    Ok(runtime
        .store
        .list_documents_page(tenant, collection_id.as_deref(), page)
        .await?)
}

/// One document with its status and progress.
pub async fn get(runtime: &Runtime, tenant: &str, id: &str) -> Result<DocumentRecord, AppError> {
    Ok(runtime.store.get_document(tenant, id).await?)
}

/// The current version of a document that has one:
/// [`AppError::DocumentNotReady`] before its first ingestion ends.
pub async fn source(runtime: &Runtime, tenant: &str, id: &str) -> Result<DocumentSource, AppError> {
    Ok(DocumentSource::current(&runtime.store, tenant, id).await?)
}

/// Refuses a document that is not the tenant's (not found) or that has no
/// ingested version yet ([`AppError::DocumentNotReady`]), without reading its
/// structure.
pub async fn ingested(runtime: &Runtime, tenant: &str, id: &str) -> Result<(), AppError> {
    current_version(&runtime.store, tenant, id).await?;
    Ok(())
}

/// The current version's canonical text, with its source.
pub async fn text(
    runtime: &Runtime,
    tenant: &str,
    id: &str,
) -> Result<(DocumentSource, String), AppError> {
    let source = source(runtime, tenant, id).await?;
    let text = runtime.blobs.read_canonical(&source.blob_key).await?;
    Ok((source, text))
}

/// The current version's canonical text as a file to stream.
pub async fn text_file(
    runtime: &Runtime,
    tenant: &str,
    id: &str,
) -> Result<(DocumentSource, File), AppError> {
    let source = source(runtime, tenant, id).await?;
    let (file, _) = runtime.blobs.open_canonical(&source.blob_key).await?;
    Ok((source, file))
}

/// The original file of the current version.
pub struct OriginalFile {
    /// Its bytes, to stream.
    pub file: File,
    /// Its length in bytes.
    pub length: u64,
    /// The detected format (`pdf`, `html`, …).
    pub format: String,
    /// The uploaded file name.
    pub file_name: String,
}

/// The original upload of the current version.
pub async fn original(runtime: &Runtime, tenant: &str, id: &str) -> Result<OriginalFile, AppError> {
    let (_, record) = current_version(&runtime.store, tenant, id).await?;
    let (file, length) = runtime.blobs.open_original(&record.blob_key).await?;
    Ok(OriginalFile {
        file,
        length,
        format: record.format,
        file_name: record.file_name,
    })
}

/// The document's chunks, with its current version (`None` before the first
/// ingestion ends).
pub async fn chunks(
    runtime: &Runtime,
    tenant: &str,
    id: &str,
) -> Result<(Option<i64>, Vec<ChunkRecord>), AppError> {
    let document = runtime.store.get_document(tenant, id).await?;
    let chunks = runtime.store.document_chunks(tenant, id).await?;
    Ok((document.current_version, chunks))
}

/// Every version of a document.
pub async fn versions(
    runtime: &Runtime,
    tenant: &str,
    id: &str,
) -> Result<Vec<VersionRecord>, AppError> {
    Ok(runtime.store.list_versions(tenant, id).await?)
}

/// Queues the deletion of a document from every store; returns the job's id.
/// Workers sleeping on an empty queue are woken.
pub async fn delete(runtime: &Runtime, tenant: &str, id: &str) -> Result<String, AppError> {
    let job_id = runtime.store.request_delete(tenant, id).await?;
    runtime.wake.notify_waiters();
    Ok(job_id)
}

/// The tenant's jobs, newest first.
pub async fn jobs(
    runtime: &Runtime,
    tenant: &str,
    page: Page,
) -> Result<PageOf<JobRecord>, AppError> {
    Ok(runtime.store.list_jobs_page(tenant, page).await?)
}

/// One job of the tenant.
pub async fn job(runtime: &Runtime, tenant: &str, id: &str) -> Result<JobRecord, AppError> {
    Ok(runtime.store.get_job(tenant, id).await?)
}
