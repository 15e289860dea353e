//! Keeping the best segments within a token budget and splicing the key context.

use std::collections::HashMap;

use folio_common::config::Xl3mScore;
use folio_llm::LanguageModel;
use serde::{Deserialize, Serialize};

use super::score::{CertaintyScores, ScoredSegments};
use super::Segment;
use crate::document::DocumentView;
use crate::QueryError;

/// Separator between spliced segments: visible to the model and to a reader.
pub const SEGMENT_SEPARATOR: &str = "\n\n---\n\n";
/// Longest definition pulled into the key context, in characters.
const MAX_DEFINITION_CHARS: usize = 500;
/// Most definitions pulled in.
const MAX_DEFINITIONS: usize = 8;

/// One segment in the trace: its scores, its XL3M rank and whether it was kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentTrace {
    /// The segment.
    pub segment: Segment,
    /// Model tokens of the segment text alone.
    pub tokens: usize,
    /// Certainty scores; `None` when the time budget left it unscored.
    pub scores: Option<CertaintyScores>,
    /// The value it was ranked by (lower is better).
    pub score: Option<f32>,
    /// 1-based rank after XL3M.
    pub rank: usize,
    /// Whether it is part of the key context.
    pub kept: bool,
}

/// A definition the kept segments rely on, pulled in from elsewhere in the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    /// Document id.
    pub document_id: String,
    /// The defined term.
    pub term: String,
    /// First character of the definition in the canonical text.
    pub char_start: usize,
    /// One past its last character.
    pub char_end: usize,
    /// The verbatim definition text.
    pub text: String,
}

/// The outcome of XL3M selection for one question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// The score segments were ranked by.
    pub score_kind: Xl3mScore,
    /// Scores with an empty segment.
    pub baseline: CertaintyScores,
    /// Every segment, best first.
    pub segments: Vec<SegmentTrace>,
    /// Definitions added for terms the kept segments use.
    pub definitions: Vec<Definition>,
    /// Kept segments (document order) and definitions, rendered for the prompt.
    pub key_context: String,
    /// Model tokens of the key context.
    pub context_tokens: usize,
    /// Model tokens processed while scoring.
    pub tokens_scored: usize,
    /// Scoring wall time.
    pub scoring_ms: f64,
    /// Segments the time budget left unscored (ranked after the scored ones).
    pub unscored: usize,
}

impl Selection {
    /// The kept segments in document order.
    pub fn kept(&self) -> Vec<&Segment> {
        kept_in_document_order(&self.segments)
    }
}

fn kept_in_document_order(traces: &[SegmentTrace]) -> Vec<&Segment> {
    let mut kept: Vec<&Segment> = traces
        .iter()
        .filter(|t| t.kept)
        .map(|t| &t.segment)
        .collect();
    kept.sort_by(|a, b| {
        (a.document_id.as_str(), a.char_start).cmp(&(b.document_id.as_str(), b.char_start))
    });
    kept
}

/// The constant of reciprocal rank fusion (as in retrieval): ranks 1 and 2 differ
/// little, so neither ranking alone decides.
const FUSION_K: f64 = 60.0;

/// Segment indices best first. With `retrieval_weight` 0: scored segments by
/// `kind` (lower first, ties by retrieval rank, then position), unscored ones
/// after them in retrieval (or document) order. Above 0: that certainty rank
/// fused with the retrieval rank, `1/(K + certainty rank) + w/(K + retrieval rank)`.
pub fn rank_order(
    segments: &[Segment],
    scored: &ScoredSegments,
    kind: Xl3mScore,
    retrieval_weight: f32,
) -> Vec<usize> {
    let by_certainty = certainty_order(segments, scored, kind);
    if retrieval_weight <= 0.0 {
        return by_certainty;
    }
    let mut fused = vec![0.0f64; segments.len()];
    for (place, &i) in by_certainty.iter().enumerate() {
        if scored.scores[i].is_some() {
            fused[i] += 1.0 / (FUSION_K + place as f64 + 1.0);
        }
        let retrieval_rank = segments[i].retrieval_rank.unwrap_or(i + 1) as f64;
        fused[i] += f64::from(retrieval_weight) / (FUSION_K + retrieval_rank);
    }
    let mut order = by_certainty;
    // A stable sort keeps the certainty order among equal fused scores.
    order.sort_by(|&a, &b| fused[b].total_cmp(&fused[a]));
    order
}

