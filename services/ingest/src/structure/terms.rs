//! Defined terms: `"Term" means …`, `"Term" shall have the meaning …`,
//! `(the "Term")`, with straight or smart quotes, plus the run-in titles of
//! numbered paragraphs in a Definitions section ("1.03 Advisers Act. The
//! Investment Advisers Act of 1940 …").

use std::sync::LazyLock;

use folio_common::model::{DefinedTerm, SectionTree};
use regex::Regex;

use folio_common::text::sentences::sentence_starts;

/// How far around a term the definition's sentence is searched for.
const WINDOW: usize = 1500;
/// Longest definition kept as a sentence; longer ones keep the term only.
const MAX_DEFINITION: usize = 3000;

const OPEN: &str = r#"(?:"|“|‘‘|'')"#;
const CLOSE: &str = r#"(?:"|”|’’|'')"#;

static QUOTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r#"{OPEN}([^"“”\n]{{1,80}}?){CLOSE}"#)).expect("valid regex")
});

/// A quoted term (or several joined by "or"/"and") followed by a defining
/// verb, allowing a short qualifier in between ("of a Party", "(or "MA")").
static MEANS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#"{OPEN}[^"“”\n]{{1,80}}?{CLOSE}(?:[^"“”.;\n]{{0,40}}?{OPEN}[^"“”\n]{{1,80}}?{CLOSE})*[^"“”.;\n]{{0,60}}?\b(?:shall\s+mean|means|mean|shall\s+have\s+the\s+meanings?|has\s+the\s+meanings?|have\s+the\s+meanings?|is\s+defined|are\s+defined|shall\s+refer\s+to|refers\s+to|is\s+used)\b"#
    ))
    .expect("valid regex")
});

/// A parenthetical that names a term: `(the "Agreement")`, `("CORIO")`,
/// `(each, a "Party")`, `(hereinafter "Manufacturer")`.
static PARENTHETICAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#"\([^()"“”\n]{{0,60}}{OPEN}[^"“”\n]{{1,80}}?{CLOSE}[^()\n]{{0,80}}\)"#
    ))
    .expect("valid regex")
});

