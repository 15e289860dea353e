//! Layered configuration: built-in defaults → `folio.toml` (or the file named
//! by `--config` / `FOLIO_CONFIG`) → environment variables
//! `FOLIO__SECTION__KEY` (e.g. `FOLIO__INGEST__CHUNK_TOKENS=400`) → command-line
//! flags (`--set ingest.chunk_tokens=400`, and the named flags such as `--bind`).
//!
//! Every knob is documented here; `README.md` links to this module as the
//! reference.

mod choices;
mod overrides;

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub use choices::{
    GeneratorBackend, InvalidChoice, LlmDevice, LlmWeights, Pipeline, PipelineChoice, ServeRole,
};
pub use overrides::{InvalidOverride, Override};

/// The whole configuration of a Folio process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FolioConfig {
    /// Directory holding every piece of embedded state (DB file, indexes,
    /// blobs). Relative paths elsewhere in the config are not resolved
    /// against it; only the defaults below live under it.
    pub data_dir: PathBuf,
    /// HTTP server settings.
    pub server: ServerConfig,
    /// Metadata store (SQLite file by default, PostgreSQL URL at scale).
    pub store: StoreConfig,
    /// Where models live.
    pub models: ModelsConfig,
    /// Ingestion pipeline knobs.
    pub ingest: IngestConfig,
    /// How untrusted documents are parsed: isolation and decoding limits.
    pub parse: ParseConfig,
    /// Vector store backend.
    pub vectors: VectorsConfig,
    /// Hybrid retrieval (BM25 + dense, reciprocal rank fusion).
    pub retrieval: RetrievalConfig,
    /// XL3M segment selection by the local model's certainty.
    pub xl3m: Xl3mConfig,
    /// Answering: pipeline, demos, generation limits.
    pub answer: AnswerConfig,
    /// Which model generates answers: the local GGUF or an OpenAI-compatible server.
    pub generator: GeneratorConfig,
    /// Trace export (OpenTelemetry).
    pub telemetry: TelemetryConfig,
    /// What one request may cost: input sizes, pages, per-tenant concurrency,
    /// key verification.
    pub limits: LimitsConfig,
}

/// Bounds on what one request, one tenant or one client may make the server do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Longest search query or question, in bytes (HTTP and CLI alike).
    pub max_query_bytes: usize,
    /// Most entries in a request's `documents` or `collections` filter.
    pub max_filter_items: usize,
    /// Most tokens a chat completion may ask for (`max_tokens`).
    pub max_chat_tokens: usize,
    /// Searches one tenant may run at once; more are refused with 429 (0 = no limit).
    pub tenant_searches: usize,
    /// Questions one tenant may have answering or waiting for a generation
    /// slot at once; more are refused with 429 (0 = no limit).
    pub tenant_asks: usize,
    /// Most items a list endpoint returns in one page (and its default page).
    pub max_page_size: usize,
    /// Argon2 key verifications running at once (each takes ~19 MiB and a core).
    pub key_verifications: usize,
    /// Failed key attempts a key id, and separately a client address, may make
    /// per minute before further attempts are refused unhashed (0 = no limit).
    pub failed_keys_per_minute: u32,
}

/// OpenTelemetry trace export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/HTTP traces endpoint, e.g. `http://otel-collector:4318/v1/traces`;
    /// empty = no export (logs and `/metrics` only).
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans (default `folio`).
    pub service_name: String,
}

/// Answering knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerConfig {
    /// Default pipeline: `auto` (`extract` with the built-in model on CPU, `full`
    /// on a GPU or an OpenAI-compatible server), `extract`, `plain`, `+xl3m`,
    /// `+alr2`, `+demos` or `full`.
    pub pipeline: PipelineChoice,
    /// Retrieved chunks given to the model when XL3M is off.
    pub chunks: usize,
    /// Recycled demonstrations generated from the key context (0 = none).
    pub demos: usize,
    /// Most tokens of the fact-listing stage (ALR² stage 1).
    pub max_fact_tokens: usize,
    /// Most tokens of the answer.
    pub max_answer_tokens: usize,
    /// Sampling temperature (0 = greedy, reproducible).
    pub temperature: f32,
    /// Sampler seed when the temperature is above 0.
    pub seed: u64,
    /// A cited sentence is widened to the smallest numbered clause or paragraph
    /// around it when that clause has at most this many characters (0 = cite
    /// sentences as they are). Lawyers review clauses, not sentence fragments.
    pub citation_clause_chars: usize,
    /// Sentences shown to the fact-listing stage (ALR² stage 1): the key context's
    /// units most similar to the question by the embedder, best first (0 = every
    /// unit, in document order). Small models copy the first IDs they see rather
    /// than select; a short, relevance-ordered list also makes the stage fast.
    pub fact_candidates: usize,
    /// What happens to a generated sentence whose figures, dates or names are not
    /// in the text it cites: `drop` it, `flag` it (shown, marked unsupported), or
    /// `auto` (`drop` with the built-in model on CPU, `flag` otherwise).
    pub unsupported_claims: UnsupportedClaims,
}

