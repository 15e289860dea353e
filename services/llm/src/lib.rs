//! Folio's language-model layer.
//!
//! * [`LanguageModel`]: the one trait the query service uses: token scoring for
//!   XL3M segment selection (and, later, streaming generation).
//! * [`CandleModel`]: GGUF models (llama, qwen2, gemma3 families) on candle, with
//!   the tokenizer built from the GGUF metadata ([`GgufTokenizer`]).
//! * [`GgufModelInfo`]: a local GGUF model's metadata, read without loading weights.
#![warn(missing_docs)]

mod candle;
mod gguf;
mod model;
mod spm;
mod tokenizer;

pub use candle::{CandleModel, CandleOptions, WeightFormat};
pub use gguf::{GgufModelInfo, LlmError};
pub use model::{ContinuationScores, LanguageModel, ModelDescription, ScoreInput};
pub use tokenizer::GgufTokenizer;
