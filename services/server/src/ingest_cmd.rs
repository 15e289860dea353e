//! `folio ingest PATH…`: stores the files, then runs the ingestion workers
//! in this process until every queued job is done, with progress bars.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use folio_common::store::{JobStage, SubmitOutcome};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;

use crate::cli::IngestArgs;
use crate::runtime::Runtime;
use crate::upload::Upload;

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
) -> Result<(String, SubmitOutcome)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("document")
        .to_string();
    let mut upload = Upload::begin(runtime, &runtime.tenant.id, &name).await?;
    let mut file = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if let Err(e) = upload.write(&buf[..n]).await {
            upload.abort().await;
            return Err(e.into());
        }
    }
    Ok(upload.finish(runtime, collection_id).await?)
}

/// `folio ingest` finished, but some documents did not become searchable: the
/// process exits with [`DocumentsNotIngested::EXIT_CODE`] so that scripts notice.
#[derive(Debug, thiserror::Error)]
#[error("{failed} document(s) failed and {rejected} were rejected")]
pub struct DocumentsNotIngested {
    /// Documents whose ingestion job failed.
    pub failed: usize,
    /// Files refused before a job existed.
    pub rejected: usize,
}

impl DocumentsNotIngested {
    /// Distinct from 1 (Folio itself could not run), so a script can tell "some
    /// inputs are bad" from "the tool is broken".
    pub const EXIT_CODE: u8 = 2;
}

/// `(name, code, message)` of every report entry that did not end ready or
/// unchanged.
pub fn not_ingested(report: &[serde_json::Value]) -> Vec<(String, String, String)> {
    report
        .iter()
        .filter(|entry| entry["status"] == "failed" || entry["status"] == "rejected")
        .map(|entry| {
            let text = |value: &serde_json::Value| value.as_str().unwrap_or("").to_string();
            (
                text(&entry["name"]),
                text(&entry["error"]["code"]),
                text(&entry["error"]["message"]),
            )
        })
        .collect()
}

pub async fn run(runtime: Runtime, args: IngestArgs) -> Result<()> {
    let report = ingest_files(&runtime, &args.paths, &args.collection, args.json).await?;
    let count = |status: &str| report.iter().filter(|v| v["status"] == status).count();
    let vectors = runtime.pipeline.indexes().vectors.stats().await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"documents": report, "vectors": vectors}))?
        );
    } else {
        println!(
            "{} ready, {} failed, {} unchanged, {} rejected",
            count("ready"),
            count("failed"),
            count("unchanged"),
            count("rejected")
        );
        println!(
            "vector store: {} points, {} vectors in a vector index, {} segments",
            vectors.points, vectors.indexed_vectors, vectors.segments
        );
    }
    let problems = not_ingested(&report);
    if problems.is_empty() {
        return Ok(());
    }
    for (name, code, message) in &problems {
        eprintln!("not ingested  {name}: [{code}] {message}");
    }
    Err(DocumentsNotIngested {
        failed: count("failed"),
        rejected: count("rejected"),
    }
    .into())
}

/// Submits files (directories recursively) to a collection and runs workers until
/// every submitted job is terminal. Returns one JSON report entry per file, with
/// `status` one of `ready`, `failed`, `unchanged`, `rejected`. `quiet` hides the
/// progress bars and per-file lines.
pub async fn ingest_files(
    runtime: &Runtime,
    paths: &[PathBuf],
    collection: &str,
    quiet: bool,
) -> Result<Vec<serde_json::Value>> {
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
            )) => {
                queued.push((name, document_id, job_id));
            }
            Ok((name, SubmitOutcome::Unchanged { document_id, .. })) => {
                report.push(json!({"file": path, "name": name, "document_id": document_id, "status": "unchanged"}));
                if !quiet {
                    println!("unchanged  {}", path.display());
                }
            }
            Err(e) => {
                let code = e
                    .downcast_ref::<crate::upload::UploadError>()
                    .map_or("unreadable_file", crate::upload::UploadError::code);
                // The same shape as a failed job's entry.
                report.push(json!({"file": path, "name": path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned()),
                                   "status": "rejected", "error": {"code": code, "message": format!("{e:#}")}}));
                if !quiet {
                    eprintln!("rejected   {}: {e:#}", path.display());
                }
            }
        }
    }

    let workers = runtime.config.ingest.workers.max(1);
    let wake = Arc::new(Notify::new());
    let mut tasks = Vec::new();
    for slot in 0..workers {
        let worker = folio_ingest::worker::Worker::new(
            runtime.pipeline.clone(),
            format!("cli-{}-{slot}", std::process::id()),
            wake.clone(),
        );
        tasks.push(tokio::spawn(async move { worker.drain().await }));
    }

    let multi = MultiProgress::new();
    if quiet {
        multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let overall = multi.add(ProgressBar::new(queued.len() as u64));
    overall.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {pos}/{len} documents  {elapsed_precise}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    overall.set_prefix("ingesting");
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    let style = ProgressStyle::with_template("{prefix:>10} [{bar:30}] {percent:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let mut finished: HashMap<String, serde_json::Value> = HashMap::new();
    while finished.len() < queued.len() {
        for (name, document_id, job_id) in &queued {
            if finished.contains_key(job_id) {
                continue;
            }
            let job = runtime.store.get_job(&runtime.tenant.id, job_id).await?;
            let bar = bars.entry(job_id.clone()).or_insert_with(|| {
                let bar = multi.add(ProgressBar::new(100));
                bar.set_style(style.clone());
                bar
            });
            bar.set_prefix(job.progress.stage.as_str().to_string());
            bar.set_position((job.progress.progress * 100.0) as u64);
            let chunks = if job.progress.chunks_total > 0 {
                format!(
                    " ({}/{} chunks)",
                    job.progress.chunks_done, job.progress.chunks_total
                )
            } else {
                String::new()
            };
            bar.set_message(format!("{name}{chunks}"));
            if job.status == "succeeded" || job.status == "failed" {
                bar.finish_and_clear();
                overall.inc(1);
                let line = match (&job.status[..], &job.error) {
                    ("failed", Some(e)) => format!("failed     {name}: [{}] {}", e.code, e.message),
                    _ => format!("ready      {name} ({} chunks)", job.progress.chunks_total),
                };
                if !quiet {
                    multi.println(line).ok();
                }
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
            if tasks.iter().all(|t| t.is_finished()) {
                let pending: Vec<_> = queued
                    .iter()
                    .filter(|(_, _, j)| !finished.contains_key(j))
                    .collect();
                let mut all_terminal = true;
                for (_, _, job_id) in &pending {
                    let job = runtime.store.get_job(&runtime.tenant.id, job_id).await?;
                    all_terminal &= job.status == "succeeded" || job.status == "failed";
                }
                if !all_terminal {
                    anyhow::bail!("workers stopped with {} job(s) unfinished", pending.len());
                }
                continue;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    overall.finish_and_clear();
    for task in tasks {
        task.await??;
    }
    report.extend(finished.into_values());
    // A server's workers optimise when their queue empties; this process is the only
    // worker here, so it does the same before it exits, else the vectors just written
    // would stay unindexed and every dense search would scan them. It also finishes
    // what an interrupted earlier run left, so it runs even when nothing was queued.
    let started = std::time::Instant::now();
    if !quiet {
        println!(
            "optimising the vector store (builds the vector index once enough vectors are in)"
        );
    }
    let optimized = runtime
        .pipeline
        .indexes()
        .vectors
        .optimize()
        .await
        .context("optimising the vector store")?;
    if optimized && !quiet {
        println!(
            "vector store optimised in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(report)
}
