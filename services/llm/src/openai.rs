//! The OpenAI-compatible backend: any server speaking `/v1/chat/completions`
//! (OpenAI, vLLM, llama.cpp's server, or another Folio), through async-openai.
//!
//! Generation streams; transient failures (HTTP 429 and 5xx, connection errors)
//! are retried with exponential backoff until the first token arrives: after that
//! a retry would repeat text the caller already has, so the error is returned.
//! Such servers expose no prompt log-probabilities, so `score` is unsupported and
//! XL3M falls back to retrieval order (and says so in the trace).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    ChatCompletionStreamOptions, CreateChatCompletionRequest, StopConfiguration,
};
use async_openai::Client;
use futures::StreamExt;

use crate::text_stream::{Advance, TextStream};
use crate::{
    ChatRole, ContinuationScores, FinishReason, GenerateRequest, Generation, LanguageModel,
    LlmError, ModelDescription, ScoreInput, TokenSink,
};

/// Where and how to reach an OpenAI-compatible server.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiOptions {
    /// API base, including the version path (for example `http://127.0.0.1:8080/v1`).
    pub base_url: String,
    /// Bearer key (empty for servers without authentication).
    pub api_key: String,
    /// Model name sent with each request.
    pub model: String,
    /// Longest wait for the connection or for the next piece of a response.
    pub timeout: Duration,
    /// Retries of a failed request before the first token (429, 5xx, connection).
    pub max_retries: u32,
    /// First backoff delay; doubled on each retry, capped at 8 s.
    pub backoff: Duration,
    /// The server model's context, for budgets (the API does not report it).
    pub context_length: usize,
}

impl Default for OpenAiOptions {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080/v1".into(),
            api_key: String::new(),
            model: "default".into(),
            timeout: Duration::from_secs(120),
            max_retries: 3,
            backoff: Duration::from_millis(500),
            context_length: 8192,
        }
    }
}

/// A model behind an OpenAI-compatible HTTP API.
pub struct OpenAiModel {
    client: Client<OpenAIConfig>,
    options: OpenAiOptions,
}

impl std::fmt::Debug for OpenAiModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiModel")
            .field("base_url", &self.options.base_url)
            .field("model", &self.options.model)
            .finish()
    }
}

