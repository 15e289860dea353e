//! Opens the stores, indexes and models a Folio process works with.

use std::sync::Arc;

use anyhow::{Context, Result};
use folio_common::blob::BlobStore;
use folio_common::config::{FolioConfig, ServeRole, VectorBackend};
use folio_index::{
    Bm25Index, EdgeStoreOptions, EdgeVectorStore, Embedder, EmbedderOptions,
    QdrantCollectionOptions, QdrantServerStore, VectorStore,
};
use folio_ingest::failpoints::FailPoints;
use folio_ingest::parse::{ChildLimits, DocumentParser, ParseLimits};
use folio_ingest::pipeline::{Indexes, Pipeline};
use folio_query::retrieve::Retriever;
use folio_store::{Collection, MetadataStore, Tenant};

/// The tenant of the CLI and of `auth = false`; API keys bind requests to theirs.
pub const DEFAULT_TENANT: &str = "default";

/// Everything a running Folio process holds.
#[derive(Clone)]
pub struct Runtime {
    /// The configuration in force.
    pub config: Arc<FolioConfig>,
    /// Metadata store.
    pub store: MetadataStore,
    /// Blob store.
    pub blobs: BlobStore,
    /// The full-text index, the vector store and the embedder, shared by
    /// ingestion, retrieval, health checks and maintenance.
    pub indexes: Indexes,
    /// Ingestion pipeline (writes to `indexes`).
    pub pipeline: Pipeline,
    /// Hybrid retrieval over `indexes`.
    pub retriever: Retriever,
    /// The default tenant.
    pub tenant: Tenant,
    /// The local LLM's metadata, if its file is present.
    pub llm: Option<folio_llm::GgufModelInfo>,
    /// Whether the stored vectors come from the configured embedder, as found at open.
    pub vectors_embedder: crate::EmbedderMark,
    /// The local model (XL3M scoring, and generation when `generator.backend` is
    /// `local`), loaded on first use.
    pub scorer: Arc<tokio::sync::OnceCell<Arc<dyn folio_llm::LanguageModel>>>,
    /// The OpenAI-compatible generator, built on first use; never the local model.
    pub generator: Arc<tokio::sync::OnceCell<Arc<dyn folio_llm::LanguageModel>>>,
    /// The answerer over those two, built once: it keeps the demos it generated
    /// (by document version and span), which a per-request answerer would lose.
    pub answerer: Arc<tokio::sync::OnceCell<folio_query::answer::Answerer>>,
    /// Wakes ingestion workers sleeping on an empty queue when a job is queued.
    pub wake: Arc<tokio::sync::Notify>,
}

