//! `folio eval`: retrieval quality on a QA set with gold evidence offsets, and
//! (with `--answers`) answer quality per pipeline (see `eval_answers`).
//!
//! The set is ingested once into a cache data directory (re-runs find every file
//! unchanged). Each answerable question is asked restricted to its document in every
//! requested mode; a gold span counts as hit at `k` when the union of the top-`k`
//! returned ranges covers at least half of its characters, and a question with
//! several spans scores the fraction hit.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use folio_common::config::{FolioConfig, Xl3mScore};
use folio_index::SearchFilter;
use folio_llm::{
    ContinuationScores, GenerateRequest, Generation, LanguageModel, LlmError, ModelDescription,
    ScoreInput, TokenSink,
};
use folio_query::context::SelectionScope;
use folio_query::document::DocumentView;
use folio_query::retrieve::{RetrievalMode, SearchRequest};
use folio_query::xl3m::{self, ScoredSegments, Segment, SegmentOptions};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::answers::AnswerItem;
use crate::args::EvalArgs;
use folio_app::Runtime;
use folio_query::answer::Pipeline;

/// Collection the set's documents are ingested into.
const EVAL_COLLECTION: &str = "eval";
/// The cut-offs recall is reported at.
const CUTOFFS: [usize; 3] = [1, 3, 10];

#[derive(Debug, Deserialize)]
struct Question {
    id: String,
    doc_id: String,
    question: String,
    #[serde(default)]
    answers: Vec<String>,
    #[serde(default)]
    evidence: Vec<Evidence>,
    #[serde(default)]
    source: String,
}

#[derive(Debug, Deserialize)]
struct Evidence {
    doc_id: String,
    start: usize,
    end: usize,
}

/// A mode `folio eval` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum EvalMode {
    Retrieval(RetrievalMode),
    /// Hybrid ranking of the widened segments XL3M would score, without the model:
    /// isolates what XL3M's ranking adds from what wider segments add.
    HybridWindow,
    /// XL3M ranking by a score, fused with the retrieval rank or not.
    Xl3m(Xl3mScore, bool),
}

impl EvalMode {
    fn name(self, configured: (Xl3mScore, bool)) -> String {
        match self {
            EvalMode::Retrieval(mode) => mode.as_str().into(),
            EvalMode::HybridWindow => "hybrid+window".into(),
            EvalMode::Xl3m(kind, fused) if (kind, fused) == configured => "hybrid+xl3m".into(),
            EvalMode::Xl3m(kind, fused) => format!(
                "hybrid+xl3m[{}{}]",
                kind.name(),
                if fused { "+retrieval" } else { "" }
            ),
        }
    }
}

/// Metrics of one mode over a set of questions.
#[derive(Debug, Clone, Serialize)]
struct ModeReport {
    #[serde(rename = "recall@1")]
    recall_1: f64,
    #[serde(rename = "recall@3")]
    recall_3: f64,
    #[serde(rename = "recall@10")]
    recall_10: f64,
    mrr: f64,
    p50_ms: f64,
    p95_ms: f64,
    n: usize,
}

/// One question's outcome in one mode.
#[derive(Debug, Clone)]
struct Outcome {
    question: String,
    source: String,
    recall: [f64; 3],
    reciprocal_rank: f64,
    latency_ms: f64,
}

