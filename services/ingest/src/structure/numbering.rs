//! Heading recognisers: which lines open a section, with what label, title
//! and numbering key. Only line starts are looked at, and a line must look
//! like a heading (short, or opening a paragraph with a run-in title) so that
//! cross-references inside sentences ("pursuant to Section 4.2") and
//! wrapped PDF lines never open sections.

use std::sync::LazyLock;

use folio_common::model::SectionKind;
use regex::Regex;

use super::lines::{is_page_number_line, Lines};

/// Longest line (in chars) that counts as a stand-alone heading line.
const HEADING_LINE_MAX: usize = 100;
/// Longest heading line for strong labels (`Item 5. Market for …`).
const STRONG_LINE_MAX: usize = 160;
/// Longest run-in title ("2.1 Hosting Software License. Subject to …").
const RUN_IN_TITLE_MAX: usize = 100;

/// The numbering family of a heading; siblings are compared within one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    /// `PART II`.
    Part,
    /// `Exhibit A`, `Schedule 1`, `Annex`, `Appendix`.
    Exhibit,
    /// `ARTICLE IV`.
    Article,
    /// SEC `Item 7A`.
    Item,
    /// `Note 12`.
    Note,
    /// `Section 4.2`, `§ 4.2`, `4.2.1`, `12.`: the number of components.
    Decimal(u8),
    /// `(a)`, `(iv)`, `(A)`, `(1)`, `A.`: resolved against siblings later.
    Clause,
    /// ALL-CAPS line without numbering.
    Caps,
    /// Short Title Case line standing alone before prose ("Digital Media").
    Titled,
    /// Markup heading from the parser, with its level.
    Markup(u8),
}

/// The raw token of a list clause; whether `(i)` is a letter or a roman
/// numeral depends on its siblings, so it is resolved while building.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClauseToken {
    /// The characters between the brackets (or before the dot).
    pub raw: String,
    /// `A.` style rather than `(A)`.
    pub dotted: bool,
}

/// A line recognised as a heading, before the tree decides whether it fits.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// How the section was recognised.
    pub kind: SectionKind,
    /// Numbering family.
    pub family: Family,
    /// Comparable numbering key (`Item 7A` → `[7, 0, 1]`, `4.2` → `[4, 2]`).
    pub number: Vec<u32>,
    /// Clause token, for [`Family::Clause`].
    pub clause: Option<ClauseToken>,
    /// Label as written, whitespace collapsed.
    pub label: String,
    /// Title after the label.
    pub title: String,
    /// Byte offset where the heading starts.
    pub heading_start: usize,
    /// One past the heading's last byte.
    pub heading_end: usize,
}

impl Candidate {
    /// Strong families structure whole documents; one stray match of these
    /// does the most harm, so they get the strictest filtering.
    pub fn is_strong(&self) -> bool {
        matches!(
            self.family,
            Family::Part | Family::Article | Family::Item | Family::Note
        )
    }
}

macro_rules! regex {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> =
            LazyLock::new(|| Regex::new($pattern).expect("heading regex is valid"));
    };
}

// A label ends at whitespace, a dash, colon or period, or the line end; never
// at "(" or "," (which signal a cross-reference: "Section 12(b)", "Item 8, …").
const LABEL_END: &str = r"\.?(?:\s*[-–—:]\s*|\.\s*|\s+|$)";

regex!(
    PART,
    &format!(
        r"^(?:PART|Part)\s+([IVX]{{1,4}}|\d{{1,2}}|ONE|TWO|THREE|FOUR|FIVE|One|Two|Three|Four|Five)\b{LABEL_END}"
    )
);
regex!(
    ARTICLE,
    &format!(
        r"^(?:ARTICLE|Article)\s+([IVXLC]{{1,7}}|\d{{1,3}}|[A-Z][A-Za-z]{{2,8}})\b{LABEL_END}"
    )
);
regex!(
    ITEM,
    &format!(r"^(?:ITEM|Item)\s+(\d{{1,2}})(?:\.(\d{{2}}))?([A-C])?\b{LABEL_END}")
);
regex!(NOTE, &format!(r"^(?:NOTE|Note)\s+(\d{{1,2}})\b{LABEL_END}"));
regex!(
    SECTION_KW,
    &format!(
        r"^(?:SECTION|Section|SEC\.|Sec\.|§{{1,2}})\s*(\d{{1,3}}(?:\.\d{{1,3}}){{0,5}})([a-z])?\b{LABEL_END}"
    )
);
regex!(DECIMAL, r"^(\d{1,3})((?:\.\d{1,3}){0,5})(\.?)(?:\s+|$)");
regex!(
    EXHIBIT,
    &format!(
        r"^(EXHIBIT|Exhibit|SCHEDULE|Schedule|ANNEX|Annex|APPENDIX|Appendix|ATTACHMENT|Attachment|ADDENDUM|Addendum)(?:\s+([A-Z]{{1,2}}|\d{{1,3}}(?:\.\d{{1,3}}){{0,3}}|[A-Z]-\d{{1,3}}|[IVX]{{1,5}}))?\b{LABEL_END}"
    )
);
regex!(CLAUSE, r"^\(([a-z]{1,4}|[A-Z]{1,4}|\d{1,2})\)(?:\s+|$)");
regex!(DOTTED_CLAUSE, r"^([A-Z])\.\s+");