impl Runtime {
    /// Opens every component named by the configuration.
    pub async fn open(config: FolioConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        let store = open_store(&config, config.store.max_connections).await?;
        let blobs = BlobStore::new(config.blob_dir());
        let embedder_dir = config.embedder_dir();
        let ort = config.onnxruntime_path();
        let options = embedder_options(&config.ingest);
        let ingest_options = options.clone();
        let embedder = tokio::task::spawn_blocking(move || {
            Embedder::load(&embedder_dir, &ort, ingest_options)
        })
        .await?
        .with_context(|| {
            format!(
                "loading the embedder from {} (run `folio models fetch` first?)",
                config.embedder_dir().display()
            )
        })?;
        let query_embedder = match config.retrieval.query_embed_threads {
            0 => None,
            threads => {
                let (dir, ort) = (config.embedder_dir(), config.onnxruntime_path());
                let options = EmbedderOptions {
                    threads: Some(threads),
                    ..options
                };
                let loaded =
                    tokio::task::spawn_blocking(move || Embedder::load(&dir, &ort, options))
                        .await?
                        .context("loading the query embedder")?;
                Some(Arc::new(loaded))
            }
        };
        let role = config.server.role;
        if role != ServeRole::All && config.vectors.backend == VectorBackend::Edge {
            anyhow::bail!(
                "`folio serve --role {}` shares its indexes with other processes, which qdrant-edge (inside one process) cannot do: set vectors.backend = \"qdrant\" and vectors.qdrant_url",
                role.as_str()
            );
        }
        // Query replicas follow the full-text index that the ingest role writes.
        let bm25 = if role == ServeRole::Query {
            Bm25Index::open_follower(&config.bm25_dir())
        } else {
            Bm25Index::open_or_create(&config.bm25_dir())
        };
        let bm25 = bm25
            .with_context(|| {
                format!(
                    "opening the full-text index at {} (is another folio process using this data directory?)",
                    config.bm25_dir().display()
                )
            })?
            .with_max_query_terms(config.retrieval.bm25_max_terms);
        let vectors: Arc<dyn VectorStore> = match config.vectors.backend {
            VectorBackend::Edge => Arc::new(
                EdgeVectorStore::open_with(
                    &config.edge_dir(),
                    EdgeStoreOptions {
                        indexing_threshold_kb: config.vectors.indexing_threshold_kb,
                    },
                )
                .await
                .with_context(|| {
                    format!(
                        "opening the vector shard at {}",
                        config.edge_dir().display()
                    )
                })?,
            ),
            VectorBackend::Qdrant => Arc::new(
                QdrantServerStore::connect(
                    &config.vectors.qdrant_url,
                    &config.vectors.collection,
                    QdrantCollectionOptions {
                        shards: config.vectors.shards,
                        replication_factor: config.vectors.replication_factor,
                        api_key: config.vectors.qdrant_api_key.clone(),
                    },
                )
                .await
                .with_context(|| {
                    format!("connecting to Qdrant at {}", config.vectors.qdrant_url)
                })?,
            ),
        };
        vectors.ensure_ready(embedder.dimension()).await?;
        let vectors_embedder =
            crate::embedder_mark::check(vectors.as_ref(), &embedder.model_id()).await?;
        let indexes = Indexes {
            embedder: Arc::new(embedder),
            bm25: Arc::new(bm25),
            vectors,
        };
        let retriever = Retriever::new(
            store.clone(),
            query_embedder.unwrap_or_else(|| Arc::clone(&indexes.embedder)),
            Arc::clone(&indexes.bm25),
            Arc::clone(&indexes.vectors),
            config.retrieval.clone(),
        );
        let pipeline = Pipeline::new(
            store.clone(),
            blobs.clone(),
            indexes.clone(),
            config.ingest.clone(),
            document_parser(&config)?,
            FailPoints::from_env(),
        );
        let tenant = store.ensure_tenant(DEFAULT_TENANT).await?;
        let llm = folio_llm::GgufModelInfo::read(&config.llm_model_path()).ok();
        Ok(Runtime {
            config: Arc::new(config),
            store,
            blobs,
            indexes,
            pipeline,
            retriever,
            tenant,
            llm,
            vectors_embedder,
            scorer: Arc::default(),
            generator: Arc::default(),
            answerer: Arc::default(),
            wake: Arc::default(),
        })
    }

    /// Chunks in the full-text index within `filter` (for benchmark reports).
    pub async fn retriever_chunk_count(&self, filter: &folio_index::SearchFilter) -> Result<u64> {
        Ok(self.indexes.bm25.count(filter)?)
    }

    /// Start-up recovery. A single-process (SQLite) deployment requeues jobs
    /// left running by a crash and removes every unreferenced upload blob; a
    /// shared (PostgreSQL) one, where another process may be mid-upload, removes
    /// the partial uploads no one has written to for [`Runtime::stale_upload_age`].
    pub async fn recover(&self) -> Result<()> {
        if self.store.dialect() == folio_store::Dialect::Sqlite {
            let requeued = self.store.requeue_interrupted_jobs().await?;
            if requeued > 0 {
                tracing::info!(requeued, "requeued jobs interrupted by a previous crash");
            }
            let referenced = self.store.all_blob_keys().await?;
            for orphan in self.blobs.orphans(&referenced).await? {
                tracing::info!(blob = %orphan, "removing an upload that never reached the database");
                self.blobs.delete(&orphan).await?;
            }
        }
        self.sweep_partial_uploads().await?;
        Ok(())
    }

