//! Chat completions with the process's generator (the OpenAI-compatible
//! `/v1/chat/completions`): the limits a request must respect, and generation
//! whole or as a stream, cancelled when nobody waits for it any more.

use folio_common::config::LimitsConfig;
use folio_llm::{DropSignal, GenerateRequest, Generation, LanguageModel};
use futures::Stream;
use std::sync::Arc;
use tokio::sync::mpsc;

use crate::ask::receiver_stream;
use crate::runtime::Runtime;
use crate::AppError;

/// Tokens generated when the request sets no limit.
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// What a streamed completion reports: pieces of text, then the generation
/// (with its token counts) or why it failed.
#[derive(Debug)]
pub enum ChatUpdate {
    /// A piece of the reply.
    Text(String),
    /// The whole generation; the last update.
    Done(Generation),
    /// Generation failed; the last update.
    Failed(AppError),
}

/// The token limit a request gets: its own, else the default, within the cap
/// (`limits.max_chat_tokens`) that bounds how long one request holds a slot.
pub fn max_tokens(limits: &LimitsConfig, asked: Option<usize>) -> Result<usize, AppError> {
    let cap = limits.max_chat_tokens;
    let max_tokens = asked.unwrap_or(DEFAULT_MAX_TOKENS.min(cap)).max(1);
    if max_tokens > cap {
        return Err(AppError::MaxTokensTooLarge(format!(
            "max_tokens is {max_tokens}; at most {cap} are allowed"
        )));
    }
    Ok(max_tokens)
}

/// Checks a request before any model loads or a slot is taken.
pub fn check(request: &GenerateRequest) -> Result<(), AppError> {
    if request.messages.is_empty() {
        return Err(AppError::InvalidRequest("messages is empty".into()));
    }
    Ok(())
}

/// The model that completes chats (the answers' generator).
pub async fn model(runtime: &Runtime) -> Result<Arc<dyn LanguageModel>, AppError> {
    crate::ask::generator(runtime).await
}

/// The whole completion. `hold` is kept until generation ends; if the caller
/// stops waiting, generation stops at its next token.
pub async fn complete(
    model: Arc<dyn LanguageModel>,
    request: GenerateRequest,
    hold: impl Send + 'static,
) -> Result<Generation, AppError> {
    let caller = DropSignal::new();
    let caller_gone = caller.watcher();
    let generation = tokio::task::spawn_blocking(move || {
        let _hold = hold;
        model.generate(&request, &mut |_: &str| !caller_gone.dropped())
    })
    .await??;
    Ok(generation)
}

/// The completion as a stream of updates; dropping the stream stops generation
/// at its next token. `hold` is kept until generation ends.
pub fn complete_stream(
    model: Arc<dyn LanguageModel>,
    request: GenerateRequest,
    hold: impl Send + 'static,
) -> impl Stream<Item = ChatUpdate> + Send + 'static {
    let (updates, receiver) = mpsc::unbounded_channel();
    tokio::task::spawn_blocking(move || {
        let _hold = hold;
        let pieces = updates.clone();
        let mut on_text = |piece: &str| pieces.send(ChatUpdate::Text(piece.to_string())).is_ok();
        let last = match model.generate(&request, &mut on_text) {
            Ok(generation) => ChatUpdate::Done(generation),
            Err(error) => ChatUpdate::Failed(error.into()),
        };
        let _ = updates.send(last);
    });
    receiver_stream(receiver)
}
