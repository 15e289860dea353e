//! The `extract` pipeline: the answer is the evidence itself.
//!
//! The key context's sentences are ranked against the question ([`rank`]); the
//! best one or two are shown verbatim, each with its citation, and where the
//! question asks for a value of one kind (a date, a place whose law governs, a
//! period, an amount, a share) and the shown evidence holds exactly one value of
//! that kind, that value leads the answer. Below [`NOT_FOUND_BELOW`] the answer is
//! "not found": many contract questions have no answer, and a weak sentence
//! shown as one misleads. Nothing is generated, so nothing can be invented.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::alr2::Unit;
use crate::values::{find_values, FoundValue, ValueKind};

/// Weight of each ranking feature in a unit's score (see [`UnitScore`]),
/// similarity's fixed at 1: picked from a grid by `scripts/extract_weights_cv.py`
/// over the dev set's `folio eval --answers extract` log, cross-validated by
/// document (5 folds; every fold picked lexical 0.2 and retrieval 0; the
/// held-out figures are in BENCHMARKS.md). The chunk's retrieval rank adds
/// nothing once the sentences themselves are compared, so it is weighted 0 and
/// kept in the trace.
const WEIGHT_SIMILARITY: f32 = 1.0;
const WEIGHT_LEXICAL: f32 = 0.2;
const WEIGHT_RETRIEVAL: f32 = 0.0;
const WEIGHT_HEADING: f32 = 0.1;
const WEIGHT_TYPED: f32 = 0.15;

/// Below this score the best sentence is not shown as an answer: the threshold
/// that best balanced answered answerable and declined unanswerable dev
/// questions, by the same cross-validation (0.65–0.675 across folds).
pub const NOT_FOUND_BELOW: f32 = 0.675;

/// A second sentence is shown when it scores at least this share of the best.
pub const SECOND_WITHIN: f32 = 0.97;

/// Words that carry no content in a question.
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "to",
    "in",
    "on",
    "for",
    "by",
    "with",
    "at",
    "from",
    "and",
    "or",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "do",
    "does",
    "did",
    "has",
    "have",
    "had",
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "that",
    "this",
    "these",
    "those",
    "there",
    "it",
    "its",
    "as",
    "any",
    "all",
    "can",
    "could",
    "may",
    "might",
    "must",
    "shall",
    "should",
    "will",
    "would",
    "under",
    "into",
    "about",
    "than",
    "if",
    "not",
    "no",
    "yes",
    "their",
    "they",
    "them",
    "we",
    "our",
    "you",
    "your",
    "i",
    "me",
    "my",
    "much",
    "many",
    "per",
    "each",
    "there",
    "such",
    "so",
    "agreement",
    "document",
    "contract",
    "company",
];

/// How one unit scored against the question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitScore {
    /// The unit's number (`S12`).
    pub unit: usize,
    /// Weighted sum of the features below.
    pub score: f32,
    /// Cosine similarity of the unit (with its heading path) to the question.
    pub similarity: f32,
    /// BM25 of the question's content words over the context's units, scaled
    /// to the best unit (0..1).
    pub lexical: f32,
    /// 1 / (1 + rank) of the retrieved chunk the unit comes from.
    pub retrieval: f32,
    /// Share of the question's content words in the unit's heading path.
    pub heading: f32,
    /// 1 when the question asks for a kind of value ([`asked_kind`]) and the
    /// unit holds one of that kind.
    pub typed: f32,
    /// Words of prose in the unit, as a share of [`PROSE_WORDS`] (at most 1):
    /// the score is scaled by `(1 + substance) / 2`, so a form line
    /// ("Date: 11/5/99 Date: ----") does not outrank a sentence.
    pub substance: f32,
}

/// Words (two letters or more) from which a unit counts as a full sentence.
pub const PROSE_WORDS: usize = 8;

/// The question's content words, lower case, each once.
pub fn content_words(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    // Stop words are matched before stemming ("agreement" stays out, not "agree").
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.len() > 1 && !STOPWORDS.contains(&w.as_str()))
        .map(|w| stem(&w))
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| stem(&w.to_lowercase()))
        .collect()
}

/// A light suffix strip so "terminate"/"termination", "pay"/"payment" and
/// "renews"/"renewal" meet.
fn stem(word: &str) -> String {
    for suffix in [
        "ations", "ation", "ments", "ment", "ings", "ing", "ions", "ion", "ies", "ates", "ate",
        "es", "ed", "al", "s", "e",
    ] {
        if word.len() >= suffix.len() + 3 && word.ends_with(suffix) {
            return word[..word.len() - suffix.len()].to_string();
        }
    }
    word.to_string()
}

