//! Answering as the CLI and the HTTP API offer it: the answerer built once per
//! process (models loaded on first use), requests resolved within the tenant.

use std::sync::Arc;
use std::time::Duration;

use folio_common::config::{FolioConfig, GeneratorBackend, LlmDevice, PipelineChoice};
use folio_index::SearchFilter;
use folio_llm::{LanguageModel, OpenAiModel, OpenAiOptions};
use folio_query::answer::{Answer, Answerer, AskEvent, AskRequest, Pipeline};
use folio_query::context::ContextBuilder;
use futures::Stream;
use tokio::sync::mpsc;

use crate::llm::load_scoring_model;
use crate::runtime::Runtime;
use crate::search::{check_filters, check_query_length, resolve_collections};
use crate::AppError;

/// A question as a front end received it.
#[derive(Debug, Clone, Default)]
pub struct AskInput {
    /// The question.
    pub question: String,
    /// Restrict to these document ids.
    pub documents: Vec<String>,
    /// Restrict to these collections (names or ids).
    pub collections: Vec<String>,
    /// `extract`, `plain`, `full` or a combination; the configured default when absent.
    pub pipeline: Option<String>,
}

/// The model XL3M scores with, loaded on first use and kept for the process.
pub async fn scorer(runtime: &Runtime) -> Result<Arc<dyn LanguageModel>, AppError> {
    runtime
        .scorer
        .get_or_try_init(|| async {
            let config = Arc::clone(&runtime.config);
            tokio::task::spawn_blocking(move || load_scoring_model(&config))
                .await?
                .map_err(|e| AppError::ModelNotLoaded(format!("{e:#}")))
        })
        .await
        .cloned()
}

/// The model that writes answers and chat completions: the local scorer
/// (`generator.backend = "local"`) or the OpenAI-compatible server, which then
/// never loads the local model for chat.
pub async fn generator(runtime: &Runtime) -> Result<Arc<dyn LanguageModel>, AppError> {
    if runtime.config.generator.backend == GeneratorBackend::Local {
        return scorer(runtime).await;
    }
    runtime
        .generator
        .get_or_try_init(|| async { remote_generator(&runtime.config) })
        .await
        .cloned()
}

fn remote_generator(config: &FolioConfig) -> Result<Arc<dyn LanguageModel>, AppError> {
    let g = &config.generator;
    let model = OpenAiModel::new(OpenAiOptions {
        base_url: g.base_url.clone(),
        api_key: g.api_key.clone(),
        model: g.model.clone(),
        timeout: Duration::from_secs(g.timeout_secs.max(1)),
        max_retries: g.max_retries,
        backoff: Duration::from_millis(500),
        context_length: g.context_length,
    })
    .map_err(|e| AppError::ModelNotLoaded(e.to_string()))?;
    Ok(Arc::new(model))
}

/// The process's answerer (models loaded on first use), shared by every
/// request so that its demo cache lasts.
pub async fn answerer(runtime: &Runtime) -> Result<Answerer, AppError> {
    runtime
        .answerer
        .get_or_try_init(|| async {
            let scorer = scorer(runtime).await?;
            let generator = generator(runtime).await?;
            Ok(answerer_with(runtime, scorer, generator))
        })
        .await
        .cloned()
}

/// The production answerer over given models: what [`answerer`] builds, for a
/// caller that wraps a model (the eval caches XL3M scores).
pub fn answerer_with(
    runtime: &Runtime,
    scorer: Arc<dyn LanguageModel>,
    generator: Arc<dyn LanguageModel>,
) -> Answerer {
    let contexts = context_builder(runtime, scorer);
    Answerer::new(
        runtime.retriever.clone(),
        contexts,
        runtime.store.clone(),
        runtime.blobs.clone(),
        generator,
        runtime.config.answer.clone(),
    )
}

/// The key-context builder answering uses (the eval measures XL3M through it).
pub fn context_builder(runtime: &Runtime, scorer: Arc<dyn LanguageModel>) -> ContextBuilder {
    ContextBuilder::new(
        runtime.retriever.clone(),
        runtime.store.clone(),
        runtime.blobs.clone(),
        scorer,
        runtime.config.xl3m.clone(),
    )
}

