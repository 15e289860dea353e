//! `folio bench score`: XL3M scoring throughput on candle next to llama.cpp's
//! prompt processing, on the same GGUF, the same tokens and the same threads.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use folio_common::config::FolioConfig;
use folio_llm::{CandleModel, CandleOptions, LanguageModel, LlmWeights, ScoreInput};
use serde_json::{json, Value};

use crate::args::BenchScoreArgs;

/// Runs the benchmark and prints its figures.
pub fn run(config: &FolioConfig, args: BenchScoreArgs) -> Result<()> {
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    // candle's CPU kernels size their pools from this variable when first used.
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    let model_path = config.llm_gguf_path();
    let text = corpus(&args.set)?;
    let python = expand_home(&args.llamacpp_python);

    let mut rows: Vec<Value> = Vec::new();
    for weights in &args.weights {
        let format: LlmWeights = weights.parse()?;
        let started = Instant::now();
        let options = CandleOptions {
            weights: format,
            max_batch_tokens: args.tokens.iter().max().copied().unwrap_or(512) * args.batch,
            device: folio_llm::LlmDevice::Cpu,
        };
        let model = CandleModel::load(&model_path, options)
            .with_context(|| format!("loading {}", model_path.display()))?;
        let load_s = started.elapsed().as_secs_f64();
        for &length in &args.tokens {
            let inputs = sequences(&model, &text, length, args.batch, args.question_tokens)?;
            let tokens: usize = inputs.iter().map(|(_, ids)| ids.len()).sum();
            let batch: Vec<ScoreInput> = inputs.iter().map(|(input, _)| input.clone()).collect();
            // Warm-up on one sequence, then the measured batch.
            model.score(&batch[..1])?;
            let started = Instant::now();
            model.score(&batch)?;
            let seconds = started.elapsed().as_secs_f64();
            let candle_tps = tokens as f64 / seconds;
            let reference = if weights == &args.weights[0] {
                llamacpp(&python, &model_path, threads, &inputs)
            } else {
                rows.iter()
                    .find(|r| r["tokens_per_sequence"] == length)
                    .map(|r| r["llama_cpp"].clone())
                    .unwrap_or(Value::Null)
            };
            let ratio = |key: &str| {
                reference[key]["tokens_per_s"]
                    .as_f64()
                    .map(|r| candle_tps / r)
            };
            rows.push(json!({
                "weights": weights,
                "tokens_per_sequence": length,
                "sequences": inputs.len(),
                "tokens": tokens,
                "load_s": load_s,
                "candle_seconds": seconds,
                "candle_tokens_per_s": candle_tps,
                "candle_segments_per_s": inputs.len() as f64 / seconds,
                "llama_cpp": reference,
                "ratio_vs_llama_cpp_all_logits": ratio("all_logits"),
                "ratio_vs_llama_cpp_prefill": ratio("last_logits"),
            }));
        }
    }
    let output = json!({
        "model": model_path.display().to_string(),
        "threads": threads,
        "question_tokens": args.question_tokens,
        "rows": rows,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(());
    }
    println!(
        "model {} · {threads} threads · question block {} tokens",
        model_path.display(),
        args.question_tokens
    );
    println!(
        "{:<7} {:>6} {:>5} {:>12} {:>14} {:>16} {:>10} {:>10}",
        "weights",
        "tokens",
        "seqs",
        "candle tok/s",
        "llama.cpp all",
        "llama.cpp last",
        "ratio all",
        "ratio last"
    );
    for row in &rows {
        let num = |v: &Value| v.as_f64().map_or_else(|| "-".into(), |v| format!("{v:.1}"));
        let ratio = |v: &Value| {
            v.as_f64()
                .map_or_else(|| "-".into(), |v| format!("{v:.2}×"))
        };
        println!(
            "{:<7} {:>6} {:>5} {:>12} {:>14} {:>16} {:>10} {:>10}",
            row["weights"].as_str().unwrap_or(""),
            row["tokens_per_sequence"],
            row["sequences"],
            num(&row["candle_tokens_per_s"]),
            num(&row["llama_cpp"]["all_logits"]["tokens_per_s"]),
            num(&row["llama_cpp"]["last_logits"]["tokens_per_s"]),
            ratio(&row["ratio_vs_llama_cpp_all_logits"]),
            ratio(&row["ratio_vs_llama_cpp_prefill"]),
        );
    }
    if let Some(note) = rows.iter().find_map(|r| r["llama_cpp"]["skipped"].as_str()) {
        println!("llama.cpp reference skipped: {note}");
    }
    Ok(())
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Text to cut sequences from: the set's plain-text documents, concatenated.
fn corpus(set: &std::path::Path) -> Result<String> {
    let dir = if set.join("docs").is_dir() {
        set.join("docs")
    } else {
        set.to_path_buf()
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    let mut text = String::new();
    for path in paths.iter().take(4) {
        text.push_str(&std::fs::read_to_string(path)?);
        text.push('\n');
    }
    if text.trim().is_empty() {
        bail!("no .txt documents in {}", dir.display());
    }
    Ok(text)
}

/// `count` sequences of about `length` tokens: a prefix and a `question`-token tail,
/// with the exact token ids the model will process (for the llama.cpp side).
fn sequences(
    model: &CandleModel,
    text: &str,
    length: usize,
    count: usize,
    question: usize,
) -> Result<Vec<(ScoreInput, Vec<u32>)>> {
    let tokenizer = model.tokenizer();
    let ids = tokenizer.encode(text)?;
    let question = question.clamp(1, length.saturating_sub(1).max(1));
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let start = (i * length) % ids.len().saturating_sub(length).max(1);
        let window = &ids[start..(start + length).min(ids.len())];
        let split = window.len().saturating_sub(question);
        let prefix = tokenizer.decode(&window[..split], true)?;
        let continuation = tokenizer.decode(&window[split..], true)?;
        let input = ScoreInput::new(prefix, continuation);
        let mut exact = tokenizer.encode_prompt(&input.prefix)?;
        exact.extend(tokenizer.encode(&input.continuation)?);
        out.push((input, exact));
    }
    Ok(out)
}

/// Runs `scripts/llamacpp_bench.py` on the same token sequences.
fn llamacpp(
    python: &std::path::Path,
    model: &std::path::Path,
    threads: usize,
    inputs: &[(ScoreInput, Vec<u32>)],
) -> Value {
    if !python.exists() {
        return json!({"skipped": format!("{} not found (run scripts/setup-llamacpp.sh)", python.display())});
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/llamacpp_bench.py");
    let file = match tempfile::NamedTempFile::new() {
        Ok(f) => f,
        Err(e) => return json!({"skipped": e.to_string()}),
    };
    let sequences: Vec<&Vec<u32>> = inputs.iter().map(|(_, ids)| ids).collect();
    if let Err(e) = std::fs::write(file.path(), json!({"sequences": sequences}).to_string()) {
        return json!({"skipped": e.to_string()});
    }
    let output = Command::new(python)
        .arg(&script)
        .arg("--model")
        .arg(model)
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--tokens-file")
        .arg(file.path())
        .output();
    match output {
        Ok(out) if out.status.success() => serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| json!({"skipped": format!("unreadable output: {e}")})),
        Ok(out) => json!({"skipped": String::from_utf8_lossy(&out.stderr).trim().to_string()}),
        Err(e) => json!({"skipped": e.to_string()}),
    }
}
