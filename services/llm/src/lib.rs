//! Folio's language-model layer.
//!
//! * [`LanguageModel`]: the one trait the query service uses: token scoring for
//!   XL3M segment selection (and, later, streaming generation).
//! * [`GgufModelInfo`]: a local GGUF model's metadata, read without loading weights.
#![warn(missing_docs)]

mod gguf;
mod model;

pub use gguf::{GgufModelInfo, LlmError};
pub use model::{ContinuationScores, LanguageModel, ModelDescription, ScoreInput};
