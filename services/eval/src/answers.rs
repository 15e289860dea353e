//! `folio eval --answers …`: answer quality per pipeline.
//!
//! * CUAD: precision/recall/F1 of cited spans against gold spans, a pair matching
//!   when their character Jaccard is at least 0.5 (CUAD's rule); no-answer accuracy
//!   on the items whose gold answer list is empty.
//! * FinanceBench: the answer matches the gold answer when a gold number appears in
//!   it within 1 % (text answers score their normalized token F1), and the evidence
//!   page is hit when a citation lies on the gold span's page.
//! * Everywhere: citation validity (each citation's quote equals the stored text
//!   at its offsets), the ALR² rejected-fact rate, latency and tokens.
//! * Grounding, by a strict literal check that shares no code with the answer
//!   path's own checks (so they never grade themselves): `unsupported_claim_rate`
//!   is the share of shown claims (sentences of an answer) holding a figure or a
//!   capitalised name that does not occur in the text they cite;
//!   `fabricated_value_rate` the share of figures in shown answers that occur
//!   nowhere in the document.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use folio_index::SearchFilter;
use folio_query::answer::{Answer, Answerer, AskRequest, Pipeline};
use folio_query::document::DocumentView;
use serde::Serialize;
use serde_json::json;

/// A question as the answer metrics need it.
#[derive(Debug, Clone)]
pub struct AnswerItem {
    /// Question id.
    pub id: String,
    /// Stored document id.
    pub document_id: String,
    /// Question text.
    pub question: String,
    /// Gold answers (empty: unanswerable).
    pub answers: Vec<String>,
    /// Gold spans in the document.
    pub gold: Vec<(usize, usize)>,
    /// `CUAD v1` or `FinanceBench`.
    pub source: String,
}

/// The metrics of one pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineReport {
    cuad_span_f1: Option<f64>,
    cuad_span_precision: Option<f64>,
    cuad_span_recall: Option<f64>,
    no_answer_acc: Option<f64>,
    answered_rate: f64,
    fin_match: Option<f64>,
    fin_page_hit: Option<f64>,
    citation_validity: f64,
    citations_per_answer: f64,
    unsupported_claim_rate: f64,
    fabricated_value_rate: f64,
    rejected_fact_rate: Option<f64>,
    p50_s: f64,
    p95_s: f64,
    tokens_per_question: f64,
    n: usize,
}

#[derive(Default)]
struct Tally {
    cuad_pred: usize,
    cuad_pred_hit: usize,
    cuad_gold: usize,
    cuad_gold_hit: usize,
    unanswerable: usize,
    declined_correctly: usize,
    answered: usize,
    fin: usize,
    fin_score: f64,
    fin_pages: usize,
    fin_page_hits: usize,
    citations: usize,
    citations_valid: usize,
    claims: usize,
    claims_unsupported: usize,
    values: usize,
    values_fabricated: usize,
    facts: usize,
    facts_rejected: usize,
    alr2: bool,
    seconds: Vec<f64>,
    tokens: usize,
    n: usize,
}

