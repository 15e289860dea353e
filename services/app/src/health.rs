//! Readiness: whether this process can serve, checked against the real store
//! and vector store (a Qdrant server in split deployments), with what models
//! and backends it runs. `GET /readyz` reports it; it needs no key, so it says
//! what is wrong, never where (paths and addresses go to the log).

use std::time::Duration;

use serde::Serialize;

use crate::runtime::Runtime;
use crate::EmbedderMark;

/// How long each dependency has to answer.
const PROBE: Duration = Duration::from_secs(2);

/// The readiness report.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// The metadata store.
    pub store: StoreHealth,
    /// The embedder in use.
    pub embedder: EmbedderHealth,
    /// The vector store.
    pub vectors: VectorsHealth,
    /// What the local model is (not where it lives), when its file is present.
    pub llm: Option<LlmSummary>,
    /// Whether the answering model is loaded yet (answers wait for it until then).
    pub llm_loaded: bool,
}

/// The metadata store's answer to a ping.
#[derive(Debug, Clone, Serialize)]
pub struct StoreHealth {
    /// It answered in time.
    pub ok: bool,
    /// `sqlite` or `postgres`.
    pub dialect: String,
}

/// The embedder in use.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedderHealth {
    /// Always true: a process without its embedder does not start.
    pub ok: bool,
    /// Its model id.
    pub model: String,
}

/// The vector store's answer to a filtered count.
#[derive(Debug, Clone, Serialize)]
pub struct VectorsHealth {
    /// It answered in time, without an error.
    pub ok: bool,
    /// `qdrant-edge` or `qdrant`.
    pub backend: &'static str,
    /// What failed, without paths or addresses.
    pub error: Option<String>,
    /// Whether the stored vectors come from the configured embedder. Searches
    /// still work with vectors of another embedder, only worse: reported, not a
    /// reason to take the replica out of rotation.
    pub embedder: EmbedderMark,
}

/// The local model as its file describes it.
#[derive(Debug, Clone, Serialize)]
pub struct LlmSummary {
    /// Architecture (llama, qwen2, gemma3).
    pub architecture: String,
    /// Its name in the file.
    pub name: Option<String>,
    /// Parameter count.
    pub parameters: u64,
    /// Context length in tokens.
    pub context_length: Option<u64>,
}

impl Readiness {
    /// Whether the process can serve (store and vector store answer).
    pub fn ready(&self) -> bool {
        self.status == "ready"
    }
}

/// Probes the store and the vector store, each within [`PROBE`].
pub async fn readiness(runtime: &Runtime) -> Readiness {
    let store_ok = tokio::time::timeout(PROBE, runtime.store.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    let indexes = &runtime.indexes;
    // A filtered count is a real round trip to the vector store.
    let tenant = folio_index::SearchFilter::tenant(runtime.tenant.id.clone());
    let vectors_error = match tokio::time::timeout(PROBE, indexes.vectors.count(&tenant)).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the vector store failed");
            Some("the vector store failed; the server log has the error".to_string())
        }
        Err(_) => Some(format!("no answer within {} s", PROBE.as_secs())),
    };
    let ready = store_ok && vectors_error.is_none();
    Readiness {
        status: if ready { "ready" } else { "unavailable" },
        store: StoreHealth {
            ok: store_ok,
            dialect: format!("{:?}", runtime.store.dialect()).to_lowercase(),
        },
        embedder: EmbedderHealth {
            ok: true,
            model: indexes.embedder.model_id(),
        },
        vectors: VectorsHealth {
            ok: vectors_error.is_none(),
            backend: indexes.vectors.name(),
            error: vectors_error,
            embedder: runtime.vectors_embedder.clone(),
        },
        llm: runtime.llm.as_ref().map(|m| LlmSummary {
            architecture: m.architecture.clone(),
            name: m.name.clone(),
            parameters: m.parameters,
            context_length: m.context_length,
        }),
        llm_loaded: runtime.scorer.initialized(),
    }
}
