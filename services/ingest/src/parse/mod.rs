//! Parsers: uploaded bytes in, one canonical UTF-8 text out.
//!
//! Every format ends in the same [`ParsedDocument`]: a canonical text that all
//! later offsets (chunks, citations, highlights) point into, a page map that
//! covers it, and the headings and tables the source markup made explicit.
//! Pages are joined with a form feed (`'\f'`); the form feed belongs to the
//! page it ends, so page `n + 1` starts right after it (the convention of the
//! evaluation set's `.txt` files).
//!
//! Documents are untrusted. Each parser bounds its work by [`ParseLimits`],
//! checks sizes before decompressing or allocating, never expands XML
//! entities, never runs scripts, and turns a panic inside a third-party
//! decoder into [`ParseError::Corrupt`] instead of taking the worker down.

use std::time::Duration;

use folio_common::model::{DocumentFormat, ParsedDocument};

mod builder;
mod docx;
mod html;
mod isolate;
mod markdown;
mod pdf;
mod pdf_streams;
mod text;

pub use isolate::{serve_child, ChildLimits, DocumentParser, CHILD_SUBCOMMAND};

/// Resource limits applied while parsing one document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParseLimits {
    /// Largest accepted input, in bytes; checked before any work.
    pub max_input_bytes: u64,
    /// Most bytes a DOCX may decompress to, all entries together.
    pub max_unzipped_bytes: u64,
    /// Highest decompressed/compressed ratio accepted for a large ZIP entry.
    pub max_zip_ratio: u64,
    /// Most pages a document may have.
    pub max_pages: u32,
    /// Most characters the canonical text may have.
    pub max_output_chars: usize,
    /// Most entries a DOCX archive may list.
    pub max_zip_entries: usize,
    /// Wall-clock budget for parsing one document, checked between pages and
    /// within a page as glyphs come out.
    pub max_parse_time: Duration,
    /// Most bytes one PDF stream may decode to, whatever its filter chain.
    pub max_stream_decoded_bytes: u64,
    /// Most bytes all of a PDF's streams may decode to together.
    pub max_decoded_bytes: u64,
    /// Most content one PDF page may run: its content streams as often as
    /// they are listed and its forms as often as they are called.
    pub max_page_content_bytes: u64,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_input_bytes: 64 * 1024 * 1024,
            max_unzipped_bytes: 512 * 1024 * 1024,
            max_zip_ratio: 200,
            max_pages: 5_000,
            max_output_chars: 20_000_000,
            max_zip_entries: 10_000,
            max_parse_time: Duration::from_secs(300),
            max_stream_decoded_bytes: 32 * 1024 * 1024,
            max_decoded_bytes: 256 * 1024 * 1024,
            max_page_content_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why a document could not be parsed. Permanent for the given bytes: the
/// job fails with [`ParseError::code`] as its reason and the message for
/// the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but whitespace (or nothing at all).
    #[error("the document is empty")]
    Empty,
    /// A size limit was exceeded.
    #[error("the document is too large: {what} is {actual}, the limit is {limit}")]
    TooLarge {
        /// What was measured (`"input bytes"`, `"pages"`, `"text characters"`).
        what: &'static str,
        /// The measured amount (a lower bound when counting stopped early).
        actual: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The file is password-protected.
    #[error("the document is encrypted; upload a copy without a password")]
    Encrypted,
    /// The bytes are not a valid file of the declared format.
    #[error("the file is damaged or malformed: {0}")]
    Corrupt(String),
    /// A PDF without extractable text (typically a scan; Folio does no OCR).
    #[error("the PDF has no text layer (a scanned image?); Folio does not do OCR")]
    NoTextLayer,
    /// The input is binary data, not text.
    #[error("the file looks like binary data, not text")]
    Binary,
    /// Text in an encoding Folio cannot decode.
    #[error("unsupported text encoding: {0}")]
    UnsupportedEncoding(String),
    /// A format Folio recognises but does not parse (e.g. legacy `.doc`).
    #[error("unsupported file type: {0}")]
    Unsupported(String),
    /// Compressed content (DOCX entries, PDF streams) that would inflate out
    /// of proportion.
    #[error("the file looks like a decompression bomb: {0}")]
    ZipBomb(String),
    /// XML with a DOCTYPE or entity declarations, which Folio never expands.
    #[error("the document contains forbidden XML: {0}")]
    ForbiddenXml(String),
    /// Decoding would pass a decoded-size limit (a stream, a page's content,
    /// the whole document), or the parser ran out of its memory limit.
    #[error("the document decodes to too much data: {0}")]
    DecodedTooLarge(String),
    /// The parser process died (a crash in a decoder); the server carried on.
    #[error("the parser crashed on this document: {0}")]
    Crashed(String),
    /// Extraction ran past [`ParseLimits::max_parse_time`].
    #[error("parsing took longer than the limit of {limit_secs} s")]
    Timeout {
        /// The configured limit in seconds.
        limit_secs: u64,
    },
}