/// Recognises the heading that line `i` opens, if any.
pub(crate) fn recognize(lines: &Lines<'_>, i: usize) -> Option<Candidate> {
    let line = &lines.lines[i];
    if line.furniture || line.in_toc || line.in_table {
        return None;
    }
    let mut content = lines.content(i);
    let mut start = line.content_start;
    // Unpaged contracts repeat the next page's number at the top of the
    // page ("1 <footer>  2  entire corporate entity …"): drop that prefix.
    if let Some(stripped) = strip_page_number_prefix(lines, i, content) {
        start += content.len() - stripped.len();
        content = stripped;
    }
    let paragraph_start = lines.starts_paragraph(i);
    recognize_numbered(lines, i, content, start, paragraph_start)
        .or_else(|| recognize_caps(lines, i, content, start, paragraph_start))
        .or_else(|| recognize_titled(lines, i, content, start, paragraph_start))
}

/// Parses a markup heading's text for a label (trusted: no layout checks).
pub(crate) fn parse_markup_heading(text: &str, start: usize, level: u8) -> Candidate {
    // Markdown keeps its "## " marks in the canonical text.
    // (they stay inside the section's range; only the title drops them).
    let unmarked = text.trim_start().trim_start_matches('#');
    let content = unmarked.trim();
    let lead = text.len() - text.trim_start().len();
    let mut cand = Candidate {
        kind: SectionKind::Heading,
        family: Family::Markup(level),
        number: Vec::new(),
        clause: None,
        label: String::new(),
        title: collapse(strip_heading_punct(content)),
        heading_start: start + lead,
        heading_end: start + text.trim_end().len(),
    };
    if let Some(label) = split_label(content) {
        cand.kind = label.kind;
        cand.label = label.label;
        cand.title = collapse(strip_heading_punct(label.rest.trim()));
    }
    cand
}

struct Label<'t> {
    kind: SectionKind,
    family: Family,
    number: Vec<u32>,
    clause: Option<ClauseToken>,
    label: String,
    /// Length of the label (plus separator) at the content's start.
    len: usize,
    rest: &'t str,
}

/// Splits a leading label off a heading text, whatever the layout.
fn split_label(content: &str) -> Option<Label<'_>> {
    if let Some(c) = PART.captures(content) {
        let number = parse_ordinal(&c[1])?;
        let whole = c.get(0)?;
        return Some(Label {
            kind: SectionKind::Part,
            family: Family::Part,
            number: vec![number],
            clause: None,
            label: collapse(label_text(content, whole.end())),
            len: whole.end(),
            rest: &content[whole.end()..],
        });
    }
    if let Some(c) = ARTICLE.captures(content) {
        let number = parse_ordinal(&c[1])?;
        let whole = c.get(0)?;
        return Some(Label {
            kind: SectionKind::Article,
            family: Family::Article,
            number: vec![number],
            clause: None,
            label: collapse(label_text(content, whole.end())),
            len: whole.end(),
            rest: &content[whole.end()..],
        });
    }
    if let Some(c) = ITEM.captures(content) {
        let major: u32 = c[1].parse().ok()?;
        let minor: u32 = c.get(2).map_or(Some(0), |m| m.as_str().parse().ok())?;
        let letter = c
            .get(3)
            .map_or(0, |m| u32::from(m.as_str().as_bytes()[0] - b'A') + 1);
        if major == 0 || major > 16 {
            return None;
        }
        let whole = c.get(0)?;
        return Some(Label {
            kind: SectionKind::Item,
            family: Family::Item,
            number: vec![major, minor, letter],
            clause: None,
            label: collapse(label_text(content, whole.end())),
            len: whole.end(),
            rest: &content[whole.end()..],
        });
    }
    if let Some(c) = NOTE.captures(content) {
        let number: u32 = c[1].parse().ok()?;
        let whole = c.get(0)?;
        return Some(Label {
            kind: SectionKind::Note,
            family: Family::Note,
            number: vec![number],
            clause: None,
            label: collapse(label_text(content, whole.end())),
            len: whole.end(),
            rest: &content[whole.end()..],
        });
    }
    if let Some(c) = SECTION_KW.captures(content) {
        let number = parse_decimal(&c[1])?;
        let whole = c.get(0)?;
        return Some(Label {
            kind: SectionKind::Section,
            family: Family::Decimal(number.len() as u8),
            number,
            clause: None,
            label: collapse(label_text(content, whole.end())),
            len: whole.end(),
            rest: &content[whole.end()..],
        });
    }
    if let Some(c) = EXHIBIT.captures(content) {
        let whole = c.get(0)?;
        let number = c.get(2).map_or_else(Vec::new, |m| exhibit_key(m.as_str()));
        return Some(Label {
            kind: SectionKind::Exhibit,
            family: Family::Exhibit,
            number,
            clause: None,
            label: collapse(label_text(content, whole.end())),
            len: whole.end(),
            rest: &content[whole.end()..],
        });
    }
    if let Some(c) = DECIMAL.captures(content) {
        let whole = c.get(0)?;
        let digits = format!("{}{}", &c[1], &c[2]);
        let number = parse_decimal(&digits)?;
        // Section numbers count from 1; "5.0" and "1.02" with a zero part
        // below the top are figures (except "1.01"-style two-digit parts).
        if number[0] == 0 || number[0] > 200 || number[1..].contains(&0) {
            return None;
        }
        let dotted = !c[3].is_empty();
        let label = if number.len() == 1 && dotted {
            format!("{digits}.")
        } else {
            digits
        };
        return Some(Label {
            kind: SectionKind::Section,
            family: Family::Decimal(number.len() as u8),
            number,
            clause: None,
            label,
            len: whole.end(),
            rest: &content[whole.end()..],
        });
    }
    if let Some(c) = CLAUSE.captures(content) {
        let raw = c[1].to_string();
        if !valid_clause_token(&raw) {
            return None;
        }
        let whole = c.get(0)?;
        return Some(Label {
            kind: SectionKind::Clause,
            family: Family::Clause,
            number: Vec::new(),
            clause: Some(ClauseToken {
                raw: raw.clone(),
                dotted: false,
            }),
            label: format!("({raw})"),
            len: whole.end(),
            rest: &content[whole.end()..],
        });
    }
    if let Some(c) = DOTTED_CLAUSE.captures(content) {
        let raw = c[1].to_string();
        let whole = c.get(0)?;
        return Some(Label {
            kind: SectionKind::Clause,
            family: Family::Clause,
            number: Vec::new(),
            clause: Some(ClauseToken {
                raw: raw.clone(),
                dotted: true,
            }),
            label: format!("{raw}."),
            len: whole.end(),
            rest: &content[whole.end()..],
        });
    }
    None
}