/// What happens to a generated claim its sources do not support.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsupportedClaims {
    /// `drop` with the built-in model on CPU, `flag` otherwise.
    #[default]
    Auto,
    /// Left out of the answer (listed in `claims` with `supported: false`).
    Drop,
    /// Shown, marked unsupported.
    Flag,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        Self {
            pipeline: PipelineChoice::Auto,
            chunks: 5,
            demos: 3,
            max_fact_tokens: 200,
            max_answer_tokens: 160,
            temperature: 0.0,
            seed: 42,
            citation_clause_chars: 1500,
            fact_candidates: 8,
            unsupported_claims: UnsupportedClaims::Auto,
        }
    }
}

/// The answer-generating model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorConfig {
    /// `local` (the GGUF in `[models]`, which also scores for XL3M) or `openai`
    /// (an OpenAI-compatible server; XL3M still scores with the local model).
    pub backend: GeneratorBackend,
    /// API base of the OpenAI-compatible server, with its version path.
    pub base_url: String,
    /// Bearer key (empty for none).
    pub api_key: String,
    /// Model name sent to the server.
    pub model: String,
    /// Seconds to wait for the connection or the next piece of a reply.
    pub timeout_secs: u64,
    /// Retries on 429, 5xx and connection failures before the first token.
    pub max_retries: u32,
    /// The server model's context in tokens.
    pub context_length: usize,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            backend: GeneratorBackend::Local,
            base_url: "http://127.0.0.1:8080/v1".into(),
            api_key: String::new(),
            model: "default".into(),
            timeout_secs: 120,
            max_retries: 3,
            context_length: 8192,
        }
    }
}

/// Hybrid retrieval knobs: `score(d) = Σ_r w_r / (k + rank_r(d))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrievalConfig {
    /// RRF's `k`: larger values flatten the difference between top ranks.
    pub rrf_k: f32,
    /// Weight of the BM25 ranking.
    pub bm25_weight: f32,
    /// Weight of the dense (embedding) ranking.
    pub dense_weight: f32,
    /// Hits taken from each retriever before fusion.
    pub per_retriever: usize,
    /// Most distinct words a question is scored with in BM25 (its rarest ones,
    /// after function words are dropped); 0 keeps every word. Fewer words search
    /// a large index faster and rank a little worse (see BENCHMARKS.md).
    pub bm25_max_terms: usize,
    /// Threads of the embedder that embeds questions (and the answerer's candidate
    /// sentences), an ONNX Runtime session of its own; 0 shares the ingestion embedder
    /// (`ingest.embed_threads`). One thread lets a
    /// hybrid search embed its question on one core while BM25 runs on another, which
    /// pays on a large index where BM25 is slow, and costs on a small one, where the
    /// question's embedding is most of a search (see BENCHMARKS.md).
    pub query_embed_threads: usize,
}

/// How XL3M scores a segment: lower is more relevant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Xl3mScore {
    /// Mean entropy of the next-token distributions over the question block (the paper's).
    Entropy,
    /// Mean negative log-likelihood of the question-block tokens.
    Nll,
    /// Entropy minus the entropy with an empty segment (penalizes boilerplate that
    /// makes any question look easy).
    EntropyBaseline,
    /// NLL minus the NLL with an empty segment.
    NllBaseline,
}

impl Xl3mScore {
    /// Every score, in a fixed order.
    pub const ALL: [Xl3mScore; 4] = [
        Xl3mScore::Entropy,
        Xl3mScore::Nll,
        Xl3mScore::EntropyBaseline,
        Xl3mScore::NllBaseline,
    ];

    /// The name used in configuration files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Xl3mScore::Entropy => "entropy",
            Xl3mScore::Nll => "nll",
            Xl3mScore::EntropyBaseline => "entropy-baseline",
            Xl3mScore::NllBaseline => "nll-baseline",
        }
    }
}