/// Finds the defined terms of `text`; `tree` supplies innermost sections.
pub(crate) fn find(text: &str, tree: &SectionTree) -> Vec<DefinedTerm> {
    let mut found: Vec<(usize, usize, String)> = Vec::new();
    for m in MEANS.find_iter(text) {
        // Only the quotes before the verb name terms.
        for q in QUOTED.captures_iter(m.as_str()) {
            let (Some(whole), Some(inner)) = (q.get(0), q.get(1)) else {
                continue;
            };
            if let Some(term) = clean_term(inner.as_str()) {
                found.push((m.start() + whole.start(), m.start() + whole.end(), term));
            }
        }
    }
    for m in PARENTHETICAL.find_iter(text) {
        let inside = m.as_str();
        // "(as defined in "Section 2")", "(e.g., "click-through")": the words
        // around the quotes must be few and the terms capitalised.
        let outside_words = QUOTED.replace_all(inside, " ").split_whitespace().count();
        if outside_words > 8 || inside.contains("defined in") || inside.contains("e.g.") {
            continue;
        }
        for q in QUOTED.captures_iter(inside) {
            let (Some(whole), Some(inner)) = (q.get(0), q.get(1)) else {
                continue;
            };
            if let Some(term) = clean_term(inner.as_str()) {
                found.push((m.start() + whole.start(), m.start() + whole.end(), term));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.2.cmp(&b.2)));
    found.dedup_by(|a, b| a.0 == b.0 && a.2 == b.2);

    let mut terms: Vec<DefinedTerm> = found
        .into_iter()
        .map(|(quote_start, quote_end, term)| {
            let (mut start, mut end) = definition_span(text, quote_start, quote_end);
            let section = tree.innermost_at(quote_start);
            // A sentence never reaches across its section's heading.
            if let Some(s) = section.and_then(|id| tree.sections.get(id as usize)) {
                let floor = if quote_start >= s.heading_end {
                    s.heading_end
                } else {
                    s.start
                };
                start = start.max(floor);
                end = end.min(s.end);
                // Clamping may leave blanks at the edges.
                let span = &text[start..end];
                start += span.len() - span.trim_start().len();
                end = start + text[start..end].trim_end().len();
            }
            DefinedTerm {
                term,
                start,
                end,
                section,
            }
        })
        .collect();
    terms.extend(definition_section_terms(text, tree));
    terms.sort_by_key(|t| (t.start, t.end));
    terms
}

/// Terms named by the run-in titles of paragraphs in a "Definitions"
/// section, where the title is the term itself.
fn definition_section_terms(text: &str, tree: &SectionTree) -> Vec<DefinedTerm> {
    let mut terms = Vec::new();
    for section in &tree.sections {
        let Some(parent) = section.parent.and_then(|p| tree.sections.get(p as usize)) else {
            continue;
        };
        if !parent.display_name().to_lowercase().contains("definition") {
            continue;
        }
        let title = section.title.trim();
        if title.is_empty() || title.starts_with(['"', '“']) || title.chars().count() > 60 {
            continue;
        }
        let Some(clean) = clean_term(title) else {
            continue;
        };
        let (_, end) = definition_span(text, section.heading_start, section.heading_end);
        terms.push(DefinedTerm {
            term: clean,
            start: section.heading_start,
            end: end.min(section.end).max(section.heading_end),
            section: Some(section.id),
        });
    }
    terms
}

/// The sentence holding the quoted term, or the quote itself when the
/// sentence is unbounded.
fn definition_span(text: &str, quote_start: usize, quote_end: usize) -> (usize, usize) {
    let lo = floor_boundary(text, quote_start.saturating_sub(WINDOW));
    let hi = ceil_boundary(text, (quote_end + WINDOW).min(text.len()));
    let window = &text[lo..hi];
    let starts = sentence_starts(window);
    let rel = quote_start - lo;
    let sentence_start = starts.iter().rev().find(|&&s| s <= rel).map_or(0, |&s| s);
    let sentence_end = starts
        .iter()
        .find(|&&s| s > quote_end - lo)
        .map_or(window.len(), |&s| s);
    let slice = &window[sentence_start..sentence_end];
    let start = lo + sentence_start + (slice.len() - slice.trim_start().len());
    let end = lo + sentence_start + slice.trim_end().len();
    if end <= start || end - start > MAX_DEFINITION || start > quote_start || end < quote_end {
        (quote_start, quote_end)
    } else {
        (start, end)
    }
}

fn clean_term(raw: &str) -> Option<String> {
    let term = raw.trim().trim_end_matches([',', '.', ';', ':']).trim();
    let term: String = term.split_whitespace().collect::<Vec<_>>().join(" ");
    let first_letter = term.chars().find(|c| c.is_alphanumeric())?;
    if first_letter.is_lowercase() || term.chars().count() > 80 {
        return None;
    }
    if !term.chars().any(char::is_alphabetic) {
        return None;
    }
    Some(term)
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    while at < text.len() && !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<(String, String)> {
        find(text, &SectionTree::default())
            .into_iter()
            .map(|t| (t.term, text[t.start..t.end].to_string()))
            .collect()
    }

    #[test]
    fn means_and_parentheticals() {
        let text = "This Agreement (the \"Agreement\") is made by Corio Inc. (“CORIO”). \
                    \"Affiliate\" of a Party means any entity controlling it. \
                    \"Marketing Approval\" (or \"MA\") shall mean approvals.";
        let found = terms(text);
        let names: Vec<&str> = found.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "Agreement",
                "CORIO",
                "Affiliate",
                "Marketing Approval",
                "MA"
            ]
        );
        assert_eq!(
            found[2].1,
            "\"Affiliate\" of a Party means any entity controlling it."
        );
        assert!(found[0].1.starts_with("This Agreement (the"));
    }

    #[test]
    fn ignores_lowercase_and_references() {
        let found = terms("look (e.g., \"click-through\") and (as defined in \"Section 2\") here.");
        assert!(found.is_empty(), "{found:?}");
    }
}
