//! ALR² (retrieve facts, verify them, then reason): the model lists the facts
//! of the key context that bear on the question, each checked against the
//! sentence it names; the answer is written from the verified facts only, and
//! each of its claims is checked again before it is shown.

use std::collections::HashMap;

use folio_common::model::indexed_text;
use folio_llm::ChatMessage;

use super::citations::cite_units;
use super::state::{AnswerState, Outcome};
use super::verify::sources;
use super::{AnswerTrace, Answerer};
use crate::alr2::{self, AnswerDemo, FactCheck, Unit};
use crate::demos::Demo;
use crate::QueryError;

impl Answerer {
    /// The facts stage, then the answer from what it verified.
    pub(super) async fn answer_from_facts(
        &self,
        state: &mut AnswerState<'_>,
    ) -> Result<Outcome, QueryError> {
        let at = state.stage("facts");
        let units = std::mem::take(&mut state.trace.units);
        let check = self
            .list_facts(state.question, &units, &mut state.trace)
            .await;
        state.trace.units = units;
        let check = check?;
        state.timings.facts_s = at.elapsed().as_secs_f64();
        let at = state.stage("answer");
        let outcome = if check.verified.is_empty() {
            state
                .trace
                .notes
                .push("no fact was verified: the model is not asked to answer".into());
            Outcome::insufficient()
        } else {
            self.answer_verified(state, &check).await?
        };
        state.trace.facts = Some(check);
        state.timings.answer_s = at.elapsed().as_secs_f64();
        Ok(outcome)
    }

    async fn answer_verified(
        &self,
        state: &mut AnswerState<'_>,
        check: &FactCheck,
    ) -> Result<Outcome, QueryError> {
        let messages = alr2::answer_prompt(
            &check.verified,
            state.question,
            &answer_demos(&state.demos, &state.trace.units),
        );
        let reply = self.write_answer(messages, state).await?;
        if alr2::is_insufficient(reply.text.trim()) {
            return Ok(Outcome::none(reply.text.trim().to_string()));
        }
        let units: Vec<&Unit> = check.verified.iter().map(|f| &f.unit).collect();
        let markers: Vec<String> = units.iter().map(|u| format!("S{}", u.id)).collect();
        let sources = sources(&markers, units.iter().map(|u| u.text.as_str()));
        match self.checked_claims(&reply.text, &sources, state) {
            Some((shown, supported)) => {
                let cited = cite_units(
                    &supported,
                    &units,
                    &state.views,
                    self.config.citation_clause_chars,
                    &mut state.trace.notes,
                );
                Ok(Outcome {
                    text: shown,
                    ..cited
                })
            }
            None => self.extract_answer(state).await,
        }
    }

    async fn list_facts(
        &self,
        question: &str,
        units: &[Unit],
        trace: &mut AnswerTrace,
    ) -> Result<FactCheck, QueryError> {
        let offered = self.units_for_facts(question, units, trace).await?;
        // The model reads the offered units numbered 1.. in the order shown; the
        // numbers map back to the key context's units once the claims are checked.
        let numbered: Vec<Unit> = offered
            .iter()
            .enumerate()
            .map(|(i, unit)| Unit {
                id: i + 1,
                ..unit.clone()
            })
            .collect();
        let messages = alr2::facts_prompt(&numbered, question);
        let reply = self
            .call(
                "facts",
                messages.clone(),
                self.config.max_fact_tokens,
                None,
                &mut trace.calls,
            )
            .await?;
        let mut parsed = alr2::parse_claims(&reply.text);
        if !parsed.understood() {
            let mut retry = messages;
            retry.push(ChatMessage::assistant(reply.text.clone()));
            retry.push(alr2::facts_retry_message());
            let again = self
                .call(
                    "facts-retry",
                    retry,
                    self.config.max_fact_tokens,
                    None,
                    &mut trace.calls,
                )
                .await?;
            parsed = alr2::parse_claims(&again.text);
            if !parsed.understood() {
                trace
                    .notes
                    .push("the fact list could not be parsed after one retry".into());
            }
        }
        if parsed.claims.len() > alr2::MAX_CLAIMS {
            trace.notes.push(format!(
                "{} claims listed: only the first {} are checked",
                parsed.claims.len(),
                alr2::MAX_CLAIMS
            ));
            parsed.claims.truncate(alr2::MAX_CLAIMS);
        }
        // A claim can only rest on a unit the model was shown.
        let mut check = alr2::verify(&parsed.claims, &numbered);
        for fact in &mut check.verified {
            if let Some(unit) = fact.unit.id.checked_sub(1).and_then(|i| offered.get(i)) {
                fact.unit = unit.clone();
            }
        }
        check.verified.sort_by_key(|f| f.unit.id);
        Ok(check)
    }

    /// The units the fact-listing stage reads: the `fact_candidates` most similar to
    /// the question, best first; or, with `fact_candidates = 0`, every unit in
    /// document order.
    async fn units_for_facts(
        &self,
        question: &str,
        units: &[Unit],
        trace: &mut AnswerTrace,
    ) -> Result<Vec<Unit>, QueryError> {
        let keep = self.config.fact_candidates;
        if keep == 0 {
            return Ok(units.to_vec());
        }
        let texts = units
            .iter()
            .map(|u| indexed_text(&u.heading_path, None, &u.text))
            .collect();
        let similarities = self.retriever.similarities(question, texts).await?;
        let offered = alr2::shortlist(units, &similarities, keep);
        let by_id: HashMap<usize, &Unit> = units.iter().map(|u| (u.id, u)).collect();
        let shown = offered
            .iter()
            .filter_map(|c| by_id.get(&c.unit).map(|u| (*u).clone()))
            .collect();
        trace.fact_candidates = offered;
        Ok(shown)
    }
}

/// The demos as worked answers: each with the sentence its answer comes from.
fn answer_demos(demos: &[Demo], units: &[Unit]) -> Vec<AnswerDemo> {
    demos
        .iter()
        .filter_map(|d| {
            let unit = units
                .iter()
                .find(|u| u.document_id == d.document_id && u.char_start == d.char_start)?;
            Some(AnswerDemo {
                question: d.question.clone(),
                fact: unit.text.clone(),
                answer: d.answer.clone(),
            })
        })
        .collect()
}
