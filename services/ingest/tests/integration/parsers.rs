//! Parser tests on real and hand-made malformed documents.
//!
//! Real documents come from the dev evaluation set (`FOLIO_EVAL_DOCS`,
//! default `/work/shared/eval/docs`); tests that need them say so and skip
//! when the folder is absent. Everything else is built here, byte by byte.

use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use folio_common::model::{DocumentFormat, ParsedDocument};
use folio_ingest::parse::{parse, ParseError, ParseLimits};
use pdf_extract::content::{Content, Operation};
use pdf_extract::{dictionary, Document, Object, Stream};
use proptest::prelude::*;
use zip::write::SimpleFileOptions;

// ---------------------------------------------------------------- helpers

/// Every offset in a parsed document is on a char boundary inside the text;
/// pages are numbered from 1, contiguous and cover the text; hints are in
/// order and well formed.
fn assert_consistent(doc: &ParsedDocument) {
    let text = &doc.text;
    let ok = |at: usize| at <= text.len() && text.is_char_boundary(at);
    assert!(!doc.pages.is_empty(), "no pages");
    assert_eq!(doc.pages[0].start, 0, "first page must start at 0");
    assert_eq!(
        doc.pages.last().unwrap().end,
        text.len(),
        "pages must cover the text"
    );
    for (i, page) in doc.pages.iter().enumerate() {
        assert_eq!(page.number as usize, i + 1);
        assert!(
            page.start <= page.end && ok(page.start) && ok(page.end),
            "{page:?}"
        );
        if i > 0 {
            assert_eq!(doc.pages[i - 1].end, page.start, "pages must be contiguous");
            assert_eq!(
                &text[page.start - 1..page.start],
                "\u{c}",
                "page {} must follow a form feed",
                i + 1
            );
        }
    }
    assert_eq!(
        text.matches('\u{c}').count() + 1,
        doc.pages.len(),
        "one form feed per page boundary"
    );
    let mut last_end = 0;
    for h in &doc.headings {
        assert!(h.start < h.end && ok(h.start) && ok(h.end), "{h:?}");
        assert!(h.start >= last_end, "headings out of order");
        assert!((1..=9).contains(&h.level));
        assert!(
            !text[h.start..h.end].contains('\n'),
            "heading spans lines: {:?}",
            &text[h.start..h.end]
        );
        last_end = h.end;
    }
    let mut last_end = 0;
    for t in &doc.tables {
        assert!(t.start <= t.header_end && t.header_end <= t.end, "{t:?}");
        assert!(ok(t.start) && ok(t.header_end) && ok(t.end), "{t:?}");
        assert!(t.start >= last_end, "tables out of order");
        last_end = t.end;
    }
}

fn parse_ok(format: DocumentFormat, bytes: &[u8]) -> ParsedDocument {
    let doc = parse(format, bytes, &ParseLimits::default())
        .unwrap_or_else(|e| panic!("{format:?} failed: {e}"));
    assert_consistent(&doc);
    doc
}

fn parse_err(format: DocumentFormat, bytes: &[u8]) -> ParseError {
    match parse(format, bytes, &ParseLimits::default()) {
        Ok(doc) => panic!(
            "{format:?} parsed unexpectedly: {:?}",
            &doc.text[..doc.text.len().min(200)]
        ),
        Err(e) => e,
    }
}

fn headings(doc: &ParsedDocument) -> Vec<(&str, u8)> {
    doc.headings
        .iter()
        .map(|h| (&doc.text[h.start..h.end], h.level))
        .collect()
}

fn tables(doc: &ParsedDocument) -> Vec<(&str, &str)> {
    doc.tables
        .iter()
        .map(|t| (&doc.text[t.start..t.header_end], &doc.text[t.start..t.end]))
        .collect()
}

fn eval_docs() -> Option<PathBuf> {
    let dir = std::env::var_os("FOLIO_EVAL_DOCS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/eval/docs"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: dev documents not found at {}", dir.display());
        None
    }
}

/// Page counts of the FinanceBench PDFs according to PyMuPDF (docs.jsonl).
fn pymupdf_page_counts(docs: &Path) -> HashMap<String, usize> {
    let index = docs.parent().unwrap().join("docs.jsonl");
    let mut counts = HashMap::new();
    for line in std::fs::read_to_string(index).unwrap_or_default().lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        if let (Some(id), Some(starts)) =
            (value["doc_id"].as_str(), value["page_starts"].as_array())
        {
            counts.insert(id.to_string(), starts.len());
        }
    }
    counts
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Share of the reference's words (as a multiset) found in `candidate`.
fn word_recall(reference: &str, candidate: &str) -> f64 {
    let mut pool: HashMap<String, usize> = HashMap::new();
    for w in words(candidate) {
        *pool.entry(w).or_default() += 1;
    }
    let reference = words(reference);
    let found = reference
        .iter()
        .filter(|w| match pool.get_mut(*w) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
        .count();
    found as f64 / reference.len().max(1) as f64
}

fn squash(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

// -------------------------------------------------------------- PDF: real

#[test]
fn dev_pdfs_parse_with_their_pages_and_key_phrases() {
    // The contracts' PDFs and texts are also committed as test fixtures, so this
    // test always reads at least those; the dev set adds the filings.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/docs");
    let docs = eval_docs();
    let counts = docs.as_deref().map(pymupdf_page_counts).unwrap_or_default();
    let mut read = 0;
    let cases: &[(&str, &[&str])] = &[
        (
            "cuad-CORIOINC_07_20_2000-EX-10.5-LICENSE_AND_HOSTING_AGREEMENT",
            &["license and hosting agreement", "choice of law; arbitration; venue"],
        ),
        (
            "cuad-INKTOMICORP_06_08_1998-EX-10.14-SOFTWARE_HOSTING_AGREEMENT",
            &["software hosting agreement", "confidential and proprietary information"],
        ),
        (
            "cuad-ElPolloLocoHoldingsInc_20200306_10-K_EX-10.16_12041700_EX-10.16_Development_Agreement",
            &["development agreement", "franchise"],
        ),
        ("fb-ULTABEAUTY_2023Q4_EARNINGS", &["ulta beauty", "net sales"]),
        ("fb-MGMRESORTS_2022Q4_EARNINGS", &["mgm resorts", "net revenues"]),
    ];
    for (id, phrases) in cases {
        let Some(dir) = [docs.as_deref(), Some(fixtures.as_path())]
            .into_iter()
            .flatten()
            .find(|d| d.join(format!("{id}.pdf")).is_file())
        else {
            continue;
        };
        read += 1;
        let bytes = std::fs::read(dir.join(format!("{id}.pdf"))).unwrap();
        let doc = parse_ok(DocumentFormat::Pdf, &bytes);
        let expected_pages = match counts.get(*id) {
            Some(&n) => n,
            None => Document::load_mem(&bytes).unwrap().get_pages().len(),
        };
        assert_eq!(doc.pages.len(), expected_pages, "{id}: page count");
        let text = squash(&doc.text);
        for phrase in *phrases {
            assert!(text.contains(phrase), "{id}: missing {phrase:?}");
        }
        let reference = std::fs::read_to_string(dir.join(format!("{id}.txt"))).unwrap();
        let recall = word_recall(&reference, &doc.text);
        assert!(
            recall > 0.9,
            "{id}: only {recall:.3} of the reference words recovered"
        );
    }
    assert!(
        read >= 1,
        "not even the fixture PDF was found under {}",
        fixtures.display()
    );
}

/// Per-page comparison with the PyMuPDF text, timing, for every dev PDF
/// (or `FOLIO_PDF=<doc id>`; `FOLIO_PDF_DUMP=<dir>` writes the texts). Run with
/// `cargo test --release -p folio-ingest --test integration -- --ignored --nocapture pdf_dev_corpus_report`.
#[test]
#[ignore = "report over the whole dev corpus; slow"]
fn pdf_dev_corpus_report() {
    let Some(docs) = eval_docs() else { return };
    let only = std::env::var("FOLIO_PDF").ok();
    let mut ids: Vec<String> = std::fs::read_dir(&docs)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".pdf").map(str::to_string))
        .filter(|id| only.as_ref().is_none_or(|o| o == id))
        .collect();
    ids.sort();
    for id in ids {
        let bytes = std::fs::read(docs.join(format!("{id}.pdf"))).unwrap();
        let started = Instant::now();
        let result = parse(DocumentFormat::Pdf, &bytes, &ParseLimits::default());
        let elapsed = started.elapsed();
        let doc = match result {
            Ok(doc) => doc,
            Err(e) => {
                println!("{id}: ERROR {e}");
                continue;
            }
        };
        assert_consistent(&doc);
        if let Some(dir) = std::env::var_os("FOLIO_PDF_DUMP") {
            std::fs::write(
                PathBuf::from(dir).join(format!("{id}.folio.txt")),
                &doc.text,
            )
            .unwrap();
        }
        let reference = std::fs::read_to_string(docs.join(format!("{id}.txt"))).unwrap();
        let recall = word_recall(&reference, &doc.text);
        let precision = word_recall(&doc.text, &reference);
        let ref_pages: Vec<&str> = reference.split('\u{c}').collect();
        let page_recall = if ref_pages.len() == doc.pages.len() {
            let sum: f64 = ref_pages
                .iter()
                .zip(&doc.pages)
                .map(|(r, p)| word_recall(r, &doc.text[p.start..p.end]))
                .sum();
            format!("{:.3}", sum / ref_pages.len() as f64)
        } else {
            "n/a".to_string()
        };
        println!(
            "{id}: {:.1} MB, {} pages (ref {}), {:.2} s, {} chars (ref {}), word recall {recall:.3}, precision {precision:.3}, per-page recall {page_recall}",
            bytes.len() as f64 / 1e6,
            doc.pages.len(),
            ref_pages.len(),
            elapsed.as_secs_f64(),
            doc.text.chars().count(),
            reference.chars().count(),
        );
    }
}

