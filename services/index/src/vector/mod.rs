//! Vector stores: one trait, an in-process backend and a Qdrant server backend.

mod edge;
mod server;

use std::future::Future;
use std::pin::Pin;

pub use edge::{EdgeStoreOptions, EdgeVectorStore};
pub use server::{QdrantCollectionOptions, QdrantServerStore};

use crate::types::require_tenant;
use crate::{Hit, IndexError, SearchFilter, VectorPoint};

/// The boxed future the [`VectorStore`] methods return (keeps the trait usable as
/// `Arc<dyn VectorStore>`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, IndexError>> + Send + 'a>>;

/// Payload keys, shared by both backends so that their data and filters are identical.
pub(crate) mod payload_key {
    pub const TENANT: &str = "tenant";
    pub const COLLECTION: &str = "collection";
    pub const DOCUMENT: &str = "document";
    pub const VERSION: &str = "version";
    pub const ORDINAL: &str = "ordinal";
}

/// A store of chunk embeddings with tenant/collection/document filters, cosine similarity.
///
/// A point holds its chunk's whole-text vector and its passage windows' vectors as one
/// multivector; a search scores it by its best view (Qdrant's MaxSim with one query
/// vector), so a chunk is found by the part of it a question is about.
///
/// Every search and count takes a [`SearchFilter`], whose tenant is mandatory. Writes are
/// durable when the returned future resolves. Point ids are chunk ids: upserting an id
/// that exists replaces the point.
pub trait VectorStore: Send + Sync {
    /// Short backend name for logs and traces.
    fn name(&self) -> &'static str;

    /// Creates the collection/shard and its payload indexes for `dimension`-sized vectors
    /// if missing; fails with [`IndexError::DimensionMismatch`] if it exists with another
    /// dimension. Idempotent: call it at start-up.
    fn ensure_ready(&self, dimension: usize) -> StoreFuture<'_, ()>;

    /// Inserts or replaces points.
    fn upsert<'a>(&'a self, points: &'a [VectorPoint]) -> StoreFuture<'a, ()>;

    /// Deletes every point of a document, all versions.
    fn delete_document<'a>(&'a self, document: &'a str) -> StoreFuture<'a, ()>;

    /// Deletes the points of one version of a document.
    fn delete_document_version<'a>(
        &'a self,
        document: &'a str,
        version: u64,
    ) -> StoreFuture<'a, ()>;

    /// The `limit` nearest points to `vector` within `filter`, best first (score = cosine).
    fn search<'a>(
        &'a self,
        vector: &'a [f32],
        filter: &'a SearchFilter,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Hit>>;

    /// Exact number of points within `filter`.
    fn count<'a>(&'a self, filter: &'a SearchFilter) -> StoreFuture<'a, u64>;

    /// Builds pending vector indexes and merges small segments, so that searches stay
    /// fast as the store grows. Blocking work for large stores: call it when ingestion
    /// goes idle, not per request. Returns whether anything changed. A Qdrant server
    /// optimises by itself, so there it does nothing.
    fn optimize(&self) -> StoreFuture<'_, bool>;

    /// How many points the store holds and how many of their vectors a vector index
    /// (HNSW) covers: vectors outside it are searched by a full scan, so a gap that
    /// stays after [`VectorStore::optimize`] means slow dense searches.
    fn stats(&self) -> StoreFuture<'_, VectorStoreStats>;

    /// The embedder id that [`VectorStore::record_embedder`] last recorded for the stored
    /// vectors, or `None` if none was. Dense search is only meaningful when the question
    /// and the chunks were embedded by one embedder configuration, and the store is what
    /// outlives a configuration change.
    fn recorded_embedder(&self) -> StoreFuture<'_, Option<String>>;

    /// Records `embedder_id` as the embedder of every vector in the store: call it when
    /// the store is created empty and after every vector was rewritten.
    fn record_embedder<'a>(&'a self, embedder_id: &'a str) -> StoreFuture<'a, ()>;
}

/// A vector store's size and index coverage, as [`VectorStore::stats`] reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct VectorStoreStats {
    /// Points (chunks) stored, all tenants (approximate on a Qdrant server).
    pub points: u64,
    /// Vectors inside a vector index; the engine counts each multivector once.
    pub indexed_vectors: u64,
    /// Segments the points are spread over.
    pub segments: u64,
}

/// Checks what both backends must refuse before any engine call.
pub(crate) fn validate_points(points: &[VectorPoint], dimension: usize) -> Result<(), IndexError> {
    for point in points {
        require_tenant(&point.payload.tenant)?;
        check_dimension(&point.vector, dimension)?;
        for window in &point.windows {
            check_dimension(window, dimension)?;
        }
    }
    Ok(())
}

pub(crate) fn check_dimension(vector: &[f32], dimension: usize) -> Result<(), IndexError> {
    if vector.len() != dimension {
        return Err(IndexError::DimensionMismatch {
            expected: dimension,
            actual: vector.len(),
        });
    }
    if vector.iter().any(|x| !x.is_finite()) {
        return Err(IndexError::InvalidInput(
            "vector contains NaN or infinite values".into(),
        ));
    }
    Ok(())
}
