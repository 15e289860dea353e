//! `folio ingest PATH…`: stores the files, then runs the ingestion workers
//! in this process until every queued job is done, with progress bars.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;
use folio_app::ingest::{ingest_files, FileOutcome, IngestObserver};
use folio_app::{AppError, Runtime};
use folio_server::error_codes;
use folio_store::JobRecord;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;

use super::args::IngestArgs;

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
    let observer = Progress::new(args.json);
    let outcomes = ingest_files(&runtime, &args.paths, &args.collection, &observer).await?;
    let report = report_entries(outcomes);
    let count = |status: &str| report.iter().filter(|v| v["status"] == status).count();
    let vectors = runtime.indexes.vectors.stats().await?;
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

/// The JSON report entries; a refused file's error carries its API code.
fn report_entries(outcomes: Vec<FileOutcome>) -> Vec<serde_json::Value> {
    outcomes
        .into_iter()
        .map(|outcome| {
            let mut entry = outcome.entry;
            if let Some(error) = &outcome.rejection {
                entry["error"] =
                    json!({"code": error_codes::of(error).name, "message": error.to_string()});
            }
            entry
        })
        .collect()
}

/// Progress bars (one per job and one overall) and a line per file, or
/// nothing with `--json`.
struct Progress {
    quiet: bool,
    multi: MultiProgress,
    overall: ProgressBar,
    bars: Mutex<HashMap<String, ProgressBar>>,
    style: ProgressStyle,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        let multi = MultiProgress::new();
        if quiet {
            multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} documents  {elapsed_precise}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        overall.set_prefix("ingesting");
        let style = ProgressStyle::with_template("{prefix:>10} [{bar:30}] {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        Progress {
            quiet,
            multi,
            overall,
            bars: Mutex::default(),
            style,
        }
    }

    fn bar(&self, job: &JobRecord) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        bars.entry(job.id.clone())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new(100));
                bar.set_style(self.style.clone());
                bar
            })
            .clone()
    }
}

impl IngestObserver for Progress {
    fn unchanged(&self, path: &Path) {
        if !self.quiet {
            println!("unchanged  {}", path.display());
        }
    }

    fn rejected(&self, path: &Path, error: &AppError) {
        if !self.quiet {
            eprintln!("rejected   {}: {error}", path.display());
        }
    }

    fn started(&self, queued: usize) {
        self.overall.set_length(queued as u64);
    }

    fn progress(&self, name: &str, job: &JobRecord) {
        let bar = self.bar(job);
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
    }

    fn finished(&self, name: &str, job: &JobRecord) {
        self.bar(job).finish_and_clear();
        self.overall.inc(1);
        let line = match (&job.status[..], &job.error) {
            ("failed", Some(e)) => format!("failed     {name}: [{}] {}", e.code, e.message),
            _ => format!("ready      {name} ({} chunks)", job.progress.chunks_total),
        };
        if !self.quiet {
            self.multi.println(line).ok();
        }
    }

    fn optimising(&self) {
        self.overall.finish_and_clear();
        if !self.quiet {
            println!(
                "optimising the vector store (builds the vector index once enough vectors are in)"
            );
        }
    }

    fn optimised(&self, built: bool, elapsed: Duration) {
        if built && !self.quiet {
            println!("vector store optimised in {:.1} s", elapsed.as_secs_f64());
        }
    }
}