fn recognize_numbered(
    lines: &Lines<'_>,
    i: usize,
    content: &str,
    start: usize,
    paragraph_start: bool,
) -> Option<Candidate> {
    let label = split_label(content)?;
    let rest = label.rest.trim_end();
    let width = content.chars().count();
    let first_rest = rest.chars().next();
    // A lower-case continuation is prose ("Item 8 of this Report", "Note 13
    // for further information", "1.5 million"), except for list clauses.
    if label.family != Family::Clause && first_rest.is_some_and(|c| c.is_lowercase()) {
        return None;
    }
    if first_rest.is_some_and(|c| c.is_ascii_digit() || matches!(c, '%' | '$' | ')' | ',' | '.')) {
        return None;
    }
    let mut cand = Candidate {
        kind: label.kind,
        family: label.family,
        number: label.number,
        clause: label.clause,
        label: label.label,
        title: String::new(),
        heading_start: start,
        heading_end: start + label.len,
    };
    let label_end = start + content[..label.len].trim_end().len();
    cand.heading_end = label_end;

    if rest.is_empty() {
        // "ITEM 1." / "ARTICLE IV" / "NOTE 1" with the title on the next line.
        if !(paragraph_start || width <= HEADING_LINE_MAX) {
            return None;
        }
        // The SEC tag atop a filed contract ("Exhibit 10.13") is dropped
        // later; the title line under it is the contract's own heading.
        let filing_tag = cand.family == Family::Exhibit && cand.number.len() >= 2 && start < 400;
        let title = if filing_tag {
            None
        } else {
            next_line_title(lines, i)
        };
        match title {
            Some((title, end)) => {
                cand.title = title;
                cand.heading_end = end;
            }
            // A bare "5.0" or "Note 13" is a table cell; a bare "PART II",
            // "ARTICLE IV" or "(a)" is a heading.
            None if matches!(
                cand.family,
                Family::Item | Family::Note | Family::Decimal(_)
            ) =>
            {
                return None;
            }
            None => {}
        }
        // A part's title shares its line or is in capitals; "PART I" over
        // "Cautionary Statement …" is followed by a heading of its own.
        if cand.family == Family::Part && !is_caps_text(&cand.title) {
            cand.title.clear();
            cand.heading_end = label_end;
        }
        return Some(cand);
    }
    if cand.family == Family::Exhibit && cand.number.is_empty() {
        // "Exhibit Number", "Schedule of Fees": a word, not an identifier.
        return None;
    }
    let rest_start = start
        + (content.len() - label.rest.len())
        + (label.rest.len() - label.rest.trim_start().len());
    let rest = rest.trim_start();

    match cand.family {
        Family::Part | Family::Article | Family::Item | Family::Note | Family::Exhibit => {
            let max = if cand.family == Family::Exhibit {
                HEADING_LINE_MAX
            } else {
                STRONG_LINE_MAX
            };
            // A label that does not open a paragraph ("… refer to\nNote 10 –
            // Goodwill and Note 11 for details") needs a cleaner title.
            let ratio = if paragraph_start { 6 } else { 9 };
            if width <= max
                && !has_internal_stop(rest)
                && (is_caps_text(rest) || title_ratio(rest, 24).is_some_and(|r| r >= ratio))
            {
                let (title, end) = extend_title(lines, i, rest, rest_start);
                cand.title = title;
                cand.heading_end = end;
                return Some(cand);
            }
            // Articles and Notes may carry a run-in title in a long line.
            if paragraph_start && !strong_needs_short(cand.family) {
                if let Some((title, len)) = run_in_title(rest) {
                    cand.title = title;
                    cand.heading_end = rest_start + len;
                    return Some(cand);
                }
            }
            None
        }
        Family::Decimal(components) => {
            // "4       FEES." needs a title; "12." or "4.2" may open prose.
            let bare_single = components == 1
                && !cand.label.ends_with('.')
                && !content.starts_with(['S', 's', '§']);
            if bare_single {
                // A number far from its text is a column layout ("1      EXHIBIT
                // 10.5" is a page number beside a title), not a label.
                let after_number = &content[cand.label.len()..];
                let gap = after_number.len() - after_number.trim_start().len();
                if gap > 12 {
                    return None;
                }
                let (title, len) = leading_caps_title(rest)?;
                if !paragraph_start && width > HEADING_LINE_MAX {
                    return None;
                }
                cand.title = title;
                cand.heading_end = rest_start + len;
                return Some(cand);
            }
            decorate_body_heading(lines, i, cand, rest, rest_start, width, paragraph_start)
        }
        Family::Clause => {
            if !paragraph_start {
                return None;
            }
            let dotted = cand.clause.as_ref().is_some_and(|c| c.dotted);
            if dotted && !first_rest.is_some_and(|c| c.is_uppercase() || c == '"' || c == '“') {
                return None;
            }
            if let Some((title, len)) = run_in_title(rest) {
                cand.title = title;
                cand.heading_end = rest_start + len;
            }
            Some(cand)
        }
        Family::Caps | Family::Titled | Family::Markup(_) => None,
    }
}

