//! `folio bench …`: figures and ratios against a reference measured in the
//! same run; never pass/fail.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use folio_common::config::FolioConfig;
use folio_common::model::{DocumentFormat, TokenCounter};
use folio_ingest::chunk::ChunkOptions;
use folio_ingest::pipeline::StageTimings;
use folio_ingest::worker::{JobOutcome, Worker};
use serde_json::json;
use tokio::sync::Notify;

use crate::args::{BenchCommand, BenchFormat, BenchIngestArgs, BenchStructureArgs};
use folio_app::ingest::{collect_files, submit_file};
use folio_app::Runtime;

/// Peak resident set size of this process, in bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn set_files(set: &Path, format: BenchFormat) -> Result<Vec<PathBuf>> {
    let docs = if set.join("docs").is_dir() {
        set.join("docs")
    } else {
        set.to_path_buf()
    };
    let files = collect_files(std::slice::from_ref(&docs))
        .with_context(|| format!("reading {}", docs.display()))?;
    Ok(files
        .into_iter()
        .filter(|p| {
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            match format {
                BenchFormat::Txt => ext == "txt",
                BenchFormat::Pdf => ext == "pdf",
                BenchFormat::All => DocumentFormat::detect(&p.to_string_lossy(), b"").is_some(),
            }
        })
        .collect())
}

pub async fn run(config: FolioConfig, command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Ingest(args) => ingest(config, args).await,
        BenchCommand::Structure(args) => structure(config, args).await,
        BenchCommand::Score(args) => crate::bench_score::run(&config, args),
        BenchCommand::Tokens(args) => crate::bench_tokens::run(&args),
        BenchCommand::Retrieve(args) => crate::bench_retrieve::run(config, args).await,
    }
}

