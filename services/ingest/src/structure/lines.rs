//! The canonical text seen as lines, with the layout facts the heading
//! recognisers need: page breaks, blank lines, page furniture (running
//! headers and footers, page numbers) and table-of-contents regions.

use std::collections::HashMap;
use std::sync::LazyLock;

use folio_common::model::ParsedDocument;
use regex::Regex;

use super::numbering::inline_heading_starts;

/// Lines longer than this are never headers, footers or TOC entries.
const FURNITURE_MAX_CHARS: usize = 120;
/// How many non-empty lines at either end of a page count as its margin.
const PAGE_MARGIN_LINES: usize = 3;
/// Lines shorter than this are never searched for run-together sections.
const INLINE_SPLIT_MIN: usize = 16;

/// One line of the canonical text (split at `'\n'` and `'\f'`).
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// Byte offset of the first byte after leading whitespace.
    pub content_start: usize,
    /// Byte offset one past the last non-whitespace byte.
    pub content_end: usize,
    /// Index of the page holding the line in `doc.pages` (0 when unpaged).
    pub page: usize,
    /// A blank line or a page break separates this line from the previous
    /// non-empty one (or it is the first line).
    pub break_before: bool,
    /// Repeated running header/footer or a bare page number.
    pub furniture: bool,
    /// Inside a table-of-contents block.
    pub in_toc: bool,
    /// Inside a table the parser reported.
    pub in_table: bool,
}

/// The non-empty lines of a document, in order.
pub(crate) struct Lines<'a> {
    pub text: &'a str,
    pub lines: Vec<Line>,
}

impl<'a> Lines<'a> {
    /// Scans `doc.text` once and classifies every non-empty line.
    pub fn scan(doc: &'a ParsedDocument) -> Self {
        let text = doc.text.as_str();
        let mut lines = Vec::new();
        let mut page = 0usize;
        let mut pending_break = true;
        let mut line_start = 0usize;
        let bytes = text.as_bytes();
        let mut i = 0usize;
        while i <= bytes.len() {
            let at_end = i == bytes.len();
            if at_end || bytes[i] == b'\n' || bytes[i] == b'\x0c' {
                let raw = &text[line_start..i];
                let trimmed_start = raw.len() - raw.trim_start().len();
                let trimmed = raw.trim();
                if trimmed.is_empty() {
                    pending_break = true;
                } else {
                    let content_start = line_start + trimmed_start;
                    let content_end = content_start + trimmed.len();
                    while page + 1 < doc.pages.len() && doc.pages[page].end <= content_start {
                        page += 1;
                    }
                    // Sections that extraction ran together on one line are
                    // split into lines of their own.
                    let mut cuts = if trimmed.len() > INLINE_SPLIT_MIN {
                        inline_heading_starts(trimmed)
                    } else {
                        Vec::new()
                    };
                    cuts.push(trimmed.len());
                    let mut from = 0usize;
                    for cut in cuts {
                        let part = trimmed[from..cut].trim_end();
                        if !part.is_empty() {
                            lines.push(Line {
                                content_start: content_start + from,
                                content_end: content_start + from + part.len(),
                                page,
                                break_before: pending_break,
                                furniture: false,
                                in_toc: false,
                                in_table: false,
                            });
                            pending_break = false;
                        }
                        from = cut;
                    }
                    debug_assert!(lines.last().is_some_and(|l| l.content_end == content_end));
                }
                if !at_end && bytes[i] == b'\x0c' {
                    pending_break = true;
                }
                line_start = i + 1;
            }
            i += 1;
        }
        let mut scanned = Lines { text, lines };
        scanned.mark_tables(doc);
        scanned.mark_furniture(doc.pages.len() > 1);
        scanned.mark_toc();
        scanned
    }