#[test]
fn financebench_text_files_stay_verbatim_with_their_page_map() {
    let Some(docs) = eval_docs() else { return };
    let index = docs.parent().unwrap().join("docs.jsonl");
    let text = std::fs::read_to_string(&index).unwrap();
    let entry = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["doc_id"] == "fb-PEPSICO_2022_10K")
        .unwrap();
    let bytes = std::fs::read(docs.join("fb-PEPSICO_2022_10K.txt")).unwrap();
    let doc = parse_ok(DocumentFormat::Text, &bytes);
    assert_eq!(
        doc.text.as_bytes(),
        &bytes[..],
        "canonical text must equal the file"
    );
    let offsets = folio_common::model::CharOffsets::new(&doc.text);
    let starts: Vec<u64> = doc
        .pages
        .iter()
        .map(|p| offsets.char_of_byte(p.start) as u64)
        .collect();
    let expected: Vec<u64> = entry["page_starts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(
        starts, expected,
        "page starts must match the evaluation set's"
    );
}

// ------------------------------------------------------ PDF: hand-made

/// A PDF with one page per entry; each page draws its lines, and each line
/// may consist of several pieces drawn separately at increasing x (like
/// table cells).
fn build_pdf(pages: &[&[&[&str]]]) -> Document {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = Vec::new();
    for lines in pages {
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 11.into()]),
        ];
        for (row, pieces) in lines.iter().enumerate() {
            for (column, piece) in pieces.iter().enumerate() {
                let x = 72 + 200 * column as i64;
                let y = 740 - 16 * row as i64;
                operations.push(Operation::new(
                    "Tm",
                    vec![1.into(), 0.into(), 0.into(), 1.into(), x.into(), y.into()],
                ));
                operations.push(Operation::new("Tj", vec![Object::string_literal(*piece)]));
            }
        }
        operations.push(Operation::new("ET", vec![]));
        let content = Content { operations };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let info_id =
        doc.add_object(dictionary! { "Title" => Object::string_literal("Supply Agreement") });
    doc.trailer.set("Info", info_id);
    doc
}

fn pdf_bytes(doc: &mut Document) -> Vec<u8> {
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

fn sample_pdf() -> Vec<u8> {
    pdf_bytes(&mut build_pdf(&[
        &[
            &["SUPPLY AGREEMENT"],
            &["Section 1. Definitions"],
            &["Item", "2022", "2021"],
            &["Revenue", "1,234", "1,100"],
        ],
        &[],
        &[&["Section 2. Term"], &["This Agreement ends in 2030."]],
    ]))
}

#[test]
fn pdf_pages_rows_and_title() {
    let doc = parse_ok(DocumentFormat::Pdf, &sample_pdf());
    assert_eq!(doc.pages.len(), 3);
    let page = |n: usize| &doc.text[doc.pages[n].start..doc.pages[n].end];
    assert_eq!(
        page(0),
        "SUPPLY AGREEMENT\nSection 1. Definitions\nItem 2022 2021\nRevenue 1,234 1,100\n\u{c}"
    );
    assert_eq!(page(1), "\u{c}", "an empty page keeps its place");
    assert_eq!(page(2), "Section 2. Term\nThis Agreement ends in 2030.\n");
    assert_eq!(doc.title.as_deref(), Some("Supply Agreement"));
}

#[test]
fn pdf_page_limit() {
    let limits = ParseLimits {
        max_pages: 2,
        ..ParseLimits::default()
    };
    let err = parse(DocumentFormat::Pdf, &sample_pdf(), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            ParseError::TooLarge {
                what: "pages",
                actual: 3,
                limit: 2
            }
        ),
        "{err:?}"
    );
}

#[test]
fn pdf_without_text_layer() {
    let bytes = pdf_bytes(&mut build_pdf(&[&[], &[]]));
    assert_eq!(
        parse_err(DocumentFormat::Pdf, &bytes),
        ParseError::NoTextLayer
    );
}

