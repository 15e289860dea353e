//! Consistent copies of the store for backups, and the counts that check the
//! stores agree after a restore.

use super::*;

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

impl MetadataStore {
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
}
