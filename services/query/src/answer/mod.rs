//! From a question to a cited answer, in stages over one [`AnswerState`]:
//! key context (top chunks or XL3M, `context.rs`), recycled demos (`demos.rs`),
//! then the answer, written from verified facts (ALR², `facts.rs`), from the
//! numbered paragraphs (`paragraphs.rs`) or quoted from the evidence itself
//! (`extractive.rs`); every generated claim is checked against the text it
//! cites before it is shown (`verify.rs`).
//!
//! Every citation is a span of a stored document's canonical text, and its quote is
//! read from that text, never from model output (`citations.rs`).

mod citations;
mod context;
mod demos;
mod extractive;
mod facts;
mod paragraphs;
mod state;
mod verify;

use std::sync::{Arc, Mutex};

use folio_common::blob::BlobStore;
use folio_common::config::AnswerConfig;
pub use folio_common::config::Pipeline;
use folio_index::SearchFilter;
use folio_llm::{ChatMessage, FinishReason, GenerateRequest, Generation, LanguageModel};
use folio_store::MetadataStore;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::alr2::{FactCandidate, FactCheck, Unit};
use crate::claims::ShownClaim;
use crate::context::{ContextBuilder, KeyContext};
use crate::demos::Demo;
use crate::retrieve::{Retriever, SearchResults};
use crate::xl3m::Segment;
use crate::QueryError;

pub use paragraphs::paragraph_prompt;
use state::{AnswerState, Outcome};

/// Follows a claim that its sources do not support, where `flag` shows it.
pub const UNSUPPORTED_MARK: &str = "[unsupported]";

/// The `model` of an answer that no model wrote.
pub const EXTRACTIVE_MODEL: &str = "extractive (no generator)";

/// One question to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AskRequest {
    /// The question.
    pub question: String,
    /// Tenant, collections, documents.
    pub filter: SearchFilter,
    /// Methods to use.
    pub pipeline: Pipeline,
}

/// A span of a stored document that supports the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    /// The marker used in the answer text (`S12` or `P3`).
    pub marker: String,
    /// Document id.
    pub document_id: String,
    /// Document name.
    pub document_name: String,
    /// Version the offsets refer to.
    pub version: i64,
    /// Heading path, top first.
    pub section_path: Vec<String>,
    /// First character in the canonical text.
    pub char_start: usize,
    /// One past the last character.
    pub char_end: usize,
    /// Page (1-based) of the first character, when known.
    pub page: Option<u32>,
    /// `canonical[char_start..char_end]`.
    pub quote: String,
}

/// One model call, for the trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCall {
    /// `demo`, `facts`, `facts-retry` or `answer`.
    pub stage: String,
    /// The messages sent.
    pub messages: Vec<ChatMessage>,
    /// The reply.
    pub reply: String,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens.
    pub completion_tokens: usize,
    /// Seconds.
    pub seconds: f64,
}

/// Seconds per stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnswerTimings {
    /// Retrieval and (with XL3M) segment scoring.
    pub context_s: f64,
    /// Demo generation.
    pub demos_s: f64,
    /// ALR² fact listing and verification.
    pub facts_s: f64,
    /// The answer itself.
    pub answer_s: f64,
    /// Everything.
    pub total_s: f64,
}

/// How an answer was reached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnswerTrace {
    /// The hybrid search behind a plain context.
    pub retrieval: Option<SearchResults>,
    /// The XL3M selection (candidates, scores, kept segments).
    pub key_context: Option<KeyContext>,
    /// The spans the model read, in prompt order.
    pub context: Vec<Segment>,
    /// The numbered units (ALR² and demos).
    pub units: Vec<Unit>,
    /// Demonstrations used.
    pub demos: Vec<Demo>,
    /// The units offered to the fact-listing stage, in the order shown (best
    /// first), with their similarity to the question;
    /// the model read them numbered from `S1`, and the `claimed_id` of a fact is
    /// that number. Empty when every unit is offered under its own number.
    pub fact_candidates: Vec<FactCandidate>,
    /// Facts verified and rejected (ALR²).
    pub facts: Option<FactCheck>,
    /// How each unit scored as evidence (`extract`), best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<crate::extract::UnitScore>,
    /// Every model call with its prompt and reply.
    pub calls: Vec<ModelCall>,
    /// Fallbacks taken and markers dropped.
    pub notes: Vec<String>,
}