/// Scores every unit: `similarities[i]` and `retrieval_ranks[i]` (0 = the best
/// retrieved chunk) belong to `units[i]`. Best first; ties keep document order.
pub fn rank(
    question: &str,
    units: &[Unit],
    similarities: &[f32],
    retrieval_ranks: &[usize],
) -> Vec<UnitScore> {
    let asked = content_words(question);
    let wanted = asked_kind(question).map(Asked::kind);
    let unit_words: Vec<Vec<String>> = units.iter().map(|u| words(&u.text)).collect();
    let lexical = bm25(&asked, &unit_words);
    let best_lexical = lexical.iter().copied().fold(0.0f32, f32::max);
    let mut scores: Vec<UnitScore> = units
        .iter()
        .enumerate()
        .map(|(i, unit)| {
            let similarity = similarities.get(i).copied().unwrap_or(0.0);
            let lexical = if best_lexical > 0.0 {
                lexical[i] / best_lexical
            } else {
                0.0
            };
            let retrieval = 1.0 / (1.0 + retrieval_ranks.get(i).copied().unwrap_or(0) as f32);
            let heading_words: HashSet<String> =
                words(&unit.heading_path.join(" ")).into_iter().collect();
            let heading = if asked.is_empty() {
                0.0
            } else {
                asked.iter().filter(|w| heading_words.contains(*w)).count() as f32
                    / asked.len() as f32
            };
            let typed = match wanted {
                Some(kind) if find_values(&unit.text).iter().any(|v| v.kind == kind) => 1.0,
                _ => 0.0,
            };
            let prose = unit
                .text
                .split(|c: char| !c.is_alphabetic())
                .filter(|w| w.chars().count() >= 2)
                .count();
            let substance = (prose as f32 / PROSE_WORDS as f32).min(1.0);
            UnitScore {
                unit: unit.id,
                score: (WEIGHT_SIMILARITY * similarity
                    + WEIGHT_LEXICAL * lexical
                    + WEIGHT_RETRIEVAL * retrieval
                    + WEIGHT_HEADING * heading
                    + WEIGHT_TYPED * typed)
                    * (1.0 + substance)
                    / 2.0,
                substance,
                similarity,
                lexical,
                retrieval,
                heading,
                typed,
            }
        })
        .collect();
    scores.sort_by(|a, b| b.score.total_cmp(&a.score));
    scores
}

/// BM25 (k1 1.2, b 0.75) of `query` over `documents`, statistics from them.
fn bm25(query: &[String], documents: &[Vec<String>]) -> Vec<f32> {
    let n = documents.len() as f32;
    if documents.is_empty() {
        return Vec::new();
    }
    let average = documents.iter().map(Vec::len).sum::<usize>() as f32 / n;
    let mut frequency: HashMap<&str, f32> = HashMap::new();
    for document in documents {
        let distinct: HashSet<&str> = document.iter().map(String::as_str).collect();
        for word in distinct {
            *frequency.entry(word).or_default() += 1.0;
        }
    }
    documents
        .iter()
        .map(|document| {
            let length = document.len() as f32;
            query
                .iter()
                .map(|term| {
                    let tf = document.iter().filter(|w| *w == term).count() as f32;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let df = frequency.get(term.as_str()).copied().unwrap_or(0.0);
                    let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                    idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / average.max(1.0)))
                })
                .sum()
        })
        .collect()
}

static DEFINITION: once_cell::sync::Lazy<regex::Regex> = once_cell::sync::Lazy::new(|| {
    regex::Regex::new(
        r#"\(\s*(?:the\s+|each\s+an?\s+|an?\s+|hereinafter\s+(?:the\s+)?|collectively\s+(?:the\s+)?)?["“]([^"”()]{2,60})["”]\s*\)|["“]([^"”()]{2,60})["”]\s+(?:shall\s+)?means?\b"#,
    )
    .expect("valid definition pattern")
});

/// The terms the units define (`("EFFECTIVE DATE")`, `"Licensee" means`), lower
/// case, each with the index of a unit defining it, in unit order.
pub fn defined_terms(units: &[Unit]) -> Vec<(String, usize)> {
    let mut terms = Vec::new();
    for (i, unit) in units.iter().enumerate() {
        for found in DEFINITION.captures_iter(&unit.text) {
            if let Some(term) = found.get(1).or(found.get(2)) {
                let term = term.as_str().trim().to_lowercase();
                // A term defined twice (a body and an exhibit) keeps both places.
                if !terms.iter().any(|(t, at)| *t == term && *at == i) {
                    terms.push((term, i));
                }
            }
        }
    }
    terms
}