/// Runs `folio eval`.
pub async fn run(mut config: FolioConfig, args: EvalArgs) -> Result<()> {
    let set = args.set.clone();
    let questions_path = set.join("questions.jsonl");
    let questions = read_questions(&questions_path)?;
    let answerable: Vec<&Question> = questions
        .iter()
        .filter(|q| !q.evidence.is_empty())
        .collect();
    let modes = parse_modes(
        &args.mode,
        args.xl3m_variants,
        (config.xl3m.score, config.xl3m.retrieval_weight > 0.0),
    )?;
    let selected = if modes.is_empty() {
        Vec::new()
    } else {
        spread(&answerable, args.limit)
    };
    let pipelines: Vec<Pipeline> = args
        .answers
        .iter()
        .map(|name| name.parse::<Pipeline>())
        .collect::<Result<_, _>>()?;
    let everything: Vec<&Question> = questions.iter().collect();
    let answer_sample = if pipelines.is_empty() {
        Vec::new()
    } else {
        spread(&everything, args.answer_limit.or(args.limit))
    };
    if selected.is_empty() && answer_sample.is_empty() {
        bail!(
            "nothing to evaluate: {} has no answerable questions, or no mode and no answer pipeline was asked for",
            questions_path.display()
        );
    }
    let configured = (config.xl3m.score, config.xl3m.retrieval_weight > 0.0);

    let set_name = set
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "set".into());
    let cache_dir = args
        .cache_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("eval").join(&set_name));
    config.data_dir = cache_dir.clone();
    config.store.url = String::new();
    let runtime = Runtime::open(config).await?;

    let mut doc_ids: Vec<&str> = selected
        .iter()
        .chain(&answer_sample)
        .map(|q| q.doc_id.as_str())
        .collect();
    doc_ids.sort_unstable();
    doc_ids.dedup();
    let files: Vec<PathBuf> = doc_ids
        .iter()
        .map(|d| set.join("docs").join(format!("{d}.txt")))
        .collect();
    if !args.json {
        eprintln!(
            "ingesting {} documents into {} (cached after the first run)",
            files.len(),
            cache_dir.display()
        );
    }
    let report = folio_app::ingest::ingest_files(
        &runtime,
        &files,
        EVAL_COLLECTION,
        &folio_app::ingest::Quiet,
    )
    .await?;
    let mut document_of: HashMap<String, String> = HashMap::new();
    for outcome in &report {
        if let Some(error) = &outcome.rejection {
            bail!("{} was refused: {error}", outcome.entry["name"]);
        }
        let entry = &outcome.entry;
        let status = entry["status"].as_str().unwrap_or_default();
        let name = entry["name"].as_str().unwrap_or_default();
        match (status, entry["document_id"].as_str()) {
            ("ready" | "unchanged", Some(id)) => {
                document_of.insert(name.trim_end_matches(".txt").to_string(), id.to_string());
            }
            _ => bail!("ingesting {name} for the evaluation failed: {entry}"),
        }
    }

    let tenant = runtime.tenant.id.clone();
    let mut views: HashMap<String, DocumentView> = HashMap::new();
    for (doc_id, file) in doc_ids.iter().zip(&files) {
        let id = document_of
            .get(*doc_id)
            .with_context(|| format!("{doc_id} is missing after ingestion"))?;
        let view = DocumentView::load(&runtime.store, &runtime.blobs, &tenant, id).await?;
        let original =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        if view.text != original {
            bail!(
                "the canonical text of {} differs from the file, so gold offsets would not \
                 line up; evaluate with plain-text documents whose text the parser keeps verbatim",
                file.display()
            );
        }
        views.insert(id.clone(), view);
    }

    let needs_model =
        modes.iter().any(|m| matches!(m, EvalMode::Xl3m(..))) || !pipelines.is_empty();
    // The process's own models, the scorer behind a cache of XL3M scores so
    // re-runs are fast; answers and key contexts come from the production
    // answerer and `ContextBuilder` over them.
    let models = if needs_model {
        let scorer: Arc<dyn LanguageModel> = Arc::new(CachedScores::open(
            folio_app::ask::scorer(&runtime).await?,
            &cache_dir,
        )?);
        Some((scorer, folio_app::ask::generator(&runtime).await?))
    } else {
        None
    };
    let contexts = models
        .as_ref()
        .map(|(scorer, _)| folio_app::ask::context_builder(&runtime, Arc::clone(scorer)));

    let mut outcomes: BTreeMap<EvalMode, Vec<Outcome>> = BTreeMap::new();
    let segment_options = SegmentOptions {
        segment_tokens: runtime.config.xl3m.segment_tokens,
        overlap_chars: runtime.config.xl3m.overlap_chars,
    };
    let started = Instant::now();
    for (index, question) in selected.iter().enumerate() {
        let document_id = &document_of[&question.doc_id];
        let gold: Vec<(usize, usize)> = question
            .evidence
            .iter()
            .filter(|e| e.doc_id == question.doc_id)
            .map(|e| (e.start, e.end))
            .collect();
        let filter = SearchFilter::tenant(tenant.clone()).with_documents([document_id.clone()]);
        let search = |mode: RetrievalMode, limit: usize| SearchRequest {
            query: question.question.clone(),
            filter: filter.clone(),
            limit,
            mode,
        };
        // Computed once per question, on first use: the hybrid candidates widened to
        // segments (hybrid+window), and the production key context (every XL3M
        // variant ranks its scored segments).
        let mut segments: Option<(Vec<Segment>, f64)> = None;
        let mut key_context: Option<(Vec<Segment>, ScoredSegments, f64)> = None;
        for mode in &modes {
            let (ranges, latency_ms) = match *mode {
                EvalMode::Retrieval(retrieval) => {
                    let at = Instant::now();
                    let results = runtime.retriever.search(&search(retrieval, 10)).await?;
                    let ranges = results
                        .candidates
                        .iter()
                        .map(|c| (c.chunk.char_start as usize, c.chunk.char_end as usize))
                        .collect::<Vec<_>>();
                    (ranges, ms(at))
                }
                EvalMode::HybridWindow => {
                    if segments.is_none() {
                        let at = Instant::now();
                        let limit = runtime.config.xl3m.candidates.max(1);
                        let results = runtime
                            .retriever
                            .search(&search(RetrievalMode::Hybrid, limit))
                            .await?;
                        let candidates: Vec<(String, String, usize)> = results
                            .candidates
                            .iter()
                            .map(|c| (c.chunk.document_id.clone(), c.chunk.id.clone(), c.rank))
                            .collect();
                        let built = xl3m::around_candidates(&views, &candidates, segment_options);
                        segments = Some((built, ms(at)));
                    }
                    let Some((segments, retrieval_ms)) = &segments else {
                        bail!("segments were just built");
                    };
                    let ranges = segments
                        .iter()
                        .map(|s| (s.char_start, s.char_end))
                        .collect();
                    (ranges, *retrieval_ms)
                }
                EvalMode::Xl3m(kind, fused) => {
                    // The key context exactly as answering builds it; the other
                    // scores and fusions rank the same scored segments.
                    if key_context.is_none() {
                        let Some(contexts) = &contexts else {
                            bail!("XL3M mode without a model");
                        };
                        let at = Instant::now();
                        let context = contexts
                            .build(
                                &question.question,
                                SelectionScope::Retrieved {
                                    filter: filter.clone(),
                                },
                                None,
                            )
                            .await?;
                        let baseline = context.selection.baseline;
                        let (ranked, scores): (Vec<Segment>, Vec<_>) = context
                            .selection
                            .segments
                            .into_iter()
                            .map(|trace| (trace.segment, trace.scores))
                            .unzip();
                        let mut scored = ScoredSegments::unscored(0);
                        scored.baseline = baseline;
                        scored.scores = scores;
                        key_context = Some((ranked, scored, ms(at)));
                    }
                    let Some((ranked, scored, latency)) = &key_context else {
                        bail!("the key context was just built");
                    };
                    let order: Vec<usize> = if (kind, fused) == configured {
                        (0..ranked.len()).collect()
                    } else {
                        let weight = match (fused, runtime.config.xl3m.retrieval_weight) {
                            (false, _) => 0.0,
                            (true, w) if w > 0.0 => w,
                            (true, _) => 1.0,
                        };
                        xl3m::rank_order(ranked, scored, kind, weight)
                    };
                    let ranges = order
                        .into_iter()
                        .map(|i| (ranked[i].char_start, ranked[i].char_end))
                        .collect();
                    (ranges, *latency)
                }
            };
            let (recall, reciprocal_rank) = score_ranking(&ranges, &gold);
            outcomes.entry(*mode).or_default().push(Outcome {
                question: question.id.clone(),
                source: source_name(&question.source),
                recall,
                reciprocal_rank,
                latency_ms,
            });
        }
        if !args.json {
            eprint!(
                "\r{}/{} questions ({:.0} s)",
                index + 1,
                selected.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    if !args.json {
        eprintln!();
    }

    let mut retrieval = serde_json::Map::new();
    let mut misses = serde_json::Map::new();
    let mut by_source: BTreeMap<String, serde_json::Map<String, serde_json::Value>> =
        BTreeMap::new();
    for (mode, list) in &outcomes {
        let name = mode.name(configured);
        retrieval.insert(name.clone(), serde_json::to_value(summarize(list))?);
        let missed: Vec<&str> = list
            .iter()
            .filter(|o| o.recall[2] == 0.0)
            .map(|o| o.question.as_str())
            .collect();
        misses.insert(name.clone(), json!(missed));
        let mut sources: BTreeMap<&str, Vec<Outcome>> = BTreeMap::new();
        for outcome in list {
            sources
                .entry(outcome.source.as_str())
                .or_default()
                .push(outcome.clone());
        }
        for (source, list) in sources {
            by_source
                .entry(source.to_string())
                .or_default()
                .insert(name.clone(), serde_json::to_value(summarize(&list))?);
        }
    }
    let answers = match &models {
        Some((scorer, generator)) if !answer_sample.is_empty() => {
            let answerer =
                folio_app::ask::answerer_with(&runtime, Arc::clone(scorer), Arc::clone(generator));
            let items: Vec<AnswerItem> = answer_sample
                .iter()
                .map(|q| AnswerItem {
                    id: q.id.clone(),
                    document_id: document_of[&q.doc_id].clone(),
                    question: q.question.clone(),
                    answers: q.answers.clone(),
                    gold: q
                        .evidence
                        .iter()
                        .filter(|e| e.doc_id == q.doc_id)
                        .map(|e| (e.start, e.end))
                        .collect(),
                    source: q.source.clone(),
                })
                .collect();
            let log = cache_dir.join("answers.jsonl");
            let report = crate::answers::evaluate(
                &answerer, &tenant, &items, &views, &pipelines, &log, args.json,
            )
            .await?;
            if !args.json {
                eprintln!("per-question answers: {}", log.display());
            }
            Some(json!({
                "results": report,
                "questions": items.len(),
                "generator": generator.describe(),
                "answer_config": runtime.config.answer,
            }))
        }
        _ => None,
    };
    let output = json!({
        "answers": answers.as_ref().map(|a| a["results"].clone()),
        "answers_setup": answers.as_ref().map(|a| json!({
            "questions": a["questions"],
            "generator": a["generator"],
            "answer_config": a["answer_config"],
        })),
        "retrieval": retrieval,
        "by_source": by_source,
        "questions": selected.len(),
        "missed_at_10": misses,
        "set": set.display().to_string(),
        "xl3m": {
            "score": configured.0.name(),
            "retrieval_weight": runtime.config.xl3m.retrieval_weight,
            "candidates": runtime.config.xl3m.candidates,
            "segment_tokens": runtime.config.xl3m.segment_tokens,
            "overlap_chars": runtime.config.xl3m.overlap_chars,
            "model": models.as_ref().map(|(scorer, _)| scorer.describe().id),
        },
        "retrieval_config": runtime.config.retrieval,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        if !modes.is_empty() {
            print_table("all", &output["retrieval"]);
            for (source, modes) in &by_source {
                print_table(source, &serde_json::Value::Object(modes.clone()));
            }
        }
        if let Some(answers) = output["answers"].as_object() {
            println!(
                "\nanswers ({} questions)",
                output["answers_setup"]["questions"]
            );
            println!(
                "{:<12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7}",
                "pipeline",
                "cuadF1",
                "noAns",
                "finMatch",
                "finPage",
                "citeOK",
                "rejected",
                "answered",
                "p50 s",
                "tok/q"
            );
            let f =
                |v: &serde_json::Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.3}"));
            for (name, r) in answers {
                println!(
                    "{:<12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7.1} {:>7.0}",
                    name,
                    f(&r["cuad_span_f1"]),
                    f(&r["no_answer_acc"]),
                    f(&r["fin_match"]),
                    f(&r["fin_page_hit"]),
                    f(&r["citation_validity"]),
                    f(&r["rejected_fact_rate"]),
                    f(&r["answered_rate"]),
                    r["p50_s"].as_f64().unwrap_or(0.0),
                    r["tokens_per_question"].as_f64().unwrap_or(0.0),
                );
            }
        }
    }
    Ok(())
}

fn ms(at: Instant) -> f64 {
    at.elapsed().as_secs_f64() * 1000.0
}

fn source_name(source: &str) -> String {
    if source.to_ascii_lowercase().contains("cuad") {
        "CUAD".into()
    } else if source.is_empty() {
        "unknown".into()
    } else {
        source.to_string()
    }
}

fn read_questions(path: &Path) -> Result<Vec<Question>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not a question record", path.display(), n + 1))
        })
        .collect()
}

