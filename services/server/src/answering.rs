//! Answering as the CLI and the HTTP API offer it: the answerer built once per
//! process (models loaded on first use), requests resolved within the tenant.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use folio_index::SearchFilter;
use folio_llm::{LanguageModel, OpenAiModel, OpenAiOptions};
use folio_query::answer::{Answerer, AskRequest, Pipeline};
use folio_query::context::ContextBuilder;
use serde::Deserialize;

use crate::http::ApiError;
use crate::llm::load_scoring_model;
use crate::runtime::Runtime;
use crate::search::{check_filters, check_query_length, resolve_collections};

/// A question as a client states it (`POST /v1/ask`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskParams {
    /// The question.
    pub question: String,
    /// Only these documents (ids); empty = all.
    #[serde(default)]
    pub documents: Vec<String>,
    /// Only these collections (names); empty = all.
    #[serde(default)]
    pub collections: Vec<String>,
    /// `extract`, `plain`, `+xl3m`, `+alr2`, `+demos` or `full` (default: `[answer] pipeline`,
    /// `auto`: `extract` with the built-in model on CPU, `full` otherwise).
    #[serde(default)]
    pub pipeline: Option<String>,
    /// Include the trace (prompts, scores, facts, timings).
    #[serde(default)]
    pub trace: bool,
    /// Stream server-sent events instead of one JSON body.
    #[serde(default)]
    pub stream: bool,
}

/// The models an answerer uses: the local scorer (XL3M) and the generator.
pub struct Models {
    /// Scores segments (always the local GGUF).
    pub scorer: Arc<dyn LanguageModel>,
    /// Writes answers (the local GGUF, or an OpenAI-compatible server).
    pub generator: Arc<dyn LanguageModel>,
}

/// Loads the configured models.
pub fn load_models(runtime: &Runtime) -> anyhow::Result<Models> {
    let scorer = load_scoring_model(&runtime.config)?;
    let generator: Arc<dyn LanguageModel> = match runtime.config.generator.backend.as_str() {
        "local" => Arc::clone(&scorer),
        "openai" => {
            let g = &runtime.config.generator;
            Arc::new(OpenAiModel::new(OpenAiOptions {
                base_url: g.base_url.clone(),
                api_key: g.api_key.clone(),
                model: g.model.clone(),
                timeout: Duration::from_secs(g.timeout_secs.max(1)),
                max_retries: g.max_retries,
                backoff: Duration::from_millis(500),
                context_length: g.context_length,
            })?)
        }
        other => anyhow::bail!("generator.backend must be `local` or `openai`, not {other:?}"),
    };
    Ok(Models { scorer, generator })
}

/// An answerer over the runtime with `models`.
pub fn answerer(runtime: &Runtime, models: &Models) -> Answerer {
    let contexts = ContextBuilder::new(
        runtime.retriever.clone(),
        runtime.store.clone(),
        runtime.blobs.clone(),
        Arc::clone(&models.scorer),
        runtime.config.xl3m.clone(),
    );
    Answerer::new(
        runtime.retriever.clone(),
        contexts,
        runtime.store.clone(),
        runtime.blobs.clone(),
        Arc::clone(&models.generator),
        runtime.config.answer.clone(),
    )
}

/// The process's answerer, built on first use.
pub async fn shared_answerer(runtime: &Runtime) -> Result<Answerer, ApiError> {
    let built = runtime
        .answerer
        .get_or_try_init(|| async {
            let runtime = runtime.clone();
            tokio::task::spawn_blocking(move || {
                load_models(&runtime).map(|models| answerer(&runtime, &models))
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        })
        .await;
    built.cloned().map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "model_unavailable",
            format!("{e:#}"),
        )
    })
}

/// Resolves `params` within a tenant into a request.
pub async fn request(
    runtime: &Runtime,
    tenant: &str,
    params: &AskParams,
) -> Result<AskRequest, ApiError> {
    let limits = &runtime.config.limits;
    check_query_length(limits, "question", &params.question)?;
    check_filters(limits, &params.documents, &params.collections)?;
    if params.question.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "the question is empty",
        ));
    }
    let collection_ids = resolve_collections(runtime, tenant, &params.collections).await?;
    // Unlike a search, a question about a named document that does not exist is an
    // error: answering "not enough evidence" would hide the typo.
    for document_id in &params.documents {
        runtime.store.get_document(tenant, document_id).await?;
    }
    let pipeline = match params.pipeline.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => name.parse()?,
        _ => default_pipeline(&runtime.config)?,
    };
    Ok(AskRequest {
        question: params.question.clone(),
        filter: SearchFilter::tenant(tenant.to_string())
            .with_collections(collection_ids)
            .with_documents(params.documents.clone()),
        pipeline,
    })
}

/// The pipeline of a question that names none: `[answer] pipeline`, where `auto`
/// means `extract` on the built-in small model (local, CPU), whose sentences
/// cannot be trusted, and `full` on a GPU or an OpenAI-compatible server.
pub fn default_pipeline(config: &folio_common::config::FolioConfig) -> Result<Pipeline, ApiError> {
    let name = config.answer.pipeline.trim();
    if name != "auto" {
        return Ok(name.parse()?);
    }
    let small_local = config.generator.backend == "local" && config.models.llm_device == "cpu";
    Ok(if small_local {
        Pipeline::EXTRACT
    } else {
        Pipeline::FULL
    })
}

#[cfg(test)]
mod tests {
    use folio_common::config::FolioConfig;

    use super::*;

    #[test]
    fn auto_answers_with_the_evidence_on_the_built_in_model_and_verified_elsewhere() {
        let mut config = FolioConfig::default();
        assert_eq!(config.answer.pipeline, "auto");
        assert_eq!(default_pipeline(&config).unwrap(), Pipeline::EXTRACT);
        config.models.llm_device = "cuda".into();
        assert_eq!(default_pipeline(&config).unwrap(), Pipeline::FULL);
        config.models.llm_device = "cpu".into();
        config.generator.backend = "openai".into();
        assert_eq!(default_pipeline(&config).unwrap(), Pipeline::FULL);
        config.answer.pipeline = "plain".into();
        assert_eq!(default_pipeline(&config).unwrap().name(), "plain");
        config.answer.pipeline = "nonsense".into();
        assert!(default_pipeline(&config).is_err());
    }
}
