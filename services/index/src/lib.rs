//! Folio's hybrid index.
//!
//! * [`Embedder`]: dense sentence embeddings with fastembed on a local ONNX model, offline.
//! * [`Bm25Index`]: BM25 full text over chunk headings and bodies (tantivy).
//! * [`VectorStore`]: chunk embeddings with payload filters; [`EdgeVectorStore`] runs
//!   in-process on qdrant-edge (the embedded default), [`QdrantServerStore`] talks to a
//!   Qdrant server or cluster.
//! * [`reciprocal_rank_fusion`]: merges the BM25 and dense rankings.
//!
//! Every search and count is scoped by a [`SearchFilter`] whose tenant is mandatory:
//! no code path in this crate can return another tenant's chunks.

#![warn(missing_docs)]

mod accumulate;
mod bm25;
mod embedder;
mod error;
mod fusion;
mod int8_matmul;
mod tenant_stats;
mod top_k;
mod types;
mod vector;

pub use bm25::Bm25Index;
pub use embedder::{Embedder, EmbedderOptions};
pub use error::IndexError;
pub use fusion::{reciprocal_rank_fusion, FusedHit};
pub use types::{Hit, IndexedChunk, PointPayload, SearchFilter, VectorPoint};
pub use vector::{
    EdgeStoreOptions, EdgeVectorStore, QdrantCollectionOptions, QdrantServerStore, StoreFuture,
    VectorStore, VectorStoreStats,
};
