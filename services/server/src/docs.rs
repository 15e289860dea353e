//! Reading a document's canonical text with its page map and structure.

use axum::http::StatusCode;
use folio_ingest::pipeline::StoredStructure;
use serde::Serialize;

use crate::http::ApiError;
use crate::runtime::Runtime;

/// The canonical text of a document's current version and its layout.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DocumentText {
    /// Document id.
    pub document_id: String,
    /// Version the text belongs to.
    pub version: i64,
    /// The canonical text; every offset in Folio refers to it.
    pub text: String,
    /// Page map, sections and defined terms (character offsets).
    pub structure: StoredStructure,
}

/// A document's text without the text itself: what to stream the text with.
#[derive(Debug)]
pub struct DocumentTextSource {
    /// Document id.
    pub document_id: String,
    /// Version the text belongs to.
    pub version: i64,
    /// Page map, sections and defined terms (character offsets).
    pub structure: StoredStructure,
    /// Where the canonical text is stored.
    pub blob_key: String,
}

/// Loads the canonical text of the current version of a tenant's document.
pub async fn document_text(
    runtime: &Runtime,
    tenant: &str,
    id: &str,
) -> Result<DocumentText, ApiError> {
    let source = document_text_source(runtime, tenant, id).await?;
    let text = runtime.blobs.read_canonical(&source.blob_key).await?;
    Ok(DocumentText {
        document_id: source.document_id,
        version: source.version,
        text,
        structure: source.structure,
    })
}

/// Finds the current version of a tenant's document, its structure and where its
/// canonical text lies, without reading the text.
pub async fn document_text_source(
    runtime: &Runtime,
    tenant: &str,
    id: &str,
) -> Result<DocumentTextSource, ApiError> {
    let document = runtime.store.get_document(tenant, id).await?;
    let Some(version) = document.current_version else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "document_not_ready",
            format!(
                "document {id} has no ingested version yet (status: {})",
                document.status.as_str()
            ),
        ));
    };
    let record = runtime.store.get_version(id, version).await?;
    let structure = runtime
        .store
        .version_structure(id, version)
        .await?
        .map(|json| serde_json::from_str::<StoredStructure>(&json))
        .transpose()
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt_structure",
                e.to_string(),
            )
        })?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt_structure",
                "structure missing",
            )
        })?;
    Ok(DocumentTextSource {
        document_id: id.to_string(),
        version,
        structure,
        blob_key: record.blob_key,
    })
}
