//! Structurizer and chunker tests: invariants over random documents
//! (proptest), the dev evaluation set (38 real contracts and filings), and
//! chunk sizes measured with the real embedder tokenizer.

use std::path::{Path, PathBuf};
use std::time::Instant;

use folio_common::model::{
    ApproxTokenCounter, HeadingHint, PageRange, ParsedDocument, SectionKind, SectionTree,
    TableHint, TokenCounter,
};
use folio_ingest::chunk::{chunk_document, validate_chunks, ChunkOptions};
use folio_ingest::structure::{structure_report, structurize};
use proptest::prelude::*;

const DEV_DOCS: &str = "/work/shared/eval/docs";
const TOKENIZER: &str = "models/all-minilm-l6-v2/tokenizer.json";

/// Builds a document the way the TXT parser does: text as-is, one page per
/// form feed (the form feed ends its page), no markup hints.
fn text_document(text: String) -> ParsedDocument {
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
    if pages.is_empty() {
        pages.push(PageRange {
            number: 1,
            start: 0,
            end: 0,
        });
    }
    ParsedDocument {
        text,
        pages,
        ..Default::default()
    }
}

fn dev_docs() -> Option<Vec<(String, ParsedDocument)>> {
    let dir = Path::new(DEV_DOCS);
    if !dir.is_dir() {
        println!("skipping: {DEV_DOCS} is missing");
        return None;
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    Some(
        paths
            .into_iter()
            .map(|p| {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&p).unwrap();
                (name, text_document(text))
            })
            .collect(),
    )
}

/// Pre-order, ids in order, children inside parents and after the previous
/// sibling, depth = parent depth + 1, headings inside their section.
fn assert_tree_well_formed(tree: &SectionTree, text: &str) {
    let mut last_child_end: Vec<usize> = vec![0; tree.sections.len()];
    let mut last_root_end = 0usize;
    for (i, s) in tree.sections.iter().enumerate() {
        assert_eq!(s.id as usize, i);
        assert!(
            s.start <= s.heading_start && s.heading_start < s.heading_end,
            "{s:?}"
        );
        assert!(s.heading_end <= s.end && s.end <= text.len(), "{s:?}");
        assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
        match s.parent {
            Some(p) => {
                let parent = &tree.sections[p as usize];
                assert!(
                    p < s.id && parent.start < s.start && s.end <= parent.end,
                    "{s:?} in {parent:?}"
                );
                assert!(
                    s.start >= last_child_end[p as usize],
                    "siblings overlap: {s:?}"
                );
                assert_eq!(s.depth, parent.depth + 1);
                last_child_end[p as usize] = s.end;
            }
            None => {
                assert_eq!(s.depth, 0);
                assert!(s.start >= last_root_end);
                last_root_end = s.end;
            }
        }
    }
    // A section ends where the next one at the same or a higher level starts.
    for (i, s) in tree.sections.iter().enumerate() {
        let next_same_or_higher = tree.sections[i + 1..].iter().find(|t| t.depth <= s.depth);
        let parent_end = s
            .parent
            .map_or(text.len(), |p| tree.sections[p as usize].end);
        let expected = next_same_or_higher.map_or(parent_end, |t| t.start.min(parent_end));
        assert_eq!(s.end, expected, "end of {s:?}");
    }
    for term in &tree.terms {
        assert!(term.start < term.end && term.end <= text.len(), "{term:?}");
        let definition: String = text[term.start..term.end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            definition.contains(&term.term),
            "{term:?} not in {definition:?}"
        );
        if let Some(id) = term.section {
            let s = &tree.sections[id as usize];
            assert!(s.start <= term.start && term.start < s.end);
        }
    }
}

// ---------------------------------------------------------------- proptest

#[derive(Debug, Clone)]
enum Block {
    Heading(String),
    Markup(u8, String),
    Paragraph(Vec<String>),
    Table(usize, usize),
    PageBreak,
    Blank,
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,9}",
        "[A-Z][a-z]{1,8}",
        Just("Section 4.2".to_string()),
        Just("(a)".to_string()),
        Just("été".to_string()),
        Just("€100".to_string()),
        Just("中文字符".to_string()),
        Just("naïve—“quoted”".to_string()),
        Just("🙂".to_string()),
        "[a-z]{30,60}",
    ]
}

fn sentence() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(word(), 1..25),
        prop_oneof![Just("."), Just(";"), Just(""), Just(". ")],
    )
        .prop_map(|(words, end)| {
            let mut s = words.join(" ");
            if let Some(first) = s.get(..1) {
                s = first.to_uppercase() + &s[1..];
            }
            s + end
        })
}

