//! Incremental construction of a canonical text with its page map and its
//! heading and table hints, shared by the markup parsers (HTML, DOCX).
//!
//! Markup arrives as a stream of text runs and structural events (line,
//! paragraph and page breaks, heading boundaries, whole tables). Breaks are
//! kept pending until the next visible character, so runs of empty blocks
//! never pile up blank lines and no hint ever starts or ends on whitespace.

use folio_common::model::{HeadingHint, PageRange, ParsedDocument, TableHint};

use super::ParseError;

/// How a character of the source is treated in the canonical text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CharClass {
    /// Any kind of white space (including NBSP and form feeds): collapses.
    Space,
    /// Invisible or control characters that must not reach the text.
    Drop,
    /// Everything else.
    Keep,
}

/// Classifies one character for normalisation.
pub(super) fn classify(c: char) -> CharClass {
    match c {
        // Soft hyphen, zero-width space, BOM/ZWNBSP, word joiner: invisible.
        '\u{AD}' | '\u{200B}' | '\u{FEFF}' | '\u{2060}' => CharClass::Drop,
        c if c.is_whitespace() => CharClass::Space,
        c if c.is_control() => CharClass::Drop,
        _ => CharClass::Keep,
    }
}

/// Collapses white space to single spaces, drops invisible characters and
/// trims both ends.
pub(super) fn collapse_whitespace(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut space = false;
    for c in raw.chars() {
        match classify(c) {
            CharClass::Space => space = !out.is_empty(),
            CharClass::Drop => {}
            CharClass::Keep => {
                if space {
                    out.push(' ');
                    space = false;
                }
                out.push(c);
            }
        }
    }
    out
}

/// One table row as the source gave it.
#[derive(Debug, Clone, Default)]
pub(super) struct TableRow {
    /// Raw cell texts (normalised when the table is rendered).
    pub cells: Vec<String>,
    /// Whether the markup marks this row as a header row.
    pub header: bool,
}

#[derive(Debug)]
struct OpenHeading {
    level: u8,
    start: Option<usize>,
}

/// Builds one canonical text; see the module documentation.
#[derive(Debug)]
pub(super) struct TextBuilder {
    text: String,
    page_starts: Vec<usize>,
    pending_space: bool,
    pending_newlines: u8,
    headings: Vec<HeadingHint>,
    tables: Vec<TableHint>,
    heading: Option<OpenHeading>,
    /// End of the last recorded hint: trailing-space trimming stops here.
    frozen: usize,
    chars: usize,
    max_chars: usize,
}

impl TextBuilder {
    /// A builder that stops growing (and fails at [`Self::finish`]) past
    /// `max_chars` characters.
    pub fn new(max_chars: usize) -> Self {
        TextBuilder {
            text: String::new(),
            page_starts: vec![0],
            pending_space: false,
            pending_newlines: 0,
            headings: Vec::new(),
            tables: Vec::new(),
            heading: None,
            frozen: 0,
            chars: 0,
            max_chars,
        }
    }

    fn overflowed(&self) -> bool {
        self.chars > self.max_chars
    }

    fn page_start(&self) -> usize {
        self.page_starts.last().copied().unwrap_or(0)
    }

    fn at_page_start(&self) -> bool {
        self.text.len() == self.page_start()
    }

    fn trailing_newlines(&self) -> u8 {
        let page = &self.text[self.page_start()..];
        page.bytes()
            .rev()
            .take(2)
            .take_while(|&b| b == b'\n')
            .count() as u8
    }

    fn push_char(&mut self, c: char) {
        self.text.push(c);
        self.chars += 1;
    }

    /// Writes out the breaks and space owed before the next visible
    /// character.
    fn flush_pending(&mut self) {
        if self.pending_newlines > 0 {
            if !self.at_page_start() {
                self.trim_trailing_spaces();
                let mut have = self.trailing_newlines();
                while have < self.pending_newlines {
                    self.push_char('\n');
                    have += 1;
                }
            }
        } else if self.pending_space && !self.at_page_start() && !self.text.ends_with('\n') {
            self.push_char(' ');
        }
        self.pending_newlines = 0;
        self.pending_space = false;
    }

    fn trim_trailing_spaces(&mut self) {
        while self.text.len() > self.frozen.max(self.page_start())
            && (self.text.ends_with(' ') || self.text.ends_with('\t'))
        {
            self.text.pop();
            self.chars -= 1;
        }
    }