async fn ingest(mut config: FolioConfig, args: BenchIngestArgs) -> Result<()> {
    let mut files = set_files(&args.set, args.format)?;
    if let Some(limit) = args.limit {
        files.truncate(limit);
    }
    anyhow::ensure!(
        !files.is_empty(),
        "no documents found in {}",
        args.set.display()
    );
    // A fresh data directory, so nothing is cached from earlier runs.
    let scratch = tempfile::Builder::new()
        .prefix("folio-bench-")
        .tempdir_in(std::env::temp_dir())?;
    config.data_dir = scratch.path().to_path_buf();
    config.store.url = String::new();
    config.vectors.backend = folio_common::config::VectorBackend::Edge;
    let runtime = Runtime::open(config).await?;
    let collection = runtime.collection("bench").await?;

    let started = Instant::now();
    let mut bytes = 0u64;
    for path in &files {
        bytes += std::fs::metadata(path)?.len();
        submit_file(&runtime, &collection.id, path).await?;
    }
    let worker = Worker::new(runtime.pipeline.clone(), "bench", Arc::new(Notify::new()));
    let outcomes = worker.drain().await?;
    let wall = started.elapsed();

    let mut timings = StageTimings::default();
    let (mut chunks, mut chars, mut failed) = (0usize, 0usize, Vec::new());
    for (job, outcome) in &outcomes {
        match outcome {
            JobOutcome::Succeeded(Some(summary)) => {
                timings.add(&summary.timings);
                chunks += summary.chunks;
                chars += summary.chars;
            }
            JobOutcome::Failed(reason) => {
                failed.push(format!("{}: {}", job.document_id, reason.code))
            }
            _ => {}
        }
    }

    // Reference: the raw embedder on a sample of the same passages, same
    // batch size, same process, right after the pipeline run.
    let embedder = runtime.indexes.embedder.clone();
    let tenant = runtime.tenant.id.clone();
    // An evenly strided sample of every produced passage, so its length mix
    // matches what the pipeline embedded.
    let mut passages = Vec::new();
    for document in runtime.store.list_documents(&tenant, None).await? {
        for chunk in runtime.store.document_chunks(&tenant, &document.id).await? {
            let mut text = String::new();
            if !chunk.heading_path.is_empty() {
                text.push_str(&chunk.heading_path.join(" › "));
                text.push('\n');
            }
            if let Some(header) = &chunk.context_header {
                text.push_str(header);
                text.push('\n');
            }
            text.push_str(&chunk.text);
            passages.push(text);
        }
    }
    let stride = passages.len().div_ceil(512).max(1);
    let sample: Vec<String> = passages.into_iter().step_by(stride).collect();
    let batch = runtime.config.ingest.embed_batch.max(1);
    let raw_started = Instant::now();
    let raw_count = sample.len();
    let raw = tokio::task::spawn_blocking(move || -> Result<()> {
        for part in sample.chunks(batch) {
            embedder.embed(part)?;
        }
        Ok(())
    });
    raw.await??;
    let raw_secs = raw_started.elapsed().as_secs_f64();
    let raw_rate = raw_count as f64 / raw_secs.max(1e-9);
    let pipeline_rate = chunks as f64 / wall.as_secs_f64().max(1e-9);
    let mb = bytes as f64 / 1e6;
    let report = json!({
        "documents": files.len(),
        "failed": failed,
        "input_mb": mb,
        "canonical_chars": chars,
        "chunks": chunks,
        "wall_s": wall.as_secs_f64(),
        "mb_per_s": mb / wall.as_secs_f64().max(1e-9),
        "stage_s": {
            "parse": timings.parse.as_secs_f64(),
            "structure": timings.structure.as_secs_f64(),
            "chunk": timings.chunk.as_secs_f64(),
            "embed": timings.embed.as_secs_f64(),
            "index": timings.index.as_secs_f64(),
        },
        "pipeline_passages_per_s": pipeline_rate,
        "raw_embed_passages_per_s": raw_rate,
        "raw_embed_sample": raw_count,
        "pipeline_overhead_vs_raw_embed": raw_rate / pipeline_rate.max(1e-9) - 1.0,
        "peak_rss_mb": peak_rss_bytes().map(|b| b as f64 / 1e6),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "folio bench ingest: {} documents, {:.1} MB, {} chunks",
            files.len(),
            mb,
            chunks
        );
        println!(
            "  wall                {:>9.1} s   ({:.3} MB/s)",
            wall.as_secs_f64(),
            report["mb_per_s"].as_f64().unwrap_or(0.0)
        );
        for stage in ["parse", "structure", "chunk", "embed", "index"] {
            let secs = report["stage_s"][stage].as_f64().unwrap_or(0.0);
            println!(
                "  {stage:<18}  {secs:>9.2} s   ({:>5.1}%)",
                100.0 * secs / timings.total().as_secs_f64().max(1e-9)
            );
        }
        println!("  pipeline            {pipeline_rate:>9.2} passages/s");
        println!("  raw embedder        {raw_rate:>9.2} passages/s  (same run, {raw_count} of the same passages, batch {batch})");
        println!(
            "  overhead vs raw     {:>9.1} %",
            100.0 * (raw_rate / pipeline_rate.max(1e-9) - 1.0)
        );
        if let Some(rss) = report["peak_rss_mb"].as_f64() {
            println!("  peak RSS            {rss:>9.0} MB");
        }
        if !failed.is_empty() {
            println!("  failed: {}", failed.join(", "));
        }
    }
    Ok(())
}

async fn structure(config: FolioConfig, args: BenchStructureArgs) -> Result<()> {
    let files = set_files(&args.set, BenchFormat::Txt)?;
    anyhow::ensure!(
        !files.is_empty(),
        "no .txt documents found in {}",
        args.set.display()
    );
    let embedder_dir = config.embedder_dir();
    let ort = config.onnxruntime_path();
    let counter: Box<dyn TokenCounter> = match folio_index::Embedder::load(
        &embedder_dir,
        &ort,
        folio_app::runtime::embedder_options(&config.ingest),
    ) {
        Ok(embedder) => Box::new(embedder),
        Err(e) => {
            eprintln!("embedder unavailable ({e}); counting tokens approximately");
            Box::new(folio_common::model::ApproxTokenCounter)
        }
    };
    let mut docs = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path)?;
        let parsed = folio_ingest::parse::parse(DocumentFormat::Text, &bytes, &Default::default())
            .with_context(|| format!("parsing {}", path.display()))?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("?")
            .to_string();
        docs.push((name, parsed));
    }
    let options = ChunkOptions {
        target_tokens: config.ingest.chunk_tokens,
        max_tokens: config.ingest.max_chunk_tokens,
        min_tokens: config.ingest.min_chunk_tokens,
    };
    let report = folio_ingest::structure::structure_report(&docs, counter.as_ref(), &options);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}