    /// The trimmed text of line `i`.
    pub fn content(&self, i: usize) -> &'a str {
        let line = &self.lines[i];
        &self.text[line.content_start..line.content_end]
    }

    /// Number of characters of line `i` (approximate width).
    pub fn width(&self, i: usize) -> usize {
        self.content(i).chars().count()
    }

    /// The previous line that is not furniture, if any, and whether a break
    /// (blank line, page break or furniture) lies between it and `i`.
    pub fn previous_text_line(&self, i: usize) -> Option<(usize, bool)> {
        let mut broken = self.lines[i].break_before;
        let mut j = i;
        while j > 0 {
            j -= 1;
            if self.lines[j].furniture {
                broken = true;
                continue;
            }
            return Some((j, broken));
        }
        None
    }

    /// The next line that is not furniture, if any.
    pub fn next_text_line(&self, i: usize) -> Option<usize> {
        (i + 1..self.lines.len()).find(|&j| !self.lines[j].furniture)
    }

    /// Whether line `i` starts a paragraph: it follows a break, a line that
    /// ends a sentence or clause, or a short line (a heading or a
    /// paragraph's last line). Lines that merely continue a wrapped sentence
    /// (PDF text) do not.
    pub fn starts_paragraph(&self, i: usize) -> bool {
        let Some((prev, broken)) = self.previous_text_line(i) else {
            return true;
        };
        if broken {
            return true;
        }
        let prev_text = self.content(prev);
        ends_clause(prev_text) || prev_text.chars().count() < 60
    }

    fn mark_tables(&mut self, doc: &ParsedDocument) {
        if doc.tables.is_empty() {
            return;
        }
        let mut t = 0usize;
        for line in &mut self.lines {
            while t < doc.tables.len() && doc.tables[t].end <= line.content_start {
                t += 1;
            }
            if let Some(table) = doc.tables.get(t) {
                line.in_table = table.start <= line.content_start && line.content_start < table.end;
            }
        }
    }

    /// Marks bare page numbers and lines repeated at page margins (running
    /// headers/footers such as "Table of Contents" or "Source: X, 10-K").
    fn mark_furniture(&mut self, paged: bool) {
        let mut margin = vec![false; self.lines.len()];
        if paged {
            let mut page_first = 0usize;
            for i in 0..=self.lines.len() {
                if i == self.lines.len() || self.lines[i].page != self.lines[page_first].page {
                    let count = i - page_first;
                    for (k, flag) in margin[page_first..i].iter_mut().enumerate() {
                        *flag = k < PAGE_MARGIN_LINES || count - k <= PAGE_MARGIN_LINES;
                    }
                    page_first = i;
                }
            }
        }
        let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
        let keys: Vec<Option<String>> = (0..self.lines.len())
            .map(|i| {
                let content = self.content(i);
                // Unpaged text has no page numbers inside its running lines,
                // while numbered clauses ("1.48.1 [***];") differ only by digits.
                // Nor do numbered headings ("ITEM 5." and "ITEM 7." often both
                // open a page; only an exact repeat is a running header).
                (content.chars().count() <= FURNITURE_MAX_CHARS)
                    .then(|| furniture_key(content, paged && !starts_with_label(content)))
            })
            .collect();
        for (i, key) in keys.iter().enumerate() {
            if let Some(key) = key {
                let entry = counts.entry(key.clone()).or_default();
                entry.0 += 1;
                if margin[i] {
                    entry.1 += 1;
                }
            }
        }
        for i in 0..self.lines.len() {
            let content = self.content(i);
            let repeated = keys[i].as_ref().is_some_and(|key| {
                let (total, at_margin) = counts[key];
                if paged {
                    total >= 3 && margin[i] && at_margin * 2 >= total
                } else {
                    total >= 5
                }
            });
            self.lines[i].furniture = repeated || is_page_number_line(content);
        }
    }

    /// Finds table-of-contents blocks: clusters of lines that end in page
    /// numbers (or are bare page numbers under a title line), with page
    /// numbers mostly rising.
    fn mark_toc(&mut self) {
        let refs: Vec<Option<u32>> = (0..self.lines.len())
            .map(|i| self.page_reference(i))
            .collect();
        let mut i = 0usize;
        while i < self.lines.len() {
            if refs[i].is_none() {
                i += 1;
                continue;
            }
            // Grow a cluster of references at most 4 lines apart.
            let mut members = vec![i];
            let mut j = i + 1;
            while j < self.lines.len() && j - members[members.len() - 1] <= 4 {
                if refs[j].is_some() {
                    members.push(j);
                }
                j += 1;
            }
            let scanned_to = members[members.len() - 1];
            // A page footer a few lines after the last entry ends the page
            // the contents are on; what lies between is the document.
            while members.len() >= 2 && {
                let (prev, last) = (members[members.len() - 2], members[members.len() - 1]);
                is_page_number_line(self.content(last))
                    && last - prev >= 3
                    && self.lines[prev + 1..=last].iter().any(|l| l.break_before)
            } {
                members.pop();
            }
            let last = members[members.len() - 1];
            if self.is_toc_cluster(&members, &refs) {
                // The first entry's label and title precede its page number
                // ("Item 1." / "Business" / "3"); any further back is what
                // the contents list follows (often a heading of its own).
                let mut first = members[0];
                let mut back = 0;
                while first > 0
                    && back < 2
                    && self.width(first - 1) <= 100
                    && is_entry_title(self.content(first - 1))
                {
                    first -= 1;
                    back += 1;
                }
                for line in &mut self.lines[first..=last] {
                    line.in_toc = true;
                }
            }
            i = scanned_to + 1;
        }
    }

    fn is_toc_cluster(&self, members: &[usize], refs: &[Option<u32>]) -> bool {
        if members.len() < 4 {
            return false;
        }
        let span = members[members.len() - 1] - members[0] + 1;
        if members.len() * 10 < span * 3 {
            return false;
        }
        // A TOC entry is a title followed by its page: either on one line, or
        // a bare number right under a line with words.
        // (Financial tables also alternate labels and small numbers, but their
        // labels carry "$" and "%", and their numbers do not keep rising.)
        let titled = members
            .iter()
            .filter(|&&m| {
                let content = self.content(m);
                !is_page_number_line(content) || (m > 0 && is_entry_title(self.content(m - 1)))
            })
            .count();
        // Some extractions list all titles, then all page numbers: titled
        // lines (dot leaders, "Title 12") still make a good part of it.
        let entries = members
            .iter()
            .filter(|&&m| !is_page_number_line(self.content(m)))
            .count();
        if titled * 10 < members.len() * 6 && !(entries >= 3 && entries * 10 >= members.len() * 3) {
            return false;
        }
        let pages: Vec<u32> = members.iter().filter_map(|&m| refs[m]).collect();
        let rising = pages.windows(2).filter(|w| w[1] >= w[0]).count();
        rising * 10 >= (pages.len() - 1) * 8
    }

    /// The page number a TOC-like line refers to: a bare number, or a title
    /// ending in a number ("Business ..... 3", "2. SUPPLY OF PRODUCT 13").
    fn page_reference(&self, i: usize) -> Option<u32> {
        static TRAILING: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"[A-Za-z)\]’'”].*?(?:\.{2,}|…+|\s)\s*(\d{1,3})(?:\s+-[ivxlc]+-)?$")
                .expect("valid regex")
        });
        let content = self.content(i);
        if content.chars().count() > 2000 {
            return None;
        }
        if let Some(number) = bare_page_number(content) {
            return Some(number);
        }
        // A dot leader whose page number was lost in extraction.
        if content.ends_with(".....") && content.chars().any(char::is_alphabetic) {
            return Some(0);
        }
        // Several entries run together: "2.1 Agreement to Supply 13 2.2 Use
        // of Facility 15 2.3 Capacity 15 …".
        static RUN_TOGETHER: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"[A-Za-z)] (\d{1,3}) +\d{1,3}\.\d{1,3}\.? +[A-Z]").expect("valid regex")
        });
        let mut entries = RUN_TOGETHER.captures_iter(content);
        if let (Some(first), Some(_), Some(_)) = (entries.next(), entries.next(), entries.next()) {
            return first.get(1).and_then(|m| m.as_str().parse().ok());
        }
        let caps = TRAILING.captures(content)?;
        let number = caps.get(1)?;
        let before = content[..number.start()].trim_end();
        // "$ 12" is an amount and "Item 1" a label, not page references.
        if before.ends_with('$') || before.ends_with(',') {
            return None;
        }
        let word_before = before
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or("")
            .to_lowercase();
        const LABELS: &[&str] = &[
            "item", "note", "part", "section", "article", "schedule", "exhibit", "annex",
            "appendix", "§",
        ];
        if LABELS.contains(&word_before.trim_end_matches('.')) {
            return None;
        }
        number.as_str().parse().ok()
    }
}