#[test]
fn truncated_and_corrupt_pdfs_fail_cleanly() {
    let bytes = sample_pdf();
    for cut in [bytes.len() / 2, 40, 9] {
        let err = parse_err(DocumentFormat::Pdf, &bytes[..cut]);
        assert!(
            matches!(err, ParseError::Corrupt(_) | ParseError::NoTextLayer),
            "cut {cut}: {err:?}"
        );
    }
    let mut garbage = b"%PDF-1.7\n".to_vec();
    garbage.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    assert_eq!(parse_err(DocumentFormat::Pdf, &garbage).code(), "corrupt");
    assert_eq!(
        parse_err(DocumentFormat::Pdf, b"GIF89a not a pdf").code(),
        "corrupt"
    );
    if let Some(docs) = eval_docs() {
        let real = std::fs::read(
            docs.join("cuad-CORIOINC_07_20_2000-EX-10.5-LICENSE_AND_HOSTING_AGREEMENT.pdf"),
        )
        .unwrap();
        let err = parse_err(DocumentFormat::Pdf, &real[..real.len() / 3]);
        assert_eq!(err.code(), "corrupt", "{err}");
    }
}

#[test]
fn damaged_pdf_streams_never_panic() {
    // Flip bytes all over a valid file: whatever comes out must be a clean
    // result or a clean error.
    let bytes = sample_pdf();
    for step in [7usize, 13, 31, 61] {
        let mut damaged = bytes.clone();
        for i in (step..damaged.len()).step_by(step) {
            damaged[i] ^= 0x5A;
        }
        damaged[..8].copy_from_slice(b"%PDF-1.5");
        if let Ok(doc) = parse(DocumentFormat::Pdf, &damaged, &ParseLimits::default()) {
            assert_consistent(&doc);
        }
    }
}

#[test]
fn encrypted_pdfs() {
    // A hand-made /Encrypt entry that no password opens.
    let mut doc = build_pdf(&[&[&["Secret terms"]]]);
    let encrypt_id = doc.add_object(dictionary! {
        "Filter" => "Standard", "V" => 1, "R" => 2, "P" => -4,
        "O" => Object::string_literal(vec![7u8; 32]), "U" => Object::string_literal(vec![9u8; 32]),
    });
    doc.trailer.set("Encrypt", encrypt_id);
    doc.trailer.set(
        "ID",
        vec![
            Object::string_literal(vec![1u8; 16]),
            Object::string_literal(vec![1u8; 16]),
        ],
    );
    assert_eq!(
        parse_err(DocumentFormat::Pdf, &pdf_bytes(&mut doc)),
        ParseError::Encrypted
    );

    // Real RC4 encryption: with a user password it is refused, with only an
    // owner password (empty user password) it reads like any PDF.
    for (user_password, readable) in [("secret", false), ("", true)] {
        let mut doc = build_pdf(&[&[&["Confidential pricing schedule"]]]);
        doc.trailer.set(
            "ID",
            vec![
                Object::string_literal(vec![3u8; 16]),
                Object::string_literal(vec![4u8; 16]),
            ],
        );
        let version = pdf_extract::EncryptionVersion::V2 {
            document: &doc,
            owner_password: "owner",
            user_password,
            key_length: 128,
            permissions: pdf_extract::Permissions::all(),
        };
        let state = pdf_extract::EncryptionState::try_from(version).unwrap();
        doc.encrypt(&state).unwrap();
        let bytes = pdf_bytes(&mut doc);
        let result = parse(DocumentFormat::Pdf, &bytes, &ParseLimits::default());
        if readable {
            let parsed = result.unwrap();
            assert!(
                parsed.text.contains("Confidential pricing schedule"),
                "{:?}",
                parsed.text
            );
        } else {
            assert_eq!(result.unwrap_err(), ParseError::Encrypted);
        }
    }
}

#[test]
fn pdf_flate_bomb_is_refused_before_inflating() {
    // One content stream of 64 MiB of spaces compresses to ~64 KiB.
    let mut doc = build_pdf(&[&[&["Bomb"]]]);
    let page_id = doc.get_pages()[&1];
    let mut huge = b"BT /F1 11 Tf 72 700 Td (Bomb) Tj ET ".to_vec();
    huge.resize(64 * 1024 * 1024, b' ');
    let mut stream = Stream::new(dictionary! {}, huge);
    stream.compress().unwrap();
    let content_id = doc.add_object(stream);
    doc.get_object_mut(page_id)
        .unwrap()
        .as_dict_mut()
        .unwrap()
        .set("Contents", content_id);
    let bytes = pdf_bytes(&mut doc);
    assert!(bytes.len() < 1024 * 1024, "{} bytes", bytes.len());
    // Over the document's budget.
    let limits = ParseLimits {
        max_decoded_bytes: 16 * 1024 * 1024,
        ..ParseLimits::default()
    };
    let err = parse(DocumentFormat::Pdf, &bytes, &limits).unwrap_err();
    assert_eq!(err.code(), "decoded_too_large", "{err}");
    // Over the default per-stream cap (and a 1,000x ratio): refused too.
    let err = parse(DocumentFormat::Pdf, &bytes, &ParseLimits::default()).unwrap_err();
    assert_eq!(err.code(), "decoded_too_large", "{err}");
    // With every cap lifted the same file parses: the caps, not the file, refused it.
    let lifted = ParseLimits {
        max_stream_decoded_bytes: 128 * 1024 * 1024,
        max_page_content_bytes: 128 * 1024 * 1024,
        max_zip_ratio: 10_000,
        ..ParseLimits::default()
    };
    let doc = parse(DocumentFormat::Pdf, &bytes, &lifted).unwrap();
    assert!(doc.text.starts_with("Bomb"));
}

/// Peak resident memory of this test process, in MiB (Linux).
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

/// The first page of `doc` with its `/Contents` set to `contents`.
fn set_page_contents(doc: &mut Document, contents: Vec<Object>) {
    let page_id = doc.get_pages()[&1];
    doc.get_object_mut(page_id)
        .unwrap()
        .as_dict_mut()
        .unwrap()
        .set("Contents", contents);
}

/// The `/Contents` entry of a document's first page.
fn first_page_contents(doc: &Document) -> Object {
    let page_id = doc.get_pages()[&1];
    doc.get_dictionary(page_id)
        .unwrap()
        .get(b"Contents")
        .unwrap()
        .clone()
}

#[test]
fn pdf_content_listed_over_and_over_is_refused_without_being_read_over_and_over() {
    // One 1 MiB stream listed 2,000 times: 2 GB of content for one page.
    let mut doc = build_pdf(&[&[&["Repeated"]]]);
    let text_id = first_page_contents(&doc);
    let mut spaces = Stream::new(dictionary! {}, vec![b' '; 1024 * 1024]);
    spaces.compress().unwrap();
    let spaces_id = doc.add_object(spaces);
    let mut contents = vec![text_id];
    contents.extend(std::iter::repeat_n(Object::Reference(spaces_id), 2_000));
    set_page_contents(&mut doc, contents);
    let bytes = pdf_bytes(&mut doc);
    let before = peak_rss_mib();
    let err = parse(DocumentFormat::Pdf, &bytes, &ParseLimits::default()).unwrap_err();
    assert_eq!(err.code(), "decoded_too_large", "{err}");
    let grown = peak_rss_mib().saturating_sub(before);
    assert!(grown < 256, "the check itself took {grown} MiB");
}