/// Parts, Items and Exhibits are headings only as short lines; a long line
/// starting with their label is prose.
fn strong_needs_short(family: Family) -> bool {
    matches!(family, Family::Part | Family::Item | Family::Exhibit)
}

/// Titles for decimal and `Section` headings: stand-alone short lines,
/// quoted defined terms, or run-in titles of paragraphs.
fn decorate_body_heading(
    lines: &Lines<'_>,
    i: usize,
    mut cand: Candidate,
    rest: &str,
    rest_start: usize,
    width: usize,
    paragraph_start: bool,
) -> Option<Candidate> {
    if let Some((term, len)) = leading_quoted_term(rest) {
        if !paragraph_start {
            return None;
        }
        cand.title = term;
        cand.heading_end = rest_start + len;
        return Some(cand);
    }
    if width <= HEADING_LINE_MAX
        && !has_internal_stop(rest)
        && (is_caps_text(rest) || looks_like_title(rest, 14))
    {
        let (title, end) = extend_title(lines, i, rest, rest_start);
        cand.title = title;
        cand.heading_end = end;
        return Some(cand);
    }
    if !paragraph_start {
        return None;
    }
    if let Some((title, len)) = run_in_title(rest) {
        cand.title = title;
        cand.heading_end = rest_start + len;
    } else if let Some((title, len)) = leading_caps_title(rest) {
        cand.title = title;
        cand.heading_end = rest_start + len;
    }
    Some(cand)
}

fn recognize_caps(
    lines: &Lines<'_>,
    i: usize,
    content: &str,
    start: usize,
    paragraph_start: bool,
) -> Option<Candidate> {
    if !paragraph_start || !is_caps_heading(content) {
        return None;
    }
    // The heading introduces text: the next line must be words or a
    // numbered heading, not figures ("EMEA" over a column of amounts) nor
    // another capitals line (cover pages, ticker tables).
    let next = lines.next_text_line(i)?;
    let next_text = lines.content(next);
    let starts_words = next_text
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || "\"“•".contains(c));
    let numbered = split_label(next_text).is_some();
    if !(starts_words || numbered)
        || (!numbered && !ends_with_connector(content) && is_caps_heading(next_text))
    {
        return None;
    }
    let (title, end) = extend_title(lines, i, content, start);
    Some(Candidate {
        kind: SectionKind::Heading,
        family: Family::Caps,
        number: Vec::new(),
        clause: None,
        label: String::new(),
        title,
        heading_start: start,
        heading_end: end,
    })
}

/// A short Title Case line that stands alone between a finished paragraph
/// and prose ("Digital Media", "Fiscal 2023 Outlook", "Introduction").
fn recognize_titled(
    lines: &Lines<'_>,
    i: usize,
    content: &str,
    start: usize,
    paragraph_start: bool,
) -> Option<Candidate> {
    if !paragraph_start || !is_titled_heading(content) {
        return None;
    }
    let next = lines.next_text_line(i)?;
    let next_text = lines.content(next);
    let prose = next_text.chars().count() >= 50
        && next_text
            .chars()
            .next()
            .is_some_and(|c| c.is_uppercase() || "\"“".contains(c))
        && next_text.chars().filter(|c| c.is_alphabetic()).count() * 10
            >= next_text.chars().count() * 6;
    if !prose {
        return None;
    }
    Some(Candidate {
        kind: SectionKind::Heading,
        family: Family::Titled,
        number: Vec::new(),
        clause: None,
        label: String::new(),
        title: collapse(content),
        heading_start: start,
        heading_end: start + content.len(),
    })
}