/// Runs every pipeline on every item; per-question records go to `log`.
pub async fn evaluate(
    answerer: &Answerer,
    tenant: &str,
    items: &[AnswerItem],
    views: &HashMap<String, DocumentView>,
    pipelines: &[Pipeline],
    log: &Path,
    quiet: bool,
) -> Result<serde_json::Value> {
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut log = std::io::BufWriter::new(std::fs::File::create(log)?);
    let started = Instant::now();
    for (index, item) in items.iter().enumerate() {
        for pipeline in pipelines {
            let request = AskRequest {
                question: item.question.clone(),
                filter: SearchFilter::tenant(tenant.to_string())
                    .with_documents([item.document_id.clone()]),
                pipeline: *pipeline,
            };
            let answer = answerer.ask(&request, None).await?;
            let tally = tallies.entry(pipeline.name()).or_default();
            record(tally, item, &answer, views);
            writeln!(
                log,
                "{}",
                json!({"id": item.id, "pipeline": pipeline.name(), "gold": item.answers, "answer": answer})
            )?;
        }
        log.flush()?;
        if !quiet {
            eprint!(
                "\ranswers: {}/{} questions ({:.0} s)",
                index + 1,
                items.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    if !quiet {
        eprintln!();
    }
    let mut out = serde_json::Map::new();
    for pipeline in pipelines {
        if let Some(tally) = tallies.get(&pipeline.name()) {
            out.insert(pipeline.name(), serde_json::to_value(report(tally))?);
        }
    }
    Ok(serde_json::Value::Object(out))
}

fn record(
    tally: &mut Tally,
    item: &AnswerItem,
    answer: &Answer,
    views: &HashMap<String, DocumentView>,
) {
    tally.n += 1;
    tally.seconds.push(answer.timings.total_s);
    tally.tokens += answer.prompt_tokens + answer.completion_tokens;
    if !answer.no_answer {
        tally.answered += 1;
        let grounding = literal_grounding(answer, views.get(&item.document_id));
        tally.claims += grounding.claims;
        tally.claims_unsupported += grounding.unsupported;
        tally.values += grounding.values;
        tally.values_fabricated += grounding.fabricated;
    }
    for citation in &answer.citations {
        tally.citations += 1;
        let valid = views.get(&citation.document_id).is_some_and(|view| {
            citation.char_start < citation.char_end
                && citation.char_end <= view.char_len()
                && citation.version == view.version
                && view.slice(citation.char_start, citation.char_end) == citation.quote
        });
        if valid {
            tally.citations_valid += 1;
        }
    }
    if let Some(facts) = &answer.trace.facts {
        tally.alr2 = true;
        tally.facts += facts.verified.len() + facts.rejected.len();
        tally.facts_rejected += facts.rejected.len();
    }
    let spans: Vec<(usize, usize)> = answer
        .citations
        .iter()
        .filter(|c| c.document_id == item.document_id)
        .map(|c| (c.char_start, c.char_end))
        .collect();
    if item.source.starts_with("CUAD") {
        if item.answers.is_empty() {
            tally.unanswerable += 1;
            if answer.no_answer || spans.is_empty() {
                tally.declined_correctly += 1;
            }
        } else {
            tally.cuad_pred += spans.len();
            tally.cuad_pred_hit += spans
                .iter()
                .filter(|p| item.gold.iter().any(|g| jaccard(**p, *g) >= 0.5))
                .count();
            tally.cuad_gold += item.gold.len();
            tally.cuad_gold_hit += item
                .gold
                .iter()
                .filter(|g| spans.iter().any(|p| jaccard(*p, **g) >= 0.5))
                .count();
        }
    } else if item.source.starts_with("FinanceBench") {
        tally.fin += 1;
        let text = if answer.no_answer {
            ""
        } else {
            answer.answer.as_str()
        };
        tally.fin_score += item
            .answers
            .iter()
            .map(|gold| finance_match(text, gold))
            .fold(0.0, f64::max);
        if let Some(view) = views.get(&item.document_id) {
            let gold_pages: Vec<u32> = item.gold.iter().filter_map(|g| view.page_of(g.0)).collect();
            if !gold_pages.is_empty() {
                tally.fin_pages += 1;
                if answer
                    .citations
                    .iter()
                    .any(|c| c.page.is_some_and(|p| gold_pages.contains(&p)))
                {
                    tally.fin_page_hits += 1;
                }
            }
        }
    }
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn report(t: &Tally) -> PipelineReport {
    let precision = ratio(t.cuad_pred_hit, t.cuad_pred).or((t.cuad_gold > 0).then_some(0.0));
    let recall = ratio(t.cuad_gold_hit, t.cuad_gold);
    let f1 = match (precision, recall) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    let mut seconds = t.seconds.clone();
    seconds.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        if seconds.is_empty() {
            0.0
        } else {
            let rank = ((q * seconds.len() as f64).ceil() as usize).clamp(1, seconds.len());
            seconds[rank - 1]
        }
    };
    PipelineReport {
        cuad_span_f1: f1,
        cuad_span_precision: precision,
        cuad_span_recall: recall,
        no_answer_acc: ratio(t.declined_correctly, t.unanswerable),
        answered_rate: ratio(t.answered, t.n).unwrap_or(0.0),
        fin_match: (t.fin > 0).then(|| t.fin_score / t.fin as f64),
        fin_page_hit: ratio(t.fin_page_hits, t.fin_pages),
        citation_validity: ratio(t.citations_valid, t.citations).unwrap_or(1.0),
        citations_per_answer: ratio(t.citations, t.answered).unwrap_or(0.0),
        unsupported_claim_rate: ratio(t.claims_unsupported, t.claims).unwrap_or(0.0),
        fabricated_value_rate: ratio(t.values_fabricated, t.values).unwrap_or(0.0),
        rejected_fact_rate: if t.alr2 {
            Some(ratio(t.facts_rejected, t.facts).unwrap_or(0.0))
        } else {
            None
        },
        p50_s: pct(0.5),
        p95_s: pct(0.95),
        tokens_per_question: ratio(t.tokens, t.n).unwrap_or(0.0),
        n: t.n,
    }
}

/// Counts of the literal grounding check over one shown answer.
#[derive(Debug, Default, PartialEq)]
pub struct LiteralGrounding {
    /// Sentences shown.
    pub claims: usize,
    /// Sentences with a figure or name absent from the text they cite.
    pub unsupported: usize,
    /// Figures shown.
    pub values: usize,
    /// Figures absent from the whole document.
    pub fabricated: usize,
}

/// Capitalised words that name nothing in particular.
const COMMON_CAPITALS: &[&str] = &[
    "The",
    "This",
    "That",
    "These",
    "Those",
    "A",
    "An",
    "In",
    "On",
    "Of",
    "For",
    "And",
    "Or",
    "By",
    "To",
    "As",
    "At",
    "If",
    "It",
    "Its",
    "No",
    "Not",
    "Yes",
    "Each",
    "Any",
    "All",
    "Answer",
    "Under",
    "Section",
    "Agreement",
    "Party",
    "Parties",
    "Company",
    "I",
];

/// Digit runs of a text without separators ("1,234.5" → "1234.5"); the
/// markers `[S3]`/`[P2]` are not figures.
fn figures(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut previous = ' ';
    let mut label = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if current.is_empty() {
                label = previous.is_alphabetic();
            }
            current.push(c);
        } else if (c == '.' || c == ',') && !current.is_empty() {
            current.push(c);
        } else {
            if !current.is_empty() && !label {
                out.push(current.trim_end_matches(['.', ',']).replace(',', ""));
            }
            current.clear();
        }
        previous = c;
    }
    if !current.is_empty() && !label {
        out.push(current.trim_end_matches(['.', ',']).replace(',', ""));
    }
    out
}

/// Capitalised words past a sentence's first word, less the common ones.
fn names(sentence: &str) -> Vec<String> {
    sentence
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .skip(1)
        .filter(|w| {
            w.chars().next().is_some_and(char::is_uppercase)
                && w.chars().count() >= 3
                && !w.chars().all(|c| c.is_uppercase() || c.is_ascii_digit())
                && !COMMON_CAPITALS.contains(w)
        })
        .map(str::to_lowercase)
        .collect()
}

/// The strict literal grounding check of one shown answer against its
/// citations and its document.
pub fn literal_grounding(answer: &Answer, view: Option<&DocumentView>) -> LiteralGrounding {
    let mut out = LiteralGrounding::default();
    // Figures compare as whole digit runs: "1" is not found inside "2021".
    let document: std::collections::HashSet<String> = view
        .map(|v| figures(v.slice(0, v.char_len())))
        .unwrap_or_default()
        .into_iter()
        .collect();
    let text = answer.answer.replace(['\u{201c}', '\u{201d}'], "\"");
    // A claim ends at its marker group (`… [S2]`), at a line break, or at a
    // full stop: `“quote one” [S1] “quote two” [S2]` is two claims, each
    // checked against its own citation.
    let mut pieces: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let mut rest = line;
        while let Some(close) = rest.find(']') {
            pieces.push(rest[..=close].to_string());
            rest = &rest[close + 1..];
        }
        pieces.push(rest.to_string());
    }
    let sentences: Vec<String> = pieces
        .iter()
        // The marker stays with the last sentence before it.
        .flat_map(|piece| piece.split(". ").map(str::to_string).collect::<Vec<_>>())
        .map(|s| s.trim().to_string())
        .filter(|s| s.chars().any(char::is_alphanumeric))
        .collect();
    let sentences = sentences.iter().map(String::as_str);
    for sentence in sentences {
        out.claims += 1;
        let cited: Vec<&str> = answer
            .citations
            .iter()
            .filter(|c| sentence.contains(&format!("[{}]", c.marker)))
            .map(|c| c.quote.as_str())
            .collect();
        let cited = if cited.is_empty() {
            answer.citations.iter().map(|c| c.quote.as_str()).collect()
        } else {
            cited
        };
        let cited = cited.join(" \n ");
        let cited_figures: std::collections::HashSet<String> =
            figures(&cited).into_iter().collect();
        let cited_lower = cited.to_lowercase();
        let bare = strip_markers(sentence);
        let figures = figures(&bare);
        out.values += figures.len();
        out.fabricated += figures.iter().filter(|f| !document.contains(*f)).count();
        let unsupported = figures.iter().any(|f| !cited_figures.contains(f))
            || names(&bare)
                .iter()
                .any(|n| !cited_lower.contains(n.as_str()));
        if unsupported {
            out.unsupported += 1;
        }
    }
    out
}

