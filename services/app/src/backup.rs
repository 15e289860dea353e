//! `folio admin backup | restore | reindex`.
//!
//! A backup is what cannot be recomputed: the metadata database (documents,
//! versions, chunk rows with their offsets, jobs, keys, the embedding cache) and
//! the blobs (originals and canonical texts). The full-text index and the vectors
//! are derived from those, so `restore` rebuilds them instead of copying files
//! that another process may be rewriting: the backup is consistent while the
//! server runs, and a restored deployment answers from exactly the chunks and
//! vectors it had.
//!
//! SQLite is copied with `VACUUM INTO`; PostgreSQL with `pg_dump` reading a
//! snapshot that Folio exports and holds open while it lists and copies the
//! blobs, so both sides of the backup describe the same moment. `restore` puts
//! the dump back with `pg_restore` into the configured (empty, or `--force`)
//! database.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use folio_common::blob::BlobStore;
use folio_common::config::FolioConfig;
use folio_store::{Dialect, MetadataStore, StoreCounts};
use serde::{Deserialize, Serialize};

use crate::runtime::Runtime;

const MANIFEST: &str = "folio-backup.json";
const DATABASE: &str = "folio.db";
const POSTGRES_DUMP: &str = "folio.pgdump";
const BLOBS: &str = "blobs";
const FORMAT: u32 = 1;

/// What a backup holds; written last, so its presence marks a complete backup.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    folio_version: String,
    /// `sqlite` (`folio.db`) or `postgres` (`folio.pgdump`, pg_dump's custom format).
    #[serde(default = "sqlite")]
    database: String,
    created_at_ms: u128,
    ready_documents: i64,
    chunks: i64,
    blobs: usize,
    /// Referenced by the snapshot but gone from disk when the blobs were copied
    /// (their documents were deleted in between).
    missing_blobs: Vec<String>,
}

fn sqlite() -> String {
    "sqlite".into()
}

/// Where `pg_dump` and `pg_restore` are found: `bin_dir`, else `PATH`.
fn postgres_tool(bin_dir: Option<&Path>, name: &str) -> PathBuf {
    bin_dir.map_or_else(|| PathBuf::from(name), |dir| dir.join(name))
}