    /// Trims trailing spaces and blank lines, leaving at most one `\n`.
    fn trim_trailing_blank(&mut self) {
        loop {
            self.trim_trailing_spaces();
            let floor = self.frozen.max(self.page_start());
            if self.text.len() > floor + 1 && self.text.ends_with("\n\n") {
                self.text.pop();
                self.chars -= 1;
            } else {
                break;
            }
        }
    }

    /// Appends one visible character (after any pending breaks).
    fn emit(&mut self, c: char) {
        if self.overflowed() {
            return;
        }
        self.flush_pending();
        if let Some(heading) = &mut self.heading {
            if heading.start.is_none() {
                heading.start = Some(self.text.len());
            }
        }
        self.push_char(c);
    }

    /// Appends flowing text: white space collapses, invisible characters go.
    pub fn push_text(&mut self, raw: &str) {
        for c in raw.chars() {
            match classify(c) {
                CharClass::Space => self.pending_space = true,
                CharClass::Drop => {}
                CharClass::Keep => self.emit(c),
            }
        }
    }

    /// Appends preformatted text: spaces and line ends are kept (blank-line
    /// runs shrink to one), a form feed becomes a page break.
    pub fn push_preformatted(&mut self, raw: &str) {
        for c in raw.chars() {
            match c {
                // Headings stay on one line.
                '\n' if self.heading.is_some() => self.pending_space = true,
                '\n' => {
                    if self.overflowed() {
                        return;
                    }
                    self.flush_pending();
                    if !self.at_page_start() {
                        self.trim_trailing_spaces();
                        if self.trailing_newlines() < 2 {
                            self.push_char('\n');
                        }
                    }
                }
                '\r' => {}
                '\u{c}' => self.page_break(),
                ' ' | '\t' => {
                    // Leading indentation of a line carries layout (columns
                    // in plain-text tables); keep it, but not at page starts.
                    if !self.at_page_start() {
                        self.emit(c);
                    }
                }
                c => match classify(c) {
                    CharClass::Space => {
                        if !self.at_page_start() {
                            self.emit(' ');
                        }
                    }
                    CharClass::Drop => {}
                    CharClass::Keep => self.emit(c),
                },
            }
        }
    }

    /// A soft space (between inline runs that the source separated).
    pub fn space(&mut self) {
        self.pending_space = true;
    }

    /// Ends the current line (inside a heading: a space, to keep headings
    /// on one line).
    pub fn line_break(&mut self) {
        if self.heading.is_some() {
            self.pending_space = true;
        } else {
            self.pending_newlines = self.pending_newlines.max(1);
        }
    }

    /// Ends the current paragraph: the next text starts after a blank line.
    pub fn paragraph_break(&mut self) {
        if self.heading.is_some() {
            self.pending_space = true;
        } else {
            self.pending_newlines = 2;
        }
    }

    /// Starts a new page, unless the current one is still empty (or a
    /// heading is open: a heading does not straddle pages).
    pub fn page_break(&mut self) {
        if self.overflowed() {
            return;
        }
        if self.heading.is_some() {
            self.pending_space = true;
            return;
        }
        if !self.at_page_start() {
            self.trim_trailing_blank();
            if !self.text.ends_with('\n') {
                self.push_char('\n');
            }
            self.push_char('\u{c}');
            self.page_starts.push(self.text.len());
        }
        self.pending_newlines = 0;
        self.pending_space = false;
    }

    /// Opens a heading of `level` (1 = top); closes any open one first.
    pub fn begin_heading(&mut self, level: u8) {
        self.end_heading();
        self.paragraph_break();
        self.heading = Some(OpenHeading {
            level: level.clamp(1, 9),
            start: None,
        });
    }

    /// Closes the open heading and records its hint if it got any text.
    pub fn end_heading(&mut self) {
        let Some(heading) = self.heading.take() else {
            return;
        };
        if let Some(start) = heading.start {
            let end = self.text.len();
            if end > start {
                self.headings.push(HeadingHint {
                    start,
                    end,
                    level: heading.level,
                });
                self.frozen = end;
            }
        }
        self.paragraph_break();
    }

    /// Whether a heading is open.
    pub fn in_heading(&self) -> bool {
        self.heading.is_some()
    }

