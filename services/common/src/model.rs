//! Domain types shared by every Folio service.
//!
//! Offsets: inside the ingestion pipeline every span is a **byte** range into
//! the canonical UTF-8 text of one document version (cheap to slice in Rust).
//! Everything that leaves the pipeline (DB rows, API, citations) carries
//! **character** offsets (Unicode scalar values, as Python's `str` counts
//! them); [`CharOffsets`] converts between the two.

use serde::{Deserialize, Serialize};

/// The formats Folio can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentFormat {
    /// PDF with a text layer.
    Pdf,
    /// HTML, including SEC EDGAR filings.
    Html,
    /// Office Open XML word-processing documents.
    Docx,
    /// Plain UTF-8 (or legacy-encoded) text.
    Text,
    /// Markdown, kept verbatim as the canonical text.
    Markdown,
}

impl DocumentFormat {
    /// Stable lower-case name, as stored in the DB and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentFormat::Pdf => "pdf",
            DocumentFormat::Html => "html",
            DocumentFormat::Docx => "docx",
            DocumentFormat::Text => "text",
            DocumentFormat::Markdown => "markdown",
        }
    }

    /// Parses the stable name back.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "pdf" => DocumentFormat::Pdf,
            "html" => DocumentFormat::Html,
            "docx" => DocumentFormat::Docx,
            "text" => DocumentFormat::Text,
            "markdown" => DocumentFormat::Markdown,
            _ => return None,
        })
    }

    /// Detects the format from the file name's extension, falling back to the
    /// leading bytes. Returns `None` for anything Folio does not parse.
    pub fn detect(file_name: &str, head: &[u8]) -> Option<Self> {
        let ext = file_name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "pdf" => return Some(DocumentFormat::Pdf),
            "htm" | "html" | "xhtml" => return Some(DocumentFormat::Html),
            "docx" => return Some(DocumentFormat::Docx),
            "txt" | "text" => return Some(DocumentFormat::Text),
            "md" | "markdown" => return Some(DocumentFormat::Markdown),
            _ => {}
        }
        if head.starts_with(b"%PDF-") {
            return Some(DocumentFormat::Pdf);
        }
        let lowered: Vec<u8> = head
            .iter()
            .take(512)
            .map(|b| b.to_ascii_lowercase())
            .collect();
        let sniff = String::from_utf8_lossy(&lowered);
        let sniff = sniff.trim_start();
        if sniff.starts_with("<!doctype html") || sniff.starts_with("<html") {
            return Some(DocumentFormat::Html);
        }
        if ext.is_empty() && !head.contains(&0) && !head.starts_with(b"PK\x03\x04") {
            return Some(DocumentFormat::Text);
        }
        None
    }
}

/// One page of the canonical text: `[start, end)` byte range, 1-based number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRange {
    /// 1-based page number as a reader sees it.
    pub number: u32,
    /// Byte offset where the page starts in the canonical text.
    pub start: usize,
    /// Byte offset one past the page's last byte.
    pub end: usize,
}

/// A heading the parser saw in the source markup (HTML `<h1..h6>`, DOCX
/// heading styles, Markdown `#`): the structurizer trusts these over guesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadingHint {
    /// Byte offset of the heading line's first character.
    pub start: usize,
    /// Byte offset one past the heading text (before its newline).
    pub end: usize,
    /// Outline level, 1 = top.
    pub level: u8,
}

/// A table the parser rendered as one row per line (`| a | b |`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableHint {
    /// Byte offset of the first row.
    pub start: usize,
    /// Byte offset one past the last row (before its newline).
    pub end: usize,
    /// Byte offset one past the header row(s); equals `start` when the table
    /// has no header.
    pub header_end: usize,
}

/// What a parser produces: one canonical text plus what it knows of layout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParsedDocument {
    /// The canonical UTF-8 text; every offset in Folio points into it.
    pub text: String,
    /// Page map in order, covering the text (one page for unpaged formats).
    pub pages: Vec<PageRange>,
    /// Headings known from markup, in order.
    pub headings: Vec<HeadingHint>,
    /// Tables rendered as rows, in order.
    pub tables: Vec<TableHint>,
    /// Title from metadata (`<title>`, DOCX core properties, PDF info), if any.
    pub title: Option<String>,
}

/// What kind of numbering or markup introduced a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    /// `PART I`, `Part II`.
    Part,
    /// `ARTICLE IV`, `Article 9`.
    Article,
    /// `Section 4.2`, `§ 4.2`, `4.2.1`.
    Section,
    /// SEC `Item 7`, `Item 7A`.
    Item,
    /// Financial statement `Note 12`.
    Note,
    /// `Exhibit A`, `Schedule 1`, `Annex`, `Appendix`.
    Exhibit,
    /// `(a)`, `(i)`, `(A)` list clauses.
    Clause,
    /// Markup heading (HTML, DOCX style, Markdown) or an ALL-CAPS line.
    Heading,
}

