//! Folio's language-model layer.
//!
//! * [`LanguageModel`]: the one trait the query service uses: token scoring for
//!   XL3M segment selection, and streaming chat generation.
//! * [`OpenAiModel`]: any OpenAI-compatible server (generation only).
//! * [`CandleModel`]: GGUF models (llama, qwen2, gemma3 families) on candle, with
//!   the tokenizer built from the GGUF metadata ([`GgufTokenizer`]).
//! * [`GgufModelInfo`]: a local GGUF model's metadata, read without loading weights.
#![warn(missing_docs)]

mod candle;
mod chat;
mod gguf;
mod model;
mod openai;
mod spm;
mod text_stream;
mod tokenizer;

pub use candle::{
    CandleDecoder, CandleModel, CandleOptions, LlmDevice, LlmWeights, DIRECTORY_TOKENIZER,
};
pub use gguf::{GgufModelInfo, LlmError};
pub use model::{
    ChatMessage, ChatRole, ContinuationScores, DropSignal, DropWatcher, FinishReason,
    GenerateRequest, Generation, LanguageModel, ModelDescription, ScoreInput, TokenSink,
};
pub use openai::{OpenAiModel, OpenAiOptions};
pub use tokenizer::GgufTokenizer;