/// The kind of value a question asks for, read from its wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Asked {
    /// "When …", "what date …", "which year …".
    Date,
    /// "How long …", "how many days …", "what period …".
    Duration,
    /// "How much …", "what amount/price/fee/revenue …".
    Amount,
    /// "What percentage …", "what margin …".
    Percent,
    /// "Which law governs …", "which state …", "what jurisdiction …".
    Jurisdiction,
}

impl Asked {
    fn kind(self) -> ValueKind {
        match self {
            Asked::Date => ValueKind::Date,
            Asked::Duration => ValueKind::Duration,
            Asked::Amount => ValueKind::Amount,
            Asked::Percent => ValueKind::Percent,
            Asked::Jurisdiction => ValueKind::Jurisdiction,
        }
    }
}

/// What kind of value the question asks for, if one kind.
pub fn asked_kind(question: &str) -> Option<Asked> {
    let q = format!(
        " {} ",
        question.to_lowercase().replace(['?', ',', '.'], " ")
    );
    let has = |cues: &[&str]| cues.iter().any(|c| q.contains(c));
    if has(&[
        " governing law",
        " law governs",
        " laws govern",
        " governed by",
        " which state",
        " what state",
        " jurisdiction",
        " which country",
        " what country",
        " whose law",
        " which law",
        " what law",
        " choice of law",
    ]) {
        return Some(Asked::Jurisdiction);
    }
    if has(&[
        " how long",
        " how many days",
        " how many months",
        " how many years",
        " how many weeks",
        " what period",
        " notice period",
        " how much notice",
        " what term",
        " length of",
    ]) {
        return Some(Asked::Duration);
    }
    if has(&[
        " percent",
        " percentage",
        " % ",
        " margin",
        " what rate",
        " growth rate",
        " ratio",
    ]) {
        return Some(Asked::Percent);
    }
    if has(&[
        " how much",
        " amount",
        " price",
        " fee ",
        " fees ",
        " cost",
        " revenue",
        " revenues",
        " income",
        " sales",
        " cash",
        " capital expenditure",
        " earnings",
        " dividend",
        " paid ",
        " pay ",
        " spend",
    ]) {
        return Some(Asked::Amount);
    }
    if has(&[
        " when ",
        " what date",
        " which date",
        " what year",
        " which year",
        " dated",
        " date of",
        " effective date",
        " expiration date",
        " what day",
    ]) {
        return Some(Asked::Date);
    }
    None
}

