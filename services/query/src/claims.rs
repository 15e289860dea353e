//! The claim check: a generated answer is split into claims (its sentences), and
//! each claim's checkable content (dates, periods, amounts, shares, numbers,
//! governing places, quoted strings, capitalised names) must occur in the text
//! it cites; a claim that cites nothing must occur in one source of the key
//! context, and then cites that source. A claim that fails is dropped or
//! flagged, never shown as fact.

use folio_common::text::sentences;
use serde::{Deserialize, Serialize};

use crate::values::{find_values, supports, FoundValue};

/// One sentence of a generated answer and the verdict on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShownClaim {
    /// The sentence as the model wrote it.
    pub text: String,
    /// The markers of the sources it rests on (its own, or the one source of the
    /// context that supports it when it cited none).
    pub markers: Vec<String>,
    /// Whether every checkable part occurs in those sources.
    pub supported: bool,
    /// Why: what was checked, or what was missing.
    pub reason: String,
    /// Whether the answer text shows it (dropped claims are not shown).
    pub shown: bool,
}

/// A text a claim may rest on: a verified fact (`S3`) or a context passage (`P2`).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Its marker.
    pub marker: &'a str,
    /// Its text.
    pub text: &'a str,
}

/// Capitalised words that name nothing in particular (a sentence's first word
/// is checked too: "Delaware law governs" names a place).
const COMMON_CAPITALS: &[&str] = &[
    "The",
    "This",
    "That",
    "These",
    "Those",
    "There",
    "Their",
    "They",
    "It",
    "Its",
    "In",
    "On",
    "Of",
    "For",
    "And",
    "Or",
    "But",
    "By",
    "To",
    "As",
    "At",
    "If",
    "No",
    "Not",
    "Yes",
    "Each",
    "Any",
    "All",
    "Under",
    "Upon",
    "With",
    "Without",
    "From",
    "Answer",
    "Question",
    "Section",
    "Article",
    "Agreement",
    "Party",
    "Parties",
    "Company",
    "Yes",
    "Both",
    "Either",
    "Neither",
    "According",
    "Based",
    "However",
    "Also",
    "Such",
    "Documents",
    "Document",
    "Verified",
    "Facts",
    "Fact",
    "Paragraph",
    "Paragraphs",
    "Relevant",
];

/// Splits an answer into claims: its sentences, markers kept with the sentence
/// they close.
pub fn split_claims(answer: &str) -> Vec<String> {
    let mut claims: Vec<String> = Vec::new();
    for line in answer.lines() {
        for (start, end) in sentences::split(line) {
            let mut sentence = line[start..end].trim();
            // Marker groups that open a sentence close the one before it.
            while let Some(rest) = sentence.strip_prefix('[') {
                let Some(close) = rest.find(']') else { break };
                let group = &sentence[..close + 2];
                let is_marker = ['S', 'P', 'E']
                    .into_iter()
                    .any(|l| !crate::injection::cited_markers(group, l).is_empty());
                let Some(last) = claims.last_mut().filter(|_| is_marker) else {
                    break;
                };
                last.push(' ');
                last.push_str(group);
                sentence = sentence[group.len()..].trim_start();
            }
            if !is_reply_label(sentence) {
                claims.push(sentence.to_string());
            }
        }
    }
    claims
}

/// Whether a piece of a reply is only the reply format's labels and markers
/// ("Relevant paragraphs:", "P3:", "Answer:"): nothing to show or check.
fn is_reply_label(piece: &str) -> bool {
    let mut rest = piece.trim().to_string();
    for label in [
        "relevant paragraphs",
        "relevant paragraph",
        "answer",
        "verified facts",
    ] {
        if rest.to_lowercase().starts_with(label) {
            rest = rest[label.len()..].to_string();
        }
    }
    rest.split(|c: char| c.is_whitespace() || ",;:[]().".contains(c))
        .filter(|w| !w.is_empty())
        .all(|w| {
            let mut chars = w.chars();
            chars.next().is_some_and(|c| "SPEspe".contains(c))
                && !chars.as_str().is_empty()
                && chars.as_str().chars().all(|c| c.is_ascii_digit())
        })
}

fn capitalised_names(claim: &str) -> Vec<String> {
    claim
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .filter(|w| {
            w.chars().next().is_some_and(char::is_uppercase)
                && w.chars().count() >= 3
                && !COMMON_CAPITALS.contains(w)
                // "S3", "P12": markers, not names.
                && !w[1..].chars().all(|c| c.is_ascii_digit())
        })
        .map(|w| w.trim_end_matches("'s").to_lowercase())
        .collect()
}

fn quoted_strings(claim: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (open, close) in [('"', '"'), ('\u{201c}', '\u{201d}')] {
        let mut rest = claim;
        while let Some(at) = rest.find(open) {
            let after = &rest[at + open.len_utf8()..];
            let Some(end) = after.find(close) else { break };
            let quote = after[..end].trim();
            if quote.split_whitespace().count() >= 2 {
                out.push(normalise(quote));
            }
            rest = &after[end + close.len_utf8()..];
        }
    }
    out
}