/// XL3M segment selection knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Xl3mConfig {
    /// The score that ranks segments.
    pub score: Xl3mScore,
    /// Retrieved candidates rescored by the model (rerank mode).
    pub candidates: usize,
    /// Segment size in model tokens: a candidate chunk is widened with its
    /// neighbours in the same section up to this size.
    pub segment_tokens: usize,
    /// Characters of overlap taken from each side of a segment.
    pub overlap_chars: usize,
    /// Token budget of the kept segments (the key context).
    pub budget_tokens: usize,
    /// Most segments per model call (sequences are padded to the longest).
    pub batch: usize,
    /// Single-document mode: stop scoring after this many seconds (0 = no limit);
    /// unscored segments fall back to retrieval order.
    pub time_budget_secs: u64,
    /// 0 ranks segments by the model's certainty alone (the XL3M paper). Above 0,
    /// the certainty rank and the retrieval rank are fused by reciprocal rank
    /// fusion, the retrieval rank weighted by this: a hedge for small scorers,
    /// whose certainty alone ranks below hybrid retrieval (BENCHMARKS.md).
    pub retrieval_weight: f32,
}

/// HTTP server settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: String,
    /// Largest accepted upload, in bytes (also the largest ingested file).
    pub max_upload_bytes: u64,
    /// Require an API key on every `/v1` route (turn off only on a machine
    /// nobody else can reach).
    pub auth: bool,
    /// Requests per minute each API key may make (0 = unlimited); bursts up to
    /// a sixth of it (at least 10) pass at once.
    pub rate_limit_per_minute: u32,
    /// Answers (and chat completions) generated at the same time.
    pub llm_concurrency: usize,
    /// Answer requests allowed to wait for a free generation slot; beyond that
    /// the API answers 503 with Retry-After instead of piling work up.
    pub llm_queue: usize,
    /// Seconds a request may take before it is answered 504 (the start of a
    /// streamed answer counts, not its whole stream; 0 = no limit).
    pub request_timeout_secs: u64,
    /// Largest JSON request body, in bytes.
    pub max_json_bytes: usize,
    /// What `folio serve` runs: `all` (API, web UI and ingestion workers in one
    /// process), `ingest` (workers only, plus health and metrics) or `query`
    /// (API and web UI, no workers). Split roles share PostgreSQL, a Qdrant
    /// server, the blob directory and the full-text index directory.
    pub role: ServeRole,
    /// Load the answering models in the background at start, so the first
    /// question does not wait for them (and a request that times out while they
    /// load does not waste the load).
    pub preload_models: bool,
}

/// Metadata store settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://…`; empty means `sqlite://<data_dir>/folio.db`.
    pub url: String,
    /// Connection pool size.
    pub max_connections: u32,
}

/// Model locations. Each path may point anywhere on disk; empty values mean
/// the layout that `folio models fetch` creates under `dir`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Directory `folio models fetch` unpacks into.
    pub dir: PathBuf,
    /// Embedder directory (model.onnx + tokenizer files).
    pub embedder: Option<PathBuf>,
    /// ONNX Runtime shared library (`libonnxruntime.so.1.x`, ≥ 1.24).
    pub onnxruntime: Option<PathBuf>,
    /// GGUF file of the local LLM.
    pub llm_gguf: Option<PathBuf>,
    /// A Hugging Face model directory (`config.json`, `*.safetensors`, and the
    /// tokenizer as `tokenizer.gguf`) used instead of `llm_gguf`.
    pub llm_dir: Option<PathBuf>,
    /// How the local LLM's weights are held for computation: `f32` (fastest prefill
    /// on CPU), `q8_0` (a quarter of f32's memory), `stored` (as in the file), or
    /// `bf16` / `f16` (the GPU formats).
    pub llm_weights: LlmWeights,
    /// Where the local LLM runs: `cpu`, or `cuda:N` in builds with CUDA.
    pub llm_device: LlmDevice,
    /// Most tokens in one forward pass of the local LLM (bounds its memory).
    pub llm_max_batch_tokens: usize,
}

