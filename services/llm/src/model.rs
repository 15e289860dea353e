//! The `LanguageModel` trait: what the query service asks of any model.

use serde::{Deserialize, Serialize};

use crate::LlmError;

/// One scoring request: score `continuation` given `prefix`.
///
/// The two parts are tokenized separately and concatenated (prefix first, with the
/// model's beginning-of-sequence token when it uses one), so the continuation's
/// tokens are exactly the tokens of `continuation` on its own. XL3M relies on this:
/// the question block must be the same token sequence for every segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreInput {
    /// Text the continuation is conditioned on (may be empty).
    pub prefix: String,
    /// Text whose tokens are scored. Must tokenize to at least one token.
    pub continuation: String,
}

impl ScoreInput {
    /// A request scoring `continuation` after `prefix`.
    pub fn new(prefix: impl Into<String>, continuation: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            continuation: continuation.into(),
        }
    }
}

/// Per-token scores of one continuation.
///
/// Index `j` refers to the continuation's `j`-th token: `logprobs[j]` is
/// `log p(token_j | prefix, token_<j)` and `entropies[j]` is the entropy (nats) of
/// the whole next-token distribution at that position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContinuationScores {
    /// Tokens in the prefix as fed to the model (including BOS when added).
    pub prefix_tokens: usize,
    /// Token ids of the continuation.
    pub tokens: Vec<u32>,
    /// Natural-log probability of each continuation token.
    pub logprobs: Vec<f32>,
    /// Entropy (nats) of the next-token distribution that predicts each token.
    pub entropies: Vec<f32>,
}

impl ContinuationScores {
    /// Mean entropy over the continuation positions (XL3M's default score; lower
    /// means the model is more certain).
    pub fn mean_entropy(&self) -> f32 {
        mean(&self.entropies)
    }

    /// Mean negative log-likelihood of the continuation tokens.
    pub fn mean_nll(&self) -> f32 {
        -mean(&self.logprobs)
    }
}

fn mean(values: &[f32]) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().map(|v| f64::from(*v)).sum::<f64>() as f32 / values.len() as f32
}

/// What a loaded model is, for traces, `/readyz` and benchmarks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelDescription {
    /// A stable identifier (file name or API model name).
    pub id: String,
    /// Architecture (`llama`, `qwen2`, `gemma3`, … or `remote`).
    pub architecture: String,
    /// Backend name (`candle`, `openai`).
    pub backend: String,
    /// Device the model runs on (`cpu`, `cuda:0`, or the server URL).
    pub device: String,
    /// Maximum tokens of prefix + continuation the model accepts.
    pub context_length: usize,
    /// Whether [`LanguageModel::score`] is supported.
    pub supports_scoring: bool,
    /// How chat prompts are rendered (`gguf-template`, `gemma-turns-fallback`,
    /// `chatml-fallback`, `server`).
    pub chat_format: String,
}

/// A language model as Folio uses it.
///
/// Methods are blocking and CPU/GPU heavy: async callers run them on a blocking
/// thread (`tokio::task::spawn_blocking`). Implementations are shareable across
/// threads; a backend that cannot run two requests at once serializes internally.
pub trait LanguageModel: Send + Sync {
    /// Identity and capabilities.
    fn describe(&self) -> ModelDescription;

    /// Number of tokens `text` encodes to (without BOS).
    fn count_tokens(&self, text: &str) -> Result<usize, LlmError>;

    /// Scores a batch of continuations; the result has one entry per input, in order.
    ///
    /// Batched results equal one-by-one results (within floating-point tolerance):
    /// padding never leaks into a sequence's scores. Inputs longer than the context
    /// length fail with [`LlmError::ContextOverflow`].
    fn score(&self, batch: &[ScoreInput]) -> Result<Vec<ContinuationScores>, LlmError>;

    /// Generates the assistant's reply to `request.messages`, passing each new piece
    /// of text to `on_text` as soon as it is final (a stop sequence is never
    /// passed, not even in part).
    fn generate(
        &self,
        request: &GenerateRequest,
        on_text: TokenSink<'_>,
    ) -> Result<Generation, LlmError>;
}

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// Instructions for the whole conversation.
    System,
    /// The asker (Folio's prompts, which carry document text as data).
    User,
    /// The model.
    Assistant,
}

impl ChatRole {
    /// The role's name in chat templates and the OpenAI API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One message of a chat prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Author.
    pub role: ChatRole,
    /// Text.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Assistant,
            content: content.into(),
        }
    }
}

/// A generation request: a chat, and how to sample the reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    /// The conversation; the reply continues it as the assistant.
    pub messages: Vec<ChatMessage>,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Sampling temperature; `0` is greedy (deterministic).
    pub temperature: f32,
    /// Seed of the sampler when `temperature > 0` (same seed, same reply).
    pub seed: Option<u64>,
    /// Generation stops before the first occurrence of any of these strings.
    pub stop: Vec<String>,
}

impl GenerateRequest {
    /// A greedy request for at most `max_tokens` tokens.
    pub fn greedy(messages: Vec<ChatMessage>, max_tokens: usize) -> Self {
        Self {
            messages,
            max_tokens,
            temperature: 0.0,
            seed: None,
            stop: Vec::new(),
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn or a stop sequence was reached.
    Stop,
    /// `max_tokens` was reached.
    Length,
    /// The caller's token callback asked to stop (for example, the client left).
    Cancelled,
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The reply (without the stop sequence that ended it).
    pub text: String,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Seconds from the request to the first generated token.
    pub first_token_s: f64,
    /// Seconds for the whole request.
    pub total_s: f64,
}

/// Receives generated text as it is produced; returning `false` cancels.
pub type TokenSink<'a> = &'a mut dyn FnMut(&str) -> bool;

/// Held by the code awaiting a blocking generation; when that code goes away
/// (its future dropped on a timeout or a closed connection) the signal fires,
/// so the generation stops at its next token instead of running on unseen.
#[derive(Debug, Default)]
pub struct DropSignal(std::sync::Arc<std::sync::atomic::AtomicBool>);

/// Observes a [`DropSignal`] from the generating thread.
#[derive(Debug, Clone)]
pub struct DropWatcher(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl DropSignal {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// A watcher to move into the generating task.
    pub fn watcher(&self) -> DropWatcher {
        DropWatcher(std::sync::Arc::clone(&self.0))
    }
}

impl Drop for DropSignal {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl DropWatcher {
    /// True once the awaiting side is gone.
    pub fn dropped(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
