//! Response bodies of stored rows. The store's rows are Folio's own records;
//! what the API shows of them is decided here, field by field (a version's
//! blob key, for one, stays inside). The schema names are the API's published
//! ones.

use folio_app::keys as access;
use folio_common::model as domain;
use folio_query::retrieve as search;
use folio_store as rows;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Rows as the API shows them.
pub(super) fn shown<Row, Body: From<Row>>(rows: Vec<Row>) -> Vec<Body> {
    rows.into_iter().map(Body::from).collect()
}

/// A named group of documents inside a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Collection {
    /// Stable id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Name, unique within the tenant.
    pub name: String,
}

/// Lifecycle of a document as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
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

/// A stable, machine-readable failure reason plus a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FailureReason {
    /// Stable snake_case code (e.g. `pdf_encrypted`).
    pub code: String,
    /// What happened, for people.
    pub message: String,
}

/// A document and the progress of its newest version.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
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

/// Kinds of background job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Parse, structure, chunk, embed and index one document version.
    Ingest,
    /// Remove a superseded version's entries from the indexes and blobs.
    PurgeVersion,
    /// Remove a whole document from every store.
    Delete,
}

/// Stages of an ingestion job, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
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

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
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

impl From<rows::Collection> for Collection {
    fn from(row: rows::Collection) -> Self {
        Collection {
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
        }
    }
}

impl From<rows::DocumentStatus> for DocumentStatus {
    fn from(row: rows::DocumentStatus) -> Self {
        match row {
            rows::DocumentStatus::Queued => DocumentStatus::Queued,
            rows::DocumentStatus::Processing => DocumentStatus::Processing,
            rows::DocumentStatus::Ready => DocumentStatus::Ready,
            rows::DocumentStatus::Failed => DocumentStatus::Failed,
            rows::DocumentStatus::Deleting => DocumentStatus::Deleting,
        }
    }
}

impl From<rows::FailureReason> for FailureReason {
    fn from(row: rows::FailureReason) -> Self {
        FailureReason {
            code: row.code,
            message: row.message,
        }
    }
}

