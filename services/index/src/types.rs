//! Types shared by the full-text index and the vector stores.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::IndexError;

/// One chunk as the full-text index sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedChunk {
    /// Chunk id; the same id keys the chunk's vector point.
    pub chunk_id: Uuid,
    /// Owning tenant. Never empty: every search is scoped to one tenant.
    pub tenant: String,
    /// Collection the document belongs to.
    pub collection: String,
    /// Document id.
    pub document: String,
    /// Document version the chunk was cut from.
    pub version: u64,
    /// Position of the chunk within its document version.
    pub ordinal: u32,
    /// Heading path rendered as text (for example `Article 9 › 9.2 Termination`).
    pub heading: String,
    /// Chunk text.
    pub body: String,
}

/// Scope of a search or count.
///
/// The tenant is mandatory: tenant isolation is a product invariant, so there is
/// deliberately no way to search across tenants. Empty `collections` or `documents`
/// mean "any"; otherwise a hit must belong to one of the listed values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchFilter {
    /// The tenant whose chunks may be returned.
    pub tenant: String,
    /// Restrict to these collections (any of them); empty = all of the tenant's.
    pub collections: Vec<String>,
    /// Restrict to these documents (any of them); empty = all of the tenant's.
    pub documents: Vec<String>,
}

impl SearchFilter {
    /// A filter over everything of one tenant.
    pub fn tenant(tenant: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            collections: Vec::new(),
            documents: Vec::new(),
        }
    }

    /// Restricts the filter to the given collections.
    pub fn with_collections(
        mut self,
        collections: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.collections = collections.into_iter().map(Into::into).collect();
        self
    }

    /// Restricts the filter to the given documents.
    pub fn with_documents(
        mut self,
        documents: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.documents = documents.into_iter().map(Into::into).collect();
        self
    }

    /// Refuses an empty tenant: an empty tenant would silently match chunks that
    /// were stored without one instead of failing loudly.
    pub(crate) fn validate(&self) -> Result<(), IndexError> {
        require_tenant(&self.tenant)
    }
}

pub(crate) fn require_tenant(tenant: &str) -> Result<(), IndexError> {
    if tenant.trim().is_empty() {
        return Err(IndexError::InvalidInput(
            "tenant must not be empty (every index operation is scoped to one tenant)".into(),
        ));
    }
    Ok(())
}

/// One search result: a chunk id and the backend's score (higher is better).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The chunk that matched.
    pub chunk_id: Uuid,
    /// Backend-specific relevance score (BM25 or cosine similarity).
    pub score: f32,
}

/// The payload stored with every vector; the same fields the full-text index filters on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointPayload {
    /// Owning tenant (never empty).
    pub tenant: String,
    /// Collection of the document.
    pub collection: String,
    /// Document id.
    pub document: String,
    /// Document version.
    pub version: u64,
    /// Chunk position within the document version.
    pub ordinal: u32,
}

/// A vector to store, keyed by its chunk id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorPoint {
    /// Chunk id (the point id in the vector store).
    pub id: Uuid,
    /// The embedding of the chunk's whole text.
    pub vector: Vec<f32>,
    /// Embeddings of the chunk's passage windows ([`crate::Embedder::embed_passage_windows`]),
    /// empty for a chunk that fits one window. The store keeps them with `vector` as one
    /// multivector and scores the point by its best view (MaxSim against one query vector).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<Vec<f32>>,
    /// Filterable metadata.
    pub payload: PointPayload,
}
