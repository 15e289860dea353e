//! Rows of the metadata store, as the rest of Folio sees them.

use serde::{Deserialize, Serialize};

/// A tenant: the unit of isolation. Nothing of one tenant is ever visible to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Stable id.
    pub id: String,
    /// Unique name.
    pub name: String,
}

/// An API key as stored: never the key itself, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public id (also the key's visible prefix).
    pub id: String,
    /// The tenant every request made with the key acts in.
    pub tenant_id: String,
    /// A label for people (e.g. "ci", "alice's laptop").
    pub name: String,
    /// `viewer`, `editor` or `admin`.
    pub role: String,
    /// PHC string of the key's argon2id hash.
    #[serde(skip_serializing)]
    pub hash: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// When the key was revoked (Unix milliseconds), if it was.
    pub revoked_at: Option<i64>,
}

/// A named group of documents inside a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    /// Stable id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Name, unique within the tenant.
    pub name: String,
}

/// Lifecycle of a document as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentStatus {
    /// First version waiting for a worker.
    Queued,
    /// A version is being ingested (an older ready version, if any, still serves).
    Processing,
    /// The current version is searchable.
    Ready,
    /// No version could be ingested; `error` says why.
    Failed,
    /// Being removed from every store; invisible to search.
    Deleting,
}

impl DocumentStatus {
    /// Stable name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Queued => "queued",
            DocumentStatus::Processing => "processing",
            DocumentStatus::Ready => "ready",
            DocumentStatus::Failed => "failed",
            DocumentStatus::Deleting => "deleting",
        }
    }

    /// Parses the stored name; unknown names read as `Failed` so a corrupt
    /// row never looks searchable.
    pub fn parse(name: &str) -> Self {
        match name {
            "queued" => DocumentStatus::Queued,
            "processing" => DocumentStatus::Processing,
            "ready" => DocumentStatus::Ready,
            "deleting" => DocumentStatus::Deleting,
            _ => DocumentStatus::Failed,
        }
    }
}

/// A stable, machine-readable failure reason plus a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReason {
    /// Stable snake_case code (e.g. `pdf_encrypted`).
    pub code: String,
    /// What happened, for people.
    pub message: String,
}

/// A document and the progress of its newest version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRecord {
    /// Stable id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Collection id.
    pub collection_id: String,
    /// Name (the uploaded file name, unique in the collection).
    pub name: String,
    /// Lifecycle status.
    pub status: DocumentStatus,
    /// Version whose chunks are searchable, if any.
    pub current_version: Option<i64>,
    /// Newest version submitted.
    pub latest_version: i64,
    /// Format of the newest version.
    pub format: String,
    /// Size in bytes of the newest version's original.
    pub bytes: i64,
    /// sha256 of the newest version's original.
    pub sha256: String,
    /// Why the newest version failed, if it did.
    pub error: Option<FailureReason>,
    /// Progress of the newest version's ingestion job.
    pub progress: Option<JobProgress>,
    /// Chunks of the current version.
    pub chunk_count: Option<i64>,
    /// Pages of the current version.
    pub page_count: Option<i64>,
    /// Creation time (Unix ms).
    pub created_at: i64,
    /// Last change (Unix ms).
    pub updated_at: i64,
}

/// One stored version of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Document id.
    pub document_id: String,
    /// Version number, from 1.
    pub version: i64,
    /// sha256 of the original bytes.
    pub sha256: String,
    /// Size of the original.
    pub bytes: i64,
    /// Detected format.
    pub format: String,
    /// File name as uploaded.
    pub file_name: String,
    /// pending | ready | failed | superseded.
    pub status: String,
    /// Where the original and canonical text live in the blob store.
    pub blob_key: String,
    /// Characters of canonical text, once parsed.
    pub text_chars: Option<i64>,
    /// Pages, once parsed.
    pub page_count: Option<i64>,
    /// Sections found, once structured.
    pub section_count: Option<i64>,
    /// Chunks, once chunked.
    pub chunk_count: Option<i64>,
    /// Failure reason, if it failed.
    pub error: Option<FailureReason>,
    /// Creation time (Unix ms).
    pub created_at: i64,
}