    /// How long a partial upload (`original.part`) stays untouched before the
    /// sweep takes it for the leftover of a crash: an hour, or twice the request
    /// deadline when that is longer, since a live upload writes all the time and
    /// is ended at its deadline (a dropped upload removes itself at once).
    pub fn stale_upload_age(&self) -> std::time::Duration {
        let deadline = self.config.server.request_timeout_secs.saturating_mul(2);
        std::time::Duration::from_secs(deadline.max(3600))
    }

    /// Removes partial uploads and canonical texts older than
    /// [`Runtime::stale_upload_age`], on either store backend.
    pub async fn sweep_partial_uploads(&self) -> Result<()> {
        for path in self
            .blobs
            .sweep_stale_parts(self.stale_upload_age())
            .await?
        {
            tracing::info!(path = %path.display(), "removed a partial upload left by a crash");
        }
        Ok(())
    }

    /// Sweeps partial uploads every [`Runtime::stale_upload_age`] while serving,
    /// so a long-running process (or one of several sharing the blob directory)
    /// does not keep a crashed writer's leftovers until its next start.
    pub fn spawn_upload_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let runtime = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(runtime.stale_upload_age());
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(error) = runtime.sweep_partial_uploads().await {
                    tracing::warn!(%error, "sweeping partial uploads failed");
                }
            }
        })
    }

    /// The collection `name` of the default tenant, created if needed.
    pub async fn collection(&self, name: &str) -> Result<Collection> {
        Ok(self.store.ensure_collection(&self.tenant.id, name).await?)
    }
}

/// The embedder settings of the `[ingest]` section (questions use the same model, so the
/// same settings, apart from threads when they get a session of their own).
pub fn embedder_options(ingest: &folio_common::config::IngestConfig) -> EmbedderOptions {
    EmbedderOptions {
        batch_size: ingest.embed_batch,
        max_length: ingest.embed_max_length,
        threads: (ingest.embed_threads > 0).then_some(ingest.embed_threads),
        int8_matmul: ingest.embed_int8,
    }
}

/// The parser the configuration asks for: limits from `[parse]` and
/// `server.max_upload_bytes`, in a child process of this very binary unless
/// `parse.isolation = "in_process"`.
pub fn document_parser(config: &FolioConfig) -> Result<DocumentParser> {
    const MIB: u64 = 1024 * 1024;
    let parse = &config.parse;
    let limits = ParseLimits {
        max_input_bytes: config.server.max_upload_bytes,
        max_parse_time: std::time::Duration::from_secs(parse.timeout_secs.max(1)),
        max_stream_decoded_bytes: parse.max_stream_decoded_mb.saturating_mul(MIB),
        max_decoded_bytes: parse.max_decoded_mb.saturating_mul(MIB),
        max_page_content_bytes: parse.max_page_content_mb.saturating_mul(MIB),
        ..ParseLimits::default()
    };
    Ok(match parse.isolation {
        folio_common::config::ParseIsolation::InProcess => DocumentParser::from(limits),
        folio_common::config::ParseIsolation::Process => {
            let program = std::env::current_exe()
                .context("finding the folio executable to run the parser process")?;
            DocumentParser::in_child_process(
                limits,
                ChildLimits {
                    program,
                    memory_bytes: parse.memory_limit_mb.saturating_mul(MIB),
                },
            )
        }
    })
}

/// Connects to the configured metadata store; an error names the store with
/// its password masked.
pub async fn open_store(config: &FolioConfig, max_connections: u32) -> Result<MetadataStore> {
    let url = config.store_url();
    MetadataStore::connect(&url, max_connections)
        .await
        .with_context(|| {
            format!(
                "opening the metadata store {}",
                crate::secrets::redacted_url(&url)
            )
        })
}