fn heading() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u32..12).prop_map(|n| format!("ARTICLE {n}")),
        (1u32..12, 1u32..9).prop_map(|(a, b)| format!("Section {a}.{b} Payment Terms")),
        (1u32..12, 1u32..9).prop_map(|(a, b)| format!("{a}.{b} \"Term{b}\" means a thing.")),
        (1u32..20).prop_map(|n| format!("{n}. DEFINITIONS")),
        (0u8..26).prop_map(|c| format!("({}) a clause follows here", (b'a' + c) as char)),
        prop_oneof![Just("i"), Just("ii"), Just("iv"), Just("x")]
            .prop_map(|r| format!("({r}) roman clause")),
        (1u32..16).prop_map(|n| format!("Item {n}. Business")),
        (1u32..25).prop_map(|n| format!("NOTE {n} — INCOME TAXES")),
        Just("PART II".to_string()),
        Just("EXHIBIT A".to_string()),
        Just("GENERAL PROVISIONS".to_string()),
        Just("  RECITALS  ".to_string()),
        Just("Table of Contents".to_string()),
        (1u32..99).prop_map(|n| format!("{n}")),
    ]
}

fn block() -> impl Strategy<Value = Block> {
    prop_oneof![
        3 => heading().prop_map(Block::Heading),
        1 => (1u8..4, "[A-Z][a-z]{2,10}( [a-z]{2,8}){0,3}").prop_map(|(l, t)| Block::Markup(l, t)),
        5 => prop::collection::vec(sentence(), 1..8).prop_map(Block::Paragraph),
        1 => (0usize..3, 1usize..30).prop_map(|(h, r)| Block::Table(h, r)),
        1 => Just(Block::PageBreak),
        2 => Just(Block::Blank),
    ]
}

fn render(blocks: &[Block]) -> ParsedDocument {
    let mut text = String::new();
    let mut headings = Vec::new();
    let mut tables = Vec::new();
    for block in blocks {
        match block {
            Block::Heading(h) => {
                text.push_str(h);
                text.push('\n');
            }
            Block::Markup(level, title) => {
                let start = text.len();
                text.push_str(&"#".repeat(usize::from(*level)));
                text.push(' ');
                text.push_str(title);
                headings.push(HeadingHint {
                    start,
                    end: text.len(),
                    level: *level,
                });
                text.push('\n');
            }
            Block::Paragraph(sentences) => {
                text.push_str(&sentences.join(" "));
                text.push_str("\n\n");
            }
            Block::Table(header_rows, rows) => {
                let start = text.len();
                let mut header_end = start;
                for r in 0..header_rows + rows {
                    text.push_str(&format!("| row {r} | é {} | 中 |", r * 7));
                    if r + 1 == *header_rows {
                        header_end = text.len();
                    }
                    if r + 1 < header_rows + rows {
                        text.push('\n');
                    }
                }
                tables.push(TableHint {
                    start,
                    end: text.len(),
                    header_end,
                });
                text.push('\n');
            }
            Block::PageBreak => text.push('\x0c'),
            Block::Blank => text.push_str("\n  \n"),
        }
    }
    let mut doc = text_document(text);
    doc.headings = headings;
    doc.tables = tables;
    doc
}