/// A line that can title a TOC entry: words, not a table label with
/// amounts.
fn is_entry_title(content: &str) -> bool {
    content.chars().filter(|c| c.is_alphabetic()).count() >= 3
        && !content.contains(['$', '%'])
        && !content.trim_end().ends_with(|c: char| c.is_ascii_digit())
}

/// Whether a line ends a sentence or clause (so the next line starts anew).
pub(crate) fn ends_clause(text: &str) -> bool {
    let trimmed = text.trim_end_matches(['"', '”', '’', '\'', ')', ']', '*']);
    trimmed.ends_with(['.', ':', ';', '?', '!'])
        || trimmed.ends_with("; and")
        || trimmed.ends_with("; or")
        || trimmed.ends_with("; and/or")
}

fn starts_with_label(content: &str) -> bool {
    static LABEL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)^(?:item|note|part|article|section|schedule|exhibit|annex|appendix|§|\(?\d)",
        )
        .expect("valid regex")
    });
    LABEL.is_match(content)
}

fn furniture_key(content: &str, collapse_digits: bool) -> String {
    let mut key = String::with_capacity(content.len());
    let mut last_space = false;
    let mut last_digit = false;
    for c in content.chars() {
        if c.is_whitespace() {
            if !last_space {
                key.push(' ');
            }
            last_space = true;
            last_digit = false;
        } else if collapse_digits && c.is_ascii_digit() {
            if !last_digit {
                key.push('#');
            }
            last_digit = true;
            last_space = false;
        } else {
            key.extend(c.to_lowercase());
            last_space = false;
            last_digit = false;
        }
    }
    key
}

