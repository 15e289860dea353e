//! Legal-aware sentence and clause splitting, the one rule Folio has: chunk
//! boundaries (ingestion), defined-term sentences, the units ALR² numbers and
//! cites and the claims an answer is checked by all come from [`split`].
//!
//! A unit ends at `.`, `?` or `!` followed by a space and a capital, digit, quote
//! or enumerator, unless the period closes an abbreviation that legal and finance
//! text uses mid-sentence ("U.S.C.", "No.", "Sec.", "Inc.", "e.g."), a single
//! initial ("J. Smith") or a number ("Section 2.1"). A unit also ends at a blank
//! line, and before an enumerated clause ("(a)", "(iv)", "1.") that starts a line
//! or follows a `;` or `:`. Units are trimmed; an enumerator alone joins the text
//! after it.

/// Abbreviations after which a period does not end a sentence (lowercase, no dot).
const ABBREVIATIONS: &[&str] = &[
    "u.s", "u.s.c", "u.k", "no", "nos", "sec", "secs", "art", "arts", "para", "paras", "inc",
    "corp", "co", "ltd", "llc", "l.l.c", "l.p", "n.a", "plc", "e.g", "i.e", "etc", "vs", "v", "cf",
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "approx", "ex", "exh", "fig", "p", "pp", "ch", "cl",
    "subsec", "reg", "regs", "stat", "amend", "dept", "govt", "assoc", "bros", "cal", "del", "fla",
    "ill", "mass", "n.y", "tex", "va", "wash", "viz", "al", "mo", "yr", "yrs",
];

/// Words naming a lettered part of a document ("Exhibit A").
const PART_NAMES: &[&str] = &[
    "exhibit",
    "schedule",
    "annex",
    "appendix",
    "section",
    "article",
    "part",
    "item",
    "class",
    "series",
    "tier",
    "attachment",
    "rider",
    "addendum",
    "table",
    "note",
    "grade",
    "type",
];

/// Longest unit before it is cut at a clause boundary (`;`) or a space.
const MAX_UNIT_CHARS: usize = 600;

/// Byte ranges of the units of `text`, in order, non-overlapping, each trimmed and
/// non-empty; together they cover every non-whitespace character.
pub fn split(text: &str) -> Vec<(usize, usize)> {
    let mut cuts = vec![0usize];
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (at, &(_, c)) in chars.iter().enumerate() {
        let next_offset = chars.get(at + 1).map_or(text.len(), |(o, _)| *o);
        match c {
            // The cut comes after closing quotes and brackets, which belong to
            // the sentence they close.
            '.' | '?' | '!' if ends_sentence(text, &chars, at) => {
                let closed = chars[at + 1..]
                    .iter()
                    .take_while(|(_, c)| matches!(c, '"' | '\'' | '”' | '’' | ')' | ']'))
                    .count();
                cuts.push(chars.get(at + 1 + closed).map_or(text.len(), |(o, _)| *o));
            }
            '\x0c' => cuts.push(next_offset),
            '\n' => {
                let rest = &text[next_offset..];
                let blank_line = rest.trim_start_matches([' ', '\t', '\r']).starts_with('\n');
                if blank_line || starts_with_enumerator(rest.trim_start()) {
                    cuts.push(next_offset);
                }
            }
            ';' | ':' => {
                let rest = &text[next_offset..];
                if rest.starts_with(char::is_whitespace)
                    && starts_with_enumerator(rest.trim_start())
                {
                    cuts.push(next_offset);
                }
            }
            _ => {}
        }
    }
    cuts.push(text.len());
    cuts.dedup();
    let mut units: Vec<(usize, usize)> = Vec::new();
    let mut carry: Option<usize> = None;
    for pair in cuts.windows(2) {
        let Some((start, end)) = trimmed(text, pair[0], pair[1]) else {
            continue;
        };
        let start = carry.take().unwrap_or(start);
        if is_bare_enumerator(&text[start..end]) {
            carry = Some(start);
            continue;
        }
        units.extend(cut_long(text, start, end));
    }
    if let Some(start) = carry {
        if let Some((_, end)) = trimmed(text, start, text.len()) {
            units.push((start, end));
        }
    }
    units
}

/// Byte offsets where a sentence (a unit of [`split`]) starts, offset 0
/// excluded: the places ingestion may cut a chunk.
pub fn sentence_starts(text: &str) -> Vec<usize> {
    split(text)
        .into_iter()
        .map(|(start, _)| start)
        .filter(|&start| start > 0)
        .collect()
}

