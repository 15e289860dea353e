//! What the stages of one answer share: the question, what each stage found,
//! the trace and timings, and the progress channel.

use std::collections::HashMap;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;

use super::{Answer, AnswerTimings, AnswerTrace, AskEvent, AskRequest, Citation};
use crate::alr2;
use crate::claims::ShownClaim;
use crate::demos::Demo;
use crate::document::DocumentView;
use crate::xl3m::Segment;

/// One answer in the making.
pub(super) struct AnswerState<'r> {
    /// The question, trimmed.
    pub question: &'r str,
    /// The request it came in.
    pub request: &'r AskRequest,
    events: Option<UnboundedSender<AskEvent>>,
    started: Instant,
    /// The key context, its spans re-read from the stored text.
    pub context: Vec<Segment>,
    /// The documents the context comes from.
    pub views: HashMap<String, DocumentView>,
    /// Recycled demonstrations for the prompt.
    pub demos: Vec<Demo>,
    /// Every claim of the answer with its check.
    pub claims: Vec<ShownClaim>,
    /// How the answer was reached.
    pub trace: AnswerTrace,
    /// Seconds per stage.
    pub timings: AnswerTimings,
}

/// What an answering stage concluded.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Outcome {
    /// The text shown.
    pub text: String,
    /// The sources do not answer the question.
    pub no_answer: bool,
    /// The spans that support `text`.
    pub citations: Vec<Citation>,
}

impl Outcome {
    /// "Not in the documents", citing nothing.
    pub fn insufficient() -> Self {
        Self::none(alr2::INSUFFICIENT.to_string())
    }

    /// No answer, in the model's own words (a refusal it wrote).
    pub fn none(text: String) -> Self {
        Outcome {
            text,
            no_answer: true,
            citations: Vec::new(),
        }
    }
}

impl<'r> AnswerState<'r> {
    pub fn new(
        question: &'r str,
        request: &'r AskRequest,
        events: Option<UnboundedSender<AskEvent>>,
    ) -> Self {
        AnswerState {
            question,
            request,
            events,
            started: Instant::now(),
            context: Vec::new(),
            views: HashMap::new(),
            demos: Vec::new(),
            claims: Vec::new(),
            trace: AnswerTrace::default(),
            timings: AnswerTimings::default(),
        }
    }

    /// Reports that stage `name` begins; returns its start for its timing.
    pub fn stage(&self, name: &'static str) -> Instant {
        self.send(AskEvent::Stage(name));
        Instant::now()
    }

    fn send(&self, event: AskEvent) {
        if let Some(events) = &self.events {
            // A listener that left is not an error; the answer is still returned.
            let _ = events.send(event);
        }
    }

    /// The answer: its checked text is sent as the last piece of the stream.
    pub fn finish(mut self, outcome: Outcome, model: String) -> Answer {
        self.send(AskEvent::Text(outcome.text.clone()));
        self.timings.total_s = self.started.elapsed().as_secs_f64();
        let calls = &self.trace.calls;
        Answer {
            question: self.question.to_string(),
            pipeline: self.request.pipeline.name(),
            answer: outcome.text,
            no_answer: outcome.no_answer,
            citations: outcome.citations,
            claims: self.claims,
            model,
            prompt_tokens: calls.iter().map(|c| c.prompt_tokens).sum(),
            completion_tokens: calls.iter().map(|c| c.completion_tokens).sum(),
            timings: self.timings,
            trace: self.trace,
        }
    }
}
