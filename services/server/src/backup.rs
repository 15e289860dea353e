//! `folio admin backup | restore | reindex`.
//!
//! A backup is what cannot be recomputed: the metadata database (documents,
//! versions, chunk rows with their offsets, jobs, keys, the embedding cache) and
//! the blobs (originals and canonical texts). The full-text index and the vectors
//! are derived from those, so `restore` rebuilds them instead of copying files
//! that another process may be rewriting: the backup is consistent while the
//! server runs, and a restored deployment answers from exactly the chunks and
//! vectors it had.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use folio_common::blob::BlobStore;
use folio_common::config::FolioConfig;
use folio_common::store::MetadataStore;
use serde::{Deserialize, Serialize};

use crate::runtime::Runtime;

const MANIFEST: &str = "folio-backup.json";
const DATABASE: &str = "folio.db";
const BLOBS: &str = "blobs";
const FORMAT: u32 = 1;

/// What a backup holds; written last, so its presence marks a complete backup.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    folio_version: String,
    created_at_ms: u128,
    ready_documents: i64,
    chunks: i64,
    blobs: usize,
    /// Referenced by the snapshot but gone from disk when the blobs were copied
    /// (their documents were deleted in between).
    missing_blobs: Vec<String>,
}

/// Writes a backup of the configured deployment into `to`.
pub async fn backup(config: &FolioConfig, to: &Path) -> Result<()> {
    let started = Instant::now();
    if to.exists() {
        let empty = std::fs::read_dir(to)
            .with_context(|| format!("reading {}", to.display()))?
            .next()
            .is_none();
        anyhow::ensure!(
            empty,
            "{} exists and is not empty: back up into a new directory",
            to.display()
        );
    }
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let to = to
        .canonicalize()
        .with_context(|| format!("resolving {}", to.display()))?;
    let store = MetadataStore::connect(&config.store_url(), 2)
        .await
        .with_context(|| format!("opening the metadata store {}", config.store_url()))?;
    let database = to.join(DATABASE);
    store
        .snapshot_to(&database)
        .await
        .context("snapshotting the metadata database")?;
    drop(store);

    // The blobs the snapshot references, and only those: uploads that arrive later
    // are not in the snapshot, and their blobs would be orphans after a restore.
    let snapshot = MetadataStore::connect(&format!("sqlite://{}", database.display()), 1)
        .await
        .context("opening the snapshot")?;
    let counts = snapshot.counts().await?;
    let keys = snapshot.all_blob_keys().await?;
    drop(snapshot);
    let source = BlobStore::new(config.blob_dir());
    let target = BlobStore::new(to.join(BLOBS));
    let mut copied = 0;
    let mut missing_blobs = Vec::new();
    for key in &keys {
        if source.copy_to(key, &target).await? {
            copied += 1;
        } else {
            missing_blobs.push(key.clone());
        }
    }
    let manifest = Manifest {
        format: FORMAT,
        folio_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
        ready_documents: counts.ready_documents,
        chunks: counts.chunks,
        blobs: copied,
        missing_blobs,
    };
    std::fs::write(to.join(MANIFEST), serde_json::to_string_pretty(&manifest)?)?;
    println!(
        "backed up {} ready documents, {} chunks and {} blobs to {} in {:.1} s",
        manifest.ready_documents,
        manifest.chunks,
        manifest.blobs,
        to.display(),
        started.elapsed().as_secs_f64()
    );
    if !manifest.missing_blobs.is_empty() {
        eprintln!(
            "{} blobs were deleted while the backup ran (their documents were being deleted)",
            manifest.missing_blobs.len()
        );
    }
    Ok(())
}

/// Restores the backup in `from` into the configured data directory and rebuilds
/// the indexes.
pub async fn restore(config: FolioConfig, from: &Path, force: bool) -> Result<()> {
    let manifest: Manifest = serde_json::from_str(
        &std::fs::read_to_string(from.join(MANIFEST)).with_context(|| {
            format!(
                "{} has no {MANIFEST}: not a complete folio backup",
                from.display()
            )
        })?,
    )?;
    anyhow::ensure!(
        manifest.format == FORMAT,
        "backup format {} is not supported by this folio (format {FORMAT})",
        manifest.format
    );
    let database = sqlite_path(&config)?;
    let derived = [config.bm25_dir(), config.edge_dir(), config.blob_dir()];
    let occupied: Vec<&PathBuf> = std::iter::once(&database)
        .chain(&derived)
        .filter(|path| path.exists())
        .collect();
    if !occupied.is_empty() {
        anyhow::ensure!(
            force,
            "{} already holds a deployment ({}); stop its server and pass --force to replace it",
            config.data_dir.display(),
            occupied
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for path in &derived {
            if path.exists() {
                std::fs::remove_dir_all(path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", database.display()));
            if file.exists() {
                std::fs::remove_file(&file)
                    .with_context(|| format!("removing {}", file.display()))?;
            }
        }
    }
    if let Some(parent) = database.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from.join(DATABASE), &database)
        .with_context(|| format!("copying the database to {}", database.display()))?;
    let source = BlobStore::new(from.join(BLOBS));
    let target = BlobStore::new(config.blob_dir());
    let mut blobs = 0;
    for key in source.keys().await? {
        if source.copy_to(&key, &target).await? {
            blobs += 1;
        }
    }
    println!(
        "restored the database and {blobs} blobs into {}",
        config.data_dir.display()
    );
    let runtime = Runtime::open(config).await?;
    reindex(&runtime).await?;
    Ok(())
}

/// Rebuilds the full-text index and the vectors of every document from the stored
/// chunk rows. Returns the chunks indexed.
pub async fn reindex(runtime: &Runtime) -> Result<usize> {
    let started = Instant::now();
    let documents = runtime.store.indexed_documents().await?;
    let mut chunks = 0;
    for (tenant, document) in &documents {
        chunks += runtime
            .pipeline
            .reindex_document(tenant, document)
            .await
            .with_context(|| format!("reindexing document {document}"))?;
    }
    runtime.pipeline.indexes().vectors.optimize().await?;
    println!(
        "reindexed {} documents ({chunks} chunks) in {:.1} s",
        documents.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(chunks)
}

/// The database file of an SQLite store; restoring into PostgreSQL is pg_restore's job.
fn sqlite_path(config: &FolioConfig) -> Result<PathBuf> {
    let url = config.store_url();
    let path = url.strip_prefix("sqlite://").with_context(|| {
        "the configured store is PostgreSQL: restore it with pg_restore, then run `folio admin reindex`"
    })?;
    Ok(PathBuf::from(path.split('?').next().unwrap_or(path)))
}
