//! Ingesting files from disk in this process (`folio ingest`, the eval and the
//! benches): submit each file, run workers until every job is terminal, then
//! optimise the vector store. What is shown while it runs is the caller's
//! business, through [`IngestObserver`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use folio_store::{JobRecord, JobStage, SubmitOutcome};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::runtime::Runtime;
use crate::upload::Upload;
use crate::AppError;

/// Files under `paths` (directories walked recursively, hidden files skipped), sorted.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(path) = stack.pop() {
        let meta =
            std::fs::metadata(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                let entry = entry?.path();
                let hidden = entry
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'));
                if !hidden {
                    stack.push(entry);
                }
            }
        } else {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Streams one file into the store and records it; returns what happened.
pub async fn submit_file(
    runtime: &Runtime,
    collection_id: &str,
    path: &Path,
) -> Result<(String, SubmitOutcome), AppError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("document")
        .to_string();
    let unreadable = |e: std::io::Error| AppError::Internal(format!("{}: {e}", path.display()));
    let mut upload = Upload::begin(runtime, &runtime.tenant.id, &name).await?;
    let mut file = tokio::fs::File::open(path).await.map_err(unreadable)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                upload.abort().await;
                return Err(unreadable(e));
            }
        };
        if n == 0 {
            break;
        }
        if let Err(e) = upload.write(&buf[..n]).await {
            upload.abort().await;
            return Err(e);
        }
    }
    upload.finish(runtime, collection_id).await
}

/// What an ingestion shows while it runs. Every method has a silent default.
pub trait IngestObserver: Send + Sync {
    /// A file was identical to the stored version.
    fn unchanged(&self, _path: &Path) {}
    /// A file was refused before a job existed.
    fn rejected(&self, _path: &Path, _error: &AppError) {}
    /// `queued` jobs will be waited for.
    fn started(&self, _queued: usize) {}
    /// A job's latest state (called on every poll until it is terminal).
    fn progress(&self, _name: &str, _job: &JobRecord) {}
    /// A job ended, ready (`error` none) or failed.
    fn finished(&self, _name: &str, _job: &JobRecord) {}
    /// Every job ended; the vector store is being optimised.
    fn optimising(&self) {}
    /// The vector store was optimised (`built`: an index was built) in that time.
    fn optimised(&self, _built: bool, _elapsed: Duration) {}
}

/// An observer that shows nothing.
pub struct Quiet;

impl IngestObserver for Quiet {}

/// One file's outcome: `status` is `ready`, `failed`, `unchanged` or `rejected`;
/// a rejection's `error` carries the refusal (its code from the caller's table).
#[derive(Debug)]
pub struct FileOutcome {
    /// The report entry (`file`, `name`, `document_id`, `job_id`, `status`,
    /// `chunks`, `error` as the job recorded it).
    pub entry: serde_json::Value,
    /// Why the file was refused, for `rejected`.
    pub rejection: Option<AppError>,
}

/// Submits files (directories recursively) to a collection and runs workers until
/// every submitted job is terminal. One outcome per file.
pub async fn ingest_files(
    runtime: &Runtime,
    paths: &[PathBuf],
    collection: &str,
    observer: &dyn IngestObserver,
) -> Result<Vec<FileOutcome>> {
    runtime.recover().await?;
    let collection = runtime.collection(collection).await?;
    let files = collect_files(paths)?;
    let mut queued: Vec<(String, String, String)> = Vec::new(); // (name, document, job)
    let mut report = Vec::new();
    for path in &files {
        match submit_file(runtime, &collection.id, path).await {
            Ok((
                name,
                SubmitOutcome::Queued {
                    document_id,
                    job_id,
                    ..
                },
            )) => queued.push((name, document_id, job_id)),
            Ok((name, SubmitOutcome::Unchanged { document_id, .. })) => {
                observer.unchanged(path);
                report.push(FileOutcome {
                    entry: json!({"file": path, "name": name, "document_id": document_id, "status": "unchanged"}),
                    rejection: None,
                });
            }
            Err(error) => {
                observer.rejected(path, &error);
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                report.push(FileOutcome {
                    entry: json!({"file": path, "name": name, "status": "rejected"}),
                    rejection: Some(error),
                });
            }
        }
    }

    let workers = runtime.config.ingest.workers.max(1);
    let mut tasks = Vec::new();
    for slot in 0..workers {
        let worker = folio_ingest::worker::Worker::new(
            runtime.pipeline.clone(),
            format!("cli-{}-{slot}", std::process::id()),
            runtime.wake.clone(),
        );
        tasks.push(tokio::spawn(async move { worker.drain().await }));
    }
    observer.started(queued.len());
    let terminal = |job: &JobRecord| job.status == "succeeded" || job.status == "failed";
    let mut finished: HashMap<String, serde_json::Value> = HashMap::new();
    while finished.len() < queued.len() {
        for (name, document_id, job_id) in &queued {
            if finished.contains_key(job_id) {
                continue;
            }
            let job = runtime.store.get_job(&runtime.tenant.id, job_id).await?;
            observer.progress(name, &job);
            if terminal(&job) {
                observer.finished(name, &job);
                finished.insert(
                    job_id.clone(),
                    json!({"name": name, "document_id": document_id, "job_id": job_id,
                           "status": if job.progress.stage == JobStage::Done { "ready" } else { "failed" },
                           "chunks": job.progress.chunks_total, "error": job.error}),
                );
            }
        }
        if tasks.iter().all(|t| t.is_finished()) && finished.len() < queued.len() {
            // Workers are done but some job is not terminal: poll once more, then stop.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut all_terminal = true;
            for (_, _, job_id) in queued.iter().filter(|(_, _, j)| !finished.contains_key(j)) {
                all_terminal &= terminal(&runtime.store.get_job(&runtime.tenant.id, job_id).await?);
            }
            if !all_terminal {
                anyhow::bail!(
                    "workers stopped with {} job(s) unfinished",
                    queued.len() - finished.len()
                );
            }
            continue;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for task in tasks {
        task.await??;
    }
    report.extend(finished.into_values().map(|entry| FileOutcome {
        entry,
        rejection: None,
    }));
    // A server's workers optimise when their queue empties; this process is the only
    // worker here, so it does the same before it exits, else the vectors just written
    // would stay unindexed and every dense search would scan them. It also finishes
    // what an interrupted earlier run left, so it runs even when nothing was queued.
    let started = std::time::Instant::now();
    observer.optimising();
    let built = runtime
        .indexes
        .vectors
        .optimize()
        .await
        .context("optimising the vector store")?;
    observer.optimised(built, started.elapsed());
    Ok(report)
}