/// Checks a question and resolves it within the tenant: length and filter
/// caps, collections by name, documents that exist and are ingested, the
/// pipeline. Done before any model loads, so a refused question costs nothing.
pub async fn prepare(
    runtime: &Runtime,
    tenant: &str,
    input: &AskInput,
) -> Result<AskRequest, AppError> {
    let limits = &runtime.config.limits;
    check_query_length(limits, "question", &input.question)?;
    check_filters(limits, &input.documents, &input.collections)?;
    if input.question.trim().is_empty() {
        return Err(AppError::InvalidQuery("the question is empty".into()));
    }
    let collection_ids = resolve_collections(runtime, tenant, &input.collections).await?;
    for document_id in &input.documents {
        crate::documents::ingested(runtime, tenant, document_id).await?;
    }
    let pipeline = match input.pipeline.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => name.parse()?,
        _ => default_pipeline(&runtime.config),
    };
    Ok(AskRequest {
        question: input.question.clone(),
        filter: SearchFilter::tenant(tenant.to_string())
            .with_collections(collection_ids)
            .with_documents(input.documents.clone()),
        pipeline,
    })
}

/// `answer.pipeline`, with `auto` resolved: the evidence itself (`extract`) on
/// the built-in model on CPU, whose generated sentences are not to be trusted;
/// the verified `full` pipeline on a GPU or an OpenAI-compatible model.
pub fn default_pipeline(config: &FolioConfig) -> Pipeline {
    match config.answer.pipeline {
        PipelineChoice::Fixed(pipeline) => pipeline,
        PipelineChoice::Auto => {
            let small_local = config.generator.backend == GeneratorBackend::Local
                && config.models.llm_device == LlmDevice::Cpu;
            if small_local {
                Pipeline::EXTRACT
            } else {
                Pipeline::FULL
            }
        }
    }
}

/// What a streamed answer reports, in order: stages and pieces of text as they
/// happen, then the answer or why there is none.
#[derive(Debug)]
pub enum AnswerUpdate {
    /// A stage began (`context`, `demos`, `facts`, `answer`).
    Stage(&'static str),
    /// A piece of the answer, shown only once it is checked.
    Text(String),
    /// The whole answer; the last update.
    Done(Box<Answer>),
    /// The answer failed; the last update.
    Failed(AppError),
}

/// Answers `request` as a stream of updates. `hold` (a generation slot) is kept
/// until the answer is complete. Dropping the stream cancels the answer.
pub fn answer_stream(
    answerer: Answerer,
    request: AskRequest,
    hold: impl Send + 'static,
) -> impl Stream<Item = AnswerUpdate> + Send + 'static {
    let (updates, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _hold = hold;
        let (progress, mut progress_rx) = mpsc::unbounded_channel();
        let job = tokio::spawn(async move { answerer.ask(&request, Some(progress)).await });
        // Progress first, in order; the channel closes when the answer is done.
        while let Some(event) = progress_rx.recv().await {
            let update = match event {
                AskEvent::Stage(stage) => AnswerUpdate::Stage(stage),
                AskEvent::Text(text) => AnswerUpdate::Text(text),
            };
            if updates.send(update).is_err() {
                // Nobody listens any more: stop answering.
                job.abort();
                return;
            }
        }
        let last = match job.await {
            Ok(Ok(answer)) => AnswerUpdate::Done(Box::new(answer)),
            Ok(Err(e)) => AnswerUpdate::Failed(e.into()),
            Err(e) => AnswerUpdate::Failed(e.into()),
        };
        let _ = updates.send(last);
    });
    receiver_stream(receiver)
}

/// The items of an unbounded channel as a stream that ends when every sender is gone.
pub(crate) fn receiver_stream<T: Send + 'static>(
    receiver: mpsc::UnboundedReceiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

/// The answer as the API returns it and `folio ask --json` prints it: the trace
/// only when asked for.
pub fn answer_json(answer: &Answer, trace: bool) -> serde_json::Value {
    let mut value = serde_json::to_value(answer).unwrap_or_default();
    if !trace {
        if let Some(object) = value.as_object_mut() {
            object.remove("trace");
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_answers_with_the_evidence_on_the_built_in_model_and_verified_elsewhere() {
        let mut config = FolioConfig::default();
        assert_eq!(config.answer.pipeline, PipelineChoice::Auto);
        assert_eq!(default_pipeline(&config), Pipeline::EXTRACT);
        config.models.llm_device = LlmDevice::Cuda(0);
        assert_eq!(default_pipeline(&config), Pipeline::FULL);
        config.models.llm_device = LlmDevice::Cpu;
        config.generator.backend = GeneratorBackend::OpenAi;
        assert_eq!(default_pipeline(&config), Pipeline::FULL);
        config.answer.pipeline = PipelineChoice::Fixed(Pipeline::PLAIN);
        assert_eq!(default_pipeline(&config).name(), "plain");
    }
}