#[test]
fn pdf_form_calls_split_across_content_streams_still_count() {
    // The page's streams `/M` and ` Do` only make a call together, and the
    // pair is listed over and over; form M runs 100 KiB each time.
    let build = |pairs: usize| {
        let mut doc = build_pdf(&[&[&["Split calls"]]]);
        let text_id = first_page_contents(&doc);
        let form_id = doc.add_object(Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 10.into(), 10.into()] },
            vec![b' '; 100 * 1024],
        ));
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        });
        let page_id = doc.get_pages()[&1];
        doc.get_object_mut(page_id).unwrap().as_dict_mut().unwrap().set(
            "Resources",
            dictionary! { "Font" => dictionary! { "F1" => font_id }, "XObject" => dictionary! { "M" => form_id } },
        );
        let name_id = doc.add_object(Stream::new(dictionary! {}, b"/M".to_vec()));
        let call_id = doc.add_object(Stream::new(dictionary! {}, b" Do".to_vec()));
        let mut contents = vec![text_id];
        for _ in 0..pairs {
            contents.push(Object::Reference(name_id));
            contents.push(Object::Reference(call_id));
        }
        set_page_contents(&mut doc, contents);
        pdf_bytes(&mut doc)
    };
    // 1,000 calls: 100 MB of form content, over the 64 MiB page budget.
    let err = parse(DocumentFormat::Pdf, &build(1_000), &ParseLimits::default()).unwrap_err();
    assert_eq!(err.code(), "decoded_too_large", "{err}");
    // 100 calls (10 MB) are within it and the page's text comes out.
    let doc = parse(DocumentFormat::Pdf, &build(100), &ParseLimits::default()).unwrap();
    assert!(doc.text.contains("Split calls"), "{}", doc.text);
}

// ------------------------------------------------------------------ HTML

const FILING_HTML: &str = r#"<!DOCTYPE html><html><head><title>Acme Corp 10-K</title>
<style>p { color: red }</style><script>document.write("SCRIPT TEXT")</script></head>
<body>
<div style="display:none"><ix:header><ix:hidden><ix:nonNumeric name="dei:DocumentType">HIDDEN XBRL FACT</ix:nonNumeric></ix:hidden></ix:header></div>
<ix:header><ix:resources>RESOURCE TEXT</ix:resources></ix:header>
<div style="DISPLAY: NONE">invisible div</div><p hidden>hidden paragraph</p>
<h1>PART I</h1>
<h2>Item 1. Business</h2>
<p>Acme &amp; Co. makes <b>wid</b><i>gets</i>&nbsp;and
   gadgets &#8212; <span>worldwide</span>.</p>
<noscript>enable JS</noscript><template><p>template text</p></template>
<table>
<thead><tr><th>Segment</th><th></th><th>2022</th><th>2021</th></tr></thead>
<tr><td></td><td>&nbsp;</td><td></td></tr>
<tr><td>Widgets</td><td>$</td><td>1,200</td><td>1,100</td></tr>
<tr><td>Gadgets</td><td>(300</td><td>)</td><td>(250</td><td>)</td></tr>
</table>
<div style="page-break-after: always"></div>
<h2>Item 1A. Risk <br>Factors</h2>
<p>Risks<br>are real.</p>
<hr style="page-break-before:always">
<p>Last page.</p>
</body></html>"#;

#[test]
fn html_filing_text_headings_tables_pages() {
    let doc = parse_ok(DocumentFormat::Html, FILING_HTML.as_bytes());
    assert_eq!(
        doc.text,
        "PART I\n\nItem 1. Business\n\nAcme & Co. makes widgets and gadgets \u{2014} worldwide.\n\n\
         | Segment | 2022 | 2021 |\n| Widgets | $1,200 | 1,100 |\n| Gadgets | (300) | (250) |\n\u{c}\
         Item 1A. Risk Factors\n\nRisks\nare real.\n\u{c}Last page.\n"
    );
    assert_eq!(doc.title.as_deref(), Some("Acme Corp 10-K"));
    assert_eq!(
        headings(&doc),
        vec![
            ("PART I", 1),
            ("Item 1. Business", 2),
            ("Item 1A. Risk Factors", 2)
        ]
    );
    assert_eq!(tables(&doc).len(), 1);
    assert_eq!(tables(&doc)[0].0, "| Segment | 2022 | 2021 |");
    assert_eq!(doc.pages.len(), 3);
    for hidden in [
        "SCRIPT TEXT",
        "HIDDEN XBRL",
        "RESOURCE TEXT",
        "invisible",
        "hidden paragraph",
        "enable JS",
        "template",
        "color",
    ] {
        assert!(!doc.text.contains(hidden), "{hidden} leaked");
    }
}

#[test]
fn html_full_of_scripts_keeps_only_text() {
    let mut html = String::from("<html><body>");
    for i in 0..200 {
        html.push_str(&format!(
            "<script>var s{i} = \"SCRIPT_PAYLOAD\"; fetch('//evil');</script>\
             <img src=x onerror=\"alert('ONERROR')\"><style>.c{i}{{}}</style>"
        ));
    }
    html.push_str("<p>Visible clause survives &lt;script&gt;alert(1)&lt;/script&gt;.</p>");
    html.push_str("<script>/* unterminated");
    let doc = parse_ok(DocumentFormat::Html, html.as_bytes());
    assert_eq!(
        doc.text,
        "Visible clause survives <script>alert(1)</script>.\n"
    );
    assert!(!doc.text.contains("SCRIPT_PAYLOAD") && !doc.text.contains("ONERROR"));
}

#[test]
fn hostile_html_nesting_parses() {
    // 100,000 nested blocks: html5ever alone needs about a minute for this
    // (its scope checks are quadratic in depth); the parser caps nesting.
    let mut html = "<div><span>".repeat(100_000);
    html.push_str("deep text");
    html.push_str(&"<table><tr><td>".repeat(2_000));
    html.push_str("cell");
    let doc = parse_ok(DocumentFormat::Html, html.as_bytes());
    assert_eq!(doc.text, "deep text cell\n");
}