/// The one value of `asked`'s kind among `units`' values, as written in the
/// first unit holding it, with that unit's index; `None` when there is none or
/// more than one distinct value (the evidence does not settle it).
pub fn typed_value(asked: Asked, units: &[&Unit]) -> Option<(String, usize)> {
    let kind = asked.kind();
    let mut first: Option<(String, usize)> = None;
    let mut distinct: Vec<FoundValue> = Vec::new();
    for (i, unit) in units.iter().enumerate() {
        for value in find_values(&unit.text)
            .into_iter()
            .filter(|v| v.kind == kind)
        {
            if !distinct.iter().any(|d| d.normal == value.normal) {
                distinct.push(value.clone());
            }
            if first.is_none() {
                first = Some((unit.text[value.start..value.end].to_string(), i));
            }
        }
    }
    (distinct.len() == 1).then_some(first).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: usize, heading: &str, text: &str) -> Unit {
        crate::alr2::test_unit(id, &[heading], text)
    }

    #[test]
    fn questions_name_the_kind_of_value_they_want_however_typed() {
        for (q, kind) in [
            (
                "Which state's law governs this agreement?",
                Some(Asked::Jurisdiction),
            ),
            ("governing law?", Some(Asked::Jurisdiction)),
            ("what law applies / governed by", Some(Asked::Jurisdiction)),
            ("What is the date of this agreement?", Some(Asked::Date)),
            ("when was it signed", Some(Asked::Date)),
            ("how long is the initial term", Some(Asked::Duration)),
            ("how many days to pay an invoice?", Some(Asked::Duration)),
            ("How much was net revenue in Q4?", Some(Asked::Amount)),
            ("gross margin 2024", Some(Asked::Percent)),
            ("Can the licensee assign the agreement?", None),
        ] {
            assert_eq!(asked_kind(q), kind, "{q}");
        }
    }

    #[test]
    fn the_sentence_that_answers_ranks_first_without_any_embedding() {
        let units = [
            unit(1, "Payment", "Invoices are sent monthly by the Supplier."),
            unit(
                2,
                "Payment",
                "The Buyer shall pay each invoice within forty-five (45) days of receipt.",
            ),
            unit(
                3,
                "Governing Law",
                "This Agreement is governed by the laws of the State of New York.",
            ),
        ];
        let ranked = rank("governing law?", &units, &[0.0; 3], &[0, 0, 0]);
        assert_eq!(ranked[0].unit, 3, "{ranked:?}");
        let ranked = rank(
            "how many days to pay each invoice",
            &units,
            &[0.0; 3],
            &[0, 0, 0],
        );
        assert_eq!(ranked[0].unit, 2, "{ranked:?}");
    }

    #[test]
    fn defined_terms_are_found_with_the_unit_that_defines_them() {
        let units = [
            unit(1, "", "This License and Hosting Agreement (the \"AGREEMENT\") is made as of October 29, 1999 (\"EFFECTIVE DATE\") by and between Corio Inc. (\"CORIO\") and Commerce One, Inc."),
            unit(2, "", "\u{201c}Licensed Software\u{201d} means the software listed in Exhibit A."),
            unit(3, "", "IN WITNESS WHEREOF, the parties have executed this Agreement as of the Effective Date."),
        ];
        let terms = defined_terms(&units);
        let names: Vec<&str> = terms.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            names,
            ["agreement", "effective date", "corio", "licensed software"]
        );
        assert_eq!(terms[1].1, 0);
        assert_eq!(terms[3].1, 1);
    }

    #[test]
    fn a_contract_preamble_defines_its_terms_and_holds_one_date() {
        let preamble = unit(1, "", "This License and Hosting Agreement (the \"AGREEMENT\") is made and entered\ninto as of October 29, 1999 (\"EFFECTIVE DATE\") by and between Corio Inc., a\nDelaware corporation, having its principal place of business at 700 Bay Road,\nSuite 210, Redwood City, CA 94063 (\"CORIO\") and Commerce One, Inc., a Delaware\ncorporation having its principal place of business at 1600 Rivera Avenue, Walnut\nCreek, CA 94596 (\"COMMERCE ONE\").");
        let terms = defined_terms(std::slice::from_ref(&preamble));
        assert!(
            terms.iter().any(|(t, _)| t == "effective date"),
            "{terms:?}"
        );
        assert_eq!(
            typed_value(Asked::Date, &[&preamble]),
            Some(("October 29, 1999".to_string(), 0))
        );
    }

    #[test]
    fn stop_words_stay_out_before_stemming() {
        assert_eq!(
            content_words("What is the date of this agreement?"),
            content_words("dates")
        );
        for (a, b) in [
            ("termination", "terminate"),
            ("payments", "pay"),
            ("renewal", "renews"),
        ] {
            assert_eq!(content_words(a), content_words(b), "{a} / {b}");
        }
    }

    #[test]
    fn a_form_line_does_not_outrank_a_sentence() {
        let units = [
            unit(1, "", "Date: 11/5/99 Date: -------------------------- ----"),
            unit(2, "", "IN WITNESS WHEREOF, the parties have executed this Agreement as of the Effective Date."),
        ];
        let ranked = rank(
            "What is the date of this agreement?",
            &units,
            &[0.5, 0.6],
            &[0, 0],
        );
        assert_eq!(ranked[0].unit, 2, "{ranked:?}");
    }

    #[test]
    fn a_typed_value_is_given_only_when_the_evidence_holds_exactly_one() {
        let law = unit(
            3,
            "",
            "This Agreement shall be governed by the laws of the State of California, USA.",
        );
        let date = unit(4, "", "This Agreement is made as of October 29, 1999 by and between Corio Inc. and Commerce One, Inc.");
        assert_eq!(
            typed_value(Asked::Jurisdiction, &[&law, &date]),
            Some(("California".to_string(), 0))
        );
        assert_eq!(
            typed_value(Asked::Date, &[&law, &date]),
            Some(("October 29, 1999".to_string(), 1))
        );
        let two = unit(
            5,
            "",
            "Delivery is due on March 1, 2001 and payment on April 1, 2001.",
        );
        assert_eq!(typed_value(Asked::Date, &[&two]), None);
        assert_eq!(typed_value(Asked::Amount, &[&law]), None);
    }
}