fn certainty_order(segments: &[Segment], scored: &ScoredSegments, kind: Xl3mScore) -> Vec<usize> {
    let value = |i: usize| scored.scores[i].map(|s| s.value(kind, &scored.baseline));
    let mut order: Vec<usize> = (0..segments.len().min(scored.scores.len())).collect();
    order.sort_by(|&a, &b| {
        let by_score = match (value(a), value(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        let place = |i: usize| {
            (
                segments[i].retrieval_rank.unwrap_or(usize::MAX),
                segments[i].char_start,
            )
        };
        by_score.then_with(|| place(a).cmp(&place(b)))
    });
    order
}

/// Ranks scored segments, keeps the best within `budget_tokens`, and renders the key
/// context with the definitions the kept segments use.
///
/// Segments rank as [`rank_order`] says. At least one segment is kept even if it alone
/// exceeds the budget, so a question never ends up with no context.
pub fn select(
    model: &dyn LanguageModel,
    segments: Vec<Segment>,
    scored: ScoredSegments,
    kind: Xl3mScore,
    retrieval_weight: f32,
    budget_tokens: usize,
    views: &HashMap<String, DocumentView>,
) -> Result<Selection, QueryError> {
    let baseline = scored.baseline;
    let order = rank_order(&segments, &scored, kind, retrieval_weight);
    let mut slots: Vec<Option<Segment>> = segments.into_iter().map(Some).collect();
    let mut traces: Vec<SegmentTrace> = Vec::with_capacity(order.len());
    for index in order {
        let Some(segment) = slots[index].take() else {
            continue;
        };
        let scores = scored.scores[index];
        traces.push(SegmentTrace {
            tokens: model.count_tokens(&segment.text)?,
            score: scores.map(|s| s.value(kind, &baseline)),
            scores,
            segment,
            rank: 0,
            kept: false,
        });
    }
    let unscored = traces.iter().filter(|t| t.score.is_none()).count();

    let mut used = 0;
    for (index, trace) in traces.iter_mut().enumerate() {
        trace.rank = index + 1;
        if index == 0 || used + trace.tokens <= budget_tokens {
            trace.kept = true;
            used += trace.tokens;
        }
    }

    let kept = kept_in_document_order(&traces);
    let mut definitions = Vec::new();
    for definition in definitions_used(&kept, views) {
        let tokens = model.count_tokens(&definition.text)?;
        if used + tokens > budget_tokens {
            continue;
        }
        used += tokens;
        definitions.push(definition);
    }
    let key_context = render(&kept, &definitions, views);
    let context_tokens = model.count_tokens(&key_context)?;
    Ok(Selection {
        score_kind: kind,
        baseline,
        segments: traces,
        definitions,
        key_context,
        context_tokens,
        tokens_scored: scored.tokens_scored,
        scoring_ms: scored.elapsed_ms,
        unscored,
    })
}

/// Definitions of terms that appear in the kept segments but are defined outside them.
fn definitions_used(kept: &[&Segment], views: &HashMap<String, DocumentView>) -> Vec<Definition> {
    let mut out: Vec<Definition> = Vec::new();
    for segment in kept {
        let Some(view) = views.get(&segment.document_id) else {
            continue;
        };
        for term in &view.structure.terms {
            if out.len() >= MAX_DEFINITIONS {
                return out;
            }
            let inside_kept = kept.iter().any(|k| {
                k.document_id == segment.document_id
                    && k.char_start <= term.start
                    && term.end <= k.char_end
            });
            let already = out
                .iter()
                .any(|d| d.document_id == segment.document_id && d.term == term.term);
            if inside_kept || already || !uses_term(&segment.text, &term.term) {
                continue;
            }
            let end = term.end.min(term.start + MAX_DEFINITION_CHARS);
            out.push(Definition {
                document_id: segment.document_id.clone(),
                term: term.term.clone(),
                char_start: term.start,
                char_end: end,
                text: view.slice(term.start, end).to_string(),
            });
        }
    }
    out
}

/// Whether `text` uses `term` as a whole word (defined terms are capitalized, so
/// the match is case-sensitive).
fn uses_term(text: &str, term: &str) -> bool {
    if term.trim().is_empty() {
        return false;
    }
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    text.match_indices(term).any(|(at, _)| {
        boundary(text[..at].chars().next_back()) && boundary(text[at + term.len()..].chars().next())
    })
}

fn render(
    kept: &[&Segment],
    definitions: &[Definition],
    views: &HashMap<String, DocumentView>,
) -> String {
    let multi_document = kept.iter().any(|s| s.document_id != kept[0].document_id);
    let mut parts: Vec<String> = Vec::new();
    if !definitions.is_empty() {
        let mut block = String::from("Definitions used below:\n");
        for definition in definitions {
            block.push_str(&format!("- {}\n", definition.text.trim()));
        }
        parts.push(block.trim_end().to_string());
    }
    for segment in kept {
        let mut header = String::new();
        if multi_document {
            if let Some(view) = views.get(&segment.document_id) {
                header.push_str(&view.name);
                header.push_str(" › ");
            }
        }
        header.push_str(&segment.heading());
        if let Some((first, last)) = segment.pages {
            if first == last {
                header.push_str(&format!(" (p. {first})"));
            } else {
                header.push_str(&format!(" (pp. {first}–{last})"));
            }
        }
        parts.push(format!("[{}]\n{}", header.trim(), segment.text.trim()));
    }
    parts.join(SEGMENT_SEPARATOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(entropies: &[f32], retrieval_weight: f32) -> Vec<usize> {
        let segments: Vec<Segment> = (0..entropies.len())
            .map(|i| Segment {
                document_id: "d".into(),
                version: 1,
                char_start: i * 10,
                char_end: i * 10 + 5,
                heading_path: Vec::new(),
                pages: None,
                chunk_ids: Vec::new(),
                retrieval_rank: Some(i + 1),
                text: String::new(),
            })
            .collect();
        let score = |entropy: f32| CertaintyScores {
            entropy,
            nll: 0.0,
            tokens: 1,
        };
        let scored = ScoredSegments {
            baseline: score(0.0),
            scores: entropies.iter().map(|e| Some(score(*e))).collect(),
            tokens_scored: 0,
            elapsed_ms: 0.0,
        };
        rank_order(&segments, &scored, Xl3mScore::Entropy, retrieval_weight)
    }

    #[test]
    fn certainty_alone_or_fused_with_the_retrieval_rank() {
        // Retrieval ranks 1, 2, 3; the model is most certain about the third.
        let entropies = [3.0, 2.0, 1.0];
        assert_eq!(ranked(&entropies, 0.0), vec![2, 1, 0]);
        // Equal weights: the first and the third tie (ranks 1+3 either way) ahead
        // of the second (2+2, which RRF's convexity puts behind); the tie keeps
        // the certainty order.
        assert_eq!(ranked(&entropies, 1.0), vec![2, 0, 1]);
        // A heavier retrieval weight follows retrieval.
        assert_eq!(ranked(&entropies, 2.0), vec![0, 1, 2]);
        // Agreement is left alone.
        assert_eq!(ranked(&[1.0, 2.0, 3.0], 1.0), vec![0, 1, 2]);
    }

    #[test]
    fn terms_match_whole_words_only() {
        assert!(uses_term("the Licensed Product shall", "Licensed Product"));
        assert!(uses_term("(\"Territory\")", "Territory"));
        assert!(!uses_term("Territorya", "Territory"));
        assert!(!uses_term("the territory", "Territory"));
        assert!(!uses_term("anything", ""));
    }
}