#[test]
fn edgar_submission_wrapper() {
    let submission = "<SEC-DOCUMENT>0000320193-22-000108.txt : 20221028\n\
        <SEC-HEADER>0000320193-22-000108.hdr.sgml : 20221028\nCONFORMED SUBMISSION TYPE:\t10-K\n</SEC-HEADER>\n\
        <DOCUMENT>\n<TYPE>10-K\n<SEQUENCE>1\n<FILENAME>aapl-20220924.htm\n<DESCRIPTION>10-K\n<TEXT>\n<XBRL>\n\
        <?xml version='1.0' encoding='ASCII'?>\n\
        <html xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:ix=\"http://www.xbrl.org/2013/inlineXBRL\"><head><title>aapl-20220924</title></head>\
        <body><div style=\"display:none\"><ix:header><ix:hidden>dei facts</ix:hidden></ix:header></div>\
        <div><span style=\"font-weight:700\">Apple</span><span> Inc.</span></div>\
        <div style=\"page-break-after:always\"></div><div>Item 7. Management&#8217;s Discussion</div></body></html>\n\
        </XBRL>\n</TEXT>\n</DOCUMENT>\n\
        <DOCUMENT>\n<TYPE>EX-101.SCH\n<SEQUENCE>7\n<FILENAME>aapl-20220924.xsd\n<TEXT>\n<XBRL>\n<xs:schema>TAXONOMY</xs:schema>\n</XBRL>\n</TEXT>\n</DOCUMENT>\n\
        <DOCUMENT>\n<TYPE>GRAPHIC\n<SEQUENCE>9\n<FILENAME>logo.jpg\n<TEXT>\nbegin 644 logo.jpg\nM_]C_X``02D9)1@`!`0``\nend\n</TEXT>\n</DOCUMENT>\n</SEC-DOCUMENT>\n";
    let doc = parse_ok(DocumentFormat::Html, submission.as_bytes());
    assert_eq!(
        doc.text,
        "Apple Inc.\n\u{c}Item 7. Management\u{2019}s Discussion\n"
    );
    assert_eq!(doc.title.as_deref(), Some("aapl-20220924"));
    assert_eq!(doc.pages.len(), 2);
}

#[test]
fn html_output_limit() {
    let html = format!("<p>{}</p>", "word ".repeat(10_000));
    let limits = ParseLimits {
        max_output_chars: 1_000,
        ..ParseLimits::default()
    };
    let err = parse(DocumentFormat::Html, html.as_bytes(), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            ParseError::TooLarge {
                what: "text characters",
                ..
            }
        ),
        "{err:?}"
    );
}

// ------------------------------------------------------------------ DOCX

const W_NS: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