impl OpenAiModel {
    /// A client for `options` (no request is made until the first generation).
    pub fn new(options: OpenAiOptions) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(options.timeout)
            .read_timeout(options.timeout)
            .build()
            .map_err(|e| LlmError::Remote(format!("cannot build the HTTP client: {e}")))?;
        let config = OpenAIConfig::new()
            .with_api_base(options.base_url.trim_end_matches('/'))
            .with_api_key(options.api_key.clone());
        Ok(Self {
            client: Client::with_config(config).with_http_client(http),
            options,
        })
    }

    fn request(&self, request: &GenerateRequest) -> CreateChatCompletionRequest {
        let messages = request
            .messages
            .iter()
            .map(|m| -> ChatCompletionRequestMessage {
                match m.role {
                    ChatRole::System => {
                        ChatCompletionRequestSystemMessage::from(m.content.as_str()).into()
                    }
                    ChatRole::User => {
                        ChatCompletionRequestUserMessage::from(m.content.as_str()).into()
                    }
                    ChatRole::Assistant => {
                        ChatCompletionRequestAssistantMessage::from(m.content.as_str()).into()
                    }
                }
            })
            .collect();
        let stop: Vec<String> = request
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .take(4)
            .cloned()
            .collect();
        CreateChatCompletionRequest {
            model: self.options.model.clone(),
            messages,
            max_completion_tokens: Some(request.max_tokens.min(u32::MAX as usize) as u32),
            temperature: Some(request.temperature.max(0.0)),
            // Deprecated by OpenAI, still honoured by vLLM and llama.cpp's server.
            #[allow(deprecated)]
            seed: request.seed.map(|s| (s & i64::MAX as u64) as i64),
            stop: (!stop.is_empty()).then_some(StopConfiguration::StringArray(stop)),
            stream: Some(true),
            stream_options: Some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn generate_async(
        &self,
        request: &GenerateRequest,
        on_text: TokenSink<'_>,
    ) -> Result<Generation, LlmError> {
        let started = Instant::now();
        let body = self.request(request);
        let mut attempt = 0u32;
        let mut stream = loop {
            let failure = match self.client.chat().create_stream(body.clone()).await {
                Ok(stream) => break stream,
                Err(e) => e,
            };
            if attempt >= self.options.max_retries || !transient(&failure) {
                return Err(remote(failure));
            }
            let delay = self.options.backoff.saturating_mul(1 << attempt.min(4));
            tracing::warn!(attempt, error = %failure, "retrying the model server");
            tokio::time::sleep(delay.min(Duration::from_secs(8))).await;
            attempt += 1;
        };
        let mut text = TextStream::new(&request.stop);
        let mut decoded = String::new();
        let mut first_token_s = None;
        let mut usage = None;
        let mut finish_reason = FinishReason::Length;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(remote)?;
            if let Some(u) = chunk.usage {
                usage = Some(u);
            }
            for choice in chunk.choices {
                if let Some(delta) = choice.delta.content {
                    first_token_s.get_or_insert_with(|| started.elapsed().as_secs_f64());
                    decoded.push_str(&delta);
                    match text.advance(&decoded) {
                        Advance::Emit(piece) => {
                            if !piece.is_empty() && !on_text(piece) {
                                finish_reason = FinishReason::Cancelled;
                            }
                        }
                        Advance::Stopped(piece) => {
                            if !piece.is_empty() {
                                on_text(piece);
                            }
                            finish_reason = FinishReason::Stop;
                        }
                    }
                }
                if let Some(reason) = choice.finish_reason {
                    finish_reason = match format!("{reason:?}").to_ascii_lowercase().as_str() {
                        "length" => FinishReason::Length,
                        _ => FinishReason::Stop,
                    };
                }
            }
            if finish_reason == FinishReason::Cancelled {
                break;
            }
        }
        let tail = text.finish();
        if !tail.is_empty() && finish_reason != FinishReason::Cancelled {
            on_text(&tail);
        }
        let text = text.into_text();
        let (prompt_tokens, completion_tokens) = match usage {
            Some(u) => (u.prompt_tokens as usize, u.completion_tokens as usize),
            None => (
                request
                    .messages
                    .iter()
                    .map(|m| estimate_tokens(&m.content))
                    .sum(),
                estimate_tokens(&text),
            ),
        };
        Ok(Generation {
            text,
            finish_reason,
            prompt_tokens,
            completion_tokens,
            first_token_s: first_token_s.unwrap_or_else(|| started.elapsed().as_secs_f64()),
            total_s: started.elapsed().as_secs_f64(),
        })
    }
}

/// 429 and 5xx answers and failed connections are worth retrying.
fn transient(error: &OpenAIError) -> bool {
    match error {
        OpenAIError::ApiError(e) => {
            e.status_code.as_u16() == 429 || e.status_code.is_server_error()
        }
        OpenAIError::Reqwest(e) => {
            e.is_connect()
                || e.is_timeout()
                || e.status()
                    .is_some_and(|s| s.as_u16() == 429 || s.is_server_error())
        }
        _ => false,
    }
}

fn remote(error: OpenAIError) -> LlmError {
    LlmError::Remote(error.to_string())
}

/// Tokens of `text` as most BPE vocabularies count English prose (≈ 4 characters
/// per token): the API gives no tokenizer, and budgets only need the order of size.
fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

/// Runs a future to completion from blocking code (model calls run on blocking
/// threads): on the caller's runtime when there is one, else on a shared one.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, LlmError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        return Ok(match handle.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(future))
            }
            _ => handle.block_on(future),
        });
    }
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match runtime {
        Ok(runtime) => Ok(runtime.block_on(future)),
        Err(e) => Err(LlmError::Remote(format!(
            "cannot start the HTTP runtime: {e}"
        ))),
    }
}

impl LanguageModel for OpenAiModel {
    fn describe(&self) -> ModelDescription {
        ModelDescription {
            id: self.options.model.clone(),
            architecture: "remote".into(),
            backend: "openai".into(),
            device: self.options.base_url.clone(),
            context_length: self.options.context_length,
            supports_scoring: false,
            chat_format: "server".into(),
        }
    }

    fn count_tokens(&self, text: &str) -> Result<usize, LlmError> {
        Ok(estimate_tokens(text))
    }

    fn score(&self, _batch: &[ScoreInput]) -> Result<Vec<ContinuationScores>, LlmError> {
        Err(LlmError::Unsupported("prompt log-probabilities"))
    }

    fn generate(
        &self,
        request: &GenerateRequest,
        on_text: TokenSink<'_>,
    ) -> Result<Generation, LlmError> {
        block_on(self.generate_async(request, on_text))?
    }
}
