//! The one error type of Folio's use cases. Every variant is one entry of the
//! HTTP crate's error-code table (`folio-server`'s `http/error.rs`), which gives
//! it a stable code, a status and a type; the CLI prints the message.

use std::time::Duration;

use folio_common::blob::BlobError;
use folio_llm::LlmError;
use folio_query::QueryError;
use folio_store::StoreError;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The question or query is empty, or a request field has a value the use
    /// case cannot use (an unknown pipeline, a malformed filter).
    #[error("{0}")]
    InvalidQuery(String),
    /// A request body that is well-formed JSON but unusable (an empty message
    /// list, an unknown message role).
    #[error("{0}")]
    InvalidRequest(String),
    /// A chat completion asking for more tokens than `limits.max_chat_tokens`.
    #[error("{0}")]
    MaxTokensTooLarge(String),
    /// A query or question over `limits.max_query_bytes`.
    #[error("the {what} has {bytes} bytes; at most {limit} are accepted")]
    QueryTooLong {
        /// `query` or `question`.
        what: &'static str,
        /// Its size.
        bytes: usize,
        /// The cap.
        limit: usize,
    },
    /// More document or collection ids than `limits.max_filter_items`.
    #[error("`{field}` has {count} entries; at most {limit} are accepted")]
    TooManyFilters {
        /// `documents` or `collections`.
        field: &'static str,
        /// How many were sent.
        count: usize,
        /// The cap.
        limit: usize,
    },
    /// A collection name that is empty, too long or has control characters.
    #[error("collection names are 1–200 printable characters")]
    InvalidCollectionName,
    /// An upload's file name is empty or unusable.
    #[error("invalid file name {0:?}")]
    InvalidFileName(String),
    /// An upload request without a file.
    #[error("the request has no file part")]
    NoFile,
    /// Neither the extension nor the leading bytes name a supported format.
    #[error("unsupported file type for {0:?}: Folio reads PDF, HTML, DOCX, TXT and Markdown")]
    UnsupportedFormat(String),
    /// An upload over `server.max_upload_bytes`.
    #[error("the file exceeds the upload limit of {limit} bytes")]
    FileTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// No collection of that name or id in the tenant.
    #[error("no collection named {0:?}")]
    CollectionNotFound(String),
    /// No document, key or job of that id in the tenant.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the stored state (an upload during a delete).
    #[error("{0}")]
    Conflict(String),
    /// The document exists but has no ingested version to read or ask about yet.
    #[error("document {id} has no ingested version yet (status: {status})")]
    DocumentNotReady {
        /// The document.
        id: String,
        /// Its ingestion status.
        status: String,
    },
    /// A key name that is empty, over 200 bytes or has control characters.
    #[error("key names are 1–200 printable characters")]
    InvalidKeyName,
    /// A role other than viewer, editor, admin.
    #[error("unknown role {0:?}: use viewer, editor or admin")]
    InvalidRole(String),
    /// No API key on the request.
    #[error("an API key is required: send `Authorization: Bearer <key>`")]
    MissingApiKey,
    /// The key is unknown, malformed, revoked or wrong.
    #[error("the API key is not valid")]
    InvalidApiKey,
    /// The key id or the client address failed too often lately; refused before
    /// any hashing.
    #[error("too many failed key attempts; retry in {} s", .retry_after.as_secs().max(1))]
    TooManyFailedAttempts {
        /// When the oldest failure counted leaves the window.
        retry_after: Duration,
    },
    /// The prompt does not fit the model's context.
    #[error("{0}")]
    ContextOverflow(String),
    /// The OpenAI-compatible generator failed or could not be reached.
    #[error("{0}")]
    GeneratorUnavailable(String),
    /// The local model could not be loaded.
    #[error("{0}")]
    ModelNotLoaded(String),
    /// A stored document structure that does not parse (a bug or a damaged store).
    #[error("stored structure of document {id}: {reason}")]
    CorruptStructure {
        /// The document.
        id: String,
        /// What was wrong.
        reason: String,
    },
    /// The metadata store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The blob store failed.
    #[error(transparent)]
    Blob(BlobError),
    /// An index failed.
    #[error("{0}")]
    Index(String),
    /// The model failed while running.
    #[error("{0}")]
    Model(String),
    /// Anything else: a bug, a task that panicked, a hashing failure.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => AppError::NotFound(what),
            StoreError::Conflict(what) => AppError::Conflict(what),
            other => AppError::Store(other),
        }
    }
}

impl From<BlobError> for AppError {
    fn from(error: BlobError) -> Self {
        match error {
            BlobError::TooLarge { limit } => AppError::FileTooLarge { limit },
            other => AppError::Blob(other),
        }
    }
}

impl From<LlmError> for AppError {
    fn from(error: LlmError) -> Self {
        match error {
            LlmError::Remote(message) => AppError::GeneratorUnavailable(message),
            e @ LlmError::ContextOverflow { .. } => AppError::ContextOverflow(e.to_string()),
            e => AppError::Model(e.to_string()),
        }
    }
}

impl From<QueryError> for AppError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::InvalidRequest(message) => AppError::InvalidQuery(message),
            QueryError::Store(e) => e.into(),
            QueryError::Index(e) => AppError::Index(e.to_string()),
            QueryError::Model(e) => e.into(),
            QueryError::DocumentNotReady { id, status } => {
                AppError::DocumentNotReady { id, status }
            }
            QueryError::CorruptStructure { id, reason } => {
                AppError::CorruptStructure { id, reason }
            }
            QueryError::Task(message) => AppError::Internal(message),
        }
    }
}

impl From<folio_common::config::InvalidChoice> for AppError {
    fn from(error: folio_common::config::InvalidChoice) -> Self {
        AppError::InvalidQuery(error.0)
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(error: tokio::task::JoinError) -> Self {
        AppError::Internal(error.to_string())
    }
}