fn docx(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in parts {
        zip.start_file(*name, options).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn document_xml(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{W_NS}" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><w:body>{body}<w:sectPr/></w:body></w:document>"#
    )
}

fn sample_docx() -> Vec<u8> {
    let body = r#"
<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>Master Services Agreement</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading1"/><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>Definitions</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">"Affiliate" means </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>any entity</w:t></w:r><w:r><w:tab/><w:t>controlled &amp; owned.</w:t></w:r></w:p>
<w:p><w:r><w:t>Kept</w:t></w:r><w:del><w:r><w:delText>gone</w:delText></w:r></w:del><w:ins><w:r><w:t xml:space="preserve"> inserted</w:t></w:r></w:ins><w:r><w:instrText>PAGE \* MERGEFORMAT</w:instrText></w:r></w:p>
<w:p/>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Fee</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Amount</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p><w:r><w:t>Setup</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>$1,000</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
<w:p><w:r><w:br w:type="page"/></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading2"/><w:numPr><w:ilvl w:val="1"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>Term</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="ClauseText"/></w:pPr><w:r><w:t>This Agreement starts on the Effective Date.</w:t></w:r><w:r><w:br/><w:t>Second line.</w:t></w:r></w:p>
<w:p><w:pPr><w:sectPr><w:type w:val="nextPage"/></w:sectPr></w:pPr><w:r><w:t>End of section.</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading2"/><w:numPr><w:ilvl w:val="1"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>Fees</w:t></w:r></w:p>
"#;
    let styles = format!(
        r#"<w:styles xmlns:w="{W_NS}">
<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/></w:style>
<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/></w:style>
<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/><w:basedOn w:val="Heading1"/></w:style>
<w:style w:type="paragraph" w:styleId="ClauseText"><w:name w:val="Clause Text"/><w:pPr><w:outlineLvl w:val="9"/></w:pPr></w:style>
</w:styles>"#
    );
    let numbering = format!(
        r#"<w:numbering xmlns:w="{W_NS}"><w:abstractNum w:abstractNumId="0">
<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>
<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1.%2"/></w:lvl>
</w:abstractNum><w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num></w:numbering>"#
    );
    let core = r#"<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>MSA between Acme and Beta</dc:title></cp:coreProperties>"#;
    docx(&[
        (
            "[Content_Types].xml",
            b"<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>",
        ),
        ("word/document.xml", document_xml(body).as_bytes()),
        ("word/styles.xml", styles.as_bytes()),
        ("word/numbering.xml", numbering.as_bytes()),
        ("docProps/core.xml", core.as_bytes()),
    ])
}

#[test]
fn docx_headings_numbering_tables_pages() {
    let doc = parse_ok(DocumentFormat::Docx, &sample_docx());
    assert_eq!(
        doc.text,
        "Master Services Agreement\n\n1. Definitions\n\n\"Affiliate\" means any entity controlled & owned.\n\
         Kept inserted\n\n| Fee | Amount |\n| Setup | $1,000 |\n\u{c}1.1 Term\n\n\
         This Agreement starts on the Effective Date.\nSecond line.\nEnd of section.\n\u{c}1.2 Fees\n"
    );
    assert_eq!(
        headings(&doc),
        vec![
            ("Master Services Agreement", 1),
            ("1. Definitions", 1),
            ("1.1 Term", 2),
            ("1.2 Fees", 2)
        ]
    );
    assert_eq!(
        tables(&doc),
        vec![("| Fee | Amount |", "| Fee | Amount |\n| Setup | $1,000 |")]
    );
    assert_eq!(doc.pages.len(), 3);
    assert_eq!(doc.title.as_deref(), Some("MSA between Acme and Beta"));
}

#[test]
fn docx_without_main_part_or_zip() {
    let bytes = docx(&[("word/styles.xml", b"<w:styles/>")]);
    assert_eq!(parse_err(DocumentFormat::Docx, &bytes).code(), "corrupt");
    assert_eq!(
        parse_err(DocumentFormat::Docx, b"PK\x03\x04 truncated").code(),
        "corrupt"
    );
    assert_eq!(
        parse_err(DocumentFormat::Docx, b"plain text, not a zip").code(),
        "corrupt"
    );
    let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole.resize(512, 0);
    assert_eq!(
        parse_err(DocumentFormat::Docx, &ole).code(),
        "unsupported_format"
    );
    let encrypted_marker: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    ole.extend(encrypted_marker);
    assert_eq!(parse_err(DocumentFormat::Docx, &ole), ParseError::Encrypted);
}

/// A DOCX whose document.xml is `size` bytes of one highly compressible
/// paragraph.
fn bomb_docx(size: usize) -> Vec<u8> {
    let mut xml = document_xml("<w:p><w:r><w:t>").into_bytes();
    let tail = xml.split_off(xml.len() - "<w:sectPr/></w:body></w:document>".len());
    xml.resize(size, b'a');
    xml.extend_from_slice(b"</w:t></w:r></w:p>");
    xml.extend_from_slice(&tail);
    docx(&[("word/document.xml", &xml)])
}

#[test]
fn docx_zip_bomb_by_declared_size_and_ratio() {
    let bytes = bomb_docx(64 * 1024 * 1024);
    assert!(bytes.len() < 512 * 1024, "{} bytes", bytes.len());
    // Over the total budget.
    let limits = ParseLimits {
        max_unzipped_bytes: 16 * 1024 * 1024,
        ..ParseLimits::default()
    };
    assert_eq!(
        parse(DocumentFormat::Docx, &bytes, &limits)
            .unwrap_err()
            .code(),
        "zip_bomb"
    );
    // Within the budget but ~1000:1.
    assert_eq!(parse_err(DocumentFormat::Docx, &bytes).code(), "zip_bomb");
}

#[test]
fn docx_zip_bomb_with_lying_sizes_stops_while_inflating() {
    let mut bytes = bomb_docx(64 * 1024 * 1024);
    // Claim 1000 bytes uncompressed in both the local and the central header.
    let name = b"word/document.xml";
    let mut patched = 0;
    for at in 0..bytes.len().saturating_sub(46) {
        let (size_at, name_len_at, name_at) = match &bytes[at..at + 4] {
            b"PK\x03\x04" => (at + 22, at + 26, at + 30),
            b"PK\x01\x02" => (at + 24, at + 28, at + 46),
            _ => continue,
        };
        let name_len = u16::from_le_bytes([bytes[name_len_at], bytes[name_len_at + 1]]) as usize;
        if bytes.get(name_at..name_at + name_len) == Some(&name[..]) {
            bytes[size_at..size_at + 4].copy_from_slice(&1000u32.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2);
    let started = Instant::now();
    let err = parse_err(DocumentFormat::Docx, &bytes);
    assert_eq!(err.code(), "zip_bomb", "{err}");
    assert!(started.elapsed().as_secs() < 10);
}

#[test]
fn docx_too_many_entries() {
    let mut parts: Vec<(String, Vec<u8>)> = (0..50)
        .map(|i| (format!("customXml/item{i}.xml"), b"<a/>".to_vec()))
        .collect();
    parts.push((
        "word/document.xml".into(),
        document_xml("<w:p><w:r><w:t>x</w:t></w:r></w:p>").into_bytes(),
    ));
    let refs: Vec<(&str, &[u8])> = parts
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    let bytes = docx(&refs);
    let limits = ParseLimits {
        max_zip_entries: 20,
        ..ParseLimits::default()
    };
    assert_eq!(
        parse(DocumentFormat::Docx, &bytes, &limits)
            .unwrap_err()
            .code(),
        "zip_bomb"
    );
    assert_eq!(parse_ok(DocumentFormat::Docx, &bytes).text, "x\n");
}

#[test]
fn docx_billion_laughs_is_refused() {
    let lol = format!(
        r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol9 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"#
    );
    let bytes = docx(&[("word/document.xml", lol.as_bytes())]);
    assert_eq!(
        parse_err(DocumentFormat::Docx, &bytes).code(),
        "forbidden_xml"
    );
    // An external entity, or an undeclared one, fares no better.
    let xxe = format!(
        r#"<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>"#
    );
    let bytes = docx(&[("word/document.xml", xxe.as_bytes())]);
    assert_eq!(
        parse_err(DocumentFormat::Docx, &bytes).code(),
        "forbidden_xml"
    );
    let undeclared = document_xml("<w:p><w:r><w:t>&x;</w:t></w:r></w:p>");
    let bytes = docx(&[("word/document.xml", undeclared.as_bytes())]);
    assert_eq!(
        parse_err(DocumentFormat::Docx, &bytes).code(),
        "forbidden_xml"
    );
    // A DOCTYPE in a secondary part is refused too.
    let bytes = docx(&[
        (
            "word/document.xml",
            document_xml("<w:p><w:r><w:t>ok</w:t></w:r></w:p>").as_bytes(),
        ),
        ("word/styles.xml", lol.as_bytes()),
    ]);
    assert_eq!(
        parse_err(DocumentFormat::Docx, &bytes).code(),
        "forbidden_xml"
    );
}

#[test]
fn docx_malformed_xml_is_corrupt() {
    let bytes = docx(&[("word/document.xml", b"<w:document><w:body><w:p></w:body>")]);
    assert_eq!(parse_err(DocumentFormat::Docx, &bytes).code(), "corrupt");
}

// ------------------------------------------------------------ Text, MD

#[test]
fn text_encodings_and_pages() {
    let doc = parse_ok(
        DocumentFormat::Text,
        b"\xef\xbb\xbfPage one\r\nline\r\x0cPage two\n",
    );
    assert_eq!(doc.text, "Page one\nline\n\u{c}Page two\n");
    assert_eq!(doc.pages.len(), 2);
    assert_eq!(doc.pages[1].start, "Page one\nline\n\u{c}".len());

    let doc = parse_ok(DocumentFormat::Text, b"Caf\xe9 \x93quoted\x94 \x80 5\n");
    assert_eq!(doc.text, "Café “quoted” € 5\n");

    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(
        "§ 4.2 Überblick\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    assert_eq!(
        parse_ok(DocumentFormat::Text, &utf16).text,
        "§ 4.2 Überblick\n"
    );
}

#[test]
fn binary_garbage_is_refused() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    assert_eq!(
        parse_err(DocumentFormat::Text, &garbage),
        ParseError::Binary
    );
    assert_eq!(
        parse_err(DocumentFormat::Markdown, &garbage),
        ParseError::Binary
    );
    assert_eq!(
        parse_err(DocumentFormat::Html, b"\0\0\0\0<p>x</p>\0\0\0\0\0\0"),
        ParseError::Binary
    );
    // A PNG renamed to .txt.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0\x1f\xf3\xffa";
    assert_eq!(parse_err(DocumentFormat::Text, png), ParseError::Binary);
}

#[test]
fn markdown_headings_and_tables() {
    let md = "# Services Agreement\n\nIntro text.\n\n## 1. Fees\n\n| Item | Fee |\n|:-----|----:|\n| Setup | $1,000 |\n| Support | $200 |\n\n```\n# not a heading\n| a | b |\n|---|---|\n```\n\nTerm\n====\n";
    let doc = parse_ok(DocumentFormat::Markdown, md.as_bytes());
    assert_eq!(doc.text, md);
    assert_eq!(
        headings(&doc),
        vec![("# Services Agreement", 1), ("## 1. Fees", 2), ("Term", 1)]
    );
    assert_eq!(
        tables(&doc),
        vec![(
            "| Item | Fee |\n|:-----|----:|",
            "| Item | Fee |\n|:-----|----:|\n| Setup | $1,000 |\n| Support | $200 |"
        )]
    );
    assert_eq!(doc.title.as_deref(), Some("Services Agreement"));
}

// -------------------------------------------------- every format: limits

#[test]
fn empty_inputs_are_empty_in_every_format() {
    let formats = [
        DocumentFormat::Pdf,
        DocumentFormat::Html,
        DocumentFormat::Docx,
        DocumentFormat::Text,
        DocumentFormat::Markdown,
    ];
    for format in formats {
        assert_eq!(
            parse_err(format, b""),
            ParseError::Empty,
            "{format:?} 0 bytes"
        );
        assert_eq!(
            parse_err(format, b" \n\t\r\n "),
            ParseError::Empty,
            "{format:?} whitespace"
        );
    }
    assert_eq!(
        parse_err(DocumentFormat::Text, b"\xef\xbb\xbf  \n"),
        ParseError::Empty
    );
    assert_eq!(
        parse_err(
            DocumentFormat::Html,
            b"<html><body><script>x()</script>&nbsp;</body></html>"
        ),
        ParseError::Empty
    );
    let empty_docx = docx(&[(
        "word/document.xml",
        document_xml("<w:p/><w:p><w:r><w:t> </w:t></w:r></w:p>").as_bytes(),
    )]);
    assert_eq!(
        parse_err(DocumentFormat::Docx, &empty_docx),
        ParseError::Empty
    );
}

#[test]
fn oversize_inputs_are_refused_before_parsing() {
    let limits = ParseLimits {
        max_input_bytes: 1024,
        ..ParseLimits::default()
    };
    let inputs: [(DocumentFormat, Vec<u8>); 5] = [
        (DocumentFormat::Pdf, sample_pdf()),
        (DocumentFormat::Html, FILING_HTML.repeat(2).into_bytes()),
        (DocumentFormat::Docx, sample_docx()),
        (DocumentFormat::Text, vec![b'a'; 1025]),
        (DocumentFormat::Markdown, vec![b'#'; 1025]),
    ];
    for (format, bytes) in inputs {
        assert!(bytes.len() > 1024);
        let err = parse(format, &bytes, &limits).unwrap_err();
        assert!(
            matches!(
                err,
                ParseError::TooLarge {
                    what: "input bytes",
                    ..
                }
            ),
            "{format:?}: {err:?}"
        );
        assert_eq!(err.code(), "too_large");
    }
}

// -------------------------------------------------------------- proptest

fn html_token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<p>".to_string()),
        Just("</p>".to_string()),
        Just("<table>".to_string()),
        Just("</table>".to_string()),
        Just("<tr>".to_string()),
        Just("<td>".to_string()),
        Just("<th>".to_string()),
        Just("</td>".to_string()),
        Just("<thead>".to_string()),
        Just("<caption>".to_string()),
        Just("<h2>".to_string()),
        Just("</h2>".to_string()),
        Just("<br>".to_string()),
        Just("<div style='page-break-before:always'>".to_string()),
        Just("<div style='page-break-after:always'>".to_string()),
        Just("</div>".to_string()),
        Just("<pre>".to_string()),
        Just("</pre>".to_string()),
        Just("<script>".to_string()),
        Just("<ix:header>".to_string()),
        Just("&nbsp;".to_string()),
        Just("<DOCUMENT>\n<TYPE>10-K\n<TEXT>\n".to_string()),
        Just("<PAGE>\n".to_string()),
        "[a-zé€§ \n\t$)%|\u{c}\u{ad}\u{200b}]{0,8}",
    ]
}