/// Ingestion pipeline knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Target chunk size in embedder tokens.
    pub chunk_tokens: usize,
    /// Hard cap on chunk size in embedder tokens. A chunk longer than the embedder's
    /// window is embedded as several windows whose vectors are averaged.
    pub max_chunk_tokens: usize,
    /// Sibling sections smaller than this may merge into one chunk.
    pub min_chunk_tokens: usize,
    /// Passages per embedder call.
    pub embed_batch: usize,
    /// Tokens the embedder sees at once (its window, special tokens included).
    pub embed_max_length: usize,
    /// Threads the embedder may use (0 = all cores).
    pub embed_threads: usize,
    /// Run the embedder's int8-stored weights as integer matrix products (activations
    /// quantised per call) instead of rebuilding f32 weights (default): faster on CPUs
    /// with int8 dot products, vectors slightly different (a new embedding cache key;
    /// `folio admin reindex` after changing it). No effect on models with f32 weights.
    pub embed_int8: bool,
    /// Tokens per passage window (0 = none). A chunk longer than this is also embedded
    /// as overlapping windows of this many tokens, stored with its whole-text vector, and
    /// dense search scores it by its best view. 128 is all-MiniLM-L6-v2's training length.
    pub embed_passage_window: usize,
    /// Concurrent ingestion jobs in one process.
    pub workers: usize,
    /// How long a claimed job stays leased before another worker may take it.
    pub lease_seconds: u64,
    /// Claims of one job before it is failed for good with `crashed_worker`:
    /// each claim counts, so a job that keeps killing its worker (or is cut
    /// short by restarts) stops after this many.
    pub max_attempts: u32,
}

/// Where documents are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParseIsolation {
    /// A child `folio` process per document, under an address-space and a CPU
    /// limit, killed at the deadline: a parser crash or a decompression bomb
    /// fails that document's job and the server never notices.
    Process,
    /// Inside the server process (tests, debugging): only the parser's own
    /// checks bound it.
    InProcess,
}

/// Parsing of untrusted documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ParseConfig {
    /// `process` (default) or `in_process`.
    pub isolation: ParseIsolation,
    /// Address space of a parser process, in MiB; past it the parse fails
    /// with `decoded_too_large`.
    pub memory_limit_mb: u64,
    /// Wall-clock (and, in a parser process, CPU) budget for one document, in
    /// seconds; past it the parse fails with `parse_timeout`.
    pub timeout_secs: u64,
    /// Most MiB one PDF stream may decode to, whatever its filters.
    pub max_stream_decoded_mb: u64,
    /// Most MiB all of a PDF's streams may decode to together.
    pub max_decoded_mb: u64,
    /// Most MiB of content one PDF page may run (streams as often as they are
    /// listed, forms as often as they are called).
    pub max_page_content_mb: u64,
}

impl Default for ParseConfig {
    fn default() -> Self {
        ParseConfig {
            isolation: ParseIsolation::Process,
            memory_limit_mb: 2048,
            timeout_secs: 300,
            max_stream_decoded_mb: 32,
            max_decoded_mb: 256,
            max_page_content_mb: 64,
        }
    }
}

/// Which vector store holds the embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorBackend {
    /// In-process qdrant-edge shard under the data directory.
    Edge,
    /// A Qdrant server or cluster reached through qdrant-client.
    Qdrant,
}

/// Vector store settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VectorsConfig {
    /// Backend choice.
    pub backend: VectorBackend,
    /// Qdrant URL (gRPC, e.g. `http://127.0.0.1:6334`) for the `qdrant` backend.
    pub qdrant_url: String,
    /// Qdrant API key, if the server wants one.
    pub qdrant_api_key: Option<String>,
    /// Collection name in Qdrant.
    pub collection: String,
    /// Shards of the collection when Folio creates it.
    pub shards: u32,
    /// Replication factor of the collection when Folio creates it.
    pub replication_factor: u32,
    /// `edge` backend: KB of vectors a segment must exceed before its HNSW index is
    /// built (unset: qdrant-edge's 10,000 KB). Smaller segments are searched by a scan.
    pub indexing_threshold_kb: Option<usize>,
}

