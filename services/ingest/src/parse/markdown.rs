//! Markdown: the source is the canonical text (line ends normalised); the
//! parser only finds headings and pipe tables in it.

use folio_common::model::{HeadingHint, ParsedDocument, TableHint};

use super::text::decode_text;
use super::{pages_split_at_form_feeds, ParseError, ParseLimits};

/// Parses Markdown: ATX (`## x`) and setext headings outside code fences,
/// and GFM pipe tables (header row plus `|---|` delimiter row as header).
pub(super) fn parse_markdown(
    bytes: &[u8],
    _limits: &ParseLimits,
) -> Result<ParsedDocument, ParseError> {
    let text = decode_text(bytes)?;
    let lines = split_lines(&text);
    let mut headings = Vec::new();
    let mut tables = Vec::new();
    let mut title = None;
    let mut fence: Option<(char, usize)> = None;
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let content = line.content(&text);
        if let Some(open) = fence {
            if closes_fence(content, open) {
                fence = None;
            }
            index += 1;
            continue;
        }
        if let Some(open) = opens_fence(content) {
            fence = Some(open);
            index += 1;
            continue;
        }
        if let Some(level) = atx_level(content) {
            if let Some(hint) = line.hint(&text, level) {
                if level == 1 && title.is_none() {
                    title = Some(atx_text(content).to_string());
                }
                headings.push(hint);
            }
            index += 1;
            continue;
        }
        if let Some(next) = lines.get(index + 1) {
            if let Some(level) = setext_level(next.content(&text)) {
                if !content.trim().is_empty() && !is_table_row(content) {
                    if let Some(hint) = line.hint(&text, level) {
                        headings.push(hint);
                    }
                    index += 2;
                    continue;
                }
            }
            if is_table_row(content) && is_delimiter_row(next.content(&text)) {
                let mut last = index + 1;
                while let Some(row) = lines.get(last + 1) {
                    let row = row.content(&text);
                    if row.trim().is_empty() || !row.contains('|') || opens_fence(row).is_some() {
                        break;
                    }
                    last += 1;
                }
                let start = line.start + leading_ws(content);
                let header_end = next.start + next.content(&text).trim_end().len();
                let end_line = lines[last];
                let end = end_line.start + end_line.content(&text).trim_end().len();
                tables.push(TableHint {
                    start,
                    end,
                    header_end,
                });
                index = last + 1;
                continue;
            }
        }
        index += 1;
    }
    Ok(ParsedDocument {
        pages: pages_split_at_form_feeds(&text),
        text,
        headings,
        tables,
        title: title.filter(|t| !t.is_empty()),
    })
}

/// One line of the text: `[start, end)` without its `\n`.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
}

impl Line {
    fn content<'a>(&self, text: &'a str) -> &'a str {
        &text[self.start..self.end]
    }

    /// The heading hint of this line: trimmed, form feeds excluded.
    fn hint(&self, text: &str, level: u8) -> Option<HeadingHint> {
        let content = self.content(text);
        let lead = leading_ws(content);
        let trimmed = content.trim_end_matches(char::is_whitespace);
        (trimmed.len() > lead).then_some(HeadingHint {
            start: self.start + lead,
            end: self.start + trimmed.len(),
            level,
        })
    }
}

fn split_lines(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (at, _) in text.match_indices('\n') {
        lines.push(Line { start, end: at });
        start = at + 1;
    }
    if start < text.len() {
        lines.push(Line {
            start,
            end: text.len(),
        });
    }
    lines
}

/// Bytes of leading white space (form feeds included: a page's first line
/// may start with one).
fn leading_ws(line: &str) -> usize {
    line.len() - line.trim_start_matches(char::is_whitespace).len()
}

/// Indentation in columns of plain spaces, if the line starts with at most
/// three of them (CommonMark's limit for block markers).
fn block_indent(line: &str) -> Option<&str> {
    let line = line.trim_start_matches('\u{c}');
    let spaces = line.len() - line.trim_start_matches(' ').len();
    (spaces <= 3).then(|| &line[spaces..])
}

fn atx_level(line: &str) -> Option<u8> {
    let rest = block_indent(line)?;
    let hashes = rest.len() - rest.trim_start_matches('#').len();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let after = &rest[hashes..];
    (after.is_empty() || after.starts_with([' ', '\t'])).then_some(hashes as u8)
}

/// The text of an ATX heading without its markers.
fn atx_text(line: &str) -> &str {
    let rest = line.trim().trim_start_matches('#').trim();
    rest.trim_end_matches('#').trim_end()
}

fn setext_level(line: &str) -> Option<u8> {
    let rest = block_indent(line)?.trim_end();
    let first = rest.chars().next()?;
    if !matches!(first, '=' | '-') || !rest.chars().all(|c| c == first) {
        return None;
    }
    Some(if first == '=' { 1 } else { 2 })
}

fn opens_fence(line: &str) -> Option<(char, usize)> {
    let rest = block_indent(line)?;
    let marker = rest.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let run = rest.len() - rest.trim_start_matches(marker).len();
    // A backtick fence's info string may not contain backticks.
    let info_ok = marker == '~' || !rest[run..].contains('`');
    (run >= 3 && info_ok).then_some((marker, run))
}

fn closes_fence(line: &str, (marker, run): (char, usize)) -> bool {
    let Some(rest) = block_indent(line) else {
        return false;
    };
    let len = rest.len() - rest.trim_start_matches(marker).len();
    len >= run && rest[len..].trim().is_empty()
}

fn is_table_row(line: &str) -> bool {
    line.contains('|') && !line.trim().is_empty()
}

/// A GFM delimiter row: cells of dashes with optional alignment colons.
fn is_delimiter_row(line: &str) -> bool {
    let trimmed = line.trim();
    if !trimmed.contains('-') {
        return false;
    }
    let inner = trimmed.trim_start_matches('|').trim_end_matches('|');
    let cells: Vec<&str> = inner.split('|').map(str::trim).collect();
    (cells.len() > 1 || trimmed.contains('|'))
        && cells.iter().all(|cell| {
            let core = cell.trim_start_matches(':').trim_end_matches(':');
            !core.is_empty() && core.chars().all(|c| c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ParsedDocument {
        parse_markdown(text.as_bytes(), &ParseLimits::default()).unwrap()
    }

    #[test]
    fn finds_atx_setext_and_ignores_fences() {
        let doc = parse(
            "# Title #\r\ntext\n```\n# not a heading\n```\nSub\n---\n    # code\n####### no\n",
        );
        let found: Vec<(&str, u8)> = doc
            .headings
            .iter()
            .map(|h| (&doc.text[h.start..h.end], h.level))
            .collect();
        assert_eq!(found, vec![("# Title #", 1), ("Sub", 2)]);
        assert_eq!(doc.title.as_deref(), Some("Title"));
        assert!(!doc.text.contains('\r'));
    }

    #[test]
    fn finds_pipe_tables() {
        let doc =
            parse("Intro\n\n| Year | Revenue |\n|---|--:|\n| 2022 | 10 |\n| 2021 | 9 |\n\nAfter\n");
        let t = doc.tables[0];
        assert_eq!(
            &doc.text[t.start..t.header_end],
            "| Year | Revenue |\n|---|--:|"
        );
        assert_eq!(
            &doc.text[t.header_end..t.end],
            "\n| 2022 | 10 |\n| 2021 | 9 |"
        );
    }
}
