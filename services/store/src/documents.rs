//! Documents, their versions and their chunk rows: submitting a version
//! (deduplicated by content, with its ingestion job), reading, deleting.

use super::*;

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

pub(super) const DOCUMENT_COLUMNS: &str = "d.id, d.tenant_id, d.collection_id, d.name, d.status, \
     d.current_version, d.latest_version, d.error_code, d.error_message, d.created_at, \
     d.updated_at, v.format, v.bytes, v.sha256, j.stage, j.progress, j.chunks_done, \
     j.chunks_total, cv.chunk_count, cv.page_count";

pub(super) const DOCUMENT_JOINS: &str = "FROM documents d \
     JOIN document_versions v ON v.document_id = d.id AND v.version = d.latest_version \
     LEFT JOIN document_versions cv ON cv.document_id = d.id AND cv.version = d.current_version \
     LEFT JOIN jobs j ON j.id = (SELECT j2.id FROM jobs j2 WHERE j2.document_id = d.id \
         AND j2.kind = 'ingest' AND j2.version = d.latest_version ORDER BY j2.created_at DESC LIMIT 1)";

pub(super) const VERSION_COLUMNS: &str = "document_id, version, sha256, bytes, format, file_name, status, \
     blob_key, text_chars, page_count, section_count, chunk_count, error_code, error_message, created_at";

pub(super) const CHUNK_COLUMNS: &str =
    "id, document_id, version, tenant_id, collection_id, ordinal, \
     heading_path, char_start, char_end, page_start, page_end, token_count, text, context_header";

impl MetadataStore {
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
}

pub(super) fn document_from_row(row: &AnyRow) -> Result<DocumentRecord, StoreError> {
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

pub(super) fn version_from_row(row: &AnyRow) -> Result<VersionRecord, StoreError> {
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
