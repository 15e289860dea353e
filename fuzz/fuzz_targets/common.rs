// Shared by the parser targets: limits small enough that one input cannot spend
// libFuzzer's whole time budget, large enough to reach every code path.
use std::time::Duration;

use folio_common::model::{DocumentFormat, ParsedDocument};
use folio_ingest::parse::{parse, ParseLimits};

pub fn limits() -> ParseLimits {
    ParseLimits {
        max_input_bytes: 4 * 1024 * 1024,
        max_unzipped_bytes: 32 * 1024 * 1024,
        max_pages: 500,
        max_output_chars: 2_000_000,
        max_parse_time: Duration::from_secs(2),
        ..ParseLimits::default()
    }
}

/// pdf-extract panics on some malformed files; the PDF parser contains that with
/// `catch_unwind`. libFuzzer's panic hook would abort on the contained panic too,
/// so the hook is made silent: a panic that escapes the parser still aborts (the
/// fuzz harness catches it and reports a crash).
pub fn contain_library_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

/// Parses and checks what every parser promises: pages cover the text in order,
/// heading and table hints point inside it.
pub fn parse_and_check(format: DocumentFormat, data: &[u8]) -> Option<ParsedDocument> {
    contain_library_panics();
    let doc = parse(format, data, &limits()).ok()?;
    // Offsets are bytes and must fall on character boundaries.
    let text = &doc.text;
    let on_boundary = |at: usize| at <= text.len() && text.is_char_boundary(at);
    let mut at = 0;
    for page in &doc.pages {
        assert!(
            page.start >= at
                && page.start <= page.end
                && on_boundary(page.start)
                && on_boundary(page.end),
            "page {page:?} of {} bytes",
            text.len()
        );
        at = page.end;
    }
    for hint in &doc.headings {
        assert!(
            hint.start <= hint.end && on_boundary(hint.start) && on_boundary(hint.end),
            "heading hint {hint:?}"
        );
    }
    Some(doc)
}
