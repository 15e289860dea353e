//! Folio's application layer: the runtime (stores, indexes, models) and every use
//! case, each in one place. The HTTP API, the CLI and the eval are front ends that
//! call these functions; none of them holds a rule of its own, so what the eval
//! measures is what users get. Use cases fail with [`AppError`], whose variants
//! the HTTP crate maps to its one table of error codes.

pub mod ask;
pub mod backup;
pub mod chat;
pub mod collections;
pub mod documents;
mod embedder_mark;
mod error;
pub mod health;
pub mod ingest;
pub mod keys;
mod llm;
pub mod models;
pub mod runtime;
pub mod search;
pub mod secrets;
pub mod upload;

pub use embedder_mark::EmbedderMark;
pub use error::AppError;
pub use folio_common::config::ServeRole;
pub use runtime::{Runtime, DEFAULT_TENANT};