impl ParseError {
    /// Stable snake_case code of the variant, recorded as the job's failure
    /// reason and returned by the API.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::Empty => "empty_document",
            ParseError::TooLarge { .. } => "too_large",
            ParseError::Encrypted => "encrypted",
            ParseError::Corrupt(_) => "corrupt",
            ParseError::NoTextLayer => "no_text_layer",
            ParseError::Binary => "binary_content",
            ParseError::UnsupportedEncoding(_) => "unsupported_encoding",
            ParseError::Unsupported(_) => "unsupported_format",
            ParseError::ZipBomb(_) => "zip_bomb",
            ParseError::ForbiddenXml(_) => "forbidden_xml",
            ParseError::DecodedTooLarge(_) => "decoded_too_large",
            ParseError::Crashed(_) => "parser_crashed",
            ParseError::Timeout { .. } => "parse_timeout",
        }
    }
}

/// Parses `bytes` as `format` into the canonical text and its layout hints.
///
/// Errors are permanent for these bytes (retrying will not help); a panic in
/// a decoder is reported as [`ParseError::Corrupt`].
pub fn parse(
    format: DocumentFormat,
    bytes: &[u8],
    limits: &ParseLimits,
) -> Result<ParsedDocument, ParseError> {
    let size = bytes.len() as u64;
    if size > limits.max_input_bytes {
        return Err(ParseError::TooLarge {
            what: "input bytes",
            actual: size,
            limit: limits.max_input_bytes,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let doc = match format {
        DocumentFormat::Pdf => pdf::parse_pdf(bytes, limits)?,
        DocumentFormat::Html => html::parse_html(bytes, limits)?,
        DocumentFormat::Docx => docx::parse_docx(bytes, limits)?,
        DocumentFormat::Text => text::parse_text(bytes, limits)?,
        DocumentFormat::Markdown => markdown::parse_markdown(bytes, limits)?,
    };
    if doc.text.trim().is_empty() {
        return Err(match format {
            DocumentFormat::Pdf => ParseError::NoTextLayer,
            _ => ParseError::Empty,
        });
    }
    check_output_limits(&doc, limits)?;
    debug_assert!(
        layout_is_consistent(&doc),
        "parser produced inconsistent offsets"
    );
    Ok(doc)
}

/// Applies the page and text-size limits to a finished document.
fn check_output_limits(doc: &ParsedDocument, limits: &ParseLimits) -> Result<(), ParseError> {
    if doc.pages.len() as u64 > u64::from(limits.max_pages) {
        return Err(ParseError::TooLarge {
            what: "pages",
            actual: doc.pages.len() as u64,
            limit: u64::from(limits.max_pages),
        });
    }
    // Bytes bound chars from above: count only when the cheap bound fails.
    if doc.text.len() > limits.max_output_chars {
        let chars = doc.text.chars().count();
        if chars > limits.max_output_chars {
            return Err(ParseError::TooLarge {
                what: "text characters",
                actual: chars as u64,
                limit: limits.max_output_chars as u64,
            });
        }
    }
    Ok(())
}

/// The invariants every parser promises: pages in order, contiguous and
/// covering the text; every hint inside the text, on char boundaries, in
/// order.
fn layout_is_consistent(doc: &ParsedDocument) -> bool {
    let text = &doc.text;
    let on_boundary = |at: usize| at <= text.len() && text.is_char_boundary(at);
    let pages_ok =
        !doc.pages.is_empty()
            && doc.pages.first().is_some_and(|p| p.start == 0)
            && doc.pages.last().is_some_and(|p| p.end == text.len())
            && doc.pages.windows(2).all(|w| w[0].end == w[1].start)
            && doc.pages.iter().enumerate().all(|(i, p)| {
                p.number as usize == i + 1 && p.start <= p.end && on_boundary(p.start)
            });
    let headings_ok = doc
        .headings
        .iter()
        .all(|h| h.start < h.end && on_boundary(h.start) && on_boundary(h.end) && h.level >= 1)
        && doc.headings.windows(2).all(|w| w[0].end <= w[1].start);
    let tables_ok = doc.tables.iter().all(|t| {
        t.start <= t.header_end
            && t.header_end <= t.end
            && on_boundary(t.start)
            && on_boundary(t.header_end)
            && on_boundary(t.end)
    }) && doc.tables.windows(2).all(|w| w[0].end <= w[1].start);
    pages_ok && headings_ok && tables_ok
}

/// Builds the page map of a text whose pages are separated by form feeds:
/// each form feed ends its page, the next page starts right after it.
pub(crate) fn pages_split_at_form_feeds(text: &str) -> Vec<folio_common::model::PageRange> {
    let mut pages = Vec::new();
    let mut start = 0;
    for (at, _) in text.match_indices('\u{c}') {
        pages.push(folio_common::model::PageRange {
            number: pages.len() as u32 + 1,
            start,
            end: at + 1,
        });
        start = at + 1;
    }
    pages.push(folio_common::model::PageRange {
        number: pages.len() as u32 + 1,
        start,
        end: text.len(),
    });
    pages
}

/// One error of every kind (tests of codes and of the parser process's replies).
#[cfg(test)]
pub(crate) fn one_of_each_error() -> Vec<ParseError> {
    vec![
        ParseError::Empty,
        ParseError::TooLarge {
            what: "pages",
            actual: 9,
            limit: 5,
        },
        ParseError::Encrypted,
        ParseError::Corrupt("bad xref".into()),
        ParseError::NoTextLayer,
        ParseError::Binary,
        ParseError::UnsupportedEncoding("UTF-32".into()),
        ParseError::Unsupported("doc".into()),
        ParseError::ZipBomb("ratio".into()),
        ParseError::ForbiddenXml("DOCTYPE".into()),
        ParseError::Timeout { limit_secs: 30 },
        ParseError::DecodedTooLarge("page 3".into()),
        ParseError::Crashed("killed by signal 11".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_feeds_end_their_pages() {
        let pages = pages_split_at_form_feeds("a\n\u{c}b\n\u{c}c");
        let spans: Vec<_> = pages.iter().map(|p| (p.number, p.start, p.end)).collect();
        assert_eq!(spans, vec![(1, 0, 3), (2, 3, 6), (3, 6, 7)]);
    }

    #[test]
    fn oversize_input_is_rejected_before_parsing() {
        let limits = ParseLimits {
            max_input_bytes: 4,
            ..ParseLimits::default()
        };
        let err = parse(DocumentFormat::Text, b"hello", &limits).unwrap_err();
        assert_eq!(err.code(), "too_large");
    }

    #[test]
    fn codes_are_distinct() {
        let errors = one_of_each_error();
        let mut codes: Vec<_> = errors.iter().map(ParseError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
    }
}
