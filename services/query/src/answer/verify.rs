//! Verification: every claim of a generated answer is checked against the text
//! it cites (figures, dates, names, quotes; arithmetic recomputed) before it is
//! shown. A claim that fails is dropped or shown flagged (`answer.unsupported_claims`),
//! never shown as fact, and never cited.

use folio_common::config::UnsupportedClaims;
use folio_llm::{ChatMessage, Generation};

use super::state::AnswerState;
use super::{Answerer, UNSUPPORTED_MARK};
use crate::claims;
use crate::QueryError;

/// The sources a written answer is checked against: each text under its marker.
pub(super) fn sources<'a>(
    markers: &'a [String],
    texts: impl IntoIterator<Item = &'a str>,
) -> Vec<claims::Source<'a>> {
    markers
        .iter()
        .zip(texts)
        .map(|(marker, text)| claims::Source { marker, text })
        .collect()
}

impl Answerer {
    /// Generates the answer to check. Not streamed: no sentence is shown
    /// before its claims are checked.
    pub(super) async fn write_answer(
        &self,
        messages: Vec<ChatMessage>,
        state: &mut AnswerState<'_>,
    ) -> Result<Generation, QueryError> {
        self.call(
            "answer",
            messages,
            self.config.max_answer_tokens,
            None,
            &mut state.trace.calls,
        )
        .await
    }

    /// Whether a claim its sources do not support is dropped (else flagged).
    fn drops_unsupported_claims(&self) -> bool {
        match self.config.unsupported_claims {
            UnsupportedClaims::Drop => true,
            UnsupportedClaims::Flag => false,
            UnsupportedClaims::Auto => {
                let model = self.generator.describe();
                model.backend == "candle" && model.device == "cpu"
            }
        }
    }

    /// Checks each claim of `written` against `sources`. Returns the text to
    /// show (the supported claims, each marked with its source, and under
    /// `flag` the unsupported ones, each followed by `[unsupported]`) and the
    /// text citations are read from (the supported claims only: a citation
    /// vouches for what stands beside it), or `None` when no claim is
    /// supported, every claim then unshown.
    pub(super) fn checked_claims(
        &self,
        written: &str,
        sources: &[claims::Source<'_>],
        state: &mut AnswerState<'_>,
    ) -> Option<(String, String)> {
        let drop = self.drops_unsupported_claims();
        let mut claims = claims::check_claims(written, sources, state.question);
        let mut shown = Vec::new();
        let mut supported = Vec::new();
        for claim in &mut claims {
            claim.shown = claim.supported || !drop;
            if !claim.supported {
                if claim.shown {
                    shown.push(format!("{} {UNSUPPORTED_MARK}", claim.text));
                }
                continue;
            }
            let marked = ['S', 'P']
                .into_iter()
                .any(|l| !crate::injection::cited_markers(&claim.text, l).is_empty());
            // A claim that cited nothing cites the source that holds it.
            let text = if marked || claim.markers.is_empty() {
                claim.text.clone()
            } else {
                format!("{} [{}]", claim.text, claim.markers.join(", "))
            };
            shown.push(text.clone());
            supported.push(text);
        }
        let notes = &mut state.trace.notes;
        let unsupported = claims.len() - supported.len();
        if unsupported > 0 {
            notes.push(format!(
                "{unsupported} of {} claim(s) not supported by their sources: {}",
                claims.len(),
                if drop { "dropped" } else { "flagged" }
            ));
        }
        if supported.is_empty() {
            claims.iter_mut().for_each(|c| c.shown = false);
            notes.push(
                "no claim of the generated answer is supported: the evidence is shown instead"
                    .into(),
            );
        }
        state.claims = claims;
        (!supported.is_empty()).then(|| (shown.join(" "), supported.join(" ")))
    }
}