fn markdown_token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("# ".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("```".to_string()),
        Just("~~~\n".to_string()),
        Just("| a | b |\n".to_string()),
        Just("|---|:-:|\n".to_string()),
        Just("---\n".to_string()),
        Just("===\n".to_string()),
        Just("\u{c}".to_string()),
        Just("   ".to_string()),
        "[a-zé€§ #|\n\t]{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_text_parses_consistently(text in "\\PC{0,200}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        for format in [DocumentFormat::Text, DocumentFormat::Markdown, DocumentFormat::Html] {
            for input in [text.as_bytes(), bytes.as_slice()] {
                if let Ok(doc) = parse(format, input, &ParseLimits::default()) {
                    assert_consistent(&doc);
                }
            }
        }
    }

    #[test]
    fn html_like_input_parses_consistently(tokens in prop::collection::vec(html_token(), 0..80)) {
        let html = tokens.concat();
        if let Ok(doc) = parse(DocumentFormat::Html, html.as_bytes(), &ParseLimits::default()) {
            assert_consistent(&doc);
            let invisible = doc.text.contains(['\u{ad}', '\u{200b}']);
            prop_assert!(!invisible, "invisible characters leaked");
        }
    }

    #[test]
    fn markdown_like_input_parses_consistently(tokens in prop::collection::vec(markdown_token(), 0..80)) {
        let md = tokens.concat();
        if let Ok(doc) = parse(DocumentFormat::Markdown, md.as_bytes(), &ParseLimits::default()) {
            assert_consistent(&doc);
            prop_assert_eq!(doc.text, md.replace("\r\n", "\n"));
        }
    }

    #[test]
    fn docx_paragraph_soup_parses_consistently(
        paragraphs in prop::collection::vec(("[a-z &]{0,12}", 0u8..6), 0..30)
    ) {
        let mut body = String::new();
        for (text, kind) in &paragraphs {
            let text = text.replace('&', "&amp;");
            body.push_str(&match kind {
                0 => format!("<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"),
                1 => format!("<w:p><w:pPr><w:pStyle w:val=\"Heading2\"/></w:pPr><w:r><w:t>{text}</w:t></w:r></w:p>"),
                2 => format!("<w:p><w:r><w:t>{text}</w:t><w:br w:type=\"page\"/></w:r></w:p>"),
                3 => format!("<w:tbl><w:tr><w:tc><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>1</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"),
                4 => "<w:p><w:r><w:lastRenderedPageBreak/></w:r></w:p>".to_string(),
                _ => format!("<w:p><w:pPr><w:pStyle w:val=\"Title\"/></w:pPr><w:r><w:t>{text}</w:t><w:br/><w:t>{text}</w:t></w:r></w:p>"),
            });
        }
        let bytes = docx(&[("word/document.xml", document_xml(&body).as_bytes())]);
        match parse(DocumentFormat::Docx, &bytes, &ParseLimits::default()) {
            Ok(doc) => assert_consistent(&doc),
            Err(e) => prop_assert_eq!(e, ParseError::Empty),
        }
    }
}

/// The id of the resource dictionary `build_pdf` shares between its pages.
fn shared_resources(doc: &Document) -> pdf_extract::ObjectId {
    let page = doc.get_dictionary(doc.get_pages()[&1]).unwrap();
    let parent = doc
        .get_dictionary(page.get(b"Parent").unwrap().as_reference().unwrap())
        .unwrap();
    parent.get(b"Resources").unwrap().as_reference().unwrap()
}