/// A sentence without its `[S3]`-style markers.
fn strip_markers(sentence: &str) -> String {
    let mut out = String::new();
    let mut rest = sentence;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        match rest[open..].find(']') {
            Some(close) => rest = &rest[open + close + 1..],
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Character Jaccard of two half-open ranges.
pub fn jaccard(a: (usize, usize), b: (usize, usize)) -> f64 {
    let inter = a.1.min(b.1).saturating_sub(a.0.max(b.0));
    let union = (a.1 - a.0) + (b.1 - b.0) - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

/// Numbers in a text, as values: "1,234.5" → 1234.5, "(12)" → 12, "5%" → 5.
pub fn numbers(text: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<f64>| {
        let cleaned: String = current.trim_end_matches(['.', ',']).replace(',', "");
        if let Ok(value) = cleaned.parse::<f64>() {
            out.push(value);
        }
        current.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || ((c == '.' || c == ',') && !current.is_empty()) {
            current.push(c);
        } else {
            flush(&mut current, &mut out);
        }
    }
    flush(&mut current, &mut out);
    out
}

/// FinanceBench match of an answer against one gold answer: with numbers in the
/// gold answer, 1 when any of them appears in the answer within 1 % (else 0);
/// without, the normalized token F1.
pub fn finance_match(answer: &str, gold: &str) -> f64 {
    let gold_numbers: Vec<f64> = numbers(gold).into_iter().filter(|v| *v != 0.0).collect();
    if !gold_numbers.is_empty() {
        let found = numbers(answer);
        let hit = gold_numbers.iter().any(|g| {
            found
                .iter()
                .any(|a| ((a - g) / g).abs() <= 0.01 || ((a.abs() - g.abs()) / g).abs() <= 0.01)
        });
        return if hit { 1.0 } else { 0.0 };
    }
    token_f1(answer, gold)
}

fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !["a", "an", "the", "of", "and", "is", "are"].contains(w))
        .map(str::to_string)
        .collect()
}

/// Token-level F1 of two texts (SQuAD style, lowercased, articles dropped).
pub fn token_f1(answer: &str, gold: &str) -> f64 {
    let a = tokens(answer);
    let g = tokens(gold);
    if a.is_empty() || g.is_empty() {
        return if a.is_empty() && g.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    let mut pool: HashMap<&str, usize> = HashMap::new();
    for w in &g {
        *pool.entry(w.as_str()).or_default() += 1;
    }
    let mut common = 0usize;
    for w in &a {
        if let Some(n) = pool.get_mut(w.as_str()) {
            if *n > 0 {
                *n -= 1;
                common += 1;
            }
        }
    }
    if common == 0 {
        return 0.0;
    }
    let p = common as f64 / a.len() as f64;
    let r = common as f64 / g.len() as f64;
    2.0 * p * r / (p + r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuad_jaccard_counts_overlap_over_union() {
        assert_eq!(jaccard((0, 10), (0, 10)), 1.0);
        assert!((jaccard((0, 10), (5, 15)) - 5.0 / 15.0).abs() < 1e-12);
        assert_eq!(jaccard((0, 10), (10, 20)), 0.0);
    }

    #[test]
    fn finance_numbers_match_within_one_percent() {
        assert_eq!(
            numbers("$1,577.0 million, up 3.5% (12)"),
            vec![1577.0, 3.5, 12.0]
        );
        assert_eq!(finance_match("Capex was 1,580 million", "$1577.00"), 1.0);
        assert_eq!(finance_match("Capex was 1,600 million", "$1577.00"), 0.0);
        assert_eq!(finance_match("There are none.", "There are none"), 1.0);
        assert!(finance_match("none", "There are none") > 0.0);
    }

    fn answer_citing(text: &str, quote: &str) -> Answer {
        Answer {
            question: "q".into(),
            pipeline: "plain".into(),
            answer: text.into(),
            no_answer: false,
            citations: vec![folio_query::answer::Citation {
                marker: "S1".into(),
                document_id: "d".into(),
                document_name: "d".into(),
                version: 1,
                section_path: Vec::new(),
                char_start: 0,
                char_end: quote.chars().count(),
                page: None,
                quote: quote.into(),
            }],
            claims: Vec::new(),
            model: "m".into(),
            prompt_tokens: 0,
            completion_tokens: 0,
            timings: Default::default(),
            trace: Default::default(),
        }
    }

    #[test]
    fn the_literal_check_flags_figures_and_names_the_citation_lacks() {
        let clause = "The Buyer shall pay each invoice within forty-five (45) days. Governed by the laws of the State of New York.";
        let check = |text: &str| literal_grounding(&answer_citing(text, clause), None);
        // Faithful: the figure and the place are in the cited clause.
        let faithful = check("The Buyer pays within 45 days [S1]. New York law governs [S1].");
        assert_eq!(
            (faithful.claims, faithful.unsupported, faithful.values),
            (2, 0, 1)
        );
        // The README's screenshot: "1 day" beside a clause that says forty-five.
        assert_eq!(
            check("The Buyer must pay each invoice within 1 day [S1].").unsupported,
            1
        );
        // A place the clause does not name.
        assert_eq!(
            check("The agreement is governed by Delaware law [S1].").unsupported,
            1
        );
        // Markers and labels are not figures.
        assert_eq!(check("See [S1] for the Q4 terms.").values, 0);
        // Two quotes, each checked against its own citation.
        let mut two = answer_citing("\u{201c}Pay within 45 days.\u{201d} [S1] \u{201c}Governed by New York law.\u{201d} [S2]", "Pay within 45 days.");
        let mut second = two.citations[0].clone();
        second.marker = "S2".into();
        second.quote = "Governed by New York law.".into();
        two.citations.push(second);
        let checked = literal_grounding(&two, None);
        assert_eq!((checked.claims, checked.unsupported), (2, 0));
        // A figure found nowhere in the document is fabricated.
        let view = DocumentView::new(
            "d".into(),
            "d".into(),
            1,
            clause.to_string(),
            Default::default(),
            Vec::new(),
        );
        let fabricated = literal_grounding(
            &answer_citing("Dated 2022-01-01 [S1].", clause),
            Some(&view),
        );
        assert_eq!((fabricated.values, fabricated.fabricated), (3, 3));
    }
}
