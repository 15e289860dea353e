//! Stage 1: the key context. XL3M's selection or the top retrieved chunks, each
//! span re-read from the stored text so that offsets and text always agree, and
//! numbered into sentence units for the stages after it.

use std::collections::HashMap;

use super::state::AnswerState;
use super::Answerer;
use crate::alr2;
use crate::context::SelectionScope;
use crate::document::DocumentView;
use crate::retrieve::{RetrievalMode, SearchRequest};
use crate::xl3m::Segment;
use crate::QueryError;

impl Answerer {
    pub(super) async fn key_context(&self, state: &mut AnswerState<'_>) -> Result<(), QueryError> {
        let at = state.stage("context");
        let request = state.request;
        let (context, views) = if request.pipeline.xl3m {
            let (key, views) = self
                .contexts
                .build_with_views(
                    state.question,
                    SelectionScope::Retrieved {
                        filter: request.filter.clone(),
                    },
                    None,
                )
                .await?;
            let kept: Vec<Segment> = key.selection.kept().into_iter().cloned().collect();
            if let Some(reason) = &key.fallback {
                state.trace.notes.push(reason.clone());
            }
            state.trace.key_context = Some(key);
            (kept, views)
        } else {
            let results = self
                .retriever
                .search(&SearchRequest {
                    query: state.question.to_string(),
                    filter: request.filter.clone(),
                    limit: self.config.chunks.max(1),
                    mode: RetrievalMode::Hybrid,
                })
                .await?;
            let context: Vec<Segment> = results
                .candidates
                .iter()
                .map(|c| Segment {
                    document_id: c.chunk.document_id.clone(),
                    version: c.chunk.version,
                    char_start: c.chunk.char_start.max(0) as usize,
                    char_end: c.chunk.char_end.max(0) as usize,
                    heading_path: c.chunk.heading_path.clone(),
                    pages: None,
                    chunk_ids: vec![c.chunk.id.clone()],
                    retrieval_rank: Some(c.rank),
                    text: c.chunk.text.clone(),
                })
                .collect();
            state.trace.retrieval = Some(results);
            let views = self.load_views(&request.filter.tenant, &context).await?;
            (context, views)
        };
        // Spans are re-read from the stored text so offsets and text always agree.
        let context: Vec<Segment> = context
            .into_iter()
            .filter_map(|mut s| {
                let view = views.get(&s.document_id)?;
                s.text = view.slice(s.char_start, s.char_end).to_string();
                (!s.text.trim().is_empty()).then_some(s)
            })
            .collect();
        state
            .trace
            .notes
            .extend(crate::injection::suspicious_passages(&context));
        state.trace.context = context.clone();
        let refs: Vec<&Segment> = context.iter().collect();
        state.trace.units = alr2::number_units(&refs, &views);
        state.context = context;
        state.views = views;
        state.timings.context_s = at.elapsed().as_secs_f64();
        Ok(())
    }

    async fn load_views(
        &self,
        tenant: &str,
        segments: &[Segment],
    ) -> Result<HashMap<String, DocumentView>, QueryError> {
        let mut views = HashMap::new();
        for segment in segments {
            if !views.contains_key(&segment.document_id) {
                let view =
                    DocumentView::load(&self.store, &self.blobs, tenant, &segment.document_id)
                        .await?;
                views.insert(segment.document_id.clone(), view);
            }
        }
        Ok(views)
    }
}