impl Default for FolioConfig {
    fn default() -> Self {
        FolioConfig {
            data_dir: PathBuf::from("data"),
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            models: ModelsConfig::default(),
            ingest: IngestConfig::default(),
            parse: ParseConfig::default(),
            vectors: VectorsConfig::default(),
            retrieval: RetrievalConfig::default(),
            xl3m: Xl3mConfig::default(),
            answer: AnswerConfig::default(),
            generator: GeneratorConfig::default(),
            telemetry: TelemetryConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_query_bytes: 4096,
            max_filter_items: 100,
            max_chat_tokens: 4096,
            tenant_searches: 4,
            tenant_asks: 4,
            max_page_size: 1000,
            key_verifications: 2,
            failed_keys_per_minute: 10,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            max_upload_bytes: 100 * 1024 * 1024,
            auth: true,
            rate_limit_per_minute: 600,
            llm_concurrency: 1,
            llm_queue: 8,
            request_timeout_secs: 300,
            max_json_bytes: 1024 * 1024,
            role: ServeRole::All,
            preload_models: true,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: String::new(),
            max_connections: 8,
        }
    }
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            dir: PathBuf::from("models"),
            embedder: None,
            onnxruntime: None,
            llm_gguf: None,
            llm_dir: None,
            llm_weights: LlmWeights::F32,
            llm_device: LlmDevice::Cpu,
            llm_max_batch_tokens: 4096,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            chunk_tokens: 300,
            max_chunk_tokens: 480,
            min_chunk_tokens: 40,
            embed_batch: 32,
            embed_max_length: 512,
            embed_threads: 0,
            embed_int8: true,
            embed_passage_window: 128,
            workers: 1,
            lease_seconds: 120,
            max_attempts: 3,
        }
    }
}

impl Default for VectorsConfig {
    fn default() -> Self {
        VectorsConfig {
            backend: VectorBackend::Edge,
            qdrant_url: "http://127.0.0.1:6334".into(),
            qdrant_api_key: None,
            collection: "folio_chunks".into(),
            shards: 1,
            replication_factor: 1,
            indexing_threshold_kb: None,
        }
    }
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        RetrievalConfig {
            rrf_k: 60.0,
            bm25_weight: 1.0,
            dense_weight: 1.0,
            per_retriever: 50,
            bm25_max_terms: 16,
            query_embed_threads: 0,
        }
    }
}

impl Default for Xl3mConfig {
    fn default() -> Self {
        Xl3mConfig {
            score: Xl3mScore::Entropy,
            candidates: 10,
            segment_tokens: 384,
            overlap_chars: 80,
            budget_tokens: 1536,
            batch: 4,
            time_budget_secs: 0,
            retrieval_weight: 1.0,
        }
    }
}

/// The file name looked for in the working directory when no path is given.
pub const DEFAULT_CONFIG_FILE: &str = "folio.toml";
/// Prefix of the environment overrides (`FOLIO__INGEST__WORKERS=2`).
pub const ENV_PREFIX: &str = "FOLIO__";

/// Why the configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A layer held a value of the wrong shape, or an unknown key.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    /// `--config` named a file that does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
}

impl FolioConfig {
    /// Builds the configuration from the file and environment layers. `file`
    /// is the explicit config path (it must exist); without it `folio.toml` is
    /// read when present in the working directory.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, &[])
    }

    /// [`FolioConfig::load`] with command-line overrides as the top layer, in
    /// order (a later one wins over an earlier one of the same key).
    pub fn load_with(file: Option<&Path>, overrides: &[Override]) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(FolioConfig::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError::MissingFile(path.to_path_buf()));
                }
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file(DEFAULT_CONFIG_FILE)),
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        for setting in overrides {
            figment = figment.merge(setting.provider());
        }
        figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }

    /// The metadata store URL, defaulting to a SQLite file in the data dir.
    pub fn store_url(&self) -> String {
        if self.store.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("folio.db").display())
        } else {
            self.store.url.clone()
        }
    }

    /// Directory of original and canonical document blobs.
    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }

    /// Directory of the tantivy index.
    pub fn bm25_dir(&self) -> PathBuf {
        self.data_dir.join("bm25")
    }

    /// Directory of the qdrant-edge shard.
    pub fn edge_dir(&self) -> PathBuf {
        self.data_dir.join("vectors")
    }

    /// Embedder directory.
    pub fn embedder_dir(&self) -> PathBuf {
        self.models
            .embedder
            .clone()
            .unwrap_or_else(|| self.models.dir.join("all-minilm-l6-v2"))
    }

    /// ONNX Runtime library path: the config value, else `ORT_DYLIB_PATH`,
    /// else the library `folio models fetch` unpacked.
    pub fn onnxruntime_path(&self) -> PathBuf {
        if let Some(path) = &self.models.onnxruntime {
            return path.clone();
        }
        if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
            return PathBuf::from(path);
        }
        let dir = self.models.dir.join("onnxruntime");
        // The fetched library's file name carries its version; take whichever is there.
        std::fs::read_dir(&dir)
            .ok()
            .and_then(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("libonnxruntime.so"))
                    })
                    .max()
            })
            .unwrap_or_else(|| dir.join("libonnxruntime.so"))
    }

    /// The local LLM: `models.llm_dir` when set, else the GGUF file.
    pub fn llm_model_path(&self) -> PathBuf {
        self.models
            .llm_dir
            .clone()
            .unwrap_or_else(|| self.llm_gguf_path())
    }

    /// GGUF file of the local LLM.
    pub fn llm_gguf_path(&self) -> PathBuf {
        self.models.llm_gguf.clone().unwrap_or_else(|| {
            self.models
                .dir
                .join("smollm2-135m-instruct")
                .join("SmolLM2-135M-Instruct.Q4_1.gguf")
        })
    }
}