impl From<rows::DocumentRecord> for DocumentRecord {
    fn from(row: rows::DocumentRecord) -> Self {
        DocumentRecord {
            id: row.id,
            tenant_id: row.tenant_id,
            collection_id: row.collection_id,
            name: row.name,
            status: row.status.into(),
            current_version: row.current_version,
            latest_version: row.latest_version,
            format: row.format,
            bytes: row.bytes,
            sha256: row.sha256,
            error: row.error.map(Into::into),
            progress: row.progress.map(Into::into),
            chunk_count: row.chunk_count,
            page_count: row.page_count,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl From<rows::VersionRecord> for VersionRecord {
    fn from(row: rows::VersionRecord) -> Self {
        VersionRecord {
            document_id: row.document_id,
            version: row.version,
            sha256: row.sha256,
            bytes: row.bytes,
            format: row.format,
            file_name: row.file_name,
            status: row.status,
            text_chars: row.text_chars,
            page_count: row.page_count,
            section_count: row.section_count,
            chunk_count: row.chunk_count,
            error: row.error.map(Into::into),
            created_at: row.created_at,
        }
    }
}

impl From<rows::ChunkRecord> for ChunkRecord {
    fn from(row: rows::ChunkRecord) -> Self {
        ChunkRecord {
            id: row.id,
            document_id: row.document_id,
            version: row.version,
            tenant_id: row.tenant_id,
            collection_id: row.collection_id,
            ordinal: row.ordinal,
            heading_path: row.heading_path,
            char_start: row.char_start,
            char_end: row.char_end,
            page_start: row.page_start,
            page_end: row.page_end,
            token_count: row.token_count,
            text: row.text,
            context_header: row.context_header,
        }
    }
}

impl From<rows::JobKind> for JobKind {
    fn from(row: rows::JobKind) -> Self {
        match row {
            rows::JobKind::Ingest => JobKind::Ingest,
            rows::JobKind::PurgeVersion => JobKind::PurgeVersion,
            rows::JobKind::Delete => JobKind::Delete,
        }
    }
}

impl From<rows::JobStage> for JobStage {
    fn from(row: rows::JobStage) -> Self {
        match row {
            rows::JobStage::Queued => JobStage::Queued,
            rows::JobStage::Parsing => JobStage::Parsing,
            rows::JobStage::Structuring => JobStage::Structuring,
            rows::JobStage::Chunking => JobStage::Chunking,
            rows::JobStage::Embedding => JobStage::Embedding,
            rows::JobStage::Indexing => JobStage::Indexing,
            rows::JobStage::Done => JobStage::Done,
            rows::JobStage::Failed => JobStage::Failed,
        }
    }
}

impl From<rows::JobProgress> for JobProgress {
    fn from(row: rows::JobProgress) -> Self {
        JobProgress {
            stage: row.stage.into(),
            progress: row.progress,
            chunks_done: row.chunks_done,
            chunks_total: row.chunks_total,
        }
    }
}

impl From<rows::JobRecord> for JobRecord {
    fn from(row: rows::JobRecord) -> Self {
        JobRecord {
            id: row.id,
            kind: row.kind.into(),
            tenant_id: row.tenant_id,
            document_id: row.document_id,
            version: row.version,
            status: row.status,
            progress: row.progress.into(),
            attempts: row.attempts,
            error: row.error.map(Into::into),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// One retrieved chunk with where each retriever ranked it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Candidate {
    /// 1-based rank in the final list.
    pub rank: usize,
    /// Final score: the fused RRF score in hybrid mode, else the retriever's own.
    pub score: f32,
    /// Rank and score from BM25, when BM25 returned the chunk.
    pub bm25: Option<RetrieverRank>,
    /// Rank and score from the dense retriever, when it returned the chunk.
    pub dense: Option<RetrieverRank>,
    /// The chunk, with its exact span in the canonical text.
    pub chunk: ChunkRecord,
}

/// A search's ranked candidates and its timings.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SearchResults {
    /// The mode that produced the ranking.
    pub mode: RetrievalMode,
    /// Best first.
    pub candidates: Vec<Candidate>,
    /// Timings.
    pub timings: SearchTimings,
}

impl From<search::Candidate> for Candidate {
    fn from(found: search::Candidate) -> Self {
        Candidate {
            rank: found.rank,
            score: found.score,
            bm25: found.bm25.map(Into::into),
            dense: found.dense.map(Into::into),
            chunk: found.chunk.into(),
        }
    }
}

impl From<search::SearchResults> for SearchResults {
    fn from(results: search::SearchResults) -> Self {
        SearchResults {
            mode: results.mode.into(),
            candidates: shown(results.candidates),
            timings: results.timings.into(),
        }
    }
}

// The text endpoint streams `folio_common::model::StoredStructure` as it
// serializes; this type describes it for the spec, and a test keeps the two equal.
/// The stored structure of a version: page map, section tree, defined terms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct StoredStructure {
    /// Page map in character offsets: (page number, start, end).
    pub pages: Vec<(u32, usize, usize)>,
    /// Sections with character offsets.
    pub sections: Vec<StoredSection>,
    /// Defined terms with character offsets.
    pub terms: Vec<StoredTerm>,
    /// Title from the document's metadata.
    pub title: Option<String>,
}

/// A section of [`StoredStructure`] (character offsets).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StoredSection {
    /// Index in the list.
    pub id: u32,
    /// Parent index.
    pub parent: Option<u32>,
    /// Depth from 0.
    pub depth: u8,
    /// Kind, as in [`SectionKind`].
    pub kind: SectionKind,
    /// Label and title, as shown in heading paths.
    pub name: String,
    /// Char offset of the section start.
    pub start: usize,
    /// Char offset one past its end.
    pub end: usize,
}

/// A defined term of [`StoredStructure`] (character offsets).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StoredTerm {
    /// The term.
    pub term: String,
    /// Char offset of the definition.
    pub start: usize,
    /// Char offset one past it.
    pub end: usize,
}

/// What kind of numbering or markup introduced a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    /// `PART I`, `Part II`.
    Part,
    /// `ARTICLE IV`, `Article 9`.
    Article,
    /// `Section 4.2`, `§ 4.2`, `4.2.1`.
    Section,
    /// SEC `Item 7`, `Item 7A`.
    Item,
    /// Financial statement `Note 12`.
    Note,
    /// `Exhibit A`, `Schedule 1`, `Annex`, `Appendix`.
    Exhibit,
    /// `(a)`, `(i)`, `(A)` list clauses.
    Clause,
    /// Markup heading (HTML, DOCX style, Markdown) or an ALL-CAPS line.
    Heading,
}

impl From<domain::StoredStructure> for StoredStructure {
    fn from(stored: domain::StoredStructure) -> Self {
        StoredStructure {
            pages: stored.pages,
            sections: shown(stored.sections),
            terms: shown(stored.terms),
            title: stored.title,
        }
    }
}

impl From<domain::StoredSection> for StoredSection {
    fn from(section: domain::StoredSection) -> Self {
        StoredSection {
            id: section.id,
            parent: section.parent,
            depth: section.depth,
            kind: section.kind.into(),
            name: section.name,
            start: section.start,
            end: section.end,
        }
    }
}

