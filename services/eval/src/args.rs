//! The command-line arguments of `folio eval` and `folio bench`; the binary
//! mounts them under its own CLI. Every flag also reads an environment variable.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// `folio eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The set: a directory with `docs/<doc_id>.txt` and `questions.jsonl`.
    #[arg(long, env = "FOLIO_EVAL_SET")]
    pub set: PathBuf,
    /// Modes to evaluate (comma-separated): bm25, dense, hybrid, hybrid+window,
    /// hybrid+xl3m.
    #[arg(
        long,
        env = "FOLIO_EVAL_MODES",
        value_delimiter = ',',
        default_value = "bm25,dense,hybrid,hybrid+xl3m"
    )]
    pub mode: Vec<String>,
    /// Evaluate only the first N answerable questions.
    #[arg(long, env = "FOLIO_EVAL_LIMIT")]
    pub limit: Option<usize>,
    /// Data directory the set is ingested into once and reused
    /// (default: `<data_dir>/eval/<set directory name>`).
    #[arg(long, env = "FOLIO_EVAL_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Also report the other XL3M scores (entropy, NLL, both baseline-corrected)
    /// computed from the same forward passes.
    #[arg(long, env = "FOLIO_EVAL_XL3M_VARIANTS")]
    pub xl3m_variants: bool,
    /// Answer pipelines to evaluate (comma-separated: plain, +xl3m, +alr2, +demos,
    /// full); none by default, since answering is slow on a CPU.
    #[arg(long, env = "FOLIO_EVAL_ANSWERS", value_delimiter = ',')]
    pub answers: Vec<String>,
    /// Questions for the answer metrics (spread over the set, including
    /// unanswerable ones); default: the same as `--limit`.
    #[arg(long, env = "FOLIO_EVAL_ANSWER_LIMIT")]
    pub answer_limit: Option<usize>,
    /// One JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// `folio bench …`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// End-to-end ingestion throughput, per-stage times, raw embedder
    /// throughput for reference, and peak RSS.
    Ingest(BenchIngestArgs),
    /// Structurizer report: sections per document and the share of chunks
    /// with a heading path.
    Structure(BenchStructureArgs),
    /// Search latency (hybrid top-50, with BM25-only and dense-only references)
    /// over an existing data directory, using a QA set's questions as queries.
    Retrieve(BenchRetrieveArgs),
    /// XL3M scoring throughput of the local model on candle (per weight format),
    /// next to llama.cpp's prompt processing on the same GGUF, tokens and threads.
    Score(BenchScoreArgs),
    /// Token-level runs of a model from a JSON plan: continuation scores,
    /// last-position logits and greedy batch generation, each timed (GPU parity
    /// and throughput against PyTorch: see gpu/README.md).
    Tokens(BenchTokensArgs),
}

/// `folio bench tokens`.
#[derive(Debug, Args)]
pub struct BenchTokensArgs {
    /// A GGUF file or a Hugging Face model directory (config.json + safetensors).
    #[arg(long, env = "FOLIO_BENCH_MODEL")]
    pub model: PathBuf,
    /// `cpu`, or `cuda:N` in builds with CUDA.
    #[arg(long, env = "FOLIO_BENCH_DEVICE", default_value = "cpu")]
    pub device: folio_llm::LlmDevice,
    /// Weight format (f32, q8_0, stored, bf16, f16).
    #[arg(long, env = "FOLIO_BENCH_WEIGHTS", default_value = "bf16")]
    pub weights: folio_llm::LlmWeights,
    /// The plan: `{"tasks": [...]}` (see bench_tokens.rs).
    #[arg(long)]
    pub plan: PathBuf,
    /// Where the results go (JSON).
    #[arg(long)]
    pub output: PathBuf,
}