#[test]
fn recursive_forms_and_images_are_defused() {
    let mut doc = build_pdf(&[&[&["placeholder"]]]);
    let resources = shared_resources(&doc);
    let form = |content: &str| {
        Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Form", "Resources" => resources,
                "BBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            },
            content.as_bytes().to_vec(),
        )
    };
    // Fm1 draws text, then itself (a cycle); Fm2..Fm60 form a chain deeper
    // than any sane document; Im1 is an "image" whose bytes look like text
    // operators.
    let form_one = doc.add_object(form("BT /F1 11 Tf 72 600 Td (Inside form) Tj ET /Fm1 Do"));
    let mut xobjects = dictionary! { "Fm1" => form_one };
    for n in (2..=60).rev() {
        let call = if n < 60 {
            format!("/Fm{} Do", n + 1)
        } else {
            String::new()
        };
        let id = doc.add_object(form(&format!(
            "BT /F1 11 Tf 72 {} Td (Level{n}) Tj ET {call}",
            100 + n
        )));
        xobjects.set(format!("Fm{n}"), id);
    }
    let image = doc.add_object(Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 1, "Height" => 1, "BitsPerComponent" => 8, "ColorSpace" => "DeviceGray" },
        b"BT /F1 11 Tf 72 400 Td (PIXELS AS TEXT) Tj ET".to_vec(),
    ));
    xobjects.set("Im1", image);
    doc.get_dictionary_mut(resources)
        .unwrap()
        .set("XObject", xobjects);
    let page_content = "BT /F1 11 Tf 72 700 Td (Before the form) Tj ET /Fm1 Do /Im1 Do /Fm2 Do BT /F1 11 Tf 72 50 Td (After the form) Tj ET";
    let content_id = doc.add_object(Stream::new(
        dictionary! {},
        page_content.as_bytes().to_vec(),
    ));
    let page_id = doc.get_pages()[&1];
    doc.get_dictionary_mut(page_id)
        .unwrap()
        .set("Contents", content_id);

    let parsed = parse_ok(DocumentFormat::Pdf, &pdf_bytes(&mut doc));
    let text = squash(&parsed.text);
    // The over-deep chain is cut at its top (its first form keeps its text).
    for expected in ["before the form", "inside form", "level2", "after the form"] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from {text:?}"
        );
    }
    assert!(
        !text.contains("pixels"),
        "image bytes were run as content: {text:?}"
    );
}

/// Found by the `parse_pdf` fuzz target (2026-11-29): three bytes changed in a dev
/// contract leave an object reference dangling and pdf-extract panics on it
/// ("missing object reference"). The panic must stay inside the parser: the
/// result is a document or an error, never an unwinding caller.
#[test]
fn fuzz_regression_dangling_object_reference_is_contained() {
    let Some(docs) = eval_docs() else { return };
    let path = docs
        .join("cuad-HEALTHGATEDATACORP_11_24_1999-EX-10.1-HOSTING_AND_MANAGEMENT_AGREEMENT_1.pdf");
    let mut bytes = std::fs::read(path).unwrap();
    for (at, value) in [(1741usize, 61u8), (50323, 144), (50324, 155)] {
        bytes[at] = value;
    }
    let outcome =
        std::panic::catch_unwind(|| parse(DocumentFormat::Pdf, &bytes, &ParseLimits::default()));
    assert!(outcome.is_ok(), "a pdf-extract panic escaped the parser");
}

/// Parses on a thread, failing the test if it takes longer than a minute (a
/// parser that loops forever would otherwise hang the suite).
fn parse_within_a_minute(bytes: Vec<u8>) -> Result<ParsedDocument, ParseError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(parse(DocumentFormat::Pdf, &bytes, &ParseLimits::default()));
    });
    receiver
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the parser returned within a minute")
}

#[test]
fn fuzz_regression_a_parent_cycle_neither_hangs_nor_overflows() {
    // The page tree's root names the page as its parent, and no node has a
    // MediaBox: pdf-extract's inherited-attribute lookup walks /Parent
    // without a visited set (a segmentation fault in the fuzzer, an endless
    // loop in an optimised build).
    for self_parent in [false, true] {
        let mut doc = build_pdf(&[&[&["Either party may terminate this Agreement."]]]);
        let pages_id = doc
            .catalog()
            .unwrap()
            .get(b"Pages")
            .unwrap()
            .as_reference()
            .unwrap();
        let page_id = doc.page_iter().next().unwrap();
        let cycle_to = if self_parent { page_id } else { pages_id };
        if let Ok(Object::Dictionary(pages)) = doc.get_object_mut(pages_id) {
            pages.remove(b"MediaBox");
            if !self_parent {
                pages.set("Parent", page_id);
            }
        }
        if let Ok(Object::Dictionary(page)) = doc.get_object_mut(page_id) {
            page.set("Parent", cycle_to);
        }
        let parsed = parse_within_a_minute(pdf_bytes(&mut doc)).expect("parses");
        assert!(
            parsed.text.contains("Either party may terminate"),
            "{:?}",
            parsed.text
        );
    }
}

/// Found by the `parse_pdf` fuzz target (2026-11-29, a stack overflow in
/// pdf-extract's recursive `Do`): form XObjects that call themselves in ways the
/// cycle check did not see. pdf-extract runs any XObject stream as a form
/// whatever its /Subtype, decodes `#xx` escapes in names, skips comments
/// between operands and operator, uses the caller's resources when a form's
/// /Resources is not a dictionary, and finds XObjects named in resources
/// written inline in a page (the fuzzer's input: a page's own content-like
/// stream, no /Subtype, named in the page's inline resources, calling itself).
#[test]
fn fuzz_regression_forms_hidden_from_the_cycle_check_are_defused() {
    let variants: [(&str, &str, bool); 5] = [
        ("inline page resources", "/Fx Do", false),
        ("no subtype", "/Fx Do", false),
        ("escaped name", "/F#78 Do", true),
        ("comment before Do", "/Fx % a comment\nDo", true),
        ("resources not a dictionary", "/Fx Do", true),
    ];
    for (label, call, subtype_form) in variants {
        let mut doc = build_pdf(&[&[&["placeholder"]]]);
        let resources = shared_resources(&doc);
        let mut dict = dictionary! { "Type" => "XObject" };
        if subtype_form {
            dict.set("Subtype", "Form");
        }
        if label == "resources not a dictionary" {
            dict.set("Resources", 7);
        }
        let form = doc.add_object(Stream::new(
            dict,
            format!("BT /F1 11 Tf 72 600 Td (Inside the form) Tj ET {call}").into_bytes(),
        ));
        let page_id = doc.get_pages()[&1];
        if label == "inline page resources" {
            let fonts = doc
                .get_dictionary(resources)
                .unwrap()
                .get(b"Font")
                .unwrap()
                .clone();
            doc.get_dictionary_mut(page_id).unwrap().set(
                "Resources",
                dictionary! { "Font" => fonts, "XObject" => dictionary! { "Fx" => form } },
            );
        } else {
            doc.get_dictionary_mut(resources)
                .unwrap()
                .set("XObject", dictionary! { "Fx" => form });
        }
        let content_id = doc.add_object(Stream::new(
            dictionary! {},
            b"BT /F1 11 Tf 72 700 Td (On the page) Tj ET /Fx Do".to_vec(),
        ));
        doc.get_dictionary_mut(page_id)
            .unwrap()
            .set("Contents", content_id);
        let parsed = parse_within_a_minute(pdf_bytes(&mut doc)).expect(label);
        let text = squash(&parsed.text);
        assert!(text.contains("on the page"), "{label}: {text:?}");
        assert!(text.contains("inside the form"), "{label}: {text:?}");
    }
}