fn normalise(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a source offers a claim: its values and its words, found once.
struct Evidence {
    values: Vec<FoundValue>,
    words: String,
}

impl Evidence {
    fn of(text: &str) -> Self {
        Evidence {
            values: find_values(text),
            words: normalise(text),
        }
    }
}

/// A name is found as a word of the text, singular or plural ("Franchisor" is
/// not "franchise"). Only a sentence's first word, capitalised by its place,
/// may match by its first five letters ("Payment" / "payments").
fn has_word(haystack: &str, word: &str, loosely: bool) -> bool {
    let stem: String = word.chars().take(5).collect();
    haystack.split(' ').any(|w| {
        w == word
            || w.strip_suffix('s') == Some(word)
            || word.strip_suffix('s') == Some(w)
            || (loosely && word.chars().count() >= 5 && w.starts_with(&stem))
    })
}

/// The checkable content of one claim: its values (as written), capitalised
/// names (with whether the name may match loosely) and quoted strings.
struct Checkable {
    values: Vec<(String, FoundValue)>,
    names: Vec<(String, bool)>,
    quotes: Vec<String>,
}

impl Checkable {
    fn of(claim: &str) -> Self {
        let bare = crate::injection::defuse(claim);
        let values = find_values(&bare)
            .into_iter()
            .map(|v| (bare[v.start..v.end].to_string(), v))
            .collect();
        let first_word = bare
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .find(|w| !w.is_empty())
            .map(|w| w.trim_end_matches("'s").to_lowercase());
        let names = capitalised_names(&bare)
            .into_iter()
            .map(|name| {
                let loosely = first_word.as_deref() == Some(name.as_str());
                (name, loosely)
            })
            .collect();
        Checkable {
            values,
            names,
            quotes: quoted_strings(&bare),
        }
    }

    fn count(&self) -> usize {
        self.values.len() + self.names.len() + self.quotes.len()
    }

    /// What no evidence in `within` (nor, for names, the question) holds.
    fn missing_in(&self, within: &[&Evidence], question: &str) -> Vec<String> {
        let mut missing = Vec::new();
        for (written, value) in &self.values {
            if !within.iter().any(|e| supports(&e.values, value)) {
                missing.push(written.clone());
            }
        }
        for (name, loosely) in &self.names {
            let found = within.iter().any(|e| has_word(&e.words, name, *loosely))
                || has_word(question, name, *loosely);
            if !found {
                missing.push(name.clone());
            }
        }
        for quote in &self.quotes {
            if !within.iter().any(|e| e.words.contains(quote.as_str())) {
                missing.push(format!("\"{quote}\""));
            }
        }
        missing
    }
}

fn verdict(text: String, markers: Vec<String>, supported: bool, reason: String) -> ShownClaim {
    ShownClaim {
        text,
        markers,
        supported,
        reason,
        shown: true,
    }
}

/// Checks every claim of `answer`. A claim's sources are the ones it marks
/// among `sources`; a claim that marks none rests on the first source that
/// holds all of its figures and names, or, with none to check, on the source
/// it quotes ([`alr2::quoted_sources`]); otherwise it is unsupported.
pub fn check_claims(answer: &str, sources: &[Source<'_>], question: &str) -> Vec<ShownClaim> {
    let evidence: Vec<Evidence> = sources.iter().map(|s| Evidence::of(s.text)).collect();
    let texts: Vec<&str> = sources.iter().map(|s| s.text).collect();
    let question = normalise(question);
    split_claims(answer)
        .into_iter()
        .map(|text| {
            let checkable = Checkable::of(&text);
            let checked = checkable.count();
            let cited: Vec<usize> = ['S', 'P']
                .into_iter()
                .flat_map(|letter| crate::injection::cited_markers(&text, letter))
                .filter_map(|m| sources.iter().position(|s| s.marker == m))
                .collect();
            if !cited.is_empty() {
                let markers = cited
                    .iter()
                    .map(|&i| sources[i].marker.to_string())
                    .collect();
                let within: Vec<&Evidence> = cited.iter().map(|&i| &evidence[i]).collect();
                let missing = checkable.missing_in(&within, &question);
                return if !missing.is_empty() {
                    let reason = format!("not in the cited text: {}", missing.join(", "));
                    verdict(text, markers, false, reason)
                } else if checked == 0 {
                    let reason = "no figure, date or name to check".to_string();
                    verdict(text, markers, true, reason)
                } else {
                    let reason =
                        format!("{checked} figure(s), date(s) or name(s) found in the cited text");
                    verdict(text, markers, true, reason)
                };
            }
            if checked == 0 {
                return match crate::alr2::quoted_sources(&text, &texts) {
                    Some(quoted) => {
                        let markers: Vec<String> = quoted
                            .iter()
                            .map(|&i| sources[i].marker.to_string())
                            .collect();
                        let reason = format!("cites nothing; quotes [{}]", markers.join(", "));
                        verdict(text, markers, true, reason)
                    }
                    None => {
                        let reason = "cites nothing and quotes no source".to_string();
                        verdict(text, Vec::new(), false, reason)
                    }
                };
            }
            let holder = evidence
                .iter()
                .position(|e| checkable.missing_in(&[e], &question).is_empty());
            match holder {
                Some(i) => {
                    let marker = sources[i].marker.to_string();
                    let reason = format!("cites nothing; every figure and name is in [{marker}]");
                    verdict(text, vec![marker], true, reason)
                }
                None => {
                    let all: Vec<&Evidence> = evidence.iter().collect();
                    let missing = checkable.missing_in(&all, &question);
                    let reason = if missing.is_empty() {
                        "cites nothing, and no single source holds all of it".to_string()
                    } else {
                        format!("not in the sources: {}", missing.join(", "))
                    };
                    verdict(text, Vec::new(), false, reason)
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAY: &str = "The Buyer shall pay each invoice within forty-five (45) days of receipt.";
    const LAW: &str = "This Agreement shall be construed in accordance with the laws of the District of Columbia.";

    fn sources() -> Vec<Source<'static>> {
        vec![
            Source {
                marker: "S1",
                text: PAY,
            },
            Source {
                marker: "S2",
                text: LAW,
            },
        ]
    }

    #[test]
    fn the_readme_screenshot_claim_fails_and_its_faithful_rewording_passes() {
        let claims = check_claims(
            "The Buyer must pay each invoice within 1 day [S1]. The Buyer pays within 45 days [S1].",
            &sources(),
            "Within how many days must the Buyer pay?",
        );
        assert_eq!(claims.len(), 2, "{claims:?}");
        assert!(!claims[0].supported, "{claims:?}");
        assert!(claims[0].reason.contains("1 day"), "{}", claims[0].reason);
        assert!(claims[1].supported, "{claims:?}");
    }

    #[test]
    fn invented_dates_and_laws_fail_even_beside_the_right_citation() {
        let question = "Which state's law governs this agreement?";
        for wrong in [
            "The law governing this agreement is the Federal Law 111-1-11 [S2].",
            "The agreement is dated 2022-01-01 [S2].",
            "Delaware law governs [S2].",
        ] {
            let claims = check_claims(wrong, &sources(), question);
            assert!(claims.iter().all(|c| !c.supported), "{wrong}: {claims:?}");
        }
        let right = check_claims(
            "The laws of the District of Columbia govern [S2].",
            &sources(),
            question,
        );
        assert!(right[0].supported, "{right:?}");
    }

    #[test]
    fn an_unmarked_claim_rests_on_the_one_source_that_holds_it() {
        let claims = check_claims(
            "Payment is due within 45 days.",
            &sources(),
            "when is payment due",
        );
        assert_eq!(claims[0].markers, ["S1"]);
        assert!(claims[0].supported);
        let claims = check_claims(
            "Payment is due within 90 days.",
            &sources(),
            "when is payment due",
        );
        assert!(!claims[0].supported);
        assert!(claims[0].markers.is_empty());
    }

    #[test]
    fn a_name_must_be_a_word_of_the_source_and_labels_are_not_claims() {
        let franchise = [Source {
            marker: "P1",
            text: "The franchise fee payment goes to the Company within 30 days.",
        }];
        let claims = check_claims(
            "Relevant paragraphs: P1:\nThe fee is paid to the Franchisor within 30 days [P1].",
            &franchise,
            "who is paid the fee",
        );
        assert_eq!(claims.len(), 1, "{claims:?}");
        assert!(!claims[0].supported, "{claims:?}");
        let claims = check_claims("Payments are due within 30 days [P1].", &franchise, "when");
        assert!(claims[0].supported, "{claims:?}");
    }

    #[test]
    fn an_unmarked_claim_with_nothing_to_check_stands_only_if_it_quotes_a_source() {
        let quoted = check_claims("The Buyer shall pay each invoice.", &sources(), "who pays");
        assert!(quoted[0].supported, "{quoted:?}");
        assert_eq!(quoted[0].markers, ["S1"]);
        let invented = check_claims(
            "The seller may never terminate early.",
            &sources(),
            "who pays",
        );
        assert!(!invented[0].supported, "{invented:?}");
        assert!(invented[0].markers.is_empty());
    }

    #[test]
    fn a_marker_after_the_full_stop_stays_with_its_sentence() {
        assert_eq!(
            split_claims("Payment is due within 45 days. [S1] Columbia law governs. [S2]"),
            [
                "Payment is due within 45 days. [S1]",
                "Columbia law governs. [S2]"
            ]
        );
    }
}
