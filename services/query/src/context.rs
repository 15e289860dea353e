//! From a question to its key context: retrieve (or take a whole document), build
//! segments, score them with XL3M, keep the best within the budget.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use folio_common::blob::BlobStore;
use folio_common::config::Xl3mConfig;
use folio_index::SearchFilter;
use folio_llm::{LanguageModel, LlmError};
use folio_store::MetadataStore;
use serde::{Deserialize, Serialize};

use crate::document::DocumentView;
use crate::retrieve::{RetrievalMode, Retriever, SearchRequest, SearchResults};
use crate::xl3m::{self, ScoredSegments, SegmentOptions, Selection};
use crate::QueryError;

/// Where the segments come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectionScope {
    /// Rerank mode: segments around the top hybrid candidates within a filter.
    Retrieved {
        /// Tenant, collections, documents.
        filter: SearchFilter,
    },
    /// Single-document mode: every segment of one document is scored.
    Document {
        /// The owning tenant.
        tenant: String,
        /// The document.
        document_id: String,
    },
}

/// Progress of single-document scoring: `(segments scored, total)`.
pub type ProgressFn = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// The key context for one question and how it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyContext {
    /// `retrieved` or `document`.
    pub scope: String,
    /// The hybrid search behind rerank mode.
    pub retrieval: Option<SearchResults>,
    /// Segments with scores, ranks and kept flags; the spliced context.
    pub selection: Selection,
    /// Why segments were ranked without the model, when they were.
    pub fallback: Option<String>,
}

/// Builds key contexts; cheap to clone.
#[derive(Clone)]
pub struct ContextBuilder {
    retriever: Retriever,
    store: MetadataStore,
    blobs: BlobStore,
    model: Arc<dyn LanguageModel>,
    config: Xl3mConfig,
}

impl ContextBuilder {
    /// A builder over the stores and a scoring model.
    pub fn new(
        retriever: Retriever,
        store: MetadataStore,
        blobs: BlobStore,
        model: Arc<dyn LanguageModel>,
        config: Xl3mConfig,
    ) -> Self {
        Self {
            retriever,
            store,
            blobs,
            model,
            config,
        }
    }

    /// The XL3M settings in force.
    pub fn config(&self) -> &Xl3mConfig {
        &self.config
    }

    /// Selects the key context for `question` within `scope`.
    pub async fn build(
        &self,
        question: &str,
        scope: SelectionScope,
        progress: Option<ProgressFn>,
    ) -> Result<KeyContext, QueryError> {
        Ok(self.build_with_views(question, scope, progress).await?.0)
    }

    /// [`ContextBuilder::build`], also returning the documents it loaded (keyed by
    /// id), so answering reads each document once.
    pub async fn build_with_views(
        &self,
        question: &str,
        scope: SelectionScope,
        progress: Option<ProgressFn>,
    ) -> Result<(KeyContext, HashMap<String, DocumentView>), QueryError> {
        if question.trim().is_empty() {
            return Err(QueryError::InvalidRequest("the question is empty".into()));
        }
        let options = SegmentOptions {
            segment_tokens: self.config.segment_tokens,
            overlap_chars: self.config.overlap_chars,
        };
        let (scope_name, retrieval, views, segments) = match scope {
            SelectionScope::Retrieved { filter } => {
                let results = self
                    .retriever
                    .search(&SearchRequest {
                        query: question.to_string(),
                        filter: filter.clone(),
                        limit: self.config.candidates.max(1),
                        mode: RetrievalMode::Hybrid,
                    })
                    .await?;
                let mut views = HashMap::new();
                for candidate in &results.candidates {
                    let id = &candidate.chunk.document_id;
                    if !views.contains_key(id) {
                        let view = DocumentView::load(&self.store, &self.blobs, &filter.tenant, id)
                            .await?;
                        views.insert(id.clone(), view);
                    }
                }
                let candidates: Vec<(String, String, usize)> = results
                    .candidates
                    .iter()
                    .map(|c| (c.chunk.document_id.clone(), c.chunk.id.clone(), c.rank))
                    .collect();
                let segments = xl3m::around_candidates(&views, &candidates, options);
                ("retrieved", Some(results), views, segments)
            }
            SelectionScope::Document {
                tenant,
                document_id,
            } => {
                let view =
                    DocumentView::load(&self.store, &self.blobs, &tenant, &document_id).await?;
                let segments = xl3m::tile_document(&view, options);
                let views = HashMap::from([(document_id, view)]);
                ("document", None, views, segments)
            }
        };

        let model = Arc::clone(&self.model);
        let config = self.config.clone();
        let question = question.to_string();
        // Dropped with this future (a request deadline, a client gone): scoring
        // stops after its current batch instead of running on for nobody.
        let caller = folio_llm::DropSignal::new();
        let caller_gone = caller.watcher();
        let selected = tokio::task::spawn_blocking(move || {
            let deadline = (config.time_budget_secs > 0)
                .then(|| Instant::now() + Duration::from_secs(config.time_budget_secs));
            let mut report = |done: usize, total: usize| {
                if let Some(progress) = &progress {
                    progress(done, total);
                }
                !caller_gone.dropped()
            };
            let (scored, fallback) = match xl3m::score_segments(
                model.as_ref(),
                &question,
                &segments,
                config.batch,
                deadline,
                &mut report,
            ) {
                Ok(scored) => (scored, None),
                Err(QueryError::Model(LlmError::Unsupported(what))) => (
                    ScoredSegments::unscored(segments.len()),
                    Some(format!(
                        "the model backend does not support {what}: segments keep their retrieval order"
                    )),
                ),
                Err(other) => return Err(other),
            };
            let selection = xl3m::select(
                model.as_ref(),
                segments,
                scored,
                config.score,
                config.retrieval_weight,
                config.budget_tokens,
                &views,
            )?;
            Ok::<_, QueryError>((selection, fallback, views))
        })
        .await??;
        let (selection, fallback, views) = selected;
        Ok((
            KeyContext {
                scope: scope_name.to_string(),
                retrieval,
                selection,
                fallback,
            },
            views,
        ))
    }
}
