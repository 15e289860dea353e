//! A real embedded stack (SQLite, tantivy, qdrant-edge, MiniLM) in a temp dir,
//! filled through the real ingestion pipeline.

use std::path::PathBuf;
use std::sync::Arc;

use folio_common::blob::BlobStore;
use folio_common::config::{IngestConfig, RetrievalConfig};
use folio_index::{Bm25Index, EdgeVectorStore, Embedder, EmbedderOptions, VectorStore};
use folio_ingest::failpoints::FailPoints;
use folio_ingest::parse::ParseLimits;
use folio_ingest::pipeline::{Indexes, Pipeline};
use folio_ingest::worker::Worker;
use folio_query::retrieve::Retriever;
use folio_store::{MetadataStore, NewVersion, SubmitOutcome};
use tokio::sync::Notify;

pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

pub struct Stack {
    pub store: MetadataStore,
    pub blobs: BlobStore,
    pub pipeline: Pipeline,
    pub retriever: Retriever,
    /// Last: fields drop in order, and the vector shard flushes into it on drop.
    pub _dir: tempfile::TempDir,
}

pub struct Ingested {
    pub tenant: String,
    pub collection: String,
    pub document: String,
}

impl Stack {
    pub async fn new() -> Stack {
        Stack::with_vectors(|edge| Arc::new(edge)).await
    }

    /// A stack whose vector store is the qdrant-edge shard as `wrap` returns it
    /// (tests observe the pipeline's calls through a wrapper).
    pub async fn with_vectors(wrap: impl FnOnce(EdgeVectorStore) -> Arc<dyn VectorStore>) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::connect(
            &format!("sqlite://{}", dir.path().join("folio.db").display()),
            4,
        )
        .await
        .unwrap();
        let blobs = BlobStore::new(dir.path().join("blobs"));
        let models = models_dir();
        let embedder = Embedder::load(
            &models.join("all-minilm-l6-v2"),
            &models.join("onnxruntime/libonnxruntime.so.1.31.1"),
            EmbedderOptions::default(),
        )
        .unwrap_or_else(|e| panic!("loading the embedder (run `folio models fetch`): {e}"));
        let bm25 = Bm25Index::open_or_create(&dir.path().join("bm25")).unwrap();
        let vectors = EdgeVectorStore::open(&dir.path().join("vectors"))
            .await
            .unwrap();
        vectors.ensure_ready(embedder.dimension()).await.unwrap();
        let indexes = Indexes {
            embedder: Arc::new(embedder),
            bm25: Arc::new(bm25),
            vectors: wrap(vectors),
        };
        let retriever = Retriever::new(
            store.clone(),
            Arc::clone(&indexes.embedder),
            Arc::clone(&indexes.bm25),
            Arc::clone(&indexes.vectors),
            RetrievalConfig::default(),
        );
        let config = IngestConfig {
            chunk_tokens: 60,
            max_chunk_tokens: 120,
            min_chunk_tokens: 10,
            ..IngestConfig::default()
        };
        let pipeline = Pipeline::new(
            store.clone(),
            blobs.clone(),
            indexes,
            config,
            ParseLimits::default(),
            FailPoints::default(),
        );
        Stack {
            store,
            blobs,
            pipeline,
            retriever,
            _dir: dir,
        }
    }

    /// Ingests `text` as `name` (a .md file) for a tenant and collection by name.
    pub async fn ingest(&self, tenant: &str, collection: &str, name: &str, text: &str) -> Ingested {
        let ingested = self.submit(tenant, collection, name, text).await;
        let worker = Worker::new(self.pipeline.clone(), "test", Arc::new(Notify::new()));
        worker.drain().await.unwrap();
        ingested
    }

    /// Uploads `text` as `name` and queues its ingestion, without running it.
    pub async fn submit(&self, tenant: &str, collection: &str, name: &str, text: &str) -> Ingested {
        let tenant = self.store.ensure_tenant(tenant).await.unwrap();
        let collection = self
            .store
            .ensure_collection(&tenant.id, collection)
            .await
            .unwrap();
        let blob = self
            .blobs
            .put_original(&tenant.id, text.as_bytes(), 1 << 20)
            .await
            .unwrap();
        let outcome = self
            .store
            .submit_version(&NewVersion {
                tenant_id: &tenant.id,
                collection_id: &collection.id,
                name,
                file_name: name,
                format: "md",
                sha256: &blob.sha256,
                bytes: blob.bytes as i64,
                blob_key: &blob.key,
            })
            .await
            .unwrap();
        let document = match outcome {
            SubmitOutcome::Queued { document_id, .. } => document_id,
            other => panic!("unexpected {other:?}"),
        };
        Ingested {
            tenant: tenant.id,
            collection: collection.id,
            document,
        }
    }
}

/// A contract with distinct sections, defined terms and an exact identifier.
pub const CONTRACT: &str = "# MASTER SUPPLY AGREEMENT\n\n\
## Article 1 Definitions\n\n\
\"Products\" means the industrial valves listed in Schedule A.\n\n\
\"Territory\" means the United States of America and Canada.\n\n\
## Article 2 Supply\n\n\
The Supplier shall deliver the Products to the Buyer within the Territory every month. \
Deliveries are made DDP to the Buyer's warehouse in Toledo, Ohio. \
Each shipment carries purchase order number PO-77341-ZX.\n\n\
## Article 3 Price and Payment\n\n\
The Buyer shall pay each invoice within forty-five (45) days of receipt. \
Late payments bear interest at one percent (1%) per month.\n\n\
## Article 4 Term and Termination\n\n\
This Agreement starts on the Effective Date and lasts five (5) years. \
Either party may terminate this Agreement for convenience on ninety (90) days' written notice.\n\n\
## Article 5 Governing Law\n\n\
This Agreement is governed by the laws of the State of Delaware, without regard to its conflict of laws rules.\n";

/// An unrelated document for another tenant or collection.
pub const MEMO: &str = "# Cafeteria memo\n\n\
The cafeteria will serve soup on Mondays and pasta on Fridays. \
Staff may terminate their lunch subscription at any time.\n";
