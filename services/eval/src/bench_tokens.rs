//! `folio bench tokens`: token-level runs of a model from a JSON plan, timed.
//!
//! The plan comes from outside (gpu/bench.py writes it, with the same token ids
//! it gives PyTorch), so both frameworks compute the same thing:
//!
//! ```json
//! {"tasks": [
//!   {"name": "parity", "kind": "score", "sequences": [{"ids": [1, 2, 3], "prefix": 2}],
//!    "one_by_one": true, "max_batch_tokens": 65536, "keep": true},
//!   {"name": "logits", "kind": "logits", "sequences": [[1, 2, 3]], "keep": true},
//!   {"name": "gen-b16", "kind": "generate", "prompts": [[1, 2, 3]], "new_tokens": 64,
//!    "warmup": 1, "repeats": 3, "unfused": false}
//! ]}
//! ```
//!
//! `score` runs [`CandleDecoder::score_tokens`] (the XL3M path: sequences packed
//! by length into passes of at most `max_batch_tokens`), `logits` the
//! last-position logits of one padded batch, `generate` greedy decoding of
//! equal-length prompts in one batch. Each task is warmed up, then timed
//! `repeats` times (the device synchronized before the clock stops); `keep`
//! writes the numbers themselves to the output.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use folio_llm::{CandleDecoder, CandleOptions};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::args::BenchTokensArgs;

#[derive(Debug, Deserialize)]
struct Plan {
    tasks: Vec<Task>,
}

#[derive(Debug, Deserialize)]
struct Task {
    name: String,
    kind: String,
    #[serde(default)]
    sequences: Vec<Value>,
    #[serde(default)]
    prompts: Vec<Vec<u32>>,
    #[serde(default)]
    new_tokens: usize,
    /// Score each sequence in its own call (the unbatched reference).
    #[serde(default)]
    one_by_one: bool,
    max_batch_tokens: Option<usize>,
    #[serde(default)]
    warmup: usize,
    #[serde(default = "one")]
    repeats: usize,
    #[serde(default)]
    keep: bool,
    /// candle's ops instead of Folio's fused CUDA kernels (the comparison; a
    /// no-op where the kernels do not apply).
    #[serde(default)]
    unfused: bool,
}

fn one() -> usize {
    1
}

#[derive(Debug, Deserialize)]
struct Scored {
    ids: Vec<u32>,
    prefix: usize,
}

/// Runs the plan and writes the results.
pub fn run(args: &BenchTokensArgs) -> Result<()> {
    let plan: Plan = serde_json::from_str(
        &std::fs::read_to_string(&args.plan)
            .with_context(|| format!("reading {}", args.plan.display()))?,
    )
    .context("the plan does not parse")?;
    let started = Instant::now();
    let options = CandleOptions {
        weights: args.weights,
        max_batch_tokens: 4096,
        device: args.device,
    };
    let mut decoder = CandleDecoder::load(&args.model, options)
        .with_context(|| format!("loading {} on {}", args.model.display(), args.device))?;
    decoder.synchronize()?;
    let load_s = started.elapsed().as_secs_f64();
    eprintln!(
        "loaded {} ({}) on {} in {load_s:.1} s",
        args.model.display(),
        decoder.architecture(),
        args.device
    );
    let mut results = Vec::with_capacity(plan.tasks.len());
    for task in &plan.tasks {
        let result = run_task(&mut decoder, task).with_context(|| format!("task {}", task.name))?;
        eprintln!(
            "{:<28} median {:>9.2} ms",
            task.name,
            result["median_s"].as_f64().unwrap_or(f64::NAN) * 1e3
        );
        results.push(result);
    }
    write(
        &args.output,
        &json!({
            "model": args.model,
            "architecture": decoder.architecture(),
            "device": args.device.to_string(),
            "weights": args.weights.to_string(),
            "load_s": load_s,
            "tasks": results,
        }),
    )
}

fn write(path: &Path, value: &Value) -> Result<()> {
    std::fs::write(path, serde_json::to_vec(value)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn run_task(decoder: &mut CandleDecoder, task: &Task) -> Result<Value> {
    decoder.set_max_batch_tokens(task.max_batch_tokens.unwrap_or(65_536));
    decoder.set_fused_kernels(!task.unfused);
    let mut seconds = Vec::with_capacity(task.repeats);
    let mut kept = Value::Null;
    let tokens: usize;
    match task.kind.as_str() {
        "score" => {
            let sequences: Vec<(Vec<u32>, usize)> = task
                .sequences
                .iter()
                .map(|v| {
                    serde_json::from_value::<Scored>(v.clone())
                        .map(|s| (s.ids, s.prefix))
                        .context("a score sequence is {\"ids\": [...], \"prefix\": n}")
                })
                .collect::<Result<_>>()?;
            tokens = sequences.iter().map(|(ids, _)| ids.len()).sum();
            let score = |decoder: &CandleDecoder| -> Result<Vec<folio_llm::ContinuationScores>> {
                if task.one_by_one {
                    let mut out = Vec::with_capacity(sequences.len());
                    for sequence in &sequences {
                        out.extend(decoder.score_tokens(std::slice::from_ref(sequence))?);
                    }
                    Ok(out)
                } else {
                    Ok(decoder.score_tokens(&sequences)?)
                }
            };
            for _ in 0..task.warmup {
                score(decoder)?;
            }
            for _ in 0..task.repeats.max(1) {
                let started = Instant::now();
                let scores = score(decoder)?;
                decoder.synchronize()?;
                seconds.push(started.elapsed().as_secs_f64());
                if task.keep {
                    kept = json!(scores
                        .iter()
                        .map(|s| json!({"logprobs": s.logprobs, "entropies": s.entropies}))
                        .collect::<Vec<_>>());
                }
            }
        }
        "logits" => {
            let sequences: Vec<Vec<u32>> = task
                .sequences
                .iter()
                .map(|v| serde_json::from_value(v.clone()).context("a logits sequence is [ids]"))
                .collect::<Result<_>>()?;
            tokens = sequences.iter().map(Vec::len).sum();
            for _ in 0..task.warmup {
                decoder.last_logits(&sequences)?;
            }
            for _ in 0..task.repeats.max(1) {
                let started = Instant::now();
                let logits = decoder.last_logits(&sequences)?;
                seconds.push(started.elapsed().as_secs_f64());
                if task.keep {
                    kept = json!(logits);
                }
            }
        }
        "generate" => {
            if task.new_tokens == 0 {
                bail!("a generate task needs new_tokens");
            }
            tokens = task.prompts.len() * task.new_tokens;
            for _ in 0..task.warmup {
                decoder.generate_greedy(&task.prompts, task.new_tokens)?;
            }
            for _ in 0..task.repeats.max(1) {
                let started = Instant::now();
                let generated = decoder.generate_greedy(&task.prompts, task.new_tokens)?;
                decoder.synchronize()?;
                seconds.push(started.elapsed().as_secs_f64());
                if task.keep {
                    kept = json!(generated);
                }
            }
        }
        other => bail!("unknown task kind {other:?} (score, logits, generate)"),
    }
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    Ok(json!({
        "name": task.name,
        "kind": task.kind,
        "tokens": tokens,
        "seconds": seconds,
        "median_s": median,
        "tokens_per_s": tokens as f64 / median,
        "result": kept,
    }))
}