impl From<domain::StoredTerm> for StoredTerm {
    fn from(term: domain::StoredTerm) -> Self {
        StoredTerm {
            term: term.term,
            start: term.start,
            end: term.end,
        }
    }
}

impl From<domain::SectionKind> for SectionKind {
    fn from(kind: domain::SectionKind) -> Self {
        match kind {
            domain::SectionKind::Part => SectionKind::Part,
            domain::SectionKind::Article => SectionKind::Article,
            domain::SectionKind::Section => SectionKind::Section,
            domain::SectionKind::Item => SectionKind::Item,
            domain::SectionKind::Note => SectionKind::Note,
            domain::SectionKind::Exhibit => SectionKind::Exhibit,
            domain::SectionKind::Clause => SectionKind::Clause,
            domain::SectionKind::Heading => SectionKind::Heading,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text endpoint streams the domain type; the spec describes this one.
    #[test]
    fn the_described_structure_serializes_as_the_streamed_one() {
        let kinds = [
            domain::SectionKind::Part,
            domain::SectionKind::Article,
            domain::SectionKind::Section,
            domain::SectionKind::Item,
            domain::SectionKind::Note,
            domain::SectionKind::Exhibit,
            domain::SectionKind::Clause,
            domain::SectionKind::Heading,
        ];
        let stored = domain::StoredStructure {
            pages: vec![(1, 0, 40), (2, 40, 90)],
            sections: kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| domain::StoredSection {
                    id: i as u32,
                    parent: i.checked_sub(1).map(|p| p as u32),
                    depth: i as u8,
                    kind: *kind,
                    name: format!("{i}. Heading"),
                    start: i * 10,
                    end: i * 10 + 9,
                })
                .collect(),
            terms: vec![domain::StoredTerm {
                term: "Effective Date".into(),
                start: 3,
                end: 30,
            }],
            title: Some("Agreement".into()),
        };
        let streamed = serde_json::to_value(&stored).expect("serializes");
        let described = serde_json::to_value(StoredStructure::from(stored)).expect("serializes");
        assert_eq!(streamed, described);
    }
}

/// Which retrievers rank the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RetrievalMode {
    /// Full text only (tantivy BM25).
    Bm25,
    /// Embeddings only (the vector store).
    Dense,
    /// Both, fused by reciprocal rank fusion.
    Hybrid,
}

/// A chunk's place in one retriever's ranking.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct RetrieverRank {
    /// 1-based rank in that retriever's list.
    pub rank: usize,
    /// That retriever's score (BM25 or cosine similarity).
    pub score: f32,
}

/// Where the time of one search went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct SearchTimings {
    /// Embedding the query.
    pub embed_ms: f64,
    /// BM25 search.
    pub bm25_ms: f64,
    /// Vector search.
    pub dense_ms: f64,
    /// Loading the chunk rows.
    pub fetch_ms: f64,
    /// The whole search.
    pub total_ms: f64,
}

/// What a key may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read documents, search, ask.
    Viewer,
    /// Also upload and delete documents, create collections.
    Editor,
    /// Also manage the tenant's API keys.
    Admin,
}

impl From<search::RetrievalMode> for RetrievalMode {
    fn from(mode: search::RetrievalMode) -> Self {
        match mode {
            search::RetrievalMode::Bm25 => RetrievalMode::Bm25,
            search::RetrievalMode::Dense => RetrievalMode::Dense,
            search::RetrievalMode::Hybrid => RetrievalMode::Hybrid,
        }
    }
}

impl From<RetrievalMode> for search::RetrievalMode {
    fn from(mode: RetrievalMode) -> Self {
        match mode {
            RetrievalMode::Bm25 => search::RetrievalMode::Bm25,
            RetrievalMode::Dense => search::RetrievalMode::Dense,
            RetrievalMode::Hybrid => search::RetrievalMode::Hybrid,
        }
    }
}

impl From<search::RetrieverRank> for RetrieverRank {
    fn from(rank: search::RetrieverRank) -> Self {
        RetrieverRank {
            rank: rank.rank,
            score: rank.score,
        }
    }
}

impl From<search::SearchTimings> for SearchTimings {
    fn from(t: search::SearchTimings) -> Self {
        SearchTimings {
            embed_ms: t.embed_ms,
            bm25_ms: t.bm25_ms,
            dense_ms: t.dense_ms,
            fetch_ms: t.fetch_ms,
            total_ms: t.total_ms,
        }
    }
}

impl From<access::Role> for Role {
    fn from(role: access::Role) -> Self {
        match role {
            access::Role::Viewer => Role::Viewer,
            access::Role::Editor => Role::Editor,
            access::Role::Admin => Role::Admin,
        }
    }
}