/// `folio bench retrieve`.
#[derive(Debug, Args)]
pub struct BenchRetrieveArgs {
    /// questions.jsonl whose `question` fields are the queries.
    #[arg(
        long,
        env = "FOLIO_BENCH_QUESTIONS",
        default_value = "../shared/eval/questions.jsonl"
    )]
    pub questions: PathBuf,
    /// Results per search.
    #[arg(long, env = "FOLIO_BENCH_LIMIT", default_value_t = 50)]
    pub limit: usize,
    /// Passes over the questions (after one warm-up pass).
    #[arg(long, env = "FOLIO_BENCH_REPEATS", default_value_t = 2)]
    pub repeats: usize,
    /// Measure on a generated index of this many chunks instead of the data
    /// directory (built once into --synthetic-dir, reused afterwards).
    #[arg(long, env = "FOLIO_BENCH_SYNTHETIC_CHUNKS")]
    pub synthetic_chunks: Option<usize>,
    /// Where the generated index lives (its own SQLite store, full-text index and
    /// vector shard).
    #[arg(
        long,
        env = "FOLIO_BENCH_SYNTHETIC_DIR",
        default_value = "data/bench-synthetic"
    )]
    pub synthetic_dir: PathBuf,
    /// Chunks per generated document.
    #[arg(
        long,
        env = "FOLIO_BENCH_SYNTHETIC_CHUNKS_PER_DOC",
        default_value_t = 500
    )]
    pub synthetic_chunks_per_doc: usize,
    /// Real sentences embedded to build the generated chunks from.
    #[arg(long, env = "FOLIO_BENCH_SYNTHETIC_POOL", default_value_t = 20_000)]
    pub synthetic_pool: usize,
    /// Documents whose sentences the generated chunks reuse (a directory of .txt
    /// files, or a set with docs/).
    #[arg(
        long,
        env = "FOLIO_BENCH_SYNTHETIC_SOURCE",
        default_value = "../shared/eval"
    )]
    pub synthetic_source: PathBuf,
    /// One JSON object instead of a table.
    /// Before measuring, merge the full-text index's segments into one, to
    /// measure what fewer segments buy.
    #[arg(long, env = "FOLIO_BENCH_MERGE_SEGMENTS")]
    pub merge_segments: bool,
    #[arg(long)]
    pub json: bool,
}

/// `folio bench score`.
#[derive(Debug, Args)]
pub struct BenchScoreArgs {
    /// Documents whose text is scored (a directory, or a set with `docs/`).
    #[arg(long, env = "FOLIO_BENCH_SET", default_value = "../shared/eval")]
    pub set: PathBuf,
    /// Tokens per sequence (comma-separated list: one measurement each).
    #[arg(
        long,
        env = "FOLIO_BENCH_TOKENS",
        value_delimiter = ',',
        default_value = "128,512"
    )]
    pub tokens: Vec<usize>,
    /// Sequences per measurement.
    #[arg(long, env = "FOLIO_BENCH_BATCH", default_value_t = 8)]
    pub batch: usize,
    /// Tokens of each sequence scored as the question block (its tail).
    #[arg(long, env = "FOLIO_BENCH_QUESTION_TOKENS", default_value_t = 32)]
    pub question_tokens: usize,
    /// Weight formats to measure (f32, q8_0, stored).
    #[arg(
        long,
        env = "FOLIO_BENCH_WEIGHTS",
        value_delimiter = ',',
        default_value = "f32,q8_0"
    )]
    pub weights: Vec<String>,
    /// Compute threads for both candle and llama.cpp (default: all cores).
    #[arg(long, env = "FOLIO_BENCH_THREADS")]
    pub threads: Option<usize>,
    /// Python with llama-cpp-python (`scripts/setup-llamacpp.sh` builds one);
    /// the reference is skipped, with a note, when it is missing.
    #[arg(
        long,
        env = "FOLIO_BENCH_LLAMACPP_PYTHON",
        default_value = "~/.cache/folio-bench/venv/bin/python"
    )]
    pub llamacpp_python: String,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `folio bench ingest`.
#[derive(Debug, Args)]
pub struct BenchIngestArgs {
    /// A directory shaped like the eval set (docs/ inside) or of documents.
    #[arg(long, env = "FOLIO_BENCH_SET", default_value = "../shared/eval")]
    pub set: PathBuf,
    /// Only the first N documents (by name).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Which originals to ingest.
    #[arg(long, value_enum, default_value_t = BenchFormat::Txt)]
    pub format: BenchFormat,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Which files of the set a benchmark reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchFormat {
    /// The .txt files.
    Txt,
    /// The .pdf originals.
    Pdf,
    /// Every supported file.
    All,
}

/// `folio bench structure`.
#[derive(Debug, Args)]
pub struct BenchStructureArgs {
    /// A directory shaped like the eval set (docs/ inside) or of documents.
    #[arg(long, env = "FOLIO_BENCH_SET", default_value = "../shared/eval")]
    pub set: PathBuf,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}
