//! Citations: the spans an answer's markers name (`[S3]` a sentence unit,
//! `[P2]` a paragraph), widened to their clause where it is short, each quote
//! read from the stored text. An answer without a valid marker cites only the
//! sources it quotes.

use std::collections::HashMap;

use super::paragraphs::split_paragraph_reply;
use super::state::Outcome;
use super::Citation;
use crate::alr2::{self, Unit};
use crate::document::DocumentView;
use crate::xl3m::Segment;

/// Citations for `[S<n>]` markers among `units`. An answer with no valid marker
/// cites only the units it quotes ([`alr2::quoted_sources`]): a citation says the span
/// supports the answer, and without a marker a verbatim quote is the only
/// support that can be checked.
pub(super) fn cite_units(
    reply: &str,
    units: &[&Unit],
    views: &HashMap<String, DocumentView>,
    clause_chars: usize,
    notes: &mut Vec<String>,
) -> Outcome {
    let text = reply.trim().to_string();
    if alr2::is_insufficient(&text) {
        return Outcome::none(text);
    }
    let by_marker: HashMap<String, &Unit> =
        units.iter().map(|u| (format!("S{}", u.id), *u)).collect();
    let mut cited: Vec<&Unit> = Vec::new();
    for marker in crate::injection::cited_markers(&text, 'S') {
        match by_marker.get(&marker) {
            Some(unit) if !cited.iter().any(|u| u.id == unit.id) => cited.push(unit),
            Some(_) => {}
            None => notes.push(format!(
                "the answer cites [{marker}], which is not a verified fact"
            )),
        }
    }
    if cited.is_empty() {
        let texts: Vec<&str> = units.iter().map(|u| u.text.as_str()).collect();
        cited = alr2::quoted_sources(&text, &texts)
            .unwrap_or_default()
            .into_iter()
            .map(|i| units[i])
            .collect();
        notes.push(format!(
            "the answer cites no fact: only the {} verified fact(s) it quotes are cited \
             (each of its sentences must quote one, numbers included)",
            cited.len()
        ));
    }
    let mut citations: Vec<Citation> = Vec::new();
    for unit in cited {
        let Some(view) = views.get(&unit.document_id) else {
            continue;
        };
        let (start, end, clause_path) =
            view.clause_around(unit.char_start, unit.char_end, clause_chars);
        // Two facts from one clause cite it once.
        if citations.iter().any(|c| {
            c.document_id == unit.document_id && c.char_start == start && c.char_end == end
        }) {
            continue;
        }
        let path = clause_path.unwrap_or_else(|| unit.heading_path.clone());
        citations.extend(citation(
            format!("S{}", unit.id),
            &unit.document_id,
            start,
            end,
            &path,
            views,
        ));
    }
    Outcome {
        text,
        no_answer: false,
        citations,
    }
}

/// Citations for `[P<n>]` markers among the context paragraphs; an answer with
/// no valid marker cites only the paragraphs it quotes (see [`cite_units`]).
pub(super) fn cite_paragraphs(
    reply: &str,
    context: &[Segment],
    views: &HashMap<String, DocumentView>,
    notes: &mut Vec<String>,
) -> Outcome {
    let (listed, answer) = split_paragraph_reply(reply);
    if alr2::is_insufficient(&answer) {
        return Outcome::none(answer);
    }
    let mut indices: Vec<usize> = Vec::new();
    for marker in crate::injection::cited_markers(&format!("{listed} {answer}"), 'P') {
        let index = marker[1..]
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1));
        match index.filter(|i| *i < context.len()) {
            Some(i) if !indices.contains(&i) => indices.push(i),
            Some(_) => {}
            None => notes.push(format!("the answer cites [{marker}], which was not given")),
        }
    }
    if indices.is_empty() {
        let texts: Vec<&str> = context.iter().map(|s| s.text.as_str()).collect();
        indices = alr2::quoted_sources(&answer, &texts).unwrap_or_default();
        notes.push(format!(
            "the answer cites no paragraph: only the {} paragraph(s) it quotes are cited \
             (each of its sentences must quote one, numbers included)",
            indices.len()
        ));
    }
    let citations = indices
        .into_iter()
        .filter_map(|i| {
            let s = &context[i];
            citation(
                format!("P{}", i + 1),
                &s.document_id,
                s.char_start,
                s.char_end,
                &s.heading_path,
                views,
            )
        })
        .collect();
    Outcome {
        text: answer,
        no_answer: false,
        citations,
    }
}

fn citation(
    marker: String,
    document_id: &str,
    char_start: usize,
    char_end: usize,
    section_path: &[String],
    views: &HashMap<String, DocumentView>,
) -> Option<Citation> {
    let view = views.get(document_id)?;
    Some(Citation {
        marker,
        document_id: document_id.to_string(),
        document_name: view.name.clone(),
        version: view.version,
        section_path: section_path.to_vec(),
        char_start,
        char_end,
        page: view.page_of(char_start),
        quote: view.slice(char_start, char_end).to_string(),
    })
}
