//! Which embedder wrote the vector store's vectors.
//!
//! Dense search compares a question's vector with the stored chunks' vectors, which is
//! only meaningful when one embedder configuration produced both. Changing the model,
//! `ingest.embed_int8` or `ingest.embed_max_length` changes the vectors; the stored ones
//! stay as they were until `folio admin reindex`. The store records the embedder's id
//! (beside the qdrant-edge shard, or in the Qdrant collection's metadata), and opening it
//! with another id says so.

use anyhow::Result;
use folio_index::VectorStore;

/// What opening the store found. `/readyz` reports it as `{"state": "matches"}`,
/// `{"state": "differs", "recorded": ID}` or `{"state": "unknown"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "recorded", rename_all = "snake_case")]
pub enum EmbedderMark {
    /// The vectors come from the configured embedder (or the store was empty and now
    /// records it).
    Matches,
    /// The vectors come from another embedder configuration: the recorded id.
    Differs(String),
    /// The store holds vectors written before ids were recorded.
    Unknown,
}

/// Checks the store's recorded embedder against `model_id`, recording it when the store
/// holds no vector yet. Logs a warning when the vectors come from another embedder.
pub async fn check(vectors: &dyn VectorStore, model_id: &str) -> Result<EmbedderMark> {
    let mark = match vectors.recorded_embedder().await? {
        Some(recorded) if recorded == model_id => EmbedderMark::Matches,
        Some(recorded) => EmbedderMark::Differs(recorded),
        None if vectors.stats().await?.points == 0 => {
            vectors.record_embedder(model_id).await?;
            EmbedderMark::Matches
        }
        None => EmbedderMark::Unknown,
    };
    match &mark {
        EmbedderMark::Matches => {}
        EmbedderMark::Unknown => tracing::info!(
            store = vectors.name(),
            "the embedder of the stored vectors was not recorded (they predate the record); \
             `folio admin reindex` rebuilds them with the configured one and records it"
        ),
        EmbedderMark::Differs(recorded) => tracing::warn!(
            store = vectors.name(),
            stored = %recorded,
            configured = %model_id,
            "the stored vectors come from another embedder configuration (model, \
             ingest.embed_int8 or ingest.embed_max_length changed): dense search compares \
             unlike vectors until `folio admin reindex` rebuilds them"
        ),
    }
    Ok(mark)
}
