//! Folio's language-model layer.
//!
//! This crate will hold the `LanguageModel` trait (token scoring for XL3M
//! and streaming generation) with its candle and OpenAI-compatible backends.
//! What exists today is the part ingestion and `folio serve` need: reading a
//! local GGUF model's metadata so the server can report which model it
//! serves and refuse a file that is not a usable GGUF.
#![warn(missing_docs)]

mod gguf;

pub use gguf::{GgufModelInfo, LlmError};