/// One node of a document's section tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Index of this section in [`SectionTree::sections`].
    pub id: u32,
    /// Parent section's id, `None` at the top.
    pub parent: Option<u32>,
    /// Depth in the tree, 0 = top.
    pub depth: u8,
    /// How the section was recognised.
    pub kind: SectionKind,
    /// The numbering label as written (`"Section 4.2"`, `"(a)"`, `"Item 7A"`),
    /// empty for unnumbered headings.
    pub label: String,
    /// The heading text after the label (may be empty).
    pub title: String,
    /// Byte range of the heading line.
    pub heading_start: usize,
    /// One past the heading line's last byte.
    pub heading_end: usize,
    /// Byte range of the whole section, heading included, children included.
    pub start: usize,
    /// One past the section's last byte.
    pub end: usize,
}

impl Section {
    /// How the section shows in a heading path: label and title joined.
    pub fn display_name(&self) -> String {
        match (self.label.is_empty(), self.title.is_empty()) {
            (false, false) => format!("{} {}", self.label, self.title),
            (false, true) => self.label.clone(),
            (true, false) => self.title.clone(),
            (true, true) => String::new(),
        }
    }
}

/// A defined term (`"Term" means …`, `(the "Term")`) and where it is defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinedTerm {
    /// The term as written, without quotes.
    pub term: String,
    /// Byte range of the definition sentence (or the quoted term when the
    /// sentence cannot be delimited).
    pub start: usize,
    /// One past the definition's last byte.
    pub end: usize,
    /// Innermost section containing the definition.
    pub section: Option<u32>,
}

/// The structure recovered from one canonical text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionTree {
    /// Sections in document order (pre-order: parents before children).
    pub sections: Vec<Section>,
    /// Defined terms in document order.
    pub terms: Vec<DefinedTerm>,
}

impl SectionTree {
    /// The heading path from the top down to `id`, e.g.
    /// `["Article 9 Termination", "9.2 Termination for Convenience"]`.
    pub fn path(&self, id: u32) -> Vec<String> {
        let mut path = Vec::new();
        let mut cursor = Some(id);
        while let Some(current) = cursor {
            let Some(section) = self.sections.get(current as usize) else {
                break;
            };
            let name = section.display_name();
            if !name.is_empty() {
                path.push(name);
            }
            cursor = section.parent;
        }
        path.reverse();
        path
    }

    /// The innermost section whose range contains the byte offset `at`.
    pub fn innermost_at(&self, at: usize) -> Option<u32> {
        // Pre-order: the last section starting at or before `at` whose range
        // still contains it is the innermost one.
        let mut best = None;
        for section in &self.sections {
            if section.start > at {
                break;
            }
            if at < section.end {
                best = Some(section.id);
            }
        }
        best
    }
}

/// A chunk as the chunker emits it: an exact slice of the canonical text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkDraft {
    /// Position of the chunk in its document, from 0.
    pub ordinal: u32,
    /// Innermost section the chunk lies in.
    pub section: Option<u32>,
    /// Heading path of that section, top first.
    pub heading_path: Vec<String>,
    /// Byte range into the canonical text.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Character (Unicode scalar) offset of `start`.
    pub char_start: usize,
    /// Character offset of `end`.
    pub char_end: usize,
    /// First page the chunk touches (1-based).
    pub page_start: u32,
    /// Last page the chunk touches (1-based).
    pub page_end: u32,
    /// `canonical_text[start..end]`, verbatim.
    pub text: String,
    /// Table header rows repeated for a chunk that holds later rows of a
    /// split table; rendered before the text for embedding and prompts, never
    /// part of the cited span.
    pub context_header: Option<String>,
    /// Embedder tokens in `text` (as counted by the chunker's tokenizer).
    pub token_count: u32,
}

impl ChunkDraft {
    /// The text handed to the embedder and BM25: heading path, repeated table
    /// header, then the verbatim text.
    pub fn indexed_text(&self) -> String {
        indexed_text(
            &self.heading_path,
            self.context_header.as_deref(),
            &self.text,
        )
    }
}

/// The text a chunk is embedded and full-text indexed as: heading path, repeated
/// table header, then the verbatim text. One function, so that ingestion and a
/// rebuild of the indexes from stored rows embed exactly the same string.
pub fn indexed_text(heading_path: &[String], context_header: Option<&str>, text: &str) -> String {
    let mut out = String::new();
    if !heading_path.is_empty() {
        out.push_str(&heading_path.join(" › "));
        out.push('\n');
    }
    if let Some(header) = context_header {
        out.push_str(header);
        out.push('\n');
    }
    out.push_str(text);
    out
}

/// Converts byte offsets of one text into character offsets and back.
#[derive(Debug, Clone)]
pub struct CharOffsets {
    /// Byte offset of every char boundary, plus the text length at the end.
    boundaries: Vec<usize>,
}

impl CharOffsets {
    /// Indexes `text`'s char boundaries (O(n) once, then O(log n) lookups).
    pub fn new(text: &str) -> Self {
        let mut boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        boundaries.push(text.len());
        CharOffsets { boundaries }
    }

