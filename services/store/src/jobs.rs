//! The durable job queue: jobs are claimed under a lease that the worker
//! renews; a lease that lapses (a crashed worker) lets another claim the job,
//! and a job claimed `max_attempts` times fails instead of looping.
//! Finishing an ingestion writes its rows and the job's end in one transaction.

use super::*;

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

pub(super) const JOB_COLUMNS: &str =
    "id, kind, tenant_id, document_id, version, status, stage, progress, \
     chunks_done, chunks_total, attempts, error_code, error_message, created_at, updated_at";

impl MetadataStore {
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

pub(super) async fn insert_job(
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
pub(super) async fn record_ingest_failure(
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

pub(super) async fn finish_job(
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

pub(super) fn reason_from(code: Option<String>, message: Option<String>) -> Option<FailureReason> {
    code.map(|code| FailureReason {
        code,
        message: message.unwrap_or_default(),
    })
}

pub(super) fn job_from_row(row: &AnyRow) -> Result<JobRecord, StoreError> {
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