fn is_titled_heading(content: &str) -> bool {
    let chars = content.chars().count();
    if !(3..=60).contains(&chars) || content.ends_with(['.', ',', ';', ':', '-']) {
        return false;
    }
    if !content.chars().next().is_some_and(char::is_uppercase)
        || content.contains(['|', '$', '%', '/', '@', '='])
    {
        return false;
    }
    let words: Vec<&str> = content.split_whitespace().collect();
    if words.len() > 8 {
        return false;
    }
    let letters = content.chars().filter(|c| c.is_alphabetic()).count();
    if letters < 4 || letters * 10 < content.chars().filter(|c| !c.is_whitespace()).count() * 7 {
        return false;
    }
    // Signature blocks and officer lists: "Amy E. Hood", "Chief Accounting
    // Officer".
    const PEOPLE: &[&str] = &[
        "Officer",
        "President",
        "Director",
        "Directors",
        "Chairman",
        "Chairwoman",
        "Secretary",
        "Treasurer",
        "Counsel",
        "Controller",
        "Notary",
    ];
    if words
        .iter()
        .any(|w| PEOPLE.contains(w) || (w.len() == 2 && w.ends_with('.')))
    {
        return false;
    }
    // Every word but short function words is capitalised.
    const SMALL: &[&str] = &[
        "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "our",
        "the", "to", "with", "vs", "its", "per", "under", "upon", "not", "other",
    ];
    words.iter().all(|w| {
        let first = w.chars().find(|c| c.is_alphanumeric());
        match first {
            Some(c) if c.is_lowercase() => {
                SMALL.contains(&w.trim_matches(|c: char| !c.is_alphabetic()))
            }
            _ => true,
        }
    })
}

/// The title text plus, when it visibly continues ("… MATTERS AND" /
/// "of Equity Securities."), the next short line.
fn extend_title(lines: &Lines<'_>, i: usize, rest: &str, rest_start: usize) -> (String, usize) {
    let mut title = rest.to_string();
    let mut end = rest_start + rest.len();
    if ends_with_connector(rest) {
        if let Some(next) = lines.next_text_line(i) {
            let next_line = &lines.lines[next];
            let next_text = lines.content(next);
            if !next_line.break_before
                && next_text.chars().count() <= HEADING_LINE_MAX
                && split_label(next_text).is_none()
                && (is_caps_text(next_text) == is_caps_text(rest)
                    || looks_like_title(next_text, 14))
            {
                title.push(' ');
                title.push_str(next_text);
                end = next_line.content_end;
            }
        }
    }
    (collapse(strip_heading_punct(&title)), end)
}

/// The title of a label that stands alone on its line: the next line, when
/// it is short, title-like and not itself a heading.
fn next_line_title(lines: &Lines<'_>, i: usize) -> Option<(String, usize)> {
    let next = lines.next_text_line(i)?;
    let line = &lines.lines[next];
    if line.in_toc || line.in_table {
        return None;
    }
    let text = lines.content(next);
    if text.chars().count() > STRONG_LINE_MAX
        || split_label(text).is_some()
        || is_page_number_line(text)
    {
        return None;
    }
    if !(is_caps_text(text) || looks_like_title(text, 24)) {
        return None;
    }
    let (title, end) = extend_title(lines, next, text, line.content_start);
    Some((title, end))
}

/// Strips "N " from a line when the previous line is the page number N-1
/// (a footer) and this line repeats the next page's number as a header.
fn strip_page_number_prefix<'t>(lines: &Lines<'_>, i: usize, content: &'t str) -> Option<&'t str> {
    regex!(PREFIX, r"^(\d{1,4})\s+(\S.*)$");
    let caps = PREFIX.captures(content)?;
    let number: u32 = caps[1].parse().ok()?;
    let prev = i.checked_sub(1)?;
    let prev_text = lines.content(prev);
    let prev_number: u32 = prev_text
        .trim_matches(|c: char| c == '-' || c.is_whitespace())
        .parse()
        .ok()?;
    if prev_number + 1 != number {
        return None;
    }
    let rest = caps.get(2)?;
    Some(&content[rest.start()..])
}

