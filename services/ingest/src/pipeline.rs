//! The ingestion pipeline: one job takes one document version from its
//! original bytes to chunk rows, BM25 entries and vectors.
//!
//! Every stage is idempotent, so a job interrupted anywhere (crash, SIGKILL,
//! lost lease) can simply run again from the start: the canonical text is
//! rewritten in place, chunk ids are derived from (document, version,
//! ordinal), index entries of the version are deleted before they are added,
//! embeddings already computed are read back from the cache, and the DB
//! commit that makes the version visible is a single transaction.

use std::sync::Arc;
use std::time::{Duration, Instant};

use folio_common::blob::BlobStore;
use folio_common::config::IngestConfig;
use folio_common::model::{ChunkDraft, DocumentFormat};
/// Re-exported from `folio_common::model`, where the query side reads it too.
pub use folio_common::model::{StoredSection, StoredStructure, StoredTerm};
use folio_index::{Bm25Index, Embedder, IndexedChunk, PointPayload, VectorPoint, VectorStore};
use folio_store::{
    ChunkRecord, DocumentStatus, EmbeddingOwner, IngestResult, JobProgress, JobRecord, JobStage,
    MetadataStore,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::chunk::{chunk_document, ChunkOptions};
use crate::error::IngestError;
use crate::failpoints::FailPoints;
use crate::parse::DocumentParser;
use crate::structure::structurize;

/// The indexes a pipeline writes to.
#[derive(Clone)]
pub struct Indexes {
    /// Embedding model (also the chunker's token counter).
    pub embedder: Arc<Embedder>,
    /// Full-text index.
    pub bm25: Arc<Bm25Index>,
    /// Vector store.
    pub vectors: Arc<dyn VectorStore>,
}

/// Wall time spent per stage (summed over jobs when aggregated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageTimings {
    /// Reading the original and parsing it.
    pub parse: Duration,
    /// Building the section tree.
    pub structure: Duration,
    /// Cutting chunks.
    pub chunk: Duration,
    /// Embedding (cache look-ups included).
    pub embed: Duration,
    /// Writing BM25, vectors and the DB commit.
    pub index: Duration,
}

impl StageTimings {
    /// Adds another job's timings.
    pub fn add(&mut self, other: &StageTimings) {
        self.parse += other.parse;
        self.structure += other.structure;
        self.chunk += other.chunk;
        self.embed += other.embed;
        self.index += other.index;
    }

    /// Sum of all stages.
    pub fn total(&self) -> Duration {
        self.parse + self.structure + self.chunk + self.embed + self.index
    }
}

/// What one finished ingestion produced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    /// Bytes of the original.
    pub bytes: u64,
    /// Characters of canonical text.
    pub chars: usize,
    /// Pages.
    pub pages: usize,
    /// Sections.
    pub sections: usize,
    /// Chunks.
    pub chunks: usize,
    /// Chunks whose embedding came from the cache.
    pub cached_embeddings: usize,
    /// Per-stage timings.
    pub timings: StageTimings,
    /// False when a newer version or a delete overtook this job.
    pub committed: bool,
}

/// Turns claimed jobs into indexed documents.
#[derive(Clone)]
pub struct Pipeline {
    store: MetadataStore,
    blobs: BlobStore,
    indexes: Indexes,
    config: IngestConfig,
    parser: DocumentParser,
    failpoints: FailPoints,
}