#[cfg(test)]
// figment's Jail closures return its (large) error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "custom.toml",
                "data_dir = \"/srv/folio\"\n[ingest]\nchunk_tokens = 256\nworkers = 3\n",
            )?;
            jail.set_env("FOLIO__INGEST__WORKERS", "4");
            jail.set_env("FOLIO__VECTORS__BACKEND", "qdrant");
            let config = FolioConfig::load(Some(Path::new("custom.toml")))
                .map_err(|e| figment::Error::from(e.to_string()))?;
            assert_eq!(config.data_dir, PathBuf::from("/srv/folio"));
            assert_eq!(config.ingest.chunk_tokens, 256, "file overrides default");
            assert_eq!(config.ingest.workers, 4, "env overrides file");
            assert_eq!(config.vectors.backend, VectorBackend::Qdrant);
            assert_eq!(config.ingest.embed_batch, 32, "untouched default stays");
            assert_eq!(config.store_url(), "sqlite:///srv/folio/folio.db");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("folio.toml", "[ingest]\nchunk_tokenz = 1\n")?;
            assert!(FolioConfig::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn command_line_overrides_are_the_top_layer_and_typed() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "folio.toml",
                "[server]\nrole = \"ingest\"\n[answer]\npipeline = \"full\"\n",
            )?;
            jail.set_env("FOLIO__INGEST__WORKERS", "4");
            let overrides: Vec<Override> = [
                "ingest.workers=2",
                "server.role=query",
                "models.llm_device=cuda:1",
                "generator.backend=openai",
                "server.auth=false",
            ]
            .iter()
            .map(|s| s.parse().expect(s))
            .collect();
            let config = FolioConfig::load_with(None, &overrides)
                .map_err(|e| figment::Error::from(e.to_string()))?;
            assert_eq!(config.ingest.workers, 2, "flag overrides env");
            assert_eq!(config.server.role, ServeRole::Query, "flag overrides file");
            assert_eq!(config.models.llm_device, LlmDevice::Cuda(1));
            assert_eq!(config.generator.backend, GeneratorBackend::OpenAi);
            assert!(!config.server.auth);
            assert_eq!(
                config.answer.pipeline,
                PipelineChoice::Fixed(Pipeline::FULL),
                "the file's value stays where no flag names it"
            );
            Ok(())
        });
    }

    #[test]
    fn a_wrong_name_or_key_fails_at_load_and_says_which() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FOLIO__MODELS__LLM_WEIGHTS", "q4");
            let message = FolioConfig::load(None).unwrap_err().to_string();
            assert!(message.contains("q8_0"), "{message}");
            jail.set_env("FOLIO__MODELS__LLM_WEIGHTS", "q8_0");
            let typo: Override = "server.rol=query".parse().map_err(figment::Error::from)?;
            assert!(FolioConfig::load_with(None, &[typo]).is_err());
            Ok(())
        });
        assert!("no-equals-sign".parse::<Override>().is_err());
        assert!("=value".parse::<Override>().is_err());
    }

    #[test]
    fn defaults_survive_a_round_trip_through_their_names() {
        let config = FolioConfig::default();
        let text = toml::to_string(&config).expect("serializes");
        let back: FolioConfig = toml::from_str(&text).expect("parses back");
        assert_eq!(back, config);
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        assert!(matches!(
            FolioConfig::load(Some(Path::new("/nonexistent/folio.toml"))),
            Err(ConfigError::MissingFile(_))
        ));
    }
}
