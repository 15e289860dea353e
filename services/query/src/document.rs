//! A document's current version as the query side reads it: canonical text,
//! structure and chunks, with character-offset slicing.

use folio_common::blob::BlobStore;
use folio_common::model::{CharOffsets, StoredStructure};
use folio_common::store::{ChunkRecord, MetadataStore};

use crate::QueryError;

/// The current version of one document, loaded for segment building.
#[derive(Debug, Clone)]
pub struct DocumentView {
    /// Document id.
    pub document_id: String,
    /// Display name (file name).
    pub name: String,
    /// The version every offset refers to.
    pub version: i64,
    /// Canonical text.
    pub text: String,
    offsets: CharOffsets,
    /// Page map, sections, defined terms (character offsets).
    pub structure: StoredStructure,
    /// Chunks of this version, in document order.
    pub chunks: Vec<ChunkRecord>,
}

impl DocumentView {
    /// Loads a tenant's document. Fails with the store's not-found error for another
    /// tenant's document, and with [`QueryError::InvalidRequest`] while the document
    /// has no ingested version yet.
    pub async fn load(
        store: &MetadataStore,
        blobs: &BlobStore,
        tenant_id: &str,
        document_id: &str,
    ) -> Result<Self, QueryError> {
        let document = store.get_document(tenant_id, document_id).await?;
        let version = document.current_version.ok_or_else(|| {
            QueryError::InvalidRequest(format!(
                "document {document_id} has no ingested version yet"
            ))
        })?;
        let record = store.get_version(document_id, version).await?;
        let text = blobs
            .read_canonical(&record.blob_key)
            .await
            .map_err(|e| QueryError::Task(format!("reading the canonical text: {e}")))?;
        let structure = match store.version_structure(document_id, version).await? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| QueryError::Task(format!("stored structure is corrupt: {e}")))?,
            None => StoredStructure::default(),
        };
        let chunks = store
            .document_chunks(tenant_id, document_id)
            .await?
            .into_iter()
            .filter(|c| c.version == version)
            .collect();
        Ok(Self::new(
            document_id.to_string(),
            document.name,
            version,
            text,
            structure,
            chunks,
        ))
    }

    /// A view over already loaded parts (chunks must be in document order).
    pub fn new(
        document_id: String,
        name: String,
        version: i64,
        text: String,
        structure: StoredStructure,
        chunks: Vec<ChunkRecord>,
    ) -> Self {
        let offsets = CharOffsets::new(&text);
        Self {
            document_id,
            name,
            version,
            text,
            offsets,
            structure,
            chunks,
        }
    }

    /// Length of the canonical text in characters.
    pub fn char_len(&self) -> usize {
        self.offsets.char_len()
    }

    /// The text between two character offsets (clamped to the text).
    pub fn slice(&self, start: usize, end: usize) -> &str {
        let start = self.offsets.byte_of_char(start);
        let end = self.offsets.byte_of_char(end).max(start);
        &self.text[start..end]
    }

    /// Page (1-based) containing a character offset, if the page map covers it.
    pub fn page_of(&self, char_offset: usize) -> Option<u32> {
        self.structure
            .pages
            .iter()
            .find(|(_, start, end)| *start <= char_offset && char_offset < *end)
            .map(|(page, _, _)| *page)
    }
}