/// Byte offsets inside a long line where a numbered section starts that
/// text extraction ran into the previous one ("… of the Agreement.    3.3.
/// Continuation of Current Online Business. Client …"): a multi-level
/// number right after a sentence end (or a wide gap), followed by a run-in
/// title or a quoted defined term.
pub(crate) fn inline_heading_starts(content: &str) -> Vec<usize> {
    regex!(
        INLINE,
        r#"(?:[.;:]["”’)\]]?[ \t]+|[ \t]{3,})((?:Section[ \t]+)?(\d{1,3}(?:\.\d{1,3}){0,4})\.?)[ \t]+\S"#
    );
    let mut starts = Vec::new();
    for caps in INLINE.captures_iter(content) {
        let (Some(label), Some(digits)) = (caps.get(1), caps.get(2)) else {
            continue;
        };
        let Some(number) = parse_decimal(digits.as_str()) else {
            continue;
        };
        if number[0] == 0 || number[0] > 200 || number[1..].contains(&0) {
            continue;
        }
        let after = content[label.end()..].trim_start();
        if number.len() == 1 {
            // "… circumstances. 4. Manufacturing Standards. 4.1 Quality …": a
            // lone number inline only counts when its first subsection follows.
            let dotted = label.as_str().ends_with('.');
            let first_child = format!("{}.1", number[0]);
            // (or it ends the line: "… as follows: 1. Definitions.").
            let opens_children = run_in_title(after).is_some_and(|(_, len)| {
                let tail = after[len..].trim_start();
                tail.is_empty() || tail.starts_with(&first_child)
            });
            if dotted && opens_children {
                starts.push(label.start());
            }
            continue;
        }
        let titled = run_in_title(after).is_some();
        let defines = leading_quoted_term(after).is_some_and(|(_, len)| {
            let tail: String = after[len..].chars().take(80).collect();
            tail.contains("mean") || tail.contains("meaning")
        });
        if titled || defines {
            starts.push(label.start());
        }
    }
    starts
}

/// A defined term opening a numbered definition: `"Affiliate" means …`.
fn leading_quoted_term(rest: &str) -> Option<(String, usize)> {
    let open = rest.chars().next()?;
    let close = match open {
        '"' => '"',
        '“' => '”',
        _ => return None,
    };
    let body = &rest[open.len_utf8()..];
    let end = body.find(close)?;
    if end == 0 || end > 100 {
        return None;
    }
    let term = &body[..end];
    let len = open.len_utf8() + end + close.len_utf8();
    let term = term
        .trim()
        .trim_end_matches([',', '.', ';', ':'])
        .trim_end();
    Some((format!("\"{}\"", collapse(term)), len))
}

/// A run-in title: the paragraph's first words up to ". " or ": ", when
/// they read like a title ("Hosting Software License. Subject to …").
fn run_in_title(rest: &str) -> Option<(String, usize)> {
    let mut cut = None;
    for (idx, c) in rest.char_indices() {
        if idx > RUN_IN_TITLE_MAX {
            break;
        }
        if c == '.' || c == ':' {
            let after = &rest[idx + 1..];
            if after.is_empty() || after.starts_with(char::is_whitespace) {
                // "U.S. Patents" / "Inc. and" are not title ends.
                let word_before = rest[..idx].rsplit(char::is_whitespace).next().unwrap_or("");
                if word_before.len() <= 1 || word_before.contains('.') {
                    continue;
                }
                cut = Some(idx);
                break;
            }
        }
    }
    let cut = cut?;
    let title = rest[..cut].trim();
    if title.is_empty() || !(looks_like_title(title, 12) || is_caps_text(title)) {
        return None;
    }
    Some((collapse(title), cut + 1))
}

/// Leading ALL-CAPS words ("APPROVALS AND WAIVERS 23.1 Request …").
fn leading_caps_title(rest: &str) -> Option<(String, usize)> {
    let mut end = 0usize;
    let mut words = 0usize;
    let mut letters = 0usize;
    for (idx, word) in word_spans(rest) {
        let alpha: Vec<char> = word.chars().filter(|c| c.is_alphabetic()).collect();
        if alpha.is_empty() {
            if word.chars().all(|c| c.is_ascii_punctuation()) && words > 0 {
                end = idx + word.len();
                continue;
            }
            break;
        }
        if alpha.iter().any(|c| c.is_lowercase()) {
            break;
        }
        letters += alpha.len();
        words += 1;
        end = idx + word.len();
        if words >= 14 {
            break;
        }
    }
    if letters < 3 || words == 0 {
        return None;
    }
    let title = strip_heading_punct(&rest[..end]);
    if title.chars().filter(|c| c.is_alphabetic()).count() < 3 {
        return None;
    }
    Some((collapse(title), end))
}