fn chunk_options() -> impl Strategy<Value = ChunkOptions> {
    (3usize..200, 0usize..100, 0usize..60).prop_map(|(target, extra, min)| ChunkOptions {
        target_tokens: target,
        max_tokens: target + extra,
        min_tokens: min,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn chunks_are_exact_ordered_covering_and_inside_sections(
        blocks in prop::collection::vec(block(), 0..40),
        options in chunk_options(),
    ) {
        let doc = render(&blocks);
        let tree = structurize(&doc);
        assert_tree_well_formed(&tree, &doc.text);
        let chunks = chunk_document(&doc, &tree, &ApproxTokenCounter, &options);
        if let Err(e) = validate_chunks(&doc, &tree, &chunks, &options) {
            return Err(TestCaseError::fail(format!("{e}\ntext: {:?}\nchunks: {chunks:#?}", doc.text)));
        }
        // Markup headings are trusted: each one opens a section.
        for hint in &doc.headings {
            prop_assert!(tree.sections.iter().any(|s| s.heading_start == hint.start && s.kind != SectionKind::Clause));
        }
    }
}

// ------------------------------------------------------------ dev set

/// Structurizes and chunks all dev documents, checks every invariant, and
/// prints the per-document report (run with `--nocapture` to see it).
#[test]
fn dev_set_report_and_invariants() {
    let Some(docs) = dev_docs() else {
        return;
    };
    assert_eq!(
        docs.len(),
        38,
        "the dev set has 18 contracts and 20 filings"
    );
    check_page_map(&docs);
    let options = ChunkOptions::default();
    let mut problems = Vec::new();
    for (name, doc) in &docs {
        let tree = structurize(doc);
        assert_tree_well_formed(&tree, &doc.text);
        let chunks = chunk_document(doc, &tree, &ApproxTokenCounter, &options);
        if let Err(e) = validate_chunks(doc, &tree, &chunks, &options) {
            panic!("{name}: {e}");
        }
        let items = tree
            .sections
            .iter()
            .filter(|s| s.kind == SectionKind::Item)
            .count();
        if name.ends_with("10K") && !(12..=24).contains(&items) {
            // A 10-K has Items 1, 1A, 1B, 2-4, 5-9B, 10-14, 15 (±).
            problems.push(format!("{name}: {items} Items"));
        }
        if name.starts_with("cuad-") {
            if tree.sections.len() < 10 {
                problems.push(format!("{name}: {} sections", tree.sections.len()));
            }
            if tree.terms.is_empty() {
                problems.push(format!("{name}: no defined terms"));
            }
        }
    }
    let started = Instant::now();
    let report = structure_report(&docs, &ApproxTokenCounter, &options);
    println!("{report}");
    println!("wall time for the report: {:.2?}", started.elapsed());
    assert_eq!(report.documents.len(), 38);
    if report.heading_path_share < 0.9 {
        problems.push(format!(
            "overall heading path share {:.3}",
            report.heading_path_share
        ));
    }
    for d in &report.documents {
        if d.heading_path_share < 0.6 {
            problems.push(format!(
                "{}: heading path share {:.3}",
                d.name, d.heading_path_share
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["documents"].as_array().map(Vec::len), Some(38));
}

/// The dev-set report with chunk sizes counted by the real MiniLM tokenizer
/// (slower: `--ignored`).
#[test]
#[ignore]
fn dev_set_report_with_the_embedder_tokenizer() {
    let (Some(docs), Some(tokenizer)) = (dev_docs(), embedder_tokenizer()) else {
        return;
    };
    let options = ChunkOptions::default();
    let report = structure_report(&docs, &tokenizer, &options);
    println!("{report}");
    assert!(report
        .documents
        .iter()
        .all(|d| d.max_chunk_tokens as usize <= options.max_tokens));
}

/// The TXT page map agrees with the page starts recorded in docs.jsonl
/// (character offsets), so chunk pages match the gold evidence pages.
fn check_page_map(docs: &[(String, ParsedDocument)]) {
    let Ok(meta) = std::fs::read_to_string(Path::new(DEV_DOCS).with_file_name("docs.jsonl")) else {
        return;
    };
    for line in meta.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        let (Some(id), Some(starts)) = (entry["doc_id"].as_str(), entry["page_starts"].as_array())
        else {
            continue;
        };
        let Some((_, doc)) = docs.iter().find(|(n, _)| n == id) else {
            continue;
        };
        let chars = folio_common::model::CharOffsets::new(&doc.text);
        let ours: Vec<u64> = doc
            .pages
            .iter()
            .map(|p| chars.char_of_byte(p.start) as u64)
            .collect();
        let theirs: Vec<u64> = starts.iter().filter_map(|v| v.as_u64()).collect();
        assert_eq!(ours, theirs, "{id}: page starts");
    }
}

/// Prints the heading paths of one contract and one 10-K, for inspection:
/// `cargo test --release -p folio-ingest --test integration print_dev_trees
/// -- --ignored --nocapture` (set `FOLIO_DOCS=name1,name2` to choose).
#[test]
#[ignore]
fn print_dev_trees() {
    let Some(mut docs) = dev_docs() else {
        return;
    };
    if let Ok(file) = std::env::var("FOLIO_FILE") {
        let text = std::fs::read_to_string(&file).unwrap();
        docs.push(("file".to_string(), text_document(text)));
    }
    let wanted = std::env::var("FOLIO_DOCS").unwrap_or_else(|_| {
        "cuad-CORIOINC_07_20_2000-EX-10.5-LICENSE_AND_HOSTING_AGREEMENT,fb-ADOBE_2022_10K"
            .to_string()
    });
    for name in wanted.split(',') {
        let Some((_, doc)) = docs.iter().find(|(n, _)| n == name) else {
            println!("no document {name}");
            continue;
        };
        let tree = structurize(doc);
        println!(
            "=== {name}: {} sections, {} terms",
            tree.sections.len(),
            tree.terms.len()
        );
        for s in &tree.sections {
            if s.kind == SectionKind::Clause && std::env::var("FOLIO_CLAUSES").is_err() {
                continue;
            }
            let line = doc.text[..s.start].matches('\n').count() + 1;
            println!(
                "{line:>6} {:indent$}{:?} {}",
                "",
                s.kind,
                s.display_name(),
                indent = usize::from(s.depth) * 2
            );
        }
        if std::env::var("FOLIO_NOPATH").is_ok() {
            let chunks = chunk_document(doc, &tree, &ApproxTokenCounter, &ChunkOptions::default());
            for c in chunks.iter().filter(|c| c.heading_path.is_empty()) {
                let head: String = c.text.chars().take(100).collect();
                println!(
                    "no path: chunk {} ({} tokens): {head:?}",
                    c.ordinal, c.token_count
                );
            }
        }
        if std::env::var("FOLIO_TERMS").is_ok() {
            for t in &tree.terms {
                println!(
                    "term {:?} [{}]: {:?}",
                    t.term,
                    t.section
                        .map_or(String::new(), |s| tree.path(s).join(" › ")),
                    &doc.text[t.start..t.end]
                );
            }
        }
    }
}

// ---------------------------------------------------- real tokenizer

struct WordPiece(tokenizers::Tokenizer);

impl TokenCounter for WordPiece {
    fn count_tokens(&self, text: &str) -> usize {
        self.0.encode(text, false).map_or(0, |e| e.len())
    }
}

fn embedder_tokenizer() -> Option<WordPiece> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(TOKENIZER);
    if !path.is_file() {
        println!("skipping: {} is missing", path.display());
        return None;
    }
    let mut tokenizer = tokenizers::Tokenizer::from_file(&path).unwrap();
    // Counting must see whole texts, not the embedder's truncated window.
    tokenizer.with_truncation(None).unwrap();
    tokenizer.with_padding(None);
    Some(WordPiece(tokenizer))
}

/// Chunk sizes hold under the real MiniLM WordPiece tokenizer (which counts
/// numbers, punctuation and rare words very differently from the
/// approximation), on one contract, one 10-K and a synthetic table.
#[test]
fn chunk_sizes_hold_with_the_embedder_tokenizer() {
    let Some(tokenizer) = embedder_tokenizer() else {
        return;
    };
    let options = ChunkOptions::default();
    let mut docs: Vec<(String, ParsedDocument)> = Vec::new();
    if let Some(dev) = dev_docs() {
        let wanted = [
            "cuad-GOOSEHEADINSURANCE_INC_04_02_2018-EX-10.6-Franchise_Agreement",
            "fb-ADOBE_2022_10K",
        ];
        docs.extend(
            dev.into_iter()
                .filter(|(n, _)| wanted.contains(&n.as_str())),
        );
    }
    let mut table = String::from("| Segment | 2022 | 2021 |\n");
    let header_end = table.len() - 1;
    for i in 0..400 {
        table.push_str(&format!(
            "| Digital Media subscription revenue {i} | $ 12,{i:03}.5 | $ 11,{i:03}.25 |\n"
        ));
    }
    let mut synthetic = text_document(table.clone());
    synthetic.tables = vec![TableHint {
        start: 0,
        end: table.len() - 1,
        header_end,
    }];
    docs.push(("synthetic table".to_string(), synthetic));
    for (name, doc) in &docs {
        let tree = structurize(doc);
        let chunks = chunk_document(doc, &tree, &tokenizer, &options);
        validate_chunks(doc, &tree, &chunks, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut over_window = 0;
        for c in &chunks {
            let exact = tokenizer.count_tokens(&c.text);
            assert_eq!(
                exact, c.token_count as usize,
                "{name}: chunk {} count",
                c.ordinal
            );
            assert!(
                exact <= options.max_tokens,
                "{name}: chunk {} has {exact} tokens",
                c.ordinal
            );
            // [CLS] + path + repeated header + text + [SEP] against the window.
            if tokenizer.count_tokens(&c.indexed_text()) + 2 > 512 {
                over_window += 1;
            }
        }
        let mean =
            chunks.iter().map(|c| c.token_count as f64).sum::<f64>() / chunks.len().max(1) as f64;
        println!(
            "{name}: {} chunks, mean {mean:.0} tokens (MiniLM WordPiece), {over_window} over the 512 window with path and header",
            chunks.len()
        );
    }
    let table_chunks = chunk_document(
        &docs[docs.len() - 1].1,
        &SectionTree::default(),
        &tokenizer,
        &options,
    );
    assert!(table_chunks.len() > 1);
    assert!(table_chunks[1..]
        .iter()
        .all(|c| c.context_header.as_deref() == Some("| Segment | 2022 | 2021 |")));
}