/// `limit` questions spread evenly over the list (so a prefix of a file sorted by
/// source does not evaluate one source only); all of them without a limit.
fn spread<'a>(questions: &[&'a Question], limit: Option<usize>) -> Vec<&'a Question> {
    match limit {
        Some(n) if n < questions.len() => {
            (0..n).map(|i| questions[i * questions.len() / n]).collect()
        }
        _ => questions.to_vec(),
    }
}

fn parse_modes(
    names: &[String],
    variants: bool,
    configured: (Xl3mScore, bool),
) -> Result<Vec<EvalMode>> {
    let mut modes = Vec::new();
    for name in names {
        let mode = match name.trim() {
            "none" | "" => continue,
            "bm25" => EvalMode::Retrieval(RetrievalMode::Bm25),
            "dense" => EvalMode::Retrieval(RetrievalMode::Dense),
            "hybrid" => EvalMode::Retrieval(RetrievalMode::Hybrid),
            "hybrid+window" => EvalMode::HybridWindow,
            "hybrid+xl3m" => EvalMode::Xl3m(configured.0, configured.1),
            other => bail!(
                "unknown mode {other:?} (expected bm25, dense, hybrid, hybrid+window, hybrid+xl3m)"
            ),
        };
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    if variants && modes.iter().any(|m| matches!(m, EvalMode::Xl3m(..))) {
        for fused in [false, true] {
            for kind in Xl3mScore::ALL {
                if !modes.contains(&EvalMode::Xl3m(kind, fused)) {
                    modes.push(EvalMode::Xl3m(kind, fused));
                }
            }
        }
    }
    Ok(modes)
}

/// Recall at each cut-off and the reciprocal rank of the first cut-off with any hit.
fn score_ranking(ranges: &[(usize, usize)], gold: &[(usize, usize)]) -> ([f64; 3], f64) {
    let recall_at = |k: usize| -> f64 {
        if gold.is_empty() {
            return 0.0;
        }
        let top = &ranges[..k.min(ranges.len())];
        let hit = gold.iter().filter(|span| covered(top, **span)).count();
        hit as f64 / gold.len() as f64
    };
    let recall = CUTOFFS.map(recall_at);
    let reciprocal_rank = (1..=ranges.len())
        .find(|&k| recall_at(k) > 0.0)
        .map_or(0.0, |k| 1.0 / k as f64);
    (recall, reciprocal_rank)
}

/// Whether the union of `ranges` covers at least half of `span`'s characters.
fn covered(ranges: &[(usize, usize)], span: (usize, usize)) -> bool {
    let (start, end) = span;
    if end <= start {
        return false;
    }
    let mut pieces: Vec<(usize, usize)> = ranges
        .iter()
        .map(|&(a, b)| (a.max(start), b.min(end)))
        .filter(|(a, b)| a < b)
        .collect();
    pieces.sort_unstable();
    let mut total = 0;
    let mut reach = start;
    for (a, b) in pieces {
        let a = a.max(reach);
        if b > a {
            total += b - a;
            reach = b;
        }
    }
    total * 2 >= end - start
}

fn summarize(outcomes: &[Outcome]) -> ModeReport {
    let n = outcomes.len().max(1) as f64;
    let mean = |f: &dyn Fn(&Outcome) -> f64| outcomes.iter().map(f).sum::<f64>() / n;
    let mut latencies: Vec<f64> = outcomes.iter().map(|o| o.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    ModeReport {
        recall_1: mean(&|o| o.recall[0]),
        recall_3: mean(&|o| o.recall[1]),
        recall_10: mean(&|o| o.recall[2]),
        mrr: mean(&|o| o.reciprocal_rank),
        p50_ms: percentile(&latencies, 0.50),
        p95_ms: percentile(&latencies, 0.95),
        n: outcomes.len(),
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_table(title: &str, modes: &serde_json::Value) {
    println!("\n{title}");
    println!(
        "{:<28} {:>5} {:>9} {:>9} {:>10} {:>6} {:>9} {:>9}",
        "mode", "n", "recall@1", "recall@3", "recall@10", "MRR", "p50 ms", "p95 ms"
    );
    if let Some(map) = modes.as_object() {
        for (name, r) in map {
            println!(
                "{:<28} {:>5} {:>9.3} {:>9.3} {:>10.3} {:>6.3} {:>9.1} {:>9.1}",
                name,
                r["n"].as_u64().unwrap_or(0),
                r["recall@1"].as_f64().unwrap_or(0.0),
                r["recall@3"].as_f64().unwrap_or(0.0),
                r["recall@10"].as_f64().unwrap_or(0.0),
                r["mrr"].as_f64().unwrap_or(0.0),
                r["p50_ms"].as_f64().unwrap_or(0.0),
                r["p95_ms"].as_f64().unwrap_or(0.0),
            );
        }
    }
}

/// A model wrapper that remembers scores on disk, so re-running the eval with another
/// XL3M score (or after a crash) does not repeat forward passes. Keyed by the model id
/// and the exact prefix and continuation.
struct CachedScores {
    inner: Arc<dyn LanguageModel>,
    model_key: String,
    memory: Mutex<HashMap<String, ContinuationScores>>,
    file: Mutex<std::fs::File>,
}

#[derive(Serialize, Deserialize)]
struct CachedEntry {
    key: String,
    scores: ContinuationScores,
}

impl CachedScores {
    fn open(inner: Arc<dyn LanguageModel>, dir: &Path) -> Result<Self> {
        let description = inner.describe();
        let model_key = hex::encode(
            &Sha256::digest(format!("{}|{}", description.id, description.architecture).as_bytes())
                [..8],
        );
        let path = dir.join(format!("xl3m-scores-{model_key}.jsonl"));
        let mut memory = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines() {
                // A torn last line after a crash is skipped, not fatal.
                if let Ok(entry) = serde_json::from_str::<CachedEntry>(line) {
                    memory.insert(entry.key, entry.scores);
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            inner,
            model_key,
            memory: Mutex::new(memory),
            file: Mutex::new(file),
        })
    }

    fn key(&self, input: &ScoreInput) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.model_key.as_bytes());
        hasher.update([0]);
        hasher.update(input.prefix.as_bytes());
        hasher.update([0]);
        hasher.update(input.continuation.as_bytes());
        hex::encode(hasher.finalize())
    }
}

impl LanguageModel for CachedScores {
    fn describe(&self) -> ModelDescription {
        self.inner.describe()
    }

    fn count_tokens(&self, text: &str) -> Result<usize, LlmError> {
        self.inner.count_tokens(text)
    }

    fn score(&self, batch: &[ScoreInput]) -> Result<Vec<ContinuationScores>, LlmError> {
        let keys: Vec<String> = batch.iter().map(|i| self.key(i)).collect();
        let mut out: Vec<Option<ContinuationScores>> = {
            let memory = self
                .memory
                .lock()
                .map_err(|_| LlmError::Unsupported("poisoned cache"))?;
            keys.iter().map(|k| memory.get(k).cloned()).collect()
        };
        let missing: Vec<usize> = (0..batch.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let inputs: Vec<ScoreInput> = missing.iter().map(|&i| batch[i].clone()).collect();
            let fresh = self.inner.score(&inputs)?;
            let mut memory = self
                .memory
                .lock()
                .map_err(|_| LlmError::Unsupported("poisoned cache"))?;
            let mut file = self
                .file
                .lock()
                .map_err(|_| LlmError::Unsupported("poisoned cache"))?;
            for (&i, scores) in missing.iter().zip(fresh) {
                let entry = CachedEntry {
                    key: keys[i].clone(),
                    scores: scores.clone(),
                };
                if let Ok(line) = serde_json::to_string(&entry) {
                    // The cache only saves time: a failed write is not an eval failure.
                    let _ = writeln!(file, "{line}");
                }
                memory.insert(keys[i].clone(), scores.clone());
                out[i] = Some(scores);
            }
        }
        out.into_iter()
            .map(|s| s.ok_or(LlmError::Unsupported("cached scoring")))
            .collect()
    }

    fn generate(
        &self,
        request: &GenerateRequest,
        on_text: TokenSink<'_>,
    ) -> Result<Generation, LlmError> {
        self.inner.generate(request, on_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_needs_half_of_the_span() {
        assert!(covered(&[(0, 50)], (0, 100)));
        assert!(!covered(&[(0, 49)], (0, 100)));
        // Two ranges together cover it; overlaps are not double-counted.
        assert!(covered(&[(0, 30), (20, 40), (80, 100)], (0, 100)));
        assert!(!covered(&[(0, 30), (10, 40)], (0, 100)));
        assert!(!covered(&[(200, 300)], (0, 100)));
    }

    #[test]
    fn recall_and_reciprocal_rank_follow_the_ranking() {
        let gold = [(100, 200), (500, 600)];
        let ranges = [(0, 50), (90, 210), (300, 400), (520, 600)];
        let (recall, rr) = score_ranking(&ranges, &gold);
        assert_eq!(recall, [0.0, 0.5, 1.0]);
        assert!((rr - 0.5).abs() < 1e-9);
        let (recall, rr) = score_ranking(&[], &gold);
        assert_eq!(recall, [0.0, 0.0, 0.0]);
        assert_eq!(rr, 0.0);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let values = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&values, 0.5), 2.0);
        assert_eq!(percentile(&values, 0.95), 4.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
