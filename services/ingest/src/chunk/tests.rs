use folio_common::model::{ApproxTokenCounter, PageRange, ParsedDocument, TableHint};

use super::*;
use crate::structure::structurize;

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

fn options(target: usize, max: usize, min: usize) -> ChunkOptions {
    ChunkOptions {
        target_tokens: target,
        max_tokens: max,
        min_tokens: min,
    }
}

fn chunk(d: &ParsedDocument, o: &ChunkOptions) -> (SectionTree, Vec<ChunkDraft>) {
    let tree = structurize(d);
    let chunks = chunk_document(d, &tree, &ApproxTokenCounter, o);
    validate_chunks(d, &tree, &chunks, o).unwrap();
    (tree, chunks)
}

#[test]
fn small_sections_merge_under_their_parent() {
    let text = "ARTICLE I DEFINITIONS\n\n1.1 \"A\" means a.\n\n1.2 \"B\" means b.\n\n\
                ARTICLE II PAYMENT\n\n2.1 Fees. Customer pays fees monthly.\n";
    let d = doc(text);
    let (tree, chunks) = chunk(&d, &options(300, 480, 40));
    // Both articles are small: each fits whole; the root merges them.
    assert_eq!(chunks.len(), 1, "{chunks:#?}");
    assert_eq!(chunks[0].section, None);
    assert_eq!(chunks[0].text, text.trim());
    // With a tiny target, each article stays separate and its sections merge.
    let (_, chunks) = chunk(&d, &options(12, 20, 10));
    let owners: Vec<Option<u32>> = chunks.iter().map(|c| c.section).collect();
    assert!(owners.iter().all(|o| o.is_some()), "{chunks:#?}");
    assert_eq!(chunks[0].heading_path, tree.path(0));
}

#[test]
fn long_sections_split_at_sentences_within_target() {
    let mut text = String::from("1. Scope. ");
    for i in 0..200 {
        text.push_str(&format!("Sentence number {i} says something about scope. "));
    }
    text.push_str("\n\n2. Price. The price is fixed.\n");
    let d = doc(&text);
    let (tree, chunks) = chunk(&d, &options(50, 80, 10));
    assert!(chunks.len() > 10);
    for c in &chunks {
        assert!(c.token_count <= 50, "{} tokens", c.token_count);
        assert!(
            c.text.ends_with('.'),
            "split at a sentence end: {:?}",
            c.text
        );
    }
    let last = chunks.last().unwrap();
    assert_eq!(last.section, Some(1));
    assert_eq!(last.heading_path, tree.path(1));
}

#[test]
fn tables_split_by_rows_repeat_their_header() {
    let mut text = String::from("Intro paragraph.\n\n");
    let table_start = text.len();
    text.push_str("| Year | Revenue |\n");
    let header_end = text.len();
    for year in 2000..2060 {
        text.push_str(&format!("| {year} | {} |\n", year * 3));
    }
    let table_end = text.len() - 1;
    text.push_str("\nAfter the table.\n");
    let mut d = doc(&text);
    d.tables = vec![TableHint {
        start: table_start,
        end: table_end,
        header_end,
    }];
    let o = options(60, 100, 10);
    let (_, chunks) = chunk(&d, &o);
    let table_chunks: Vec<&ChunkDraft> = chunks
        .iter()
        .filter(|c| c.start >= table_start && c.end <= table_end)
        .collect();
    assert!(table_chunks.len() > 2);
    assert!(table_chunks[0].text.starts_with("| Year | Revenue |"));
    assert_eq!(table_chunks[0].context_header, None);
    for c in &table_chunks[1..] {
        assert_eq!(c.context_header.as_deref(), Some("| Year | Revenue |"));
        assert!(
            c.text.starts_with("| 20"),
            "rows split at line starts: {:?}",
            c.text
        );
    }
    // A table that fits stays whole.
    let (_, chunks) = chunk(&d, &options(2000, 3000, 10));
    assert_eq!(chunks.len(), 1);
}

#[test]
fn pages_and_char_offsets_follow_multibyte_text() {
    let text = "Première page — été.\x0cDeuxième page: €100.\x0cTroisième.";
    let d = doc(text);
    let (_, chunks) = chunk(&d, &options(3, 6, 1));
    assert!(chunks.len() >= 3);
    let first = &chunks[0];
    assert_eq!(first.page_start, 1);
    let last = chunks.last().unwrap();
    assert_eq!(last.page_end, 3);
    assert_eq!(last.char_end, text.chars().count());
}

#[test]
fn an_overlong_word_stays_whole() {
    let word = "x".repeat(50);
    let text = format!("short words here {word} and more words\n");
    let d = doc(&text);
    let counter = |s: &str| s.len() / 5;
    struct ByLength<F>(F);
    impl<F: Fn(&str) -> usize + Send + Sync> TokenCounter for ByLength<F> {
        fn count_tokens(&self, text: &str) -> usize {
            (self.0)(text)
        }
    }
    let tree = structurize(&d);
    let o = options(4, 6, 1);
    let chunks = chunk_document(&d, &tree, &ByLength(counter), &o);
    validate_chunks(&d, &tree, &chunks, &o).unwrap();
    assert!(chunks.iter().any(|c| c.text == word && c.token_count == 10));
}

#[test]
fn validation_catches_broken_chunks() {
    let text = "1. First. Alpha beta.\n\n2. Second. Gamma delta.\n";
    let d = doc(text);
    let o = options(300, 480, 0);
    let tree = structurize(&d);
    let mut chunks = chunk_document(&d, &tree, &ApproxTokenCounter, &o);
    assert_eq!(chunks.len(), 2);
    validate_chunks(&d, &tree, &chunks, &o).unwrap();
    let mut crossing = chunks.clone();
    crossing[0].end = crossing[1].start + 5;
    crossing[0].text = text[crossing[0].start..crossing[0].end].to_string();
    crossing[0].char_end = crossing[0].end;
    crossing.remove(1);
    let verdict = validate_chunks(&d, &tree, &crossing, &o);
    assert!(
        matches!(verdict, Err(ChunkError::CrossesSection { .. })),
        "{verdict:?} {crossing:#?}"
    );
    chunks.pop();
    assert!(matches!(
        validate_chunks(&d, &tree, &chunks, &o),
        Err(ChunkError::Uncovered { .. })
    ));
}

#[test]
fn empty_and_blank_documents_have_no_chunks() {
    for text in ["", "  \n\x0c\n  "] {
        let d = doc(text);
        let (_, chunks) = chunk(&d, &ChunkOptions::default());
        assert!(chunks.is_empty());
    }
}
