//! The `extract` answer: no generator. The best-ranked sentence units of the
//! key context, quoted verbatim and cited, led by the one value of the kind the
//! question asks for (a date, an amount, a duration…) where the evidence holds
//! exactly one. Also the fallback of every generating pipeline whose claims
//! all failed their check.

use std::collections::HashMap;

use folio_common::model::indexed_text;

use super::citations::cite_units;
use super::state::{AnswerState, Outcome};
use super::Answerer;
use crate::alr2::{self, Unit};
use crate::claims::ShownClaim;
use crate::document::DocumentView;
use crate::extract;
use crate::QueryError;

impl Answerer {
    /// The `extract` answer: the best-ranked units of the context, verbatim and
    /// cited, led by the one value of the kind the question asks for.
    pub(super) async fn extract_answer(
        &self,
        state: &mut AnswerState<'_>,
    ) -> Result<Outcome, QueryError> {
        let question = state.question;
        let (context, views) = (&state.context, &state.views);
        let (trace, claims) = (&mut state.trace, &mut state.claims);
        let units = &trace.units;
        if units.is_empty() {
            return Ok(Outcome::insufficient());
        }
        let texts = units
            .iter()
            .map(|u| indexed_text(&u.heading_path, None, &u.text))
            .collect();
        let similarities = self.retriever.similarities(question, texts).await?;
        let ranks: Vec<usize> = units
            .iter()
            .map(|u| {
                context
                    .iter()
                    .position(|s| {
                        s.document_id == u.document_id
                            && s.char_start <= u.char_start
                            && u.char_end <= s.char_end
                    })
                    .unwrap_or(context.len())
            })
            .collect();
        let ranked = extract::rank(question, units, &similarities, &ranks);
        let Some(best) = ranked.first().cloned() else {
            return Ok(Outcome::insufficient());
        };
        trace.evidence = ranked.clone();
        if best.score < extract::NOT_FOUND_BELOW {
            trace.notes.push(format!(
                "the best evidence scored {:.3}, below {}: not found",
                best.score,
                extract::NOT_FOUND_BELOW
            ));
            return Ok(Outcome::insufficient());
        }
        let mut chosen: Vec<Unit> = ranked
            .iter()
            .take(2)
            .filter(|r| r.unit == best.unit || r.score >= best.score * extract::SECOND_WITHIN)
            .filter_map(|r| units.iter().find(|u| u.id == r.unit).cloned())
            .collect();
        let mut text = String::new();
        if let Some(asked) = extract::asked_kind(question) {
            let chosen_refs: Vec<&Unit> = chosen.iter().collect();
            let mut value = extract::typed_value(asked, &chosen_refs);
            if value.is_none() {
                // The question is about a defined term ("the date of this
                // agreement" → "EFFECTIVE DATE"): the value may be in the term's
                // definition, wherever it is in the document.
                let definition = definitions_about(question, units, views)
                    .into_iter()
                    .find_map(|unit| {
                        let (found, _) = extract::typed_value(asked, &[&unit])?;
                        Some((unit, found))
                    });
                if let Some((unit, found)) = definition {
                    trace.notes.push(format!(
                        "the {asked:?} value is in the definition of a term the question is about"
                    ));
                    chosen.retain(|u| u.char_start != unit.char_start);
                    chosen.insert(0, unit);
                    value = Some((found, 0));
                }
            }
            match value {
                Some((value, at)) => {
                    text.push_str(&format!("{value} [S{}]: ", chosen[at].id));
                    claims.push(ShownClaim {
                        text: value.clone(),
                        markers: vec![format!("S{}", chosen[at].id)],
                        supported: true,
                        reason: format!(
                            "the one {asked:?} value of the cited text, as written there"
                        ),
                        shown: true,
                    });
                }
                None => trace.notes.push(format!(
                    "the question asks for a {asked:?} value; the evidence holds none or several"
                )),
            }
        }
        let chosen: Vec<&Unit> = chosen.iter().collect();
        let quotes: Vec<String> = chosen
            .iter()
            .map(|u| format!("\u{201c}{}\u{201d} [S{}]", alr2::shown(&u.text), u.id))
            .collect();
        claims.extend(chosen.iter().map(|u| ShownClaim {
            text: alr2::shown(&u.text),
            markers: vec![format!("S{}", u.id)],
            supported: true,
            reason: "quoted verbatim from the cited text".into(),
            shown: true,
        }));
        text.push_str(&quotes.join(" "));
        Ok(cite_units(
            &text,
            &chosen,
            views,
            self.config.citation_clause_chars,
            &mut trace.notes,
        ))
    }
}

/// Definitions of the terms a question is about (every content word of the
/// question is a word of the term: "date of this agreement" is about
/// "Effective Date", "when does it expire" is about no term), as units: the
/// context's own definitions first, then those the document's structure
/// recorded anywhere in it. New units are numbered after the context's.
fn definitions_about(
    question: &str,
    units: &[Unit],
    views: &HashMap<String, DocumentView>,
) -> Vec<Unit> {
    let asked = extract::content_words(question);
    if asked.is_empty() {
        return Vec::new();
    }
    let about = |term: &str| {
        let words = extract::content_words(term);
        asked.iter().all(|w| words.contains(w))
    };
    let mut found: Vec<Unit> = extract::defined_terms(units)
        .into_iter()
        .filter(|(term, _)| about(term))
        .map(|(_, at)| units[at].clone())
        .collect();
    let mut next_id = units.iter().map(|u| u.id).max().unwrap_or(0) + 1;
    let mut documents: Vec<&String> = views.keys().collect();
    documents.sort();
    for document_id in documents {
        let view = &views[document_id];
        for term in view.structure.terms.iter().filter(|t| about(&t.term)) {
            if let Some(unit) = units.iter().find(|u| {
                u.document_id == *document_id
                    && u.char_start <= term.start
                    && term.start < u.char_end
            }) {
                if !found.iter().any(|f| f.id == unit.id) {
                    found.push(unit.clone());
                }
                continue;
            }
            found.push(Unit {
                id: next_id,
                document_id: document_id.clone(),
                version: view.version,
                char_start: term.start,
                char_end: term.end,
                heading_path: Vec::new(),
                page: view.page_of(term.start),
                text: view.slice(term.start, term.end).to_string(),
            });
            next_id += 1;
        }
    }
    found
}