/// The id a chunk has in every store: derived, so re-running a job
/// overwrites instead of duplicating.
pub fn chunk_id(document_id: &str, version: i64, ordinal: u32) -> uuid::Uuid {
    let digest = Sha256::digest(format!("{document_id}\u{0}{version}\u{0}{ordinal}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

fn text_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Runs blocking (CPU-bound) work off the async runtime, turning a panic
/// into an error instead of a dead worker.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IngestError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| IngestError::Internal(format!("pipeline task failed: {e}")))
}

impl Pipeline {
    /// Assembles a pipeline.
    pub fn new(
        store: MetadataStore,
        blobs: BlobStore,
        indexes: Indexes,
        config: IngestConfig,
        parser: impl Into<DocumentParser>,
        failpoints: FailPoints,
    ) -> Self {
        Pipeline {
            store,
            blobs,
            indexes,
            config,
            parser: parser.into(),
            failpoints,
        }
    }

    /// The metadata store.
    pub fn store(&self) -> &MetadataStore {
        &self.store
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The indexes.
    pub fn indexes(&self) -> &Indexes {
        &self.indexes
    }

    /// The ingestion settings.
    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    async fn fail(&self, point: &'static str) -> Result<(), IngestError> {
        if let Some(delay) = self.failpoints.delay(point) {
            tokio::time::sleep(delay).await;
        }
        if self.failpoints.hit(point) {
            return Err(IngestError::Injected(point));
        }
        Ok(())
    }

    async fn progress(
        &self,
        job: &JobRecord,
        stage: JobStage,
        progress: f64,
        done: usize,
        total: usize,
    ) {
        let update = JobProgress {
            stage,
            progress,
            chunks_done: done as i64,
            chunks_total: total as i64,
        };
        if let Err(e) = self.store.update_progress(&job.id, &update).await {
            // Progress is informative; the job itself goes on.
            tracing::warn!(job = %job.id, error = %e, "could not record progress");
        }
    }

    /// Runs an ingestion job to its commit. Errors are returned, not
    /// recorded: the worker records them.
    ///
    /// A delete may arrive while the job runs (another worker runs the delete
    /// job): whatever this job wrote after that job cleaned up (index entries,
    /// embedding-cache entries) would outlive the document. The job writes
    /// everything before its commit, and the commit sees the delete (the document
    /// is `deleting` or gone), so a job that ends after the delete was requested,
    /// committed or failed, removes what it may have written itself. A delete
    /// requested after the check happened after the writes, so the delete job
    /// finds them.
    pub async fn ingest(&self, job: &JobRecord) -> Result<IngestSummary, IngestError> {
        let outcome = self.ingest_version(job).await;
        if outcome.as_ref().is_ok_and(|summary| summary.committed) {
            return outcome;
        }
        let cleaned = match self.document_is_deleted(job).await {
            Ok(true) => self.remove_version_leftovers(job).await,
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        match (outcome, cleaned) {
            (Ok(_), Err(e)) => Err(e),
            (Err(e), Err(cleanup)) => {
                // The job's own error is the one to record; the leftovers go when
                // the job is retried or the index is rebuilt.
                tracing::warn!(document = %job.document_id, error = %cleanup, "removing a deleted document's leftovers failed");
                Err(e)
            }
            (outcome, Ok(())) => outcome,
        }
    }

    /// Whether the job's document is being deleted or already gone.
    async fn document_is_deleted(&self, job: &JobRecord) -> Result<bool, IngestError> {
        match self
            .store
            .get_document(&job.tenant_id, &job.document_id)
            .await
        {
            Ok(document) => Ok(document.status == DocumentStatus::Deleting),
            Err(folio_store::StoreError::NotFound(_)) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes what an ingestion of a deleted document may have written: its
    /// version's index entries and the document's embedding-cache entries.
    async fn remove_version_leftovers(&self, job: &JobRecord) -> Result<(), IngestError> {
        self.purge_version(job).await?;
        let forgotten = self
            .store
            .forget_embeddings(EmbeddingOwner {
                tenant_id: &job.tenant_id,
                document_id: &job.document_id,
            })
            .await?;
        tracing::info!(
            document = %job.document_id,
            version = job.version,
            forgotten,
            "removed what an ingestion overtaken by its document's deletion wrote"
        );
        Ok(())
    }

    async fn ingest_version(&self, job: &JobRecord) -> Result<IngestSummary, IngestError> {
        let mut timings = StageTimings::default();
        self.fail("after_claim").await?;
        self.store
            .mark_processing(&job.document_id, job.version)
            .await?;

        // Parsing.
        let started = Instant::now();
        self.progress(job, JobStage::Parsing, 0.02, 0, 0).await;
        let version = self
            .store
            .get_version(&job.document_id, job.version)
            .await?;
        let (original, bytes) = self.blobs.open_original(&version.blob_key).await?;
        let original = original.into_std().await;
        let format = DocumentFormat::parse(&version.format).unwrap_or(DocumentFormat::Text);
        let doc = self
            .parser
            .parse(format, original, &self.failpoints)
            .await?;
        if doc.text.trim().is_empty() {
            return Err(IngestError::NoText);
        }
        self.fail("after_parse").await?;
        let doc = Arc::new(doc);
        self.blobs
            .put_canonical(&version.blob_key, &doc.text)
            .await?;
        self.fail("after_canonical_write").await?;
        timings.parse = started.elapsed();

        // Structuring.
        let started = Instant::now();
        self.progress(job, JobStage::Structuring, 0.08, 0, 0).await;
        let tree = {
            let doc = doc.clone();
            blocking(move || structurize(&doc)).await?
        };
        let tree = Arc::new(tree);
        timings.structure = started.elapsed();

        // Chunking.
        let started = Instant::now();
        self.progress(job, JobStage::Chunking, 0.1, 0, 0).await;
        let options = ChunkOptions {
            target_tokens: self.config.chunk_tokens,
            max_tokens: self.config.max_chunk_tokens,
            min_tokens: self.config.min_chunk_tokens,
        };
        let drafts = {
            let (doc, tree, embedder) = (doc.clone(), tree.clone(), self.indexes.embedder.clone());
            blocking(move || chunk_document(&doc, &tree, embedder.as_ref(), &options)).await?
        };
        if drafts.is_empty() {
            return Err(IngestError::NoText);
        }
        self.fail("after_chunk").await?;
        timings.chunk = started.elapsed();

        // Embedding.
        let started = Instant::now();
        let texts: Vec<String> = drafts.iter().map(ChunkDraft::indexed_text).collect();
        let owner = EmbeddingOwner {
            tenant_id: &job.tenant_id,
            document_id: &job.document_id,
        };
        let (embeddings, cached) = self.embed(owner, Some(job), &texts).await?;
        timings.embed = started.elapsed();

        // Indexing.
        let started = Instant::now();
        self.progress(job, JobStage::Indexing, 0.95, drafts.len(), drafts.len())
            .await;
        let records = self.index(job, &drafts, embeddings).await?;
        let structure = StoredStructure::build(&doc, &tree);
        let result = IngestResult {
            text_chars: doc.text.chars().count() as i64,
            page_count: doc.pages.len() as i64,
            section_count: tree.sections.len() as i64,
            structure_json: serde_json::to_string(&structure)
                .map_err(|e| IngestError::Internal(e.to_string()))?,
            chunks: records,
        };
        self.fail("before_db_commit").await?;
        let committed = self.store.complete_ingest(job, &result).await?;
        self.fail("after_db_commit").await?;
        timings.index = started.elapsed();

        Ok(IngestSummary {
            bytes,
            chars: result.text_chars as usize,
            pages: doc.pages.len(),
            sections: tree.sections.len(),
            chunks: drafts.len(),
            cached_embeddings: cached,
            timings,
            committed,
        })
    }

    /// Embeds `texts` (chunks' indexed texts): each one's whole-text vector and, when
    /// `ingest.embed_passage_window` is set, its passage windows' vectors. Cached vectors
    /// are reused and new ones cached batch by batch, so an interrupted job resumes where
    /// it stopped. With a job, progress is recorded and the `after_embed_batch` failure
    /// point is armed after each batch. Returns the embeddings in order and how many
    /// whole-text vectors came from the cache.
    async fn embed(
        &self,
        owner: EmbeddingOwner<'_>,
        job: Option<&JobRecord>,
        texts: &[String],
    ) -> Result<(Vec<ChunkEmbedding>, usize), IngestError> {
        let embedder = self.indexes.embedder.clone();
        let window = self.config.embed_passage_window;
        // Progress runs from 0.1 to 0.95 over embedding; windows take the second half.
        let whole_span = if window == 0 { 0.85 } else { 0.425 };
        let whole = {
            let embedder = embedder.clone();
            move |batch: Vec<String>| embedder.embed(&batch)
        };
        let (vectors, cached) = self
            .embed_cached(
                owner,
                job,
                texts,
                &embedder.model_id(),
                (0.1, whole_span),
                whole,
            )
            .await?;
        if window == 0 {
            let embeddings = vectors
                .into_iter()
                .map(|vector| ChunkEmbedding {
                    vector,
                    windows: Vec::new(),
                })
                .collect();
            return Ok((embeddings, cached));
        }
        let dimension = embedder.dimension();
        let windows = {
            let embedder = embedder.clone();
            // One cache entry per text: its windows' vectors end to end (empty when it
            // fits one window).
            move |batch: Vec<String>| {
                embedder
                    .embed_passage_windows(&batch, window)
                    .map(|per_text| per_text.into_iter().map(|w| w.concat()).collect())
            }
        };
        let (flat_windows, _) = self
            .embed_cached(
                owner,
                job,
                texts,
                &embedder.passage_windows_id(window),
                (0.1 + whole_span, 0.85 - whole_span),
                windows,
            )
            .await?;
        let embeddings = vectors
            .into_iter()
            .zip(flat_windows)
            .map(|(vector, flat)| {
                if !flat.len().is_multiple_of(dimension) {
                    return Err(IngestError::Internal(format!(
                        "cached passage windows hold {} values, not a multiple of {dimension}",
                        flat.len()
                    )));
                }
                Ok(ChunkEmbedding {
                    vector,
                    windows: flat.chunks_exact(dimension).map(<[f32]>::to_vec).collect(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok((embeddings, cached))
    }

    /// One value list per text from `compute`, read from the embedding cache under
    /// `cache_key` where present and computed batch by batch (and cached) where not.
    /// Progress moves across `progress` = (start, span) of the job's share.
    async fn embed_cached<F>(
        &self,
        owner: EmbeddingOwner<'_>,
        job: Option<&JobRecord>,
        texts: &[String],
        cache_key: &str,
        progress: (f64, f64),
        compute: F,
    ) -> Result<(Vec<Vec<f32>>, usize), IngestError>
    where
        F: Fn(Vec<String>) -> Result<Vec<Vec<f32>>, folio_index::IndexError>
            + Clone
            + Send
            + 'static,
    {
        let hashes: Vec<String> = texts.iter().map(|t| text_hash(t)).collect();
        let mut known: std::collections::HashMap<String, Vec<f32>> = self
            .store
            .cached_embeddings(owner, cache_key, &hashes)
            .await?
            .into_iter()
            .collect();
        let cached = hashes.iter().filter(|h| known.contains_key(*h)).count();
        let mut missing: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, hash) in hashes.iter().enumerate() {
            if !known.contains_key(hash) && seen.insert(hash.clone()) {
                missing.push(i);
            }
        }
        let total = texts.len();
        let mut done = total - missing.len();
        let report = |done: usize| async move {
            if let Some(job) = job {
                let share = progress.0 + progress.1 * done as f64 / total.max(1) as f64;
                self.progress(job, JobStage::Embedding, share, done, total)
                    .await;
            }
        };
        report(done).await;
        for batch in missing.chunks(self.config.embed_batch.max(1)) {
            let batch_texts: Vec<String> = batch.iter().map(|&i| texts[i].clone()).collect();
            let compute = compute.clone();
            let values = blocking(move || compute(batch_texts)).await??;
            if values.len() != batch.len() {
                return Err(IngestError::Internal(format!(
                    "the embedder returned {} results for {} texts",
                    values.len(),
                    batch.len()
                )));
            }
            let entries: Vec<(String, Vec<f32>)> = batch
                .iter()
                .zip(values)
                .map(|(&i, v)| (hashes[i].clone(), v))
                .collect();
            self.store
                .cache_embeddings(owner, cache_key, &entries)
                .await?;
            known.extend(entries);
            done += batch.len();
            report(done).await;
            if job.is_some() {
                self.fail("after_embed_batch").await?;
            }
        }
        let values = hashes
            .iter()
            .map(|h| {
                known
                    .get(h)
                    .cloned()
                    .ok_or_else(|| IngestError::Internal("embedding missing after embed".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((values, cached))
    }

    /// Writes the version's BM25 entries and vectors (replacing any left by
    /// an interrupted run) and returns the chunk rows to commit.
    async fn index(
        &self,
        job: &JobRecord,
        drafts: &[ChunkDraft],
        embeddings: Vec<ChunkEmbedding>,
    ) -> Result<Vec<ChunkRecord>, IngestError> {
        let version = self
            .store
            .get_version(&job.document_id, job.version)
            .await?;
        let document = self
            .store
            .get_document(&job.tenant_id, &job.document_id)
            .await?;
        let records: Vec<ChunkRecord> = drafts
            .iter()
            .map(|d| ChunkRecord {
                id: chunk_id(&job.document_id, job.version, d.ordinal).to_string(),
                document_id: job.document_id.clone(),
                version: version.version,
                tenant_id: job.tenant_id.clone(),
                collection_id: document.collection_id.clone(),
                ordinal: d.ordinal as i64,
                heading_path: d.heading_path.clone(),
                char_start: d.char_start as i64,
                char_end: d.char_end as i64,
                page_start: d.page_start as i64,
                page_end: d.page_end as i64,
                token_count: d.token_count as i64,
                text: d.text.clone(),
                context_header: d.context_header.clone(),
            })
            .collect();
        let entries: Vec<IndexedChunk> =
            records.iter().map(index_entry).collect::<Result<_, _>>()?;
        let bm25 = self.indexes.bm25.clone();
        let (document_id, version_number) = (job.document_id.clone(), job.version as u64);
        blocking(move || -> Result<(), folio_index::IndexError> {
            bm25.delete_document_version(&document_id, version_number)?;
            bm25.add(&entries)?;
            bm25.commit()
        })
        .await??;
        self.fail("after_bm25_commit").await?;

        let points: Vec<VectorPoint> = records
            .iter()
            .zip(embeddings)
            .map(|(record, embedding)| vector_point(record, embedding))
            .collect::<Result<_, _>>()?;
        self.indexes
            .vectors
            .delete_document_version(&job.document_id, job.version as u64)
            .await?;
        for batch in points.chunks(256) {
            self.indexes.vectors.upsert(batch).await?;
        }
        self.fail("after_vector_upsert").await?;
        Ok(records)
    }

    /// Rebuilds one document's full-text entries and vectors from its stored chunk
    /// rows (after a restore, or to repair indexes), reusing cached embeddings and
    /// embedding only what the cache lacks. Returns the chunks indexed.
    pub async fn reindex_document(
        &self,
        tenant_id: &str,
        document_id: &str,
    ) -> Result<usize, IngestError> {
        let records = self.store.document_chunks(tenant_id, document_id).await?;
        if records.is_empty() {
            return Ok(0);
        }
        let texts: Vec<String> = records.iter().map(ChunkRecord::indexed_text).collect();
        let owner = EmbeddingOwner {
            tenant_id,
            document_id,
        };
        let (embeddings, _cached) = self.embed(owner, None, &texts).await?;
        let entries: Vec<IndexedChunk> =
            records.iter().map(index_entry).collect::<Result<_, _>>()?;
        let points: Vec<VectorPoint> = records
            .iter()
            .zip(embeddings)
            .map(|(record, embedding)| vector_point(record, embedding))
            .collect::<Result<_, _>>()?;
        let bm25 = self.indexes.bm25.clone();
        let document = document_id.to_string();
        // Every version goes: after a rebuild only the current one is indexed.
        blocking(move || -> Result<(), folio_index::IndexError> {
            bm25.delete_document(&document)?;
            bm25.add(&entries)?;
            bm25.commit()
        })
        .await??;
        self.indexes.vectors.delete_document(document_id).await?;
        for batch in points.chunks(256) {
            self.indexes.vectors.upsert(batch).await?;
        }
        Ok(records.len())
    }

    /// Removes a superseded version's index entries.
    pub async fn purge_version(&self, job: &JobRecord) -> Result<(), IngestError> {
        let bm25 = self.indexes.bm25.clone();
        let (document_id, version) = (job.document_id.clone(), job.version as u64);
        blocking(move || -> Result<(), folio_index::IndexError> {
            bm25.delete_document_version(&document_id, version)?;
            bm25.commit()
        })
        .await??;
        self.indexes
            .vectors
            .delete_document_version(&job.document_id, job.version as u64)
            .await?;
        Ok(())
    }

    /// Removes a document from both indexes, the blob store and the DB.
    pub async fn delete_document(&self, job: &JobRecord) -> Result<(), IngestError> {
        let bm25 = self.indexes.bm25.clone();
        let document_id = job.document_id.clone();
        blocking(move || -> Result<(), folio_index::IndexError> {
            bm25.delete_document(&document_id)?;
            bm25.commit()
        })
        .await??;
        self.indexes
            .vectors
            .delete_document(&job.document_id)
            .await?;
        self.fail("delete_after_indexes").await?;
        let versions = match self
            .store
            .list_versions(&job.tenant_id, &job.document_id)
            .await
        {
            Ok(versions) => versions,
            // Rows already gone: a previous run finished all but the job row.
            Err(folio_store::StoreError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for version in &versions {
            self.blobs.delete(&version.blob_key).await?;
        }
        self.store.purge_document_rows(&job.document_id).await?;
        Ok(())
    }
}

/// A chunk row as a full-text entry.
fn index_entry(record: &ChunkRecord) -> Result<IndexedChunk, IngestError> {
    Ok(IndexedChunk {
        chunk_id: parse_chunk_id(&record.id)?,
        tenant: record.tenant_id.clone(),
        collection: record.collection_id.clone(),
        document: record.document_id.clone(),
        version: record.version as u64,
        ordinal: record.ordinal as u32,
        heading: record.heading_path.join(" › "),
        body: match &record.context_header {
            Some(header) => format!("{header}\n{}", record.text),
            None => record.text.clone(),
        },
    })
}

/// A chunk's vectors: its whole text's and its passage windows'.
struct ChunkEmbedding {
    vector: Vec<f32>,
    windows: Vec<Vec<f32>>,
}

/// A chunk row and its embedding as a vector point.
fn vector_point(
    record: &ChunkRecord,
    embedding: ChunkEmbedding,
) -> Result<VectorPoint, IngestError> {
    Ok(VectorPoint {
        id: parse_chunk_id(&record.id)?,
        vector: embedding.vector,
        windows: embedding.windows,
        payload: PointPayload {
            tenant: record.tenant_id.clone(),
            collection: record.collection_id.clone(),
            document: record.document_id.clone(),
            version: record.version as u64,
            ordinal: record.ordinal as u32,
        },
    })
}

fn parse_chunk_id(id: &str) -> Result<uuid::Uuid, IngestError> {
    uuid::Uuid::parse_str(id)
        .map_err(|_| IngestError::Internal(format!("stored chunk id {id:?} is not a UUID")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ids_are_stable_and_distinct() {
        assert_eq!(chunk_id("d", 1, 0), chunk_id("d", 1, 0));
        assert_ne!(chunk_id("d", 1, 0), chunk_id("d", 2, 0));
        assert_ne!(chunk_id("d", 1, 0), chunk_id("d", 1, 1));
        assert_ne!(chunk_id("d1", 1, 0), chunk_id("d", 11, 0));
    }
}