/// Byte offsets where a new paragraph starts: the first non-blank byte
/// after a blank line or a form feed.
pub fn paragraph_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\x0c' || (b == b'\n' && blank_line_follows(bytes, i + 1)) {
            let mut k = i + 1;
            while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                k += 1;
            }
            if k < bytes.len() && k > 0 && starts.last() != Some(&k) {
                starts.push(k);
            }
            i = k.max(i + 1);
        } else {
            i += 1;
        }
    }
    starts
}

/// Whether the line starting at `from` is blank (only spaces/tabs, then a
/// newline or form feed).
fn blank_line_follows(bytes: &[u8], from: usize) -> bool {
    let mut k = from;
    while k < bytes.len() && matches!(bytes[k], b' ' | b'\t' | b'\r') {
        k += 1;
    }
    k < bytes.len() && matches!(bytes[k], b'\n' | b'\x0c')
}

fn trimmed(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let slice = &text[start..end];
    let lead = slice.len() - slice.trim_start().len();
    let body = slice.trim();
    (!body.is_empty()).then(|| (start + lead, start + lead + body.len()))
}

/// Splits an over-long unit at `;` or, failing that, at a space.
fn cut_long(text: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = start;
    while text[from..end].chars().count() > MAX_UNIT_CHARS {
        let window_end = text[from..end]
            .char_indices()
            .nth(MAX_UNIT_CHARS)
            .map_or(end, |(o, _)| from + o);
        let window = &text[from..window_end];
        let cut = window
            .rfind("; ")
            .map(|i| from + i + 1)
            .or_else(|| window.rfind(' ').map(|i| from + i))
            .filter(|&c| c > from)
            .unwrap_or(window_end);
        if let Some(unit) = trimmed(text, from, cut) {
            out.push(unit);
        }
        from = cut;
    }
    if let Some(unit) = trimmed(text, from, end) {
        out.push(unit);
    }
    out
}

fn ends_sentence(text: &str, chars: &[(usize, char)], at: usize) -> bool {
    // What follows: closing quotes/brackets, then whitespace, then the next start.
    let mut after = at + 1;
    while let Some(&(_, c)) = chars.get(after) {
        if matches!(c, '"' | '\'' | '”' | '’' | ')' | ']') {
            after += 1;
        } else {
            break;
        }
    }
    match chars.get(after) {
        None => return true,
        Some(&(_, c)) if !c.is_whitespace() => return false,
        _ => {}
    }
    let mut next = after;
    while chars.get(next).is_some_and(|(_, c)| c.is_whitespace()) {
        next += 1;
    }
    let Some(&(_, first)) = chars.get(next) else {
        return true;
    };
    let starts_new = first.is_uppercase()
        || first.is_ascii_digit()
        || matches!(first, '"' | '“' | '(' | '[' | '•' | '-' | '*');
    if !starts_new {
        return false;
    }
    if chars[at].1 != '.' {
        return true;
    }
    let word = word_before(text, chars[at].0);
    if word.is_empty() {
        return true;
    }
    let lower = word.to_lowercase();
    let bare = lower.trim_end_matches('.');
    if ABBREVIATIONS.contains(&bare) {
        // "No. 5", "Sec. 2", "U.S.C. 1983": an abbreviation before a number or a
        // capital continues the sentence.
        return false;
    }
    // A single initial ("J. Smith") or a chain of initials ("U.S."), unless the
    // letter names a document part ("Exhibit A. The …").
    if bare.chars().filter(|c| c.is_alphabetic()).count() == 1
        && word.chars().next().is_some_and(char::is_uppercase)
    {
        let word_start = word.as_ptr() as usize - text.as_ptr() as usize;
        let previous = word_before(text, text[..word_start].trim_end().len()).to_lowercase();
        if !PART_NAMES.contains(&previous.as_str()) {
            return false;
        }
    }
    // An enumerator such as "1." or "(a)." at a line start is not a sentence.
    if bare.chars().all(|c| c.is_ascii_digit() || c == '.') && is_line_start(text, word) {
        return false;
    }
    true
}