    /// Renders a whole table, one `| a | b |` line per row, and records its
    /// hint. Empty cells and rows (layout spacers) are dropped; a table whose
    /// rows all have at most one cell is layout, not data, and becomes plain
    /// lines. With `infer_header`, a first row of labels above rows of
    /// figures counts as the header even without header markup.
    pub fn push_table(&mut self, rows: Vec<TableRow>, infer_header: bool) {
        self.end_heading();
        let mut rows: Vec<TableRow> = rows
            .into_iter()
            .filter_map(|row| {
                let cells = merge_split_figures(
                    row.cells
                        .iter()
                        .map(|cell| collapse_whitespace(cell).replace('|', "¦"))
                        .collect(),
                );
                (!cells.is_empty()).then_some(TableRow {
                    cells,
                    header: row.header,
                })
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        if rows.iter().all(|row| row.cells.len() <= 1) {
            self.paragraph_break();
            for row in &rows {
                for cell in &row.cells {
                    self.push_text(cell);
                }
                self.line_break();
            }
            self.paragraph_break();
            return;
        }
        let marked_headers = rows.iter().take_while(|row| row.header).count();
        let header_rows = if marked_headers > 0 {
            marked_headers
        } else if infer_header
            && rows.len() >= 2
            && looks_like_header(&rows[0].cells)
            && rows[1..]
                .iter()
                .any(|row| row.cells.iter().any(|c| is_figure(c)))
        {
            1
        } else {
            0
        };
        for row in rows.iter_mut().skip(header_rows) {
            row.header = false;
        }

        self.paragraph_break();
        if self.overflowed() {
            return;
        }
        self.flush_pending();
        let start = self.text.len();
        let mut header_end = start;
        for (index, row) in rows.iter().enumerate() {
            if index > 0 {
                self.push_char('\n');
            }
            let line = format!("| {} |", row.cells.join(" | "));
            self.chars += line.chars().count();
            self.text.push_str(&line);
            if index + 1 == header_rows {
                header_end = self.text.len();
            }
        }
        let end = self.text.len();
        self.tables.push(TableHint {
            start,
            end,
            header_end,
        });
        self.frozen = end;
        self.paragraph_break();
    }

    /// Finishes the text: drops a trailing empty page, ends the last line,
    /// and builds the page map.
    pub fn finish(mut self, title: Option<String>) -> Result<ParsedDocument, ParseError> {
        if self.overflowed() {
            return Err(ParseError::TooLarge {
                what: "text characters",
                actual: self.chars as u64,
                limit: self.max_chars as u64,
            });
        }
        self.end_heading();
        if self.page_starts.len() > 1 && self.at_page_start() {
            self.text.pop();
            self.page_starts.pop();
        }
        self.trim_trailing_blank();
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        let mut pages = Vec::with_capacity(self.page_starts.len());
        for (index, &start) in self.page_starts.iter().enumerate() {
            let end = self
                .page_starts
                .get(index + 1)
                .copied()
                .unwrap_or(self.text.len());
            pages.push(PageRange {
                number: index as u32 + 1,
                start,
                end,
            });
        }
        Ok(ParsedDocument {
            text: self.text,
            pages,
            headings: self.headings,
            tables: self.tables,
            title: title
                .map(|t| collapse_whitespace(&t))
                .filter(|t| !t.is_empty()),
        })
    }
}

/// Joins the currency signs and closing parentheses/percent signs that
/// financial filings put in cells of their own back onto their figures
/// (`$` `1,234` `)` → `$1,234)`).
fn merge_split_figures(cells: Vec<String>) -> Vec<String> {
    let mut merged: Vec<String> = Vec::with_capacity(cells.len());
    let mut carry = String::new();
    for cell in cells {
        if cell.is_empty() {
            continue;
        }
        if matches!(cell.as_str(), "$" | "€" | "£" | "¥" | "US$" | "($" | "$(") {
            carry.push_str(&cell);
            continue;
        }
        let closes = cell.chars().all(|c| matches!(c, ')' | '%'));
        if closes && carry.is_empty() {
            if let Some(previous) = merged.last_mut() {
                previous.push_str(&cell);
                continue;
            }
        }
        if carry.is_empty() {
            merged.push(cell);
        } else {
            merged.push(std::mem::take(&mut carry) + &cell);
        }
    }
    if !carry.is_empty() {
        merged.push(carry);
    }
    merged
}

/// A figure cell: digits with the punctuation of amounts, not a year.
fn is_figure(cell: &str) -> bool {
    let digits: String = cell.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() {
        return false;
    }
    let amount_like = cell.chars().all(|c| {
        c.is_ascii_digit() || matches!(c, ',' | '.' | '(' | ')' | '%' | '$' | '-' | '—' | '–' | ' ')
    });
    amount_like && !is_year(cell)
}

fn is_year(cell: &str) -> bool {
    cell.len() == 4 && cell.bytes().all(|b| b.is_ascii_digit()) && matches!(&cell[..2], "19" | "20")
}

/// A row of labels (and years): no figure in it.
fn looks_like_header(cells: &[String]) -> bool {
    !cells.is_empty() && !cells.iter().any(|c| is_figure(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str], header: bool) -> TableRow {
        TableRow {
            cells: cells.iter().map(|c| c.to_string()).collect(),
            header,
        }
    }

    #[test]
    fn pending_breaks_collapse_and_pages_skip_empty() {
        let mut b = TextBuilder::new(1000);
        b.page_break();
        b.paragraph_break();
        b.push_text("  Hello \u{a0}  world ");
        b.line_break();
        b.line_break();
        b.push_text("next");
        b.page_break();
        b.page_break();
        b.push_text("p2");
        b.page_break();
        let doc = b.finish(None).unwrap();
        assert_eq!(doc.text, "Hello world\nnext\n\u{c}p2\n");
        assert_eq!(doc.pages.len(), 2);
        assert_eq!(doc.pages[1].start, "Hello world\nnext\n\u{c}".len());
        assert_eq!(doc.pages[1].end, doc.text.len());
    }

    #[test]
    fn headings_cover_their_text_only() {
        let mut b = TextBuilder::new(1000);
        b.push_text("intro");
        b.begin_heading(2);
        b.push_text("  Article 1 ");
        b.line_break();
        b.push_text("Definitions ");
        b.end_heading();
        b.push_text("body");
        let doc = b.finish(None).unwrap();
        assert_eq!(doc.text, "intro\n\nArticle 1 Definitions\n\nbody\n");
        let h = doc.headings[0];
        assert_eq!(&doc.text[h.start..h.end], "Article 1 Definitions");
        assert_eq!(h.level, 2);
    }

    #[test]
    fn tables_drop_spacers_merge_figures_and_infer_headers() {
        let mut b = TextBuilder::new(1000);
        b.push_text("Results");
        b.push_table(
            vec![
                row(&["", "2022", "", "2021"], false),
                row(&["", "", ""], false),
                row(&["Net revenue", "$", "86,392", "$", "79,474"], false),
                row(&["Change", "(3", ")%", "5", "%"], false),
            ],
            true,
        );
        let doc = b.finish(None).unwrap();
        let t = doc.tables[0];
        assert_eq!(
            &doc.text[t.start..t.end],
            "| 2022 | 2021 |\n| Net revenue | $86,392 | $79,474 |\n| Change | (3)% | 5% |"
        );
        assert_eq!(&doc.text[t.start..t.header_end], "| 2022 | 2021 |");
    }

    #[test]
    fn single_column_tables_are_layout() {
        let mut b = TextBuilder::new(1000);
        b.push_table(
            vec![
                row(&["", "First paragraph"], false),
                row(&["Second"], false),
            ],
            true,
        );
        let doc = b.finish(None).unwrap();
        assert!(doc.tables.is_empty());
        assert_eq!(doc.text, "First paragraph\nSecond\n");
    }

    #[test]
    fn overflow_is_an_error() {
        let mut b = TextBuilder::new(5);
        b.push_text("more than five");
        assert!(matches!(b.finish(None), Err(ParseError::TooLarge { .. })));
    }

    #[test]
    fn preformatted_keeps_columns() {
        let mut b = TextBuilder::new(1000);
        b.push_preformatted("\n\n  Revenue     1,234\n\n\n\nNext  \n\u{c}Page two");
        let doc = b.finish(None).unwrap();
        assert_eq!(doc.text, "Revenue     1,234\n\nNext\n\u{c}Page two\n");
        assert_eq!(doc.pages.len(), 2);
    }
}
