#![no_main]
//! Text or Markdown through the parser, the structurizer and the chunker: every
//! section lies inside the text with its heading inside it, and every chunk is
//! the exact slice of the canonical text its character offsets name.

use folio_common::model::{ApproxTokenCounter, DocumentFormat};
use folio_ingest::chunk::{chunk_document, ChunkOptions};
use folio_ingest::structure::structurize;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        DocumentFormat::Text
    } else {
        DocumentFormat::Markdown
    };
    let Some(doc) = common::parse_and_check(format, body) else {
        return;
    };
    let tree = structurize(&doc);
    let bytes = doc.text.len();
    for section in &tree.sections {
        assert!(
            section.start <= section.end && section.end <= bytes,
            "{section:?}"
        );
        assert!(
            section.start <= section.heading_start && section.heading_end <= section.end,
            "{section:?}"
        );
        if let Some(parent) = section.parent {
            assert!(
                tree.sections.iter().any(|s| s.id == parent),
                "dangling parent in {section:?}"
            );
        }
    }
    // Small sizes so that short inputs are split too.
    let options = ChunkOptions {
        target_tokens: 24 + (selector as usize >> 1) % 64,
        max_tokens: 128,
        min_tokens: 8,
    };
    let chars: Vec<char> = doc.text.chars().collect();
    for chunk in chunk_document(&doc, &tree, &ApproxTokenCounter, &options) {
        assert!(
            chunk.char_start < chunk.char_end && chunk.char_end <= chars.len(),
            "{chunk:?}"
        );
        let slice: String = chars[chunk.char_start..chunk.char_end].iter().collect();
        assert_eq!(
            slice, chunk.text,
            "chunk {} is not its slice",
            chunk.ordinal
        );
    }
});
