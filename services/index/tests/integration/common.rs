//! Shared fixtures: model paths, chunk and vector generators, backends under test.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use folio_index::{
    EdgeVectorStore, Embedder, EmbedderOptions, IndexedChunk, PointPayload,
    QdrantCollectionOptions, QdrantServerStore, VectorPoint, VectorStore,
};
use uuid::Uuid;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The sentence-embedding model unpacked by the project's set-up.
pub fn model_dir() -> PathBuf {
    std::env::var_os("FOLIO_TEST_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models/all-minilm-l6-v2"))
}

/// The ONNX Runtime library unpacked by the project's set-up.
pub fn ort_dylib() -> PathBuf {
    std::env::var_os("FOLIO_TEST_ORT_DYLIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models/onnxruntime/libonnxruntime.so.1.31.1"))
}

/// One embedder for the whole test binary (ONNX Runtime is process-wide anyway).
pub fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        Embedder::load(&model_dir(), &ort_dylib(), EmbedderOptions::default()).unwrap_or_else(
            |error| {
                panic!(
                    "loading {} on {} failed (run the project's model set-up first): {error}",
                    model_dir().display(),
                    ort_dylib().display()
                )
            },
        )
    })
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn chunk(
    tenant: &str,
    collection: &str,
    document: &str,
    version: u64,
    ordinal: u32,
    heading: &str,
    body: &str,
) -> IndexedChunk {
    IndexedChunk {
        chunk_id: Uuid::new_v4(),
        tenant: tenant.into(),
        collection: collection.into(),
        document: document.into(),
        version,
        ordinal,
        heading: heading.into(),
        body: body.into(),
    }
}

/// A deterministic pseudo-random vector (splitmix64), not normalised on purpose:
/// cosine stores must cope with raw vectors.
pub fn pseudo_vector(seed: u64, dimension: usize) -> Vec<f32> {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..dimension)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z as f64 / u64::MAX as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

pub fn point(
    id: Uuid,
    vector: Vec<f32>,
    tenant: &str,
    collection: &str,
    document: &str,
    version: u64,
    ordinal: u32,
) -> VectorPoint {
    VectorPoint {
        id,
        vector,
        windows: Vec::new(),
        payload: PointPayload {
            tenant: tenant.into(),
            collection: collection.into(),
            document: document.into(),
            version,
            ordinal,
        },
    }
}

pub fn point_for(chunk: &IndexedChunk, vector: Vec<f32>) -> VectorPoint {
    point(
        chunk.chunk_id,
        vector,
        &chunk.tenant,
        &chunk.collection,
        &chunk.document,
        chunk.version,
        chunk.ordinal,
    )
}

/// A fresh, ready qdrant-edge store in a temporary directory.
pub async fn edge_store(dimension: usize) -> (tempfile::TempDir, Arc<dyn VectorStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = EdgeVectorStore::open(&dir.path().join("shard"))
        .await
        .unwrap();
    store.ensure_ready(dimension).await.unwrap();
    (dir, Arc::new(store))
}

/// A collection of its own on the Qdrant server at `QDRANT_URL`, deleted again by
/// [`ServerCollection::drop_collection`] so that test runs leave the server as they
/// found it.
pub struct ServerCollection {
    /// The store on the collection, created and ready.
    pub store: Arc<dyn VectorStore>,
    url: String,
    name: String,
}

impl ServerCollection {
    /// Deletes the collection.
    pub async fn drop_collection(self) {
        server_client(&self.url)
            .delete_collection(&self.name)
            .await
            .unwrap();
    }
}

/// A qdrant-client for the server at `url`, with `QDRANT_API_KEY` if set (for what
/// the store does not do: creating odd collections, deleting test ones).
pub fn server_client(url: &str) -> qdrant_client::Qdrant {
    qdrant_client::Qdrant::from_url(url)
        .api_key(std::env::var("QDRANT_API_KEY").ok())
        .skip_compatibility_check()
        .build()
        .unwrap()
}

/// A fresh, ready collection on the Qdrant server at `QDRANT_URL`, or `None` (with a
/// skip line) when the variable is not set.
pub async fn server_store(test: &str, dimension: usize) -> Option<ServerCollection> {
    let Ok(url) = std::env::var("QDRANT_URL") else {
        eprintln!("skip: {test} against Qdrant server (QDRANT_URL not set)");
        return None;
    };
    let name = format!("folio_test_{}", Uuid::new_v4().simple());
    let options = QdrantCollectionOptions {
        api_key: std::env::var("QDRANT_API_KEY").ok(),
        ..QdrantCollectionOptions::default()
    };
    let store = QdrantServerStore::connect(&url, &name, options)
        .await
        .unwrap();
    store.ensure_ready(dimension).await.unwrap();
    Some(ServerCollection {
        store: Arc::new(store),
        url,
        name,
    })
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}
