//! Folio's server crate: the HTTP API (axum), the CLI commands, benchmarks and
//! evaluation behind the all-in-one `folio` binary (`src/main.rs`). It is a library
//! too so that fuzz targets can drive the API's request decoding in-process.

pub mod admin_cmd;
pub mod answering;
pub mod ask_cmd;
pub mod auth;
pub mod backup;
pub mod bench;
pub mod bench_retrieve;
pub mod bench_score;
pub mod bench_synthetic;
pub mod bench_tokens;
pub mod cli;
pub mod docs;
pub mod embedder_mark;
pub mod eval;
pub mod eval_answers;
pub mod http;
pub mod ingest_cmd;
pub mod llm;
pub mod metrics;
pub mod models;
pub mod runtime;
pub mod search;
pub mod secrets;
pub mod telemetry;
pub mod upload;