fn word_spans(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_whitespace()
        .map(move |w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
}

/// Whether a line is a stand-alone ALL-CAPS heading ("BACKGROUND",
/// "NOTES TO CONSOLIDATED FINANCIAL STATEMENTS").
fn is_caps_heading(content: &str) -> bool {
    let chars = content.chars().count();
    if !(3..=HEADING_LINE_MAX).contains(&chars) {
        return false;
    }
    if content.starts_with(['(', '[', '|', '*', '•', '-', '_', '=', '$', '/'])
        || content.ends_with([',', ';', '-'])
    {
        return false;
    }
    if !is_caps_text(content) {
        return false;
    }
    let words: Vec<&str> = content.split_whitespace().collect();
    if words.len() > 14 {
        return false;
    }
    // A sentence in capitals (a disclaimer) is not a heading.
    if content.ends_with('.') && words.len() > 8 {
        return false;
    }
    let upper = content.to_uppercase();
    let normalized = upper.trim_end_matches(['.', ':']).trim();
    const NOT_HEADINGS: &[&str] = &[
        "AND",
        "OR",
        "BY",
        "BETWEEN",
        "AMONG",
        "OF",
        "THE",
        "TO",
        "WITH",
        "BY AND BETWEEN",
        "BY AND AMONG",
        "AND BETWEEN",
        "FROM",
        "FOR",
        "IN",
        "AS",
        "N/A",
        "NONE",
        "TOTAL",
    ];
    if NOT_HEADINGS.contains(&normalized) {
        return false;
    }
    // Company names (cover pages, signature blocks) are not sections.
    const COMPANY_SUFFIXES: &[&str] = &[
        " INC",
        " INC.",
        " LLC",
        " L.L.C.",
        " CORP",
        " CORP.",
        " CORPORATION",
        " LTD",
        " LTD.",
        " LIMITED",
        " L.P.",
        " LP",
        " N.A.",
        " CO.",
        " COMPANY",
        " PLC",
        " S.A.",
        " AG",
        " GMBH",
        " INCORPORATED",
    ];
    if COMPANY_SUFFIXES.iter().any(|s| upper.ends_with(s)) {
        return false;
    }
    // Signature lines ("BY:", "NAME:", "TITLE:") and form labels.
    if normalized.len() <= 6 && content.ends_with(':') {
        return false;
    }
    let longest_word = words
        .iter()
        .map(|w| w.chars().filter(|c| c.is_alphabetic()).count())
        .max()
        .unwrap_or(0);
    longest_word >= 3 && (words.len() >= 2 || longest_word >= 4)
}

/// Mostly letters, and (almost) all of them capitals.
fn is_caps_text(text: &str) -> bool {
    let mut letters = 0usize;
    let mut upper = 0usize;
    let mut lower = 0usize;
    let mut visible = 0usize;
    for c in text.chars() {
        if c.is_whitespace() {
            continue;
        }
        visible += 1;
        if c.is_alphabetic() {
            letters += 1;
            if c.is_uppercase() {
                upper += 1;
            } else if c.is_lowercase() {
                lower += 1;
            }
        }
    }
    letters >= 3 && letters * 10 >= visible * 6 && lower * 10 <= (upper + lower) && upper > 0
}

/// Reads like a title: starts with a capital (or quote/bracket), short, no
/// clause-ending punctuation, and most longer words capitalised.
pub(crate) fn looks_like_title(text: &str, max_words: usize) -> bool {
    title_ratio(text, max_words).is_some_and(|r| r >= 6)
}

/// For a title-shaped text, the share (in tenths) of its longer words that
/// are capitalised; `None` when it cannot be a title at all.
fn title_ratio(text: &str, max_words: usize) -> Option<usize> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > STRONG_LINE_MAX {
        return None;
    }
    let first = text.chars().next().unwrap_or(' ');
    if !(first.is_uppercase() || "\"“‘'[(".contains(first)) || text.ends_with([',', ';']) {
        return None;
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() > max_words {
        return None;
    }
    let long: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 4)
        .collect();
    if long.is_empty() {
        return Some(10);
    }
    let capitalised = long
        .iter()
        .filter(|w| {
            w.chars()
                .find(|c| c.is_alphabetic())
                .is_some_and(|c| c.is_uppercase())
        })
        .count();
    Some(capitalised * 10 / long.len())
}

/// Whether a sentence or clause ends inside `text` ("Term. This Agreement
/// starts …"): then it is a run-in title plus prose, not a title.
fn has_internal_stop(text: &str) -> bool {
    let text = text.trim_end();
    for (idx, c) in text.char_indices() {
        if !".:;?!".contains(c) {
            continue;
        }
        let after = &text[idx + c.len_utf8()..];
        if after.is_empty() || !after.starts_with(char::is_whitespace) {
            continue;
        }
        let word_before = text[..idx].rsplit(char::is_whitespace).next().unwrap_or("");
        if c == '.'
            && (word_before.chars().count() <= 1
                || word_before.contains('.')
                || is_short_abbreviation(word_before))
        {
            continue;
        }
        return true;
    }
    false
}

fn is_short_abbreviation(word: &str) -> bool {
    matches!(
        word.to_lowercase().as_str(),
        "inc"
            | "co"
            | "corp"
            | "ltd"
            | "no"
            | "nos"
            | "mr"
            | "ms"
            | "mrs"
            | "dr"
            | "st"
            | "vs"
            | "sec"
    )
}

fn ends_with_connector(text: &str) -> bool {
    let last = text
        .trim_end()
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or("");
    let last = last.to_lowercase();
    text.trim_end().ends_with([',', '&', '-', '–', '—'])
        || matches!(
            last.as_str(),
            "and"
                | "of"
                | "the"
                | "for"
                | "to"
                | "in"
                | "on"
                | "or"
                | "with"
                | "about"
                | "from"
                | "by"
        )
}

fn strip_heading_punct(text: &str) -> &str {
    text.trim()
        .trim_end_matches(['.', ':', '—', '–', '-'])
        .trim_end()
}

fn label_text(content: &str, end: usize) -> &str {
    content[..end]
        .trim_end()
        .trim_end_matches(['.', ':', '—', '–', '-'])
        .trim_end()
}

/// Collapses runs of whitespace to single spaces.
pub(crate) fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_decimal(text: &str) -> Option<Vec<u32>> {
    text.split('.').map(|p| p.parse().ok()).collect()
}