/// A chunk row: an exact span of a document version's canonical text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// Stable id (the same id in tantivy and the vector store).
    pub id: String,
    /// Document id.
    pub document_id: String,
    /// Version of the document the offsets refer to.
    pub version: i64,
    /// Owning tenant.
    pub tenant_id: String,
    /// Collection id.
    pub collection_id: String,
    /// Position in the document, from 0.
    pub ordinal: i64,
    /// Heading path, top first.
    pub heading_path: Vec<String>,
    /// Character offset of the first char in the canonical text.
    pub char_start: i64,
    /// Character offset one past the last char.
    pub char_end: i64,
    /// First page (1-based).
    pub page_start: i64,
    /// Last page (1-based).
    pub page_end: i64,
    /// Embedder tokens.
    pub token_count: i64,
    /// The verbatim text.
    pub text: String,
    /// Repeated table header shown with the chunk, not part of the span.
    pub context_header: Option<String>,
}

impl ChunkRecord {
    /// The text the chunk was embedded as (see [`folio_common::model::indexed_text`]).
    pub fn indexed_text(&self) -> String {
        folio_common::model::indexed_text(
            &self.heading_path,
            self.context_header.as_deref(),
            &self.text,
        )
    }
}

/// Kinds of background job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Parse, structure, chunk, embed and index one document version.
    Ingest,
    /// Remove a superseded version's entries from the indexes and blobs.
    PurgeVersion,
    /// Remove a whole document from every store.
    Delete,
}

impl JobKind {
    /// Stable name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Ingest => "ingest",
            JobKind::PurgeVersion => "purge_version",
            JobKind::Delete => "delete",
        }
    }

    /// Parses the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "ingest" => JobKind::Ingest,
            "purge_version" => JobKind::PurgeVersion,
            "delete" => JobKind::Delete,
            _ => return None,
        })
    }
}

/// Stages of an ingestion job, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStage {
    /// Waiting for a worker.
    Queued,
    /// Reading the original into canonical text.
    Parsing,
    /// Recovering the section tree.
    Structuring,
    /// Cutting chunks.
    Chunking,
    /// Computing embeddings.
    Embedding,
    /// Writing BM25 and vector indexes and the chunk rows.
    Indexing,
    /// Finished.
    Done,
    /// Gave up; see the error.
    Failed,
}

impl JobStage {
    /// Stable name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStage::Queued => "queued",
            JobStage::Parsing => "parsing",
            JobStage::Structuring => "structuring",
            JobStage::Chunking => "chunking",
            JobStage::Embedding => "embedding",
            JobStage::Indexing => "indexing",
            JobStage::Done => "done",
            JobStage::Failed => "failed",
        }
    }

    /// Parses the stored name (unknown reads as `Queued`).
    pub fn parse(name: &str) -> Self {
        match name {
            "parsing" => JobStage::Parsing,
            "structuring" => JobStage::Structuring,
            "chunking" => JobStage::Chunking,
            "embedding" => JobStage::Embedding,
            "indexing" => JobStage::Indexing,
            "done" => JobStage::Done,
            "failed" => JobStage::Failed,
            _ => JobStage::Queued,
        }
    }
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    /// Current stage.
    pub stage: JobStage,
    /// 0.0 – 1.0 over the whole job.
    pub progress: f64,
    /// Chunks embedded so far.
    pub chunks_done: i64,
    /// Chunks in the document (0 until chunked).
    pub chunks_total: i64,
}

/// A background job as claimed by a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Stable id.
    pub id: String,
    /// What to do.
    pub kind: JobKind,
    /// Owning tenant.
    pub tenant_id: String,
    /// Document the job is about.
    pub document_id: String,
    /// Version the job is about.
    pub version: i64,
    /// queued | running | succeeded | failed.
    pub status: String,
    /// Progress.
    pub progress: JobProgress,
    /// Times claimed so far (a crash mid-job shows as attempts > 1).
    pub attempts: i64,
    /// Failure reason, if failed.
    pub error: Option<FailureReason>,
    /// Creation time (Unix ms).
    pub created_at: i64,
    /// Last change (Unix ms).
    pub updated_at: i64,
}
