//! The metadata store: tenants, collections, documents and their versions,
//! chunk rows, the embedding cache and the durable job queue.
//!
//! One implementation over `sqlx::Any` serves SQLite (embedded default) and
//! PostgreSQL (scale-out). SQL is written once with `$n` placeholders, which
//! both accept; the only dialect difference, claiming a job with
//! `FOR UPDATE SKIP LOCKED`, is chosen at run time.

mod pages;
mod records;

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row};

pub use pages::{Page, PageOf};
pub use records::{
    ApiKeyRecord, ChunkRecord, Collection, DocumentRecord, DocumentStatus, FailureReason, JobKind,
    JobProgress, JobRecord, JobStage, Tenant, VersionRecord,
};

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

/// What submitting a document version did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// The bytes equal the newest version's: nothing to do.
    Unchanged {
        /// The existing document.
        document_id: String,
        /// Its newest version.
        version: i64,
    },
    /// A new version was recorded and an ingestion job queued.
    Queued {
        /// The document (new or existing).
        document_id: String,
        /// The new version number.
        version: i64,
        /// The queued job.
        job_id: String,
    },
}

/// The document whose chunks an embedding-cache entry serves. Entries belong to
/// one tenant's documents: another tenant never reads them, and they go with
/// the last live document of the tenant that has the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddingOwner<'a> {
    /// The document's tenant.
    pub tenant_id: &'a str,
    /// The document.
    pub document_id: &'a str,
}

/// A new document version to record.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    /// Owning tenant.
    pub tenant_id: &'a str,
    /// Target collection.
    pub collection_id: &'a str,
    /// Document name (unique in the collection): re-uploading the same name
    /// creates a new version of the same document.
    pub name: &'a str,
    /// File name as uploaded.
    pub file_name: &'a str,
    /// Detected format.
    pub format: &'a str,
    /// sha256 of the bytes.
    pub sha256: &'a str,
    /// Size in bytes.
    pub bytes: i64,
    /// Blob-store key where the original already lies.
    pub blob_key: &'a str,
}

/// What a finished ingestion writes in one transaction.
#[derive(Debug, Clone)]
pub struct IngestResult {
    /// Characters of canonical text.
    pub text_chars: i64,
    /// Pages.
    pub page_count: i64,
    /// Sections found.
    pub section_count: i64,
    /// JSON of the page map, section tree and defined terms.
    pub structure_json: String,
    /// The chunk rows of the version.
    pub chunks: Vec<ChunkRecord>,
}

/// Counts used to check the stores agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCounts {
    /// Documents in status `ready`.
    pub ready_documents: i64,
    /// Chunk rows.
    pub chunks: i64,
    /// Jobs queued or running.
    pub open_jobs: i64,
}

/// A PostgreSQL snapshot held open for a backup ([`MetadataStore::export_snapshot`]).
pub struct ExportedSnapshot {
    transaction: sqlx::Transaction<'static, sqlx::Any>,
    /// The id `pg_dump --snapshot` takes.
    pub id: String,
    /// Documents in status `ready` in the snapshot.
    pub ready_documents: i64,
    /// Chunk rows in the snapshot.
    pub chunks: i64,
    /// The blob of every document version in the snapshot.
    pub blob_keys: Vec<String>,
}

impl std::fmt::Debug for ExportedSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportedSnapshot")
            .field("id", &self.id)
            .field("ready_documents", &self.ready_documents)
            .field("chunks", &self.chunks)
            .field("blob_keys", &self.blob_keys.len())
            .finish()
    }
}

impl ExportedSnapshot {
    /// Ends the snapshot's transaction (after the dump is written).
    pub async fn release(self) -> Result<(), StoreError> {
        Ok(self.transaction.commit().await?)
    }
}

/// Handle to the metadata store; cheap to clone.
#[derive(Debug, Clone)]
pub struct MetadataStore {
    pool: AnyPool,
    dialect: Dialect,
}

const DOCUMENT_COLUMNS: &str = "d.id, d.tenant_id, d.collection_id, d.name, d.status, \
     d.current_version, d.latest_version, d.error_code, d.error_message, d.created_at, \
     d.updated_at, v.format, v.bytes, v.sha256, j.stage, j.progress, j.chunks_done, \
     j.chunks_total, cv.chunk_count, cv.page_count";

const DOCUMENT_JOINS: &str = "FROM documents d \
     JOIN document_versions v ON v.document_id = d.id AND v.version = d.latest_version \
     LEFT JOIN document_versions cv ON cv.document_id = d.id AND cv.version = d.current_version \
     LEFT JOIN jobs j ON j.id = (SELECT j2.id FROM jobs j2 WHERE j2.document_id = d.id \
         AND j2.kind = 'ingest' AND j2.version = d.latest_version ORDER BY j2.created_at DESC LIMIT 1)";