/// A cited answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The question.
    pub question: String,
    /// Pipeline name.
    pub pipeline: String,
    /// The answer text, with citation markers such as `[S12]`.
    pub answer: String,
    /// The model declined: the context does not answer the question.
    pub no_answer: bool,
    /// Supporting spans, in marker order.
    pub citations: Vec<Citation>,
    /// Each claim with its verdict: the sentences of a generated answer, checked
    /// against the text they cite, or the quotes and value of an `extract` answer.
    #[serde(default)]
    pub claims: Vec<ShownClaim>,
    /// Generating model.
    pub model: String,
    /// Tokens over every model call.
    pub prompt_tokens: usize,
    /// Generated tokens over every model call.
    pub completion_tokens: usize,
    /// Stage timings.
    pub timings: AnswerTimings,
    /// How the answer was reached.
    pub trace: AnswerTrace,
}

/// Progress of an answer, for streaming clients.
#[derive(Debug, Clone, PartialEq)]
pub enum AskEvent {
    /// A stage began (`context`, `demos`, `facts`, `answer`).
    Stage(&'static str),
    /// A piece of the answer text.
    Text(String),
}

/// Answers questions; cheap to clone.
#[derive(Clone)]
pub struct Answerer {
    retriever: Retriever,
    contexts: ContextBuilder,
    store: MetadataStore,
    blobs: BlobStore,
    generator: Arc<dyn LanguageModel>,
    config: AnswerConfig,
    demo_cache: Arc<Mutex<demos::DemoCache>>,
}

impl Answerer {
    /// An answerer over the stores, generating with `generator`.
    pub fn new(
        retriever: Retriever,
        contexts: ContextBuilder,
        store: MetadataStore,
        blobs: BlobStore,
        generator: Arc<dyn LanguageModel>,
        config: AnswerConfig,
    ) -> Self {
        Self {
            retriever,
            contexts,
            store,
            blobs,
            generator,
            config,
            demo_cache: Arc::default(),
        }
    }

    /// The answering settings in force.
    pub fn config(&self) -> &AnswerConfig {
        &self.config
    }

    /// The model that writes answers.
    pub fn generator(&self) -> &Arc<dyn LanguageModel> {
        &self.generator
    }

    /// Answers `request`, sending progress and answer text to `events` as it comes.
    pub async fn ask(
        &self,
        request: &AskRequest,
        events: Option<UnboundedSender<AskEvent>>,
    ) -> Result<Answer, QueryError> {
        let question = request.question.trim();
        if question.is_empty() {
            return Err(QueryError::InvalidRequest("the question is empty".into()));
        }
        let mut state = AnswerState::new(question, request, events);
        self.key_context(&mut state).await?;
        if request.pipeline.demos && self.config.demos > 0 {
            self.recycle_demos(&mut state).await?;
        }
        let outcome = if state.context.is_empty() {
            state
                .trace
                .notes
                .push("no context was found for the question".into());
            Outcome::insufficient()
        } else if request.pipeline.extract {
            let at = state.stage("answer");
            let outcome = self.extract_answer(&mut state).await?;
            state.timings.answer_s = at.elapsed().as_secs_f64();
            outcome
        } else if request.pipeline.alr2 {
            self.answer_from_facts(&mut state).await?
        } else {
            self.answer_from_paragraphs(&mut state).await?
        };
        let model = if request.pipeline.extract {
            EXTRACTIVE_MODEL.to_string()
        } else {
            self.generator.describe().id
        };
        Ok(state.finish(outcome, model))
    }

    /// Runs one generation on a blocking thread, streaming its text to `stream`
    /// when given, and records the call.
    async fn call(
        &self,
        stage: &str,
        messages: Vec<ChatMessage>,
        max_tokens: usize,
        stream: Option<UnboundedSender<AskEvent>>,
        calls: &mut Vec<ModelCall>,
    ) -> Result<Generation, QueryError> {
        let model = Arc::clone(&self.generator);
        let request = GenerateRequest {
            messages: messages.clone(),
            max_tokens,
            temperature: self.config.temperature,
            seed: Some(self.config.seed),
            stop: vec!["\nQuestion:".into(), "\n\nQuestion".into()],
        };
        let caller = folio_llm::DropSignal::new();
        let caller_gone = caller.watcher();
        let generation = tokio::task::spawn_blocking(move || {
            let mut on_text = |piece: &str| {
                !caller_gone.dropped()
                    && match &stream {
                        Some(sink) => sink.send(AskEvent::Text(piece.to_string())).is_ok(),
                        None => true,
                    }
            };
            model.generate(&request, &mut on_text)
        })
        .await??;
        calls.push(ModelCall {
            stage: stage.to_string(),
            messages,
            reply: generation.text.clone(),
            finish_reason: generation.finish_reason,
            prompt_tokens: generation.prompt_tokens,
            completion_tokens: generation.completion_tokens,
            seconds: generation.total_s,
        });
        Ok(generation)
    }
}

#[cfg(test)]
mod tests;