/// `IV`, `4`, `FOUR` → 4.
fn parse_ordinal(text: &str) -> Option<u32> {
    if let Ok(n) = text.parse() {
        return Some(n);
    }
    if let Some(n) = roman_value(text) {
        return Some(n);
    }
    folio_common::text::number_word(text).filter(|n| (1..100).contains(n))
}

fn exhibit_key(text: &str) -> Vec<u32> {
    if let Some(n) = parse_decimal(text) {
        return n;
    }
    text.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                c as u32 - '0' as u32
            } else {
                c as u32
            }
        })
        .collect()
}

/// Value of a roman numeral (either case), rejecting non-canonical forms.
pub(crate) fn roman_value(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    let upper = text.to_ascii_uppercase();
    let digit = |c: char| match c {
        'I' => Some(1),
        'V' => Some(5),
        'X' => Some(10),
        'L' => Some(50),
        'C' => Some(100),
        'D' => Some(500),
        'M' => Some(1000),
        _ => None,
    };
    let values: Vec<i64> = upper.chars().map(digit).collect::<Option<_>>()?;
    let mut total = 0i64;
    for (k, v) in values.iter().enumerate() {
        if values.get(k + 1).is_some_and(|next| next > v) {
            total -= v;
        } else {
            total += v;
        }
    }
    let total = u32::try_from(total).ok()?;
    (to_roman(total) == upper).then_some(total)
}

fn to_roman(mut n: u32) -> String {
    const TABLE: &[(u32, &str)] = &[
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut out = String::new();
    for &(value, numeral) in TABLE {
        while n >= value {
            out.push_str(numeral);
            n -= value;
        }
    }
    out
}

/// Value of a letter token: `a` → 1, `z` → 26, `aa` → 27.
pub(crate) fn alpha_value(text: &str) -> Option<u32> {
    let first = text.chars().next()?;
    if !first.is_ascii_alphabetic() || !text.chars().all(|c| c == first) {
        return None;
    }
    let index = u32::from(first.to_ascii_lowercase() as u8 - b'a') + 1;
    Some(index + 26 * (text.len() as u32 - 1))
}

fn valid_clause_token(raw: &str) -> bool {
    raw.chars().all(|c| c.is_ascii_digit())
        || alpha_value(raw).is_some()
        || roman_value(raw).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split() {
        let l = split_label("ARTICLE IV   TERMINATION").unwrap();
        assert_eq!(
            (l.kind, l.number.clone(), l.label.as_str()),
            (SectionKind::Article, vec![4], "ARTICLE IV")
        );
        assert_eq!(l.rest.trim(), "TERMINATION");
        let l = split_label("Item 7A. Quantitative and Qualitative").unwrap();
        assert_eq!(
            (l.number.clone(), l.label.as_str()),
            (vec![7, 0, 1], "Item 7A")
        );
        let l = split_label("§ 4.2 Payment").unwrap();
        assert_eq!(
            (l.family, l.number.clone()),
            (Family::Decimal(2), vec![4, 2])
        );
        let l = split_label("NOTE 12 — INCOME TAXES").unwrap();
        assert_eq!((l.family, l.rest), (Family::Note, "INCOME TAXES"));
        let l = split_label("12. Income Taxes").unwrap();
        assert_eq!((l.family, l.label.as_str()), (Family::Decimal(1), "12."));
        let l = split_label("(iv) the Licensee").unwrap();
        assert_eq!(l.label, "(iv)");
        assert!(split_label("Section 12(b) of the Act").is_none());
        assert!(split_label("Item 8, Financial Statements").is_none());
        assert!(split_label("(ab) foo").is_none());
    }

    #[test]
    fn roman_and_alpha_values() {
        assert_eq!(roman_value("iv"), Some(4));
        assert_eq!(roman_value("IX"), Some(9));
        assert_eq!(roman_value("IIII"), None);
        assert_eq!(roman_value("ab"), None);
        assert_eq!(alpha_value("c"), Some(3));
        assert_eq!(alpha_value("bb"), Some(28));
        assert_eq!(alpha_value("ab"), None);
    }

    #[test]
    fn titles() {
        assert!(looks_like_title("Hosting Software License", 12));
        assert!(!looks_like_title("the parties agree as follows", 12));
        assert!(!looks_like_title(
            "At the Closing Date, the Agent shall have received",
            12
        ));
        assert_eq!(
            run_in_title("Hosting Software License. Subject to the terms").map(|t| t.0),
            Some("Hosting Software License".to_string())
        );
        assert_eq!(
            run_in_title("U.S. Patents and the rest of it goes on"),
            None
        );
        assert_eq!(
            leading_caps_title("APPROVALS AND WAIVERS 23.1 Request for Approval").map(|t| t.0),
            Some("APPROVALS AND WAIVERS".to_string())
        );
        assert!(is_caps_heading(
            "NOTES TO CONSOLIDATED FINANCIAL STATEMENTS"
        ));
        assert!(is_caps_heading("BACKGROUND"));
        assert!(!is_caps_heading("ADOBE INC."));
        assert!(!is_caps_heading("AND"));
        assert!(!is_caps_heading(
            "IN NO EVENT SHALL EITHER PARTY BE LIABLE FOR ANY INDIRECT OR CONSEQUENTIAL DAMAGES."
        ));
    }
}
