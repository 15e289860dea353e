//! The metadata store: tenants, collections, documents and their versions,
//! chunk rows, the embedding cache and the durable job queue.
//!
//! One implementation over `sqlx::Any` serves SQLite (embedded default) and
//! PostgreSQL (scale-out). SQL is written once with `$n` placeholders, which
//! both accept; the only dialect difference, claiming a job with
//! `FOR UPDATE SKIP LOCKED`, is chosen at run time.
//!
//! One file per table group, each an `impl MetadataStore` block: `tenants.rs`
//! (tenants and API keys), `collections.rs`, `documents.rs` (documents,
//! versions, chunk rows), `embeddings.rs` (the embedding cache), `jobs.rs` (the
//! job queue: leases, attempts, recovery) and `snapshot.rs` (backups). Rows are
//! in `records.rs`, pagination in `pages.rs`.

#![warn(missing_docs)]

mod collections;
mod documents;
mod embeddings;
mod jobs;
mod pages;
mod records;
mod snapshot;
mod tenants;

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row};

pub use pages::{Page, PageOf};
// Row readers and column lists that more than one table group uses.
use collections::collection_from_row;
use documents::{document_from_row, CHUNK_COLUMNS, DOCUMENT_COLUMNS, DOCUMENT_JOINS};
use jobs::{insert_job, job_from_row, reason_from, JOB_COLUMNS};
use tenants::api_key_from_row;

pub use documents::{NewVersion, SubmitOutcome};
pub use embeddings::EmbeddingOwner;
pub use jobs::IngestResult;
pub use records::{
    ApiKeyRecord, ChunkRecord, Collection, DocumentRecord, DocumentStatus, FailureReason, JobKind,
    JobProgress, JobRecord, JobStage, Tenant, VersionRecord,
};
pub use snapshot::{ExportedSnapshot, StoreCounts};

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The URL names no supported database.
    #[error("unsupported store URL scheme {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// A row the caller asked for does not exist (or belongs to another tenant).
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. upload during delete).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored JSON column could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite file (single process).
    Sqlite,
    /// PostgreSQL (many processes).
    Postgres,
}

impl Dialect {
    /// The database a store URL names (`sqlite://…`, `postgres://…` or
    /// `postgresql://…`).
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite://") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            // The scheme only: the rest of a URL may carry a password.
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            Err(StoreError::UnsupportedUrl(scheme.to_string()))
        }
    }

    /// `sqlite` or `postgres`, as backups record it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Handle to the metadata store; cheap to clone.
#[derive(Debug, Clone)]
pub struct MetadataStore {
    pool: AnyPool,
    dialect: Dialect,
}

impl MetadataStore {
    /// Connects to `url` (`sqlite://PATH`, created if missing, or
    /// `postgres://…`) and applies pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url)?;
        let url = if let Some(path) = url.strip_prefix("sqlite://") {
            if let Some(parent) = std::path::Path::new(path.split('?').next().unwrap_or(path))
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Conflict(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            let url = if url.contains('?') {
                url.to_string()
            } else {
                format!("{url}?mode=rwc")
            };
            url
        } else {
            url.to_string()
        };
        let mut options = AnyPoolOptions::new().max_connections(max_connections.max(1));
        if dialect == Dialect::Sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;")
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(&url).await?;
        if dialect == Dialect::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        let store = MetadataStore { pool, dialect };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.dialect {
            Dialect::Sqlite => {
                sqlx::migrate!("../../migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Dialect::Postgres => {
                sqlx::migrate!("../../migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// Starts a transaction that will write. SQLite gets `BEGIN IMMEDIATE`:
    /// a deferred transaction that reads first and writes later cannot wait
    /// for the write lock (SQLite answers "database is locked" at once
    /// instead of honouring the busy timeout).
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        })
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