const JOB_COLUMNS: &str = "id, kind, tenant_id, document_id, version, status, stage, progress, \
     chunks_done, chunks_total, attempts, error_code, error_message, created_at, updated_at";

const VERSION_COLUMNS: &str = "document_id, version, sha256, bytes, format, file_name, status, \
     blob_key, text_chars, page_count, section_count, chunk_count, error_code, error_message, created_at";

const CHUNK_COLUMNS: &str = "id, document_id, version, tenant_id, collection_id, ordinal, \
     heading_path, char_start, char_end, page_start, page_end, token_count, text, context_header";

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

    // ---- tenants and collections -------------------------------------------------

    /// Returns the tenant named `name`, creating it if needed.
    pub async fn ensure_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
        sqlx::query(
            "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(new_id())
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT id, name FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(Tenant {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
        })
    }

    /// Creates the tenant `name`; a tenant of that name already existing is a conflict.
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id: new_id(),
            name: name.to_string(),
        };
        let inserted = sqlx::query(
            "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&tenant.id)
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "tenant {name} already exists"
            )));
        }
        Ok(tenant)
    }

    /// The tenant named `name`, if it exists.
    pub async fn find_tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT id, name FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(Tenant {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
            })
        })
        .transpose()
    }

    /// Every tenant, by name.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query("SELECT id, name FROM tenants ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Tenant {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                })
            })
            .collect()
    }

    // ---- API keys ----------------------------------------------------------------

    /// Stores a new key (its hash; the key itself is never stored).
    pub async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, role, hash, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(&key.id)
        .bind(&key.tenant_id)
        .bind(&key.name)
        .bind(&key.role)
        .bind(&key.hash)
        .bind(key.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The key with public id `id` (revoked or not), if any.
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, name, role, hash, created_at, revoked_at FROM api_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    /// A tenant's keys, oldest first.
    pub async fn list_api_keys(&self, tenant_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(self.list_api_keys_page(tenant_id, Page::ALL).await?.items)
    }

    /// Revokes a tenant's key; another tenant's key is not found.
    pub async fn revoke_api_key(&self, tenant_id: &str, id: &str) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(tenant_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0
            && self
                .api_key(id)
                .await?
                .is_none_or(|k| k.tenant_id != tenant_id)
        {
            return Err(StoreError::NotFound(format!("key {id}")));
        }
        Ok(())
    }

    /// Keys ever issued, revoked ones included, all tenants: zero only for a
    /// store that never had a key.
    pub async fn api_key_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_keys")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Keys not revoked, all tenants.
    pub async fn active_api_key_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Returns the collection `name` of a tenant, creating it if needed.
    pub async fn ensure_collection(
        &self,
        tenant_id: &str,
        name: &str,
    ) -> Result<Collection, StoreError> {
        sqlx::query(
            "INSERT INTO collections (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(new_id())
        .bind(tenant_id)
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.find_collection(tenant_id, name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("collection {name}")))
    }

    /// The collection `name` of a tenant, if it exists.
    pub async fn find_collection(
        &self,
        tenant_id: &str,
        name: &str,
    ) -> Result<Option<Collection>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, name FROM collections WHERE tenant_id = $1 AND name = $2",
        )
        .bind(tenant_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(collection_from_row).transpose()
    }

    /// Every collection of a tenant, by name.
    pub async fn list_collections(&self, tenant_id: &str) -> Result<Vec<Collection>, StoreError> {
        Ok(self
            .list_collections_page(tenant_id, Page::ALL)
            .await?
            .items)
    }

    // ---- documents ---------------------------------------------------------------

    /// Records a new version of the document `name` (creating the document on
    /// first upload) and queues its ingestion, in one transaction. Identical
    /// bytes to the newest version are a no-op, unless that version failed.
    pub async fn submit_version(&self, new: &NewVersion<'_>) -> Result<SubmitOutcome, StoreError> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let existing = sqlx::query(
            "SELECT d.id, d.status, d.latest_version, v.sha256, v.status AS vstatus \
             FROM documents d JOIN document_versions v \
               ON v.document_id = d.id AND v.version = d.latest_version \
             WHERE d.tenant_id = $1 AND d.collection_id = $2 AND d.name = $3",
        )
        .bind(new.tenant_id)
        .bind(new.collection_id)
        .bind(new.name)
        .fetch_optional(&mut *tx)
        .await?;
        let (document_id, version) = match existing {
            Some(row) => {
                let id: String = row.try_get("id")?;
                let status: String = row.try_get("status")?;
                let latest: i64 = row.try_get("latest_version")?;
                let sha: String = row.try_get("sha256")?;
                let vstatus: String = row.try_get("vstatus")?;
                if status == DocumentStatus::Deleting.as_str() {
                    return Err(StoreError::Conflict(format!(
                        "document {} is being deleted",
                        new.name
                    )));
                }
                if sha == new.sha256 && vstatus != "failed" {
                    tx.commit().await?;
                    return Ok(SubmitOutcome::Unchanged {
                        document_id: id,
                        version: latest,
                    });
                }
                let version = latest + 1;
                sqlx::query(
                    "UPDATE documents SET latest_version = $1, updated_at = $2, \
                     status = CASE WHEN current_version IS NULL THEN 'queued' ELSE 'processing' END, \
                     error_code = NULL, error_message = NULL WHERE id = $3",
                )
                .bind(version)
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                (id, version)
            }
            None => {
                let id = new_id();
                sqlx::query(
                    "INSERT INTO documents (id, tenant_id, collection_id, name, status, \
                     current_version, latest_version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 'queued', NULL, 1, $5, $5)",
                )
                .bind(&id)
                .bind(new.tenant_id)
                .bind(new.collection_id)
                .bind(new.name)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                (id, 1)
            }
        };
        sqlx::query(
            "INSERT INTO document_versions (document_id, version, sha256, bytes, format, \
             file_name, status, blob_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)",
        )
        .bind(&document_id)
        .bind(version)
        .bind(new.sha256)
        .bind(new.bytes)
        .bind(new.format)
        .bind(new.file_name)
        .bind(new.blob_key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let job_id = insert_job(
            &mut tx,
            JobKind::Ingest,
            new.tenant_id,
            &document_id,
            version,
        )
        .await?;
        tx.commit().await?;
        Ok(SubmitOutcome::Queued {
            document_id,
            version,
            job_id,
        })
    }

    /// Lists a tenant's documents (optionally of one collection), newest first.
    /// Documents being deleted are hidden.
    pub async fn list_documents(
        &self,
        tenant_id: &str,
        collection_id: Option<&str>,
    ) -> Result<Vec<DocumentRecord>, StoreError> {
        Ok(self
            .list_documents_page(tenant_id, collection_id, Page::ALL)
            .await?
            .items)
    }

    /// One document of a tenant; `NotFound` for another tenant's id.
    pub async fn get_document(
        &self,
        tenant_id: &str,
        document_id: &str,
    ) -> Result<DocumentRecord, StoreError> {
        let sql = format!(
            "SELECT {DOCUMENT_COLUMNS} {DOCUMENT_JOINS} WHERE d.tenant_id = $1 AND d.id = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(tenant_id)
            .bind(document_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("document {document_id}")))?;
        document_from_row(&row)
    }

    /// The versions of a tenant's document, oldest first.
    pub async fn list_versions(
        &self,
        tenant_id: &str,
        document_id: &str,
    ) -> Result<Vec<VersionRecord>, StoreError> {
        self.get_document(tenant_id, document_id).await?;
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM document_versions WHERE document_id = $1 ORDER BY version"
        );
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(document_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// One version of a document (no tenant check: for workers, which act on
    /// jobs that already carry the tenant).
    pub async fn get_version(
        &self,
        document_id: &str,
        version: i64,
    ) -> Result<VersionRecord, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM document_versions WHERE document_id = $1 AND version = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(document_id)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("version {version} of {document_id}")))?;
        version_from_row(&row)
    }

    /// The stored structure JSON (page map, sections, terms) of a version.
    pub async fn version_structure(
        &self,
        document_id: &str,
        version: i64,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT structure_json FROM document_versions WHERE document_id = $1 AND version = $2",
        )
        .bind(document_id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => row.try_get("structure_json")?,
            None => None,
        })
    }

    /// Every blob key referenced by any version (to find orphan blobs).
    pub async fn all_blob_keys(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT blob_key FROM document_versions")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("blob_key").map_err(StoreError::from))
            .collect()
    }

    /// Marks a tenant's document as deleting (hidden at once) and queues the
    /// job that removes it from every store. Returns the job id.
    pub async fn request_delete(
        &self,
        tenant_id: &str,
        document_id: &str,
    ) -> Result<String, StoreError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "SELECT status, latest_version FROM documents WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(document_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("document {document_id}")))?;
        let latest: i64 = row.try_get("latest_version")?;
        sqlx::query("UPDATE documents SET status = 'deleting', updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(document_id)
            .execute(&mut *tx)
            .await?;
        // Ingestion of this document is moot now; its queued jobs step aside.
        sqlx::query(
            "UPDATE jobs SET status = 'failed', stage = 'failed', error_code = 'document_deleted', \
             error_message = 'the document was deleted', finished_at = $1, updated_at = $1 \
             WHERE document_id = $2 AND kind = 'ingest' AND status = 'queued'",
        )
        .bind(now_ms())
        .bind(document_id)
        .execute(&mut *tx)
        .await?;
        let job = insert_job(&mut tx, JobKind::Delete, tenant_id, document_id, latest).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Removes every row of a document (the last step of a delete job, after
    /// the indexes and blobs are gone), its embedding-cache entries included:
    /// the tenant's other documents keep their own entries for the same texts.
    pub async fn purge_document_rows(&self, document_id: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for sql in [
            "DELETE FROM embeddings WHERE document_id = $1",
            "DELETE FROM chunks WHERE document_id = $1",
            "DELETE FROM document_versions WHERE document_id = $1",
            "DELETE FROM documents WHERE id = $1",
        ] {
            sqlx::query(sql).bind(document_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- chunks ------------------------------------------------------------------

    /// The chunks of a tenant's document's current version, in order.
    pub async fn document_chunks(
        &self,
        tenant_id: &str,
        document_id: &str,
    ) -> Result<Vec<ChunkRecord>, StoreError> {
        let sql = format!(
            "SELECT {CHUNK_COLUMNS} FROM chunks WHERE tenant_id = $1 AND document_id = $2 \
             ORDER BY ordinal"
        );
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(tenant_id)
            .bind(document_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(chunk_from_row).collect()
    }

    /// Chunk rows by id, restricted to a tenant and to searchable documents;
    /// ids of other tenants, of superseded versions or of deleted documents
    /// are silently absent (this is how search drops stale index entries).
    pub async fn chunks_by_ids(
        &self,
        tenant_id: &str,
        ids: &[String],
    ) -> Result<Vec<ChunkRecord>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(200) {
            let placeholders: Vec<String> =
                (0..batch.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                // `c.tenant_id || ''` keeps the tenant check but hides the column from
                // SQLite's planner, which otherwise scans the whole tenant through
                // `chunks_by_tenant` (13 ms on 16k chunks) instead of looking the ids
                // up by primary key (see BENCHMARKS.md, search latency).
                "SELECT {cols} FROM chunks c JOIN documents d ON d.id = c.document_id \
                 WHERE c.id IN ({list}) AND (c.tenant_id || '') = $1 \
                 AND d.status <> 'deleting' AND c.version = d.current_version",
                cols = CHUNK_COLUMNS
                    .split(", ")
                    .map(|c| format!("c.{c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                list = placeholders.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(tenant_id);
            for id in batch {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(chunk_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Counts across the store (all tenants), for consistency checks.
    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        let ready: i64 = sqlx::query("SELECT COUNT(*) AS n FROM documents WHERE status = 'ready'")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let chunks: i64 = sqlx::query("SELECT COUNT(*) AS n FROM chunks")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let open: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running')")
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
        Ok(StoreCounts {
            ready_documents: ready,
            chunks,
            open_jobs: open,
        })
    }

    /// Writes a consistent copy of the whole database to `path` (a new file) while
    /// other connections keep reading and writing: SQLite's `VACUUM INTO` reads one
    /// snapshot. PostgreSQL is backed up with its own tools (`pg_dump`), which this
    /// refuses with a message saying so.
    pub async fn snapshot_to(&self, path: &std::path::Path) -> Result<(), StoreError> {
        match self.dialect {
            Dialect::Sqlite => {
                let target = path.to_str().ok_or_else(|| {
                    StoreError::Conflict(format!("{} is not a UTF-8 path", path.display()))
                })?;
                sqlx::query("VACUUM INTO $1")
                    .bind(target)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
            Dialect::Postgres => Err(StoreError::Conflict(
                "a PostgreSQL store is backed up with pg_dump (then `folio admin reindex` rebuilds the indexes after pg_restore)".into(),
            )),
        }
    }

    /// Opens a PostgreSQL snapshot for a backup: a read-only repeatable-read
    /// transaction whose snapshot is exported for `pg_dump --snapshot`, with the
    /// counts and blob keys that snapshot sees, so the dump and the blobs copied
    /// next to it describe the same moment. Hold it until the dump is written.
    /// SQLite is snapshotted with [`MetadataStore::snapshot_to`] instead.
    pub async fn export_snapshot(&self) -> Result<ExportedSnapshot, StoreError> {
        if self.dialect != Dialect::Postgres {
            return Err(StoreError::Conflict(
                "only a PostgreSQL store exports snapshots (SQLite: snapshot_to)".into(),
            ));
        }
        let mut transaction = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let id: String = sqlx::query("SELECT pg_export_snapshot() AS id")
            .fetch_one(&mut *transaction)
            .await?
            .try_get("id")?;
        let count = |sql: &'static str| sqlx::query(sql);
        let ready_documents: i64 =
            count("SELECT COUNT(*) AS n FROM documents WHERE status = 'ready'")
                .fetch_one(&mut *transaction)
                .await?
                .try_get("n")?;
        let chunks: i64 = count("SELECT COUNT(*) AS n FROM chunks")
            .fetch_one(&mut *transaction)
            .await?
            .try_get("n")?;
        let blob_keys = sqlx::query("SELECT blob_key FROM document_versions")
            .fetch_all(&mut *transaction)
            .await?
            .iter()
            .map(|row| row.try_get("blob_key").map_err(StoreError::from))
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ExportedSnapshot {
            transaction,
            id,
            ready_documents,
            chunks,
            blob_keys,
        })
    }

    /// Every (tenant id, document id) that has chunk rows: what the indexes must hold.
    pub async fn indexed_documents(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT tenant_id, document_id FROM chunks ORDER BY tenant_id, document_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("tenant_id")?, row.try_get("document_id")?)))
            .collect()
    }

    // ---- embedding cache ---------------------------------------------------------

    /// The owner's tenant's cached vectors for the given text hashes (absent ones
    /// are skipped). Each one found becomes the owner's own entry too, so that it
    /// stays cached while the owner lives, whatever happens to the document that
    /// embedded it first.
    pub async fn cached_embeddings(
        &self,
        owner: EmbeddingOwner<'_>,
        model_id: &str,
        hashes: &[String],
    ) -> Result<Vec<(String, Vec<f32>)>, StoreError> {
        let mut out = Vec::new();
        for batch in hashes.chunks(200) {
            let placeholders: Vec<String> =
                (0..batch.len()).map(|i| format!("${}", i + 4)).collect();
            let sql = format!(
                "INSERT INTO embeddings (tenant_id, model_id, text_sha256, document_id, vector) \
                 SELECT tenant_id, model_id, text_sha256, $3, vector FROM embeddings \
                 WHERE tenant_id = $1 AND model_id = $2 AND document_id <> $3 \
                 AND text_sha256 IN ({}) \
                 ON CONFLICT (tenant_id, model_id, text_sha256, document_id) DO NOTHING",
                placeholders.join(", ")
            );
            let mut adopt = sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(owner.tenant_id)
                .bind(model_id)
                .bind(owner.document_id);
            for hash in batch {
                adopt = adopt.bind(hash);
            }
            let mut tx = self.write_tx().await?;
            adopt.execute(&mut *tx).await?;
            let sql = format!(
                "SELECT text_sha256, vector FROM embeddings WHERE tenant_id = $1 \
                 AND model_id = $2 AND document_id = $3 AND text_sha256 IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(owner.tenant_id)
                .bind(model_id)
                .bind(owner.document_id);
            for hash in batch {
                query = query.bind(hash);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let hash: String = row.try_get("text_sha256")?;
                let bytes: Vec<u8> = row.try_get("vector")?;
                out.push((hash, decode_vector(&bytes)?));
            }
            tx.commit().await?;
        }
        Ok(out)
    }

    /// Stores the owner's vectors in the cache (existing entries are kept).
    pub async fn cache_embeddings(
        &self,
        owner: EmbeddingOwner<'_>,
        model_id: &str,
        entries: &[(String, Vec<f32>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for (hash, vector) in entries {
            sqlx::query(
                "INSERT INTO embeddings (tenant_id, model_id, text_sha256, document_id, vector) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tenant_id, model_id, text_sha256, document_id) DO NOTHING",
            )
            .bind(owner.tenant_id)
            .bind(model_id)
            .bind(hash)
            .bind(owner.document_id)
            .bind(encode_vector(vector))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes the owner's embedding-cache entries (what an ingestion overtaken by
    /// the document's deletion may have written after the delete job ran).
    pub async fn forget_embeddings(&self, owner: EmbeddingOwner<'_>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM embeddings WHERE tenant_id = $1 AND document_id = $2")
            .bind(owner.tenant_id)
            .bind(owner.document_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// How many embedding-cache entries a tenant (or one of its documents) has,
    /// under any model, for consistency checks.
    pub async fn embedding_count(
        &self,
        tenant_id: &str,
        document_id: Option<&str>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM embeddings WHERE tenant_id = $1 \
             AND ($2 = '' OR document_id = $2)",
        )
        .bind(tenant_id)
        .bind(document_id.unwrap_or(""))
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    // ---- jobs --------------------------------------------------------------------

    /// Claims the oldest claimable job: queued, or running with an expired
    /// lease (its worker died). The claim sets a lease the worker must renew.
    pub async fn claim_job(
        &self,
        worker: &str,
        lease_ms: i64,
        max_attempts: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        let now = now_ms();
        self.fail_exhausted_jobs(max_attempts, now).await?;
        let lock = match self.dialect {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
             attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs WHERE (status = 'queued' \
                 OR (status = 'running' AND lease_expires_at < $3)) AND attempts < $4 \
                 ORDER BY created_at, id LIMIT 1 {lock}) \
             RETURNING {JOB_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .bind(max_attempts)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Fails for good, with `crashed_worker`, every claimable job that was
    /// already claimed `max_attempts` times. Attempts are counted when a job
    /// is claimed, before any work, so a document that kills its worker (and
    /// every restart after it) stops after `max_attempts` claims instead of
    /// looping forever; an ingestion job's document shows as failed.
    async fn fail_exhausted_jobs(&self, max_attempts: i64, now: i64) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE attempts >= $1 \
             AND (status = 'queued' OR (status = 'running' AND lease_expires_at < $2))"
        );
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(max_attempts)
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        for row in &rows {
            let job = job_from_row(row)?;
            let reason = FailureReason {
                code: "crashed_worker".into(),
                message: format!(
                    "the job was started {} times and never finished: each time its worker \
                     crashed or was stopped while it ran; it is not retried",
                    job.attempts
                ),
            };
            // Failed only if it is still exhausted and unclaimed: between the
            // read and now another worker may have claimed it, or its own
            // worker renewed the lease and finished it.
            let mut tx = self.write_tx().await?;
            let failed = sqlx::query(
                "UPDATE jobs SET status = 'failed', stage = 'failed', error_code = $1, error_message = $2, \
                 lease_owner = NULL, lease_expires_at = NULL, finished_at = $3, updated_at = $3 \
                 WHERE id = $4 AND attempts >= $5 \
                 AND (status = 'queued' OR (status = 'running' AND lease_expires_at < $3))",
            )
            .bind(&reason.code)
            .bind(&reason.message)
            .bind(now)
            .bind(&job.id)
            .bind(max_attempts)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if failed && job.kind == JobKind::Ingest {
                record_ingest_failure(&mut tx, &job, &reason, now).await?;
            }
            tx.commit().await?;
            if failed {
                tracing::warn!(job = %job.id, document = %job.document_id, attempts = job.attempts, "failed a job that crashed its worker");
            }
        }
        Ok(())
    }

    /// Extends a job's lease; false when the worker lost it (another took over).
    pub async fn renew_lease(
        &self,
        job_id: &str,
        worker: &str,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let result = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1, updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
        )
        .bind(now + lease_ms)
        .bind(now)
        .bind(job_id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Requeues every running job; used at start-up by a single-process
    /// (SQLite) deployment, where a running job can only be a crash leftover.
    pub async fn requeue_interrupted_jobs(&self) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, \
             updated_at = $1 WHERE status = 'running'",
        )
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// Records a job's stage and progress, and the document's visible status.
    pub async fn update_progress(
        &self,
        job_id: &str,
        progress: &JobProgress,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET stage = $1, progress = $2, chunks_done = $3, chunks_total = $4, \
             updated_at = $5 WHERE id = $6",
        )
        .bind(progress.stage.as_str())
        .bind(progress.progress)
        .bind(progress.chunks_done)
        .bind(progress.chunks_total)
        .bind(now_ms())
        .bind(job_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks the document processing (its first job stage started).
    pub async fn mark_processing(&self, document_id: &str, version: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE documents SET status = 'processing', updated_at = $1 \
             WHERE id = $2 AND latest_version = $3 AND status IN ('queued', 'ready', 'processing')",
        )
        .bind(now_ms())
        .bind(document_id)
        .bind(version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Commits a finished ingestion atomically: the version's chunk rows
    /// replace the previous version's, the document points at the new version,
    /// the job succeeds, and purge jobs are queued for superseded versions'
    /// index entries. Returns false (and changes nothing) when a newer
    /// version or a delete overtook this one.
    pub async fn complete_ingest(
        &self,
        job: &JobRecord,
        result: &IngestResult,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let doc = sqlx::query(
            "SELECT status, current_version, latest_version FROM documents WHERE id = $1",
        )
        .bind(&job.document_id)
        .fetch_optional(&mut *tx)
        .await?;
        let overtaken = match &doc {
            None => true,
            Some(row) => {
                let status: String = row.try_get("status")?;
                let latest: i64 = row.try_get("latest_version")?;
                status == "deleting" || latest != job.version
            }
        };
        if overtaken {
            finish_job(&mut tx, &job.id, "succeeded", None, now).await?;
            sqlx::query(
                "UPDATE document_versions SET status = 'superseded' WHERE document_id = $1 AND version = $2",
            )
            .bind(&job.document_id)
            .bind(job.version)
            .execute(&mut *tx)
            .await?;
            // The overtaken version's index entries are garbage now.
            if doc.is_some() {
                insert_job(
                    &mut tx,
                    JobKind::PurgeVersion,
                    &job.tenant_id,
                    &job.document_id,
                    job.version,
                )
                .await?;
            }
            tx.commit().await?;
            return Ok(false);
        }
        let previous: Option<i64> = doc
            .as_ref()
            .map(|r| r.try_get("current_version"))
            .transpose()?
            .flatten();
        sqlx::query("DELETE FROM chunks WHERE document_id = $1")
            .bind(&job.document_id)
            .execute(&mut *tx)
            .await?;
        for chunk in &result.chunks {
            let heading = serde_json::to_string(&chunk.heading_path)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO chunks ({CHUNK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            )))
            .bind(&chunk.id)
            .bind(&chunk.document_id)
            .bind(chunk.version)
            .bind(&chunk.tenant_id)
            .bind(&chunk.collection_id)
            .bind(chunk.ordinal)
            .bind(heading)
            .bind(chunk.char_start)
            .bind(chunk.char_end)
            .bind(chunk.page_start)
            .bind(chunk.page_end)
            .bind(chunk.token_count)
            .bind(&chunk.text)
            .bind(&chunk.context_header)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE document_versions SET status = 'ready', text_chars = $1, page_count = $2, \
             section_count = $3, chunk_count = $4, structure_json = $5 \
             WHERE document_id = $6 AND version = $7",
        )
        .bind(result.text_chars)
        .bind(result.page_count)
        .bind(result.section_count)
        .bind(result.chunks.len() as i64)
        .bind(&result.structure_json)
        .bind(&job.document_id)
        .bind(job.version)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE documents SET status = 'ready', current_version = $1, error_code = NULL, \
             error_message = NULL, updated_at = $2 WHERE id = $3",
        )
        .bind(job.version)
        .bind(now)
        .bind(&job.document_id)
        .execute(&mut *tx)
        .await?;
        if let Some(previous) = previous.filter(|p| *p != job.version) {
            sqlx::query(
                "UPDATE document_versions SET status = 'superseded' WHERE document_id = $1 AND version = $2",
            )
            .bind(&job.document_id)
            .bind(previous)
            .execute(&mut *tx)
            .await?;
            insert_job(
                &mut tx,
                JobKind::PurgeVersion,
                &job.tenant_id,
                &job.document_id,
                previous,
            )
            .await?;
        }
        let done = JobProgress {
            stage: JobStage::Done,
            progress: 1.0,
            chunks_done: result.chunks.len() as i64,
            chunks_total: result.chunks.len() as i64,
        };
        sqlx::query(
            "UPDATE jobs SET stage = $1, progress = $2, chunks_done = $3, chunks_total = $4 WHERE id = $5",
        )
        .bind(done.stage.as_str())
        .bind(done.progress)
        .bind(done.chunks_done)
        .bind(done.chunks_total)
        .bind(&job.id)
        .execute(&mut *tx)
        .await?;
        finish_job(&mut tx, &job.id, "succeeded", None, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Fails an ingestion job with a reason. The document keeps serving its
    /// previous ready version, if any; otherwise it shows as failed.
    pub async fn fail_ingest(
        &self,
        job: &JobRecord,
        reason: &FailureReason,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        finish_job(&mut tx, &job.id, "failed", Some(reason), now).await?;
        record_ingest_failure(&mut tx, job, reason, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a purge or delete job done.
    pub async fn complete_job(&self, job_id: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        finish_job(&mut tx, job_id, "succeeded", None, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Fails a purge or delete job (it will not be retried).
    pub async fn fail_job(&self, job_id: &str, reason: &FailureReason) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        finish_job(&mut tx, job_id, "failed", Some(reason), now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One job of a tenant.
    pub async fn get_job(&self, tenant_id: &str, job_id: &str) -> Result<JobRecord, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(tenant_id)
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))?;
        job_from_row(&row)
    }

    /// A tenant's jobs, newest first (at most `limit`).
    pub async fn list_jobs(
        &self,
        tenant_id: &str,
        limit: i64,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let page = Page {
            limit: usize::try_from(limit).unwrap_or(0),
            offset: 0,
        };
        Ok(self.list_jobs_page(tenant_id, page).await?.items)
    }

    /// Jobs still queued or running (all tenants).
    pub async fn open_job_count(&self) -> Result<i64, StoreError> {
        Ok(self.counts().await?.open_jobs)
    }
}

fn collection_from_row(row: &AnyRow) -> Result<Collection, StoreError> {
    Ok(Collection {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
    })
}

fn api_key_from_row(row: &AnyRow) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        hash: row.try_get("hash")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

async fn insert_job(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kind: JobKind,
    tenant_id: &str,
    document_id: &str,
    version: i64,
) -> Result<String, StoreError> {
    let id = new_id();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO jobs (id, kind, tenant_id, document_id, version, status, stage, progress, \
         chunks_done, chunks_total, attempts, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'queued', 'queued', 0, 0, 0, 0, $6, $6)",
    )
    .bind(&id)
    .bind(kind.as_str())
    .bind(tenant_id)
    .bind(document_id)
    .bind(version)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Marks an ingestion job's version failed, and its document too unless an
/// earlier version still serves it.
async fn record_ingest_failure(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    job: &JobRecord,
    reason: &FailureReason,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE document_versions SET status = 'failed', error_code = $1, error_message = $2 \
         WHERE document_id = $3 AND version = $4",
    )
    .bind(&reason.code)
    .bind(&reason.message)
    .bind(&job.document_id)
    .bind(job.version)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE documents SET status = CASE WHEN current_version IS NULL THEN 'failed' ELSE 'ready' END, \
         error_code = $1, error_message = $2, updated_at = $3 \
         WHERE id = $4 AND latest_version = $5 AND status <> 'deleting'",
    )
    .bind(&reason.code)
    .bind(&reason.message)
    .bind(now)
    .bind(&job.document_id)
    .bind(job.version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn finish_job(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    job_id: &str,
    status: &str,
    reason: Option<&FailureReason>,
    now: i64,
) -> Result<(), StoreError> {
    let stage = if status == "failed" { "failed" } else { "done" };
    sqlx::query(
        "UPDATE jobs SET status = $1, stage = $2, error_code = $3, error_message = $4, \
         lease_owner = NULL, lease_expires_at = NULL, finished_at = $5, updated_at = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(stage)
    .bind(reason.map(|r| r.code.as_str()))
    .bind(reason.map(|r| r.message.as_str()))
    .bind(now)
    .bind(job_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn reason_from(code: Option<String>, message: Option<String>) -> Option<FailureReason> {
    code.map(|code| FailureReason {
        code,
        message: message.unwrap_or_default(),
    })
}

fn document_from_row(row: &AnyRow) -> Result<DocumentRecord, StoreError> {
    let stage: Option<String> = row.try_get("stage")?;
    let progress = match stage {
        Some(stage) => Some(JobProgress {
            stage: JobStage::parse(&stage),
            progress: row.try_get("progress")?,
            chunks_done: row.try_get("chunks_done")?,
            chunks_total: row.try_get("chunks_total")?,
        }),
        None => None,
    };
    let status: String = row.try_get("status")?;
    Ok(DocumentRecord {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        collection_id: row.try_get("collection_id")?,
        name: row.try_get("name")?,
        status: DocumentStatus::parse(&status),
        current_version: row.try_get("current_version")?,
        latest_version: row.try_get("latest_version")?,
        format: row.try_get("format")?,
        bytes: row.try_get("bytes")?,
        sha256: row.try_get("sha256")?,
        error: reason_from(row.try_get("error_code")?, row.try_get("error_message")?),
        progress,
        chunk_count: row.try_get("chunk_count")?,
        page_count: row.try_get("page_count")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn version_from_row(row: &AnyRow) -> Result<VersionRecord, StoreError> {
    Ok(VersionRecord {
        document_id: row.try_get("document_id")?,
        version: row.try_get("version")?,
        sha256: row.try_get("sha256")?,
        bytes: row.try_get("bytes")?,
        format: row.try_get("format")?,
        file_name: row.try_get("file_name")?,
        status: row.try_get("status")?,
        blob_key: row.try_get("blob_key")?,
        text_chars: row.try_get("text_chars")?,
        page_count: row.try_get("page_count")?,
        section_count: row.try_get("section_count")?,
        chunk_count: row.try_get("chunk_count")?,
        error: reason_from(row.try_get("error_code")?, row.try_get("error_message")?),
        created_at: row.try_get("created_at")?,
    })
}

fn chunk_from_row(row: &AnyRow) -> Result<ChunkRecord, StoreError> {
    let heading: String = row.try_get("heading_path")?;
    Ok(ChunkRecord {
        id: row.try_get("id")?,
        document_id: row.try_get("document_id")?,
        version: row.try_get("version")?,
        tenant_id: row.try_get("tenant_id")?,
        collection_id: row.try_get("collection_id")?,
        ordinal: row.try_get("ordinal")?,
        heading_path: serde_json::from_str(&heading)
            .map_err(|e| StoreError::Corrupt(format!("heading_path: {e}")))?,
        char_start: row.try_get("char_start")?,
        char_end: row.try_get("char_end")?,
        page_start: row.try_get("page_start")?,
        page_end: row.try_get("page_end")?,
        token_count: row.try_get("token_count")?,
        text: row.try_get("text")?,
        context_header: row.try_get("context_header")?,
    })
}

fn job_from_row(row: &AnyRow) -> Result<JobRecord, StoreError> {
    let kind: String = row.try_get("kind")?;
    let stage: String = row.try_get("stage")?;
    Ok(JobRecord {
        id: row.try_get("id")?,
        kind: JobKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("job kind {kind}")))?,
        tenant_id: row.try_get("tenant_id")?,
        document_id: row.try_get("document_id")?,
        version: row.try_get("version")?,
        status: row.try_get("status")?,
        progress: JobProgress {
            stage: JobStage::parse(&stage),
            progress: row.try_get("progress")?,
            chunks_done: row.try_get("chunks_done")?,
            chunks_total: row.try_get("chunks_total")?,
        },
        attempts: row.try_get("attempts")?,
        error: reason_from(row.try_get("error_code")?, row.try_get("error_message")?),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn encode_vector(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode_vector(bytes: &[u8]) -> Result<Vec<f32>, StoreError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt(
            "embedding length is not a multiple of 4".into(),
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}