/// The run of non-whitespace characters ending just before byte `end`.
fn word_before(text: &str, end: usize) -> &str {
    let head = &text[..end];
    let start = head
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace() || matches!(c, '(' | '"' | '“'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    &head[start..]
}

fn is_line_start(text: &str, word: &str) -> bool {
    let start = word.as_ptr() as usize - text.as_ptr() as usize;
    text[..start]
        .chars()
        .rev()
        .take_while(|c| *c != '\n')
        .all(|c| c == ' ' || c == '\t')
}

/// "(a)", "(iv)", "(12)", "a)", "1.", "1.2", "§" at the start of `rest`.
fn starts_with_enumerator(rest: &str) -> bool {
    let head: String = rest.chars().take(8).collect();
    let mut chars = head.chars();
    match chars.next() {
        Some('(') => {
            let inner: String = chars.by_ref().take_while(|c| *c != ')').collect();
            !inner.is_empty()
                && inner.len() <= 4
                && inner.chars().all(|c| c.is_ascii_alphanumeric())
                && head.contains(')')
        }
        Some('§') | Some('•') => true,
        Some(c) if c.is_ascii_digit() => {
            let token: String = head.chars().take_while(|c| !c.is_whitespace()).collect();
            token.len() <= 6
                && token.ends_with(['.', ')'])
                && token
                    .trim_end_matches(['.', ')'])
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.')
        }
        _ => false,
    }
}

fn is_bare_enumerator(unit: &str) -> bool {
    let unit = unit.trim();
    unit.chars().count() <= 6 && starts_with_enumerator(unit) && !unit.contains(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(text: &str) -> Vec<&str> {
        split(text).into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn legal_abbreviations_do_not_end_sentences() {
        let text = "Claims arise under 42 U.S.C. Section 1983. See Agreement No. 5 and Sec. 2.1 of Exhibit A. Acme Inc. shall pay.";
        assert_eq!(
            units(text),
            vec![
                "Claims arise under 42 U.S.C. Section 1983.",
                "See Agreement No. 5 and Sec. 2.1 of Exhibit A.",
                "Acme Inc. shall pay."
            ]
        );
    }

    #[test]
    fn enumerated_clauses_are_their_own_units() {
        let text = "The Licensee shall: (a) pay the fees; (b) keep records; and (c) permit audits.";
        assert_eq!(
            units(text),
            vec![
                "The Licensee shall:",
                "(a) pay the fees;",
                "(b) keep records; and (c) permit audits."
            ]
        );
    }

    #[test]
    fn clauses_starting_lines_and_blank_lines_split() {
        let text = "9.2 Termination\n(a) Either party may terminate\non notice.\n\nRevenue was $5.2 million.";
        assert_eq!(
            units(text),
            vec![
                "9.2 Termination",
                "(a) Either party may terminate\non notice.",
                "Revenue was $5.2 million."
            ]
        );
    }

    #[test]
    fn initials_and_decimals_stay_inside() {
        let text = "Signed by J. Smith on behalf of U.S. Bank. Growth was 3.5% in 2021.";
        assert_eq!(
            units(text),
            vec![
                "Signed by J. Smith on behalf of U.S. Bank.",
                "Growth was 3.5% in 2021."
            ]
        );
    }

    fn between_starts(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut prev = 0;
        for s in sentence_starts(text) {
            out.push(text[prev..s].trim());
            prev = s;
        }
        out.push(text[prev..].trim());
        out
    }

    #[test]
    fn sentence_starts_skip_abbreviations() {
        let text = "Corio Inc. shall pay the U.S. fees. Each Party agrees. Revenue grew in 2022. Net income fell.";
        assert_eq!(
            between_starts(text),
            vec![
                "Corio Inc. shall pay the U.S. fees.",
                "Each Party agrees.",
                "Revenue grew in 2022.",
                "Net income fell."
            ]
        );
    }

    #[test]
    fn labels_and_decimals_do_not_start_sentences() {
        let text = "1. DEFINITIONS apply here. See Section 4.2 for more.\n4. Next";
        assert_eq!(
            between_starts(text),
            vec![
                "1. DEFINITIONS apply here.",
                "See Section 4.2 for more.",
                "4. Next"
            ]
        );
    }

    #[test]
    fn paragraphs_and_form_feeds_break() {
        let text = "first para\nstill first\n\n  second para\x0cthird";
        assert_eq!(paragraph_starts(text), vec![26, 38]);
        assert_eq!(
            between_starts(text),
            vec!["first para\nstill first", "second para", "third"]
        );
    }

    #[test]
    fn closing_quotes_stay_with_their_sentence() {
        let text = "the \"Agreement.\" The Parties agree.";
        assert_eq!(
            between_starts(text),
            vec!["the \"Agreement.\"", "The Parties agree."]
        );
    }
}
