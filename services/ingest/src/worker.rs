//! The job worker: claims jobs from the durable queue, keeps their lease
//! alive while it works, and records the outcome. A failing document fails
//! its own job with a reason; the worker carries on with the next one.

use std::sync::Arc;
use std::time::Duration;

use folio_store::{FailureReason, JobKind, JobRecord};
use tokio::sync::{watch, Notify};

use crate::pipeline::{IngestSummary, Pipeline};
use crate::IngestError;

/// What happened to one job.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    /// Ingested (or purged / deleted).
    Succeeded(Option<IngestSummary>),
    /// Failed with a recorded reason.
    Failed(FailureReason),
    /// Another worker took the job over (our lease expired).
    LeaseLost,
}

/// Claims and runs jobs.
#[derive(Clone)]
pub struct Worker {
    pipeline: Pipeline,
    id: String,
    wake: Arc<Notify>,
    on_finished: Option<JobObserver>,
}

/// Called after every job a worker finishes (metrics, logs).
pub type JobObserver = Arc<dyn Fn(&JobRecord, &JobOutcome) + Send + Sync>;

impl Worker {
    /// A worker named `id` (unique per process and worker slot).
    pub fn new(pipeline: Pipeline, id: impl Into<String>, wake: Arc<Notify>) -> Self {
        Worker {
            pipeline,
            id: id.into(),
            wake,
            on_finished: None,
        }
    }

    /// Calls `observer` after every job this worker finishes.
    pub fn observed_by(mut self, observer: JobObserver) -> Self {
        self.on_finished = Some(observer);
        self
    }

    fn lease_ms(&self) -> i64 {
        (self.pipeline.config().lease_seconds.max(1) * 1000) as i64
    }

    /// Claims one job and runs it; `None` when the queue is empty.
    pub async fn run_next(
        &self,
    ) -> Result<Option<(JobRecord, JobOutcome)>, folio_store::StoreError> {
        let store = self.pipeline.store();
        let Some(job) = store
            .claim_job(
                &self.id,
                self.lease_ms(),
                self.pipeline.config().max_attempts as i64,
            )
            .await?
        else {
            return Ok(None);
        };
        let outcome = self.run(&job).await;
        if let Some(observer) = &self.on_finished {
            observer(&job, &outcome);
        }
        Ok(Some((job, outcome)))
    }

    /// Runs jobs until the queue is empty (CLI ingestion, tests, benchmarks).
    pub async fn drain(&self) -> Result<Vec<(JobRecord, JobOutcome)>, folio_store::StoreError> {
        let mut done = Vec::new();
        while let Some(result) = self.run_next().await? {
            done.push(result);
        }
        Ok(done)
    }

    /// Runs until `shutdown` turns true, sleeping when the queue is empty
    /// until woken (new upload) or a poll interval passes (other processes'
    /// uploads, expired leases).
    ///
    /// After a burst of successful jobs, once the queue is empty, the vector
    /// store's optimiser runs: without it a growing embedded store is searched
    /// segment by segment without a vector index. It also runs once when the
    /// queue is first found empty, for what an earlier process left unoptimised.
    pub async fn run_forever(self, mut shutdown: watch::Receiver<bool>) {
        let mut vectors_changed = true;
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.run_next().await {
                Ok(Some((job, outcome))) => {
                    tracing::info!(worker = %self.id, job = %job.id, kind = job.kind.as_str(), outcome = ?outcome_name(&outcome), "job finished");
                    vectors_changed |= matches!(outcome, JobOutcome::Succeeded(_));
                    continue;
                }
                Ok(None) if vectors_changed => {
                    vectors_changed = false;
                    self.optimize_vectors().await;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(worker = %self.id, error = %e, "could not claim a job"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn optimize_vectors(&self) {
        let started = std::time::Instant::now();
        match self.pipeline.indexes().vectors.optimize().await {
            Ok(true) => {
                tracing::info!(worker = %self.id, seconds = started.elapsed().as_secs_f64(), "vector store optimised")
            }
            Ok(false) => {}
            // Searches still work on unoptimised segments, only slower.
            Err(e) => {
                tracing::warn!(worker = %self.id, error = %e, "vector store optimisation failed")
            }
        }
    }

    async fn run(&self, job: &JobRecord) -> JobOutcome {
        let store = self.pipeline.store().clone();
        // The heartbeat renews the lease at a third of its length; when the
        // lease is lost the work is abandoned (another worker owns the job).
        let (lost_tx, mut lost_rx) = watch::channel(false);
        let heartbeat = {
            let (store, job_id, worker, lease) = (
                store.clone(),
                job.id.clone(),
                self.id.clone(),
                self.lease_ms(),
            );
            tokio::spawn(async move {
                let period = Duration::from_millis((lease / 3).max(100) as u64);
                loop {
                    tokio::time::sleep(period).await;
                    match store.renew_lease(&job_id, &worker, lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            let _ = lost_tx.send(true);
                            return;
                        }
                        Err(e) => tracing::warn!(job = %job_id, error = %e, "lease renewal failed"),
                    }
                }
            })
        };
        let work = {
            let (pipeline, job) = (self.pipeline.clone(), job.clone());
            // A task of its own, so a panic in any stage becomes a JoinError
            // (a failed job) instead of taking the worker down.
            tokio::spawn(async move {
                match job.kind {
                    JobKind::Ingest => pipeline.ingest(&job).await.map(Some),
                    JobKind::PurgeVersion => pipeline.purge_version(&job).await.map(|()| None),
                    JobKind::Delete => pipeline.delete_document(&job).await.map(|()| None),
                }
            })
        };
        let abort = work.abort_handle();
        let result = tokio::select! {
            joined = work => Some(joined),
            _ = lost_rx.wait_for(|lost| *lost) => None,
        };
        heartbeat.abort();
        let Some(joined) = result else {
            abort.abort();
            tracing::warn!(job = %job.id, "lease lost; another worker owns the job now");
            return JobOutcome::LeaseLost;
        };
        let outcome = match joined {
            Ok(Ok(summary)) => {
                if job.kind != JobKind::Ingest {
                    if let Err(e) = store.complete_job(&job.id).await {
                        tracing::error!(job = %job.id, error = %e, "could not record job success");
                    }
                }
                return JobOutcome::Succeeded(summary);
            }
            Ok(Err(e)) => {
                tracing::warn!(job = %job.id, error = %e, "job error");
                e.reason()
            }
            Err(join) => {
                tracing::error!(job = %job.id, error = %join, "the job crashed");
                IngestError::Internal(join.to_string()).reason()
            }
        };
        tracing::warn!(job = %job.id, code = %outcome.code, message = %outcome.message, "job failed");
        let recorded = match job.kind {
            JobKind::Ingest => store.fail_ingest(job, &outcome).await,
            _ => store.fail_job(&job.id, &outcome).await,
        };
        if let Err(e) = recorded {
            tracing::error!(job = %job.id, error = %e, "could not record job failure");
        }
        JobOutcome::Failed(outcome)
    }
}

fn outcome_name(outcome: &JobOutcome) -> &'static str {
    match outcome {
        JobOutcome::Succeeded(_) => "succeeded",
        JobOutcome::Failed(_) => "failed",
        JobOutcome::LeaseLost => "lease_lost",
    }
}