    /// Character offset of a byte offset; a byte offset inside a multi-byte
    /// char maps to that char's start.
    pub fn char_of_byte(&self, byte: usize) -> usize {
        match self.boundaries.binary_search(&byte) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    /// Byte offset of a character offset (clamped to the text's end).
    pub fn byte_of_char(&self, ch: usize) -> usize {
        let last = self.boundaries.len() - 1;
        self.boundaries[ch.min(last)]
    }

    /// Number of characters in the text.
    pub fn char_len(&self) -> usize {
        self.boundaries.len() - 1
    }
}

/// The stored structure of a version: page map, section tree, defined terms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredStructure {
    /// Page map in character offsets: (page number, start, end).
    pub pages: Vec<(u32, usize, usize)>,
    /// Sections with character offsets.
    pub sections: Vec<StoredSection>,
    /// Defined terms with character offsets.
    pub terms: Vec<StoredTerm>,
    /// Title from the document's metadata.
    pub title: Option<String>,
}

/// A section of [`StoredStructure`] (character offsets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSection {
    /// Index in the list.
    pub id: u32,
    /// Parent index.
    pub parent: Option<u32>,
    /// Depth from 0.
    pub depth: u8,
    /// Kind, as in [`SectionKind`].
    pub kind: SectionKind,
    /// Label and title, as shown in heading paths.
    pub name: String,
    /// Char offset of the section start.
    pub start: usize,
    /// Char offset one past its end.
    pub end: usize,
}

/// A defined term of [`StoredStructure`] (character offsets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTerm {
    /// The term.
    pub term: String,
    /// Char offset of the definition.
    pub start: usize,
    /// Char offset one past it.
    pub end: usize,
}

impl StoredStructure {
    /// Converts a parsed document's page map and structure to character offsets.
    pub fn build(doc: &ParsedDocument, tree: &SectionTree) -> Self {
        let offsets = CharOffsets::new(&doc.text);
        StoredStructure {
            pages: doc
                .pages
                .iter()
                .map(|p| {
                    (
                        p.number,
                        offsets.char_of_byte(p.start),
                        offsets.char_of_byte(p.end),
                    )
                })
                .collect(),
            sections: tree
                .sections
                .iter()
                .map(|s| StoredSection {
                    id: s.id,
                    parent: s.parent,
                    depth: s.depth,
                    kind: s.kind,
                    name: s.display_name(),
                    start: offsets.char_of_byte(s.start),
                    end: offsets.char_of_byte(s.end),
                })
                .collect(),
            terms: tree
                .terms
                .iter()
                .map(|t| StoredTerm {
                    term: t.term.clone(),
                    start: offsets.char_of_byte(t.start),
                    end: offsets.char_of_byte(t.end),
                })
                .collect(),
            title: doc.title.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_offsets_round_trip_multibyte() {
        let text = "a§b€c";
        let map = CharOffsets::new(text);
        assert_eq!(map.char_len(), 5);
        assert_eq!(map.byte_of_char(2), 3);
        assert_eq!(map.char_of_byte(3), 2);
        assert_eq!(map.char_of_byte(2), 1, "inside § maps to its start");
        assert_eq!(map.byte_of_char(99), text.len());
    }

    #[test]
    fn detects_formats() {
        assert_eq!(
            DocumentFormat::detect("a.PDF", b""),
            Some(DocumentFormat::Pdf)
        );
        assert_eq!(
            DocumentFormat::detect("x", b"%PDF-1.7"),
            Some(DocumentFormat::Pdf)
        );
        assert_eq!(
            DocumentFormat::detect("x", b"  <!DOCTYPE html><html>"),
            Some(DocumentFormat::Html)
        );
        assert_eq!(DocumentFormat::detect("a.exe", b"MZ"), None);
        assert_eq!(
            DocumentFormat::detect("notes", b"hello"),
            Some(DocumentFormat::Text)
        );
    }

    #[test]
    fn section_path_skips_to_root() {
        let mk = |id, parent, label: &str, title: &str| Section {
            id,
            parent,
            depth: 0,
            kind: SectionKind::Section,
            label: label.into(),
            title: title.into(),
            heading_start: 0,
            heading_end: 0,
            start: 0,
            end: 10,
        };
        let tree = SectionTree {
            sections: vec![
                mk(0, None, "Article 9", "Termination"),
                mk(1, Some(0), "9.2", ""),
            ],
            terms: vec![],
        };
        assert_eq!(tree.path(1), vec!["Article 9 Termination", "9.2"]);
    }
}

/// Counts tokens the way the embedder will see them, so chunk sizes are
/// measured in the unit that matters (the embedder's context window).
pub trait TokenCounter: Send + Sync {
    /// Number of tokens in `text`, special tokens excluded.
    fn count_tokens(&self, text: &str) -> usize;
}

/// A rough counter (one token per whitespace-separated word, plus one per
/// punctuation run) for tests and for tools that run without a model.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApproxTokenCounter;

impl TokenCounter for ApproxTokenCounter {
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace()
            .map(|word| 1 + word.chars().filter(|c| c.is_ascii_punctuation()).count() / 2)
            .sum()
    }
}