/// Runs a PostgreSQL client tool; its stderr is the error when it fails.
fn run_postgres_tool(mut command: std::process::Command, what: &str) -> Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.output().with_context(|| {
        format!("running {program} (install PostgreSQL's client tools, or pass --pg-bin-dir)")
    })?;
    anyhow::ensure!(
        output.status.success(),
        "{what} failed ({program}, {}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// Writes a backup of the configured deployment into `to`; `pg_bin_dir` holds
/// `pg_dump` for a PostgreSQL store (default: `PATH`).
pub async fn backup(config: &FolioConfig, to: &Path, pg_bin_dir: Option<&Path>) -> Result<()> {
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
    let store = crate::runtime::open_store(config, 2).await?;
    // The snapshot the backup describes: its counts and the blobs it references
    // (uploads that arrive later are not in it, and their blobs would be orphans
    // after a restore). PostgreSQL's stays open until its blobs are copied.
    let (dialect, counts, keys, postgres_snapshot) = match store.dialect() {
        Dialect::Sqlite => {
            let database = to.join(DATABASE);
            store
                .snapshot_to(&database)
                .await
                .context("snapshotting the metadata database")?;
            drop(store);
            let snapshot = MetadataStore::connect(&format!("sqlite://{}", database.display()), 1)
                .await
                .context("opening the snapshot")?;
            let counts = snapshot.counts().await?;
            let keys = snapshot.all_blob_keys().await?;
            drop(snapshot);
            (
                Dialect::Sqlite,
                (counts.ready_documents, counts.chunks),
                keys,
                None,
            )
        }
        Dialect::Postgres => {
            let mut snapshot = store
                .export_snapshot()
                .await
                .context("exporting a PostgreSQL snapshot")?;
            let mut dump = crate::secrets::postgres_command(
                postgres_tool(pg_bin_dir, "pg_dump"),
                &config.store_url(),
            );
            dump.args([
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--snapshot",
            ])
            .arg(&snapshot.id)
            .arg("--file")
            .arg(to.join(POSTGRES_DUMP));
            run_postgres_tool(dump, "pg_dump")?;
            let counts = (snapshot.ready_documents, snapshot.chunks);
            let keys = std::mem::take(&mut snapshot.blob_keys);
            (Dialect::Postgres, counts, keys, Some(snapshot))
        }
    };
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
    if let Some(snapshot) = postgres_snapshot {
        snapshot.release().await?;
    }
    let manifest = Manifest {
        format: FORMAT,
        folio_version: env!("CARGO_PKG_VERSION").to_string(),
        database: dialect.name().to_string(),
        created_at_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
        ready_documents: counts.0,
        chunks: counts.1,
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

/// Restores the backup in `from` into the configured data directory (and, for a
/// PostgreSQL backup, the configured database) and rebuilds the indexes;
/// `pg_bin_dir` holds `pg_restore` (default: `PATH`).
pub async fn restore(
    config: FolioConfig,
    from: &Path,
    force: bool,
    pg_bin_dir: Option<&Path>,
) -> Result<()> {
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
    let url = config.store_url();
    let configured = Dialect::of_url(&url)?;
    anyhow::ensure!(
        manifest.database == configured.name(),
        "this backup holds a {} database and the configured store is {}: restore it \
         into a deployment with the same kind of store",
        manifest.database,
        configured.name()
    );
    let derived = [config.bm25_dir(), config.edge_dir(), config.blob_dir()];
    let mut occupied: Vec<String> = derived
        .iter()
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect();
    let sqlite_file = match configured {
        Dialect::Sqlite => {
            let database = sqlite_path(&config)?;
            if database.exists() {
                occupied.push(database.display().to_string());
            }
            Some(database)
        }
        Dialect::Postgres => {
            // Connecting creates the schema in an empty database; pg_restore's
            // --clean replaces it.
            let store = crate::runtime::open_store(&config, 1).await?;
            let counts = store.counts().await?;
            if counts != StoreCounts::default() {
                occupied.push(format!(
                    "a database with {} ready documents and {} chunks",
                    counts.ready_documents, counts.chunks
                ));
            }
            None
        }
    };
    if !occupied.is_empty() {
        anyhow::ensure!(
            force,
            "{} already holds a deployment ({}); stop its server and pass --force to replace it",
            config.data_dir.display(),
            occupied.join(", ")
        );
        for path in &derived {
            if path.exists() {
                std::fs::remove_dir_all(path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
        if let Some(database) = &sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let file = PathBuf::from(format!("{}{suffix}", database.display()));
                if file.exists() {
                    std::fs::remove_file(&file)
                        .with_context(|| format!("removing {}", file.display()))?;
                }
            }
        }
    }
    match &sqlite_file {
        Some(database) => {
            if let Some(parent) = database.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(from.join(DATABASE), database)
                .with_context(|| format!("copying the database to {}", database.display()))?;
        }
        None => {
            let mut restore =
                crate::secrets::postgres_command(postgres_tool(pg_bin_dir, "pg_restore"), &url);
            restore
                .args([
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                ])
                .arg(from.join(POSTGRES_DUMP));
            run_postgres_tool(restore, "pg_restore")?;
        }
    }
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
    runtime.indexes.vectors.optimize().await?;
    // Every chunk's vector was just rewritten by the configured embedder.
    let indexes = &runtime.indexes;
    indexes
        .vectors
        .record_embedder(&indexes.embedder.model_id())
        .await?;
    println!(
        "reindexed {} documents ({chunks} chunks) in {:.1} s",
        documents.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(chunks)
}

/// The database file of an SQLite store.
fn sqlite_path(config: &FolioConfig) -> Result<PathBuf> {
    let url = config.store_url();
    let path = url
        .strip_prefix("sqlite://")
        .context("the configured store is not SQLite")?;
    Ok(PathBuf::from(path.split('?').next().unwrap_or(path)))
}
