//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the index crate.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The ONNX Runtime shared library is missing, too old, or failed to load.
    #[error("ONNX Runtime library {path}: {reason}")]
    OnnxRuntime {
        /// The library path that was given.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },

    /// A model file is missing or unreadable.
    #[error("model file {path}: {source}")]
    ModelFile {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The embedding model failed to load or to run.
    #[error("embedding model: {0}")]
    Embedding(#[from] fastembed::Error),

    /// The tokenizer failed to load or to encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// The full-text index (tantivy) failed.
    #[error("full-text index: {0}")]
    FullText(#[from] tantivy::TantivyError),

    /// The full-text index directory could not be opened.
    #[error("full-text index directory: {0}")]
    FullTextDirectory(#[from] tantivy::directory::error::OpenDirectoryError),

    /// The in-process vector store (qdrant-edge) failed.
    #[error("vector store (qdrant-edge): {0}")]
    Edge(#[from] qdrant_edge::OperationError),

    /// The Qdrant server rejected a request or could not be reached.
    #[error("vector store (Qdrant server): {0}")]
    QdrantServer(#[from] Box<qdrant_client::QdrantError>),

    /// A vector store was used before [`crate::VectorStore::ensure_ready`].
    #[error("vector store {store} is not initialised: call ensure_ready(dimension) first")]
    NotReady {
        /// The store's name.
        store: &'static str,
    },

    /// A vector's length differs from the store's dimension.
    #[error(
        "vector dimension mismatch: the store holds {expected}-dimensional vectors, got {actual}"
    )]
    DimensionMismatch {
        /// The store's dimension.
        expected: usize,
        /// The offending vector's length.
        actual: usize,
    },

    /// A caller passed something the index refuses (for example an empty tenant).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A stored record could not be decoded (index written by something else, or corrupt).
    #[error("corrupt index record: {0}")]
    Corrupt(String),

    /// A write reached an index opened read-only (a query replica in split mode).
    #[error("{0} is open read-only in this process (the ingest role writes it)")]
    ReadOnly(&'static str),

    /// A lock was poisoned by a panic in another thread.
    #[error("{0} lock poisoned by an earlier panic")]
    Poisoned(&'static str),

    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),

    /// Filesystem error.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl From<qdrant_client::QdrantError> for IndexError {
    fn from(error: qdrant_client::QdrantError) -> Self {
        Self::QdrantServer(Box::new(error))
    }
}
