//! The query crate's error type.

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request itself is unusable (empty query, zero limit…).
    #[error("invalid query: {0}")]
    InvalidRequest(String),
    /// The full-text index, the vector store or the embedder failed.
    #[error(transparent)]
    Index(#[from] folio_index::IndexError),
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] folio_store::StoreError),
    /// The language model failed.
    #[error(transparent)]
    Model(#[from] folio_llm::LlmError),
    /// The document exists but has no ingested version yet.
    #[error("document {id} has no ingested version yet (status: {status})")]
    DocumentNotReady {
        /// The document.
        id: String,
        /// Its ingestion status.
        status: String,
    },
    /// A stored structure that does not parse.
    #[error("stored structure of document {id} is corrupt: {reason}")]
    CorruptStructure {
        /// The document.
        id: String,
        /// The parse error.
        reason: String,
    },
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

impl From<tokio::task::JoinError> for QueryError {
    fn from(error: tokio::task::JoinError) -> Self {
        QueryError::Task(error.to_string())
    }
}

impl From<folio_common::config::InvalidChoice> for QueryError {
    fn from(error: folio_common::config::InvalidChoice) -> Self {
        QueryError::InvalidRequest(error.0)
    }
}
