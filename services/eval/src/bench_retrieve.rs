//! `folio bench retrieve`: search latency over an existing data directory, per
//! stage, for hybrid search and for each retriever alone (the in-run references).

use anyhow::{Context, Result};
use folio_common::config::FolioConfig;
use folio_index::SearchFilter;
use folio_query::retrieve::{RetrievalMode, SearchRequest, SearchTimings};
use serde_json::{json, Value};

use crate::args::BenchRetrieveArgs;
use crate::bench_synthetic::{self, SyntheticSpec};
use folio_app::Runtime;

/// Runs the benchmark and prints its figures.
pub async fn run(config: FolioConfig, args: BenchRetrieveArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.questions)
        .with_context(|| format!("reading {}", args.questions.display()))?;
    let queries: Vec<String> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|v| v["question"].as_str().map(str::to_string))
        .collect();
    anyhow::ensure!(
        !queries.is_empty(),
        "no questions in {}",
        args.questions.display()
    );
    let synthetic_spec = args.synthetic_chunks.map(|chunks| {
        SyntheticSpec::new(
            chunks,
            args.synthetic_chunks_per_doc,
            args.synthetic_pool,
            20_261_129,
            config.ingest.embed_passage_window,
        )
    });
    let config = match &synthetic_spec {
        Some(_) => synthetic_config(config, &args.synthetic_dir),
        None => config,
    };
    let runtime = Runtime::open(config).await?;
    let synthetic = match &synthetic_spec {
        Some(spec) => Some(bench_synthetic::ensure(&runtime, spec, &args.synthetic_source).await?),
        None => None,
    };
    let bm25 = std::sync::Arc::clone(&runtime.indexes.bm25);
    let segments_before = bm25.segment_count()?;
    let merge_s = if args.merge_segments {
        let started = std::time::Instant::now();
        let index = std::sync::Arc::clone(&bm25);
        tokio::task::spawn_blocking(move || index.merge_segments()).await??;
        Some(started.elapsed().as_secs_f64())
    } else {
        None
    };
    let segments = bm25.segment_count()?;
    let filter = SearchFilter::tenant(runtime.tenant.id.clone());
    let chunks = runtime.retriever_chunk_count(&filter).await?;
    let vectors = runtime.indexes.vectors.stats().await?;

    let mut report = serde_json::Map::new();
    for mode in [
        RetrievalMode::Bm25,
        RetrievalMode::Dense,
        RetrievalMode::Hybrid,
    ] {
        let search = |query: &String| SearchRequest {
            query: query.clone(),
            filter: filter.clone(),
            limit: args.limit,
            mode,
        };
        for query in queries.iter().take(20) {
            runtime.retriever.search(&search(query)).await?;
        }
        let mut timings: Vec<SearchTimings> = Vec::new();
        for _ in 0..args.repeats.max(1) {
            for query in &queries {
                timings.push(runtime.retriever.search(&search(query)).await?.timings);
            }
        }
        let stage =
            |f: &dyn Fn(&SearchTimings) -> f64| percentiles(timings.iter().map(f).collect());
        report.insert(
            mode.as_str().to_string(),
            json!({
                "searches": timings.len(),
                "total": stage(&|t| t.total_ms),
                "embed": stage(&|t| t.embed_ms),
                "bm25": stage(&|t| t.bm25_ms),
                "dense": stage(&|t| t.dense_ms),
                "fetch": stage(&|t| t.fetch_ms),
            }),
        );
    }
    // BM25 alone, through the index's two collectors, one after the other on
    // each query so both see the same cache state: term at a time (the default)
    // against tantivy's block-max WAND `TopDocs` (the in-run reference). Which
    // goes first alternates by query, so neither always runs on the caches the
    // other just warmed. tantivy blocks, so the loop runs on the blocking pool.
    let depth = runtime.retriever.config().per_retriever.max(args.limit) + 8;
    let (accumulated, wand, (agree_10, agree_depth)) = {
        let (bm25, queries, filter, repeats) =
            (bm25.clone(), queries.clone(), filter.clone(), args.repeats);
        tokio::task::spawn_blocking(move || {
            let (mut accumulated_times, mut wand_times) = (Vec::new(), Vec::new());
            // Both are exact; sums in another order may still reorder near-ties.
            let mut agreement = (Vec::new(), Vec::new());
            for pass in 0..repeats.max(1) + 1 {
                for (i, query) in queries.iter().enumerate() {
                    let accumulated = || timed(|| bm25.search(query, &filter, depth));
                    let wand = || timed(|| bm25.search_block_max_wand(query, &filter, depth));
                    let ((accumulated_ms, found), (wand_ms, reference)) = if i % 2 == 0 {
                        let accumulated = accumulated()?;
                        (accumulated, wand()?)
                    } else {
                        let wand = wand()?;
                        (accumulated()?, wand)
                    };
                    // The first pass warms the caches and compares the hits.
                    if pass == 0 {
                        agreement.0.push(overlap(&found, &reference, 10));
                        agreement.1.push(overlap(&found, &reference, depth));
                    } else {
                        accumulated_times.push(accumulated_ms);
                        wand_times.push(wand_ms);
                    }
                }
            }
            Ok::<_, folio_index::IndexError>((accumulated_times, wand_times, agreement))
        })
        .await??
    };
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64;
    let collectors = json!({
        "term_at_a_time": percentiles(accumulated),
        "block_max_wand": percentiles(wand),
        "top10_agreement": mean(&agree_10),
        "top_k_agreement": mean(&agree_depth),
    });
    let p95 = |mode: &str| report[mode]["total"]["p95_ms"].as_f64().unwrap_or(0.0);
    let output = json!({
        "data_dir": runtime.config.data_dir.display().to_string(),
        "chunks": chunks,
        "full_text_segments": segments,
        "full_text_segments_before_merge": segments_before,
        "vectors": vectors,
        "merge_s": merge_s,
        "synthetic": synthetic,
        "queries": queries.len(),
        "limit": args.limit,
        "modes": report,
        "bm25_collectors": collectors,
        "hybrid_p95_vs_bm25_plus_dense_p95": p95("hybrid") / (p95("bm25") + p95("dense")).max(f64::EPSILON),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(());
    }
    if let Some(built) = &synthetic {
        println!(
            "synthetic index: {} chunks in {} documents, {:.0} chars/chunk; built in {:.0} s (pool embedding {:.0} s, writing {:.0} s, vector index {:.0} s)",
            built.spec.chunks,
            built.spec.chunks.div_ceil(built.spec.chunks_per_document),
            built.mean_chunk_chars,
            built.embed_pool_s + built.write_s + built.optimize_s,
            built.embed_pool_s,
            built.write_s,
            built.optimize_s
        );
    }
    if let Some(seconds) = merge_s {
        println!("full-text segments merged: {segments_before} → {segments} in {seconds:.1} s");
    }
    println!(
        "{} chunks ({} full-text segments), {} queries × {} passes, top-{}",
        chunks,
        segments,
        queries.len(),
        args.repeats.max(1),
        args.limit
    );
    println!(
        "vector store: {} points in {} segments, {} vectors in a vector index{}",
        vectors.points,
        vectors.segments,
        vectors.indexed_vectors,
        if vectors.indexed_vectors < vectors.points {
            " (the rest are scanned: segments below the indexing threshold, or a store not optimised)"
        } else {
            ""
        }
    );
    println!(
        "{:<7} {:>9} {:>9} {:>9} | p50 ms: {:>6} {:>6} {:>6} {:>6}",
        "mode", "p50 ms", "p95 ms", "p99 ms", "embed", "bm25", "dense", "rows"
    );
    for mode in ["bm25", "dense", "hybrid"] {
        let m = &output["modes"][mode];
        let f = |v: &Value| v.as_f64().map_or_else(|| "-".into(), |v| format!("{v:.1}"));
        println!(
            "{:<7} {:>9} {:>9} {:>9} |         {:>6} {:>6} {:>6} {:>6}",
            mode,
            f(&m["total"]["p50_ms"]),
            f(&m["total"]["p95_ms"]),
            f(&m["total"]["p99_ms"]),
            f(&m["embed"]["p50_ms"]),
            f(&m["bm25"]["p50_ms"]),
            f(&m["dense"]["p50_ms"]),
            f(&m["fetch"]["p50_ms"]),
        );
    }
    let collector =
        |name: &str, q: &str| output["bm25_collectors"][name][q].as_f64().unwrap_or(0.0);
    println!(
        "bm25 alone, top-{depth}: term at a time p50 {:.1} / p95 {:.1} ms, tantivy's block-max WAND TopDocs p50 {:.1} / p95 {:.1} ms (p95 ratio {:.2})",
        collector("term_at_a_time", "p50_ms"),
        collector("term_at_a_time", "p95_ms"),
        collector("block_max_wand", "p50_ms"),
        collector("block_max_wand", "p95_ms"),
        collector("block_max_wand", "p95_ms") / collector("term_at_a_time", "p95_ms").max(f64::EPSILON),
    );
    println!(
        "the two collectors share {:.3} of their top-10 and {:.3} of their top-{depth}",
        output["bm25_collectors"]["top10_agreement"]
            .as_f64()
            .unwrap_or(0.0),
        output["bm25_collectors"]["top_k_agreement"]
            .as_f64()
            .unwrap_or(0.0),
    );
    println!(
        "hybrid p95 / (bm25 p95 + dense p95) = {:.2}",
        output["hybrid_p95_vs_bm25_plus_dense_p95"]
            .as_f64()
            .unwrap_or(0.0)
    );
    Ok(())
}