/// A line that is only a page number: "12", "- 3 -", "Page 8 of 80", "ii",
/// "F-7".
pub(crate) fn is_page_number_line(content: &str) -> bool {
    bare_page_number(content).is_some() || {
        static OTHER: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(
                r"(?i)^(?:page\s+)?[-–—(\[]?\s*(?:[ivxlc]{1,7}|[A-Z]-\s?\d{1,3})\s*[-–—)\]]?$",
            )
            .expect("valid regex")
        });
        OTHER.is_match(content)
    }
}

fn bare_page_number(content: &str) -> Option<u32> {
    static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^(?:page\s+)?[-–—(\[]?\s*(\d{1,4})\s*[-–—)\]]?(?:\s+of\s+\d{1,4})?$")
            .expect("valid regex")
    });
    NUMBER
        .captures(content)
        .and_then(|caps| caps.get(1))
        .and_then(|m| m.as_str().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_common::model::PageRange;

    fn doc(text: &str) -> ParsedDocument {
        let mut pages = Vec::new();
        let mut start = 0;
        for (i, part) in text.split_inclusive('\x0c').enumerate() {
            pages.push(PageRange {
                number: i as u32 + 1,
                start,
                end: start + part.len(),
            });
            start += part.len();
        }
        ParsedDocument {
            text: text.to_string(),
            pages,
            ..Default::default()
        }
    }

    #[test]
    fn page_numbers_are_furniture() {
        for line in ["12", "- 3 -", "Page 8 of 80", "ii", "-14-", "F-7"] {
            assert!(is_page_number_line(line), "{line}");
        }
        for line in ["12. Income Taxes", "Item 7", "1.2"] {
            assert!(!is_page_number_line(line), "{line}");
        }
    }

    #[test]
    fn repeated_margin_lines_are_furniture() {
        let mut text = String::new();
        let words = ["alpha", "beta", "gamma", "delta", "epsilon"];
        for (page, word) in words.iter().enumerate() {
            text.push_str(&format!(
                "Table of Contents\nFirst {word}.\nSecond {word}.\n"
            ));
            text.push_str(&format!(
                "Repeated middle line.\nThird {word}.\nFourth {word}.\n{}\n\x0c",
                page + 1
            ));
        }
        let d = doc(&text);
        let lines = Lines::scan(&d);
        let furniture: Vec<&str> = (0..lines.lines.len())
            .filter(|&i| lines.lines[i].furniture)
            .map(|i| lines.content(i))
            .collect();
        assert!(furniture.contains(&"Table of Contents"));
        assert!(furniture.contains(&"3"));
        assert!(
            !furniture.contains(&"Repeated middle line."),
            "{furniture:?}"
        );
        assert!(!furniture.iter().any(|l| l.starts_with("First")));
        assert!(lines.lines[7].break_before, "page break counts as a break");
    }

    #[test]
    fn toc_block_is_found() {
        let text = "TABLE OF CONTENTS\nPART I\nItem 1.\nBusiness\n3\nItem 1A.\nRisk Factors\n20\n\
                    Item 2.\nProperties\n34\nPART II\nItem 7.\nManagement's Discussion\n36\n\n\
                    Forward-looking statements are long sentences that say a great deal of things.\n";
        let d = doc(text);
        let lines = Lines::scan(&d);
        let toc: Vec<&str> = (0..lines.lines.len())
            .filter(|&i| lines.lines[i].in_toc)
            .map(|i| lines.content(i))
            .collect();
        assert!(toc.contains(&"Item 1."), "{toc:?}");
        assert!(toc.contains(&"Item 7."), "{toc:?}");
        assert!(!toc.iter().any(|l| l.starts_with("Forward")));
    }

    #[test]
    fn wrapped_lines_do_not_start_paragraphs() {
        let text = "This sentence is wrapped by the PDF extractor and continues on the next\n\
                    Item 2. Management's Discussion appearing in our reports.\n\
                    Item 3. Legal Proceedings\n";
        let d = doc(text);
        let lines = Lines::scan(&d);
        assert!(!lines.starts_paragraph(1));
        assert!(lines.starts_paragraph(2));
    }
}
