//! Which embedder wrote the embedded vector store's vectors.
//!
//! Dense search compares a question's vector with the stored chunks' vectors, which is
//! only meaningful when one embedder configuration produced both. Changing the model,
//! `ingest.embed_int8` or `ingest.embed_max_length` changes the vectors; the stored ones
//! stay as they were until `folio admin reindex`. The store records the embedder's id
//! beside the shard, and opening it with another id says so.

use std::path::Path;

use anyhow::{Context, Result};
use folio_index::VectorStore;

/// File beside the qdrant-edge shard holding the embedder id of its vectors.
const MARK_FILE: &str = "folio-embedder-id";

/// What opening the store found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedderMark {
    /// The vectors come from the configured embedder (or the store was empty and now
    /// records it).
    Matches,
    /// The vectors come from another embedder configuration: the recorded id.
    Differs(String),
    /// The store holds vectors written before ids were recorded.
    Unknown,
}

/// Checks the mark in `shard_dir` against `model_id`, recording it when the store holds
/// no vector yet. Logs a warning when the vectors come from another embedder.
pub async fn check(
    shard_dir: &Path,
    vectors: &dyn VectorStore,
    model_id: &str,
) -> Result<EmbedderMark> {
    let path = shard_dir.join(MARK_FILE);
    let mark = match std::fs::read_to_string(&path) {
        Ok(recorded) if recorded.trim() == model_id => EmbedderMark::Matches,
        Ok(recorded) => EmbedderMark::Differs(recorded.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if vectors.stats().await?.points == 0 {
                record(shard_dir, model_id)?;
                EmbedderMark::Matches
            } else {
                EmbedderMark::Unknown
            }
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if mark == EmbedderMark::Unknown {
        tracing::info!(
            "the embedder of the stored vectors was not recorded (they predate the record); \
             `folio admin reindex` rebuilds them with the configured one and records it"
        );
    }
    if let EmbedderMark::Differs(recorded) = &mark {
        tracing::warn!(
            stored = %recorded,
            configured = %model_id,
            "the stored vectors come from another embedder configuration (model, \
             ingest.embed_int8 or ingest.embed_max_length changed): dense search compares \
             unlike vectors until `folio admin reindex` rebuilds them"
        );
    }
    Ok(mark)
}

/// Records `model_id` as the embedder of every vector in the store (after a rebuild).
pub fn record(shard_dir: &Path, model_id: &str) -> Result<()> {
    std::fs::create_dir_all(shard_dir)?;
    let path = shard_dir.join(MARK_FILE);
    std::fs::write(&path, model_id).with_context(|| format!("writing {}", path.display()))
}