/// The share of `exact`'s first `k` hits that `found` returns among its first `k`
/// (1.0 when `exact` has none).
fn overlap(found: &[folio_index::Hit], exact: &[folio_index::Hit], k: usize) -> f64 {
    let expected: Vec<_> = exact.iter().take(k).map(|hit| hit.chunk_id).collect();
    if expected.is_empty() {
        return 1.0;
    }
    let returned: std::collections::HashSet<_> =
        found.iter().take(k).map(|hit| hit.chunk_id).collect();
    expected.iter().filter(|id| returned.contains(id)).count() as f64 / expected.len() as f64
}

/// p50, p95, p99 and mean of a sample of milliseconds.
fn percentiles(mut values: Vec<f64>) -> Value {
    if values.is_empty() {
        return json!({});
    }
    values.sort_by(f64::total_cmp);
    let pick =
        |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    json!({
        "p50_ms": pick(0.50),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "mean_ms": values.iter().sum::<f64>() / values.len() as f64,
    })
}

/// The configuration for a generated index: its own data directory with the embedded
/// store and shard, whatever the configuration names, so that generated rows never
/// land in a real deployment's database or Qdrant collection.
fn synthetic_config(mut config: FolioConfig, dir: &std::path::Path) -> FolioConfig {
    config.data_dir = dir.to_path_buf();
    config.store.url = String::new();
    config.vectors.backend = folio_common::config::VectorBackend::Edge;
    config.server.role = folio_common::config::ServeRole::All;
    config
}

/// Runs `search` once and returns how long it took, in milliseconds, with its result.
fn timed<T, E>(
    search: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<(f64, T), E> {
    let started = std::time::Instant::now();
    search().map(|found| (started.elapsed().as_secs_f64() * 1e3, found))
}
