//! The tantivy BM25 index.

use folio_index::{Bm25Index, IndexError, SearchFilter};
use proptest::prelude::*;
use uuid::Uuid;

use crate::common::chunk;

fn open() -> (tempfile::TempDir, Bm25Index) {
    let dir = tempfile::tempdir().unwrap();
    let index = Bm25Index::open_or_create(&dir.path().join("bm25")).unwrap();
    (dir, index)
}

#[test]
fn stemmed_search_finds_the_right_chunk_and_commit_controls_visibility() {
    let (_dir, index) = open();
    let termination = chunk(
        "t1",
        "c",
        "msa",
        1,
        0,
        "9.2 Termination for Convenience",
        "Either party may terminate this Agreement upon thirty days notice.",
    );
    let payment = chunk(
        "t1",
        "c",
        "msa",
        1,
        1,
        "4.1 Fees",
        "Customer shall pay all invoices within forty-five days.",
    );
    index.add(&[termination.clone(), payment.clone()]).unwrap();

    let filter = SearchFilter::tenant("t1");
    assert!(
        index.search("terminated", &filter, 10).unwrap().is_empty(),
        "not visible before commit"
    );
    index.commit().unwrap();

    let hits = index.search("terminated agreement", &filter, 10).unwrap();
    assert_eq!(
        hits[0].chunk_id, termination.chunk_id,
        "en stemming: terminated ~ terminate"
    );
    assert!(hits[0].score > 0.0);
    let hits = index.search("invoice payment", &filter, 10).unwrap();
    assert_eq!(hits.first().map(|h| h.chunk_id), Some(payment.chunk_id));
    assert_eq!(index.count(&filter).unwrap(), 2);
}

#[test]
fn merging_leaves_one_segment_and_the_same_hits() {
    let (_dir, index) = open();
    let words = ["indemnify", "terminate", "assign", "audit", "warranty"];
    for batch in 0..3u32 {
        let chunks: Vec<_> = (0..10u32)
            .map(|i| {
                let body = format!(
                    "{} {} clause number {i}",
                    words[(i as usize + batch as usize) % words.len()],
                    words[i as usize % words.len()]
                );
                chunk("t", "c", &format!("d{batch}"), 1, batch * 10 + i, "", &body)
            })
            .collect();
        index.add(&chunks).unwrap();
        index.commit().unwrap();
    }
    index.delete_document("d1").unwrap();
    index.commit().unwrap();
    let filter = SearchFilter::tenant("t");
    // A limit above the number of matches, so ties cannot make the sets differ.
    let before = index.search("indemnify audit", &filter, 50).unwrap();
    assert!(!before.is_empty());
    assert!(index.segment_count().unwrap() >= 2);
    let ids = |hits: &[folio_index::Hit]| {
        let mut ids: Vec<_> = hits.iter().map(|h| h.chunk_id).collect();
        ids.sort();
        ids
    };
    let wand = index
        .search_block_max_wand("indemnify audit", &filter, 50)
        .unwrap();
    assert_eq!(ids(&wand), ids(&before), "tantivy's collector agrees");

    assert!(index.merge_segments().unwrap());
    assert_eq!(index.segment_count().unwrap(), 1);
    let after = index.search("indemnify audit", &filter, 50).unwrap();
    assert_eq!(ids(&after), ids(&before));
    assert_eq!(
        index.count(&filter).unwrap(),
        20,
        "the deleted document stays deleted"
    );
    assert!(
        !index.merge_segments().unwrap(),
        "one segment: nothing to merge"
    );
}

#[test]
fn heading_matches_rank_above_body_matches() {
    let (_dir, index) = open();
    let in_heading = chunk(
        "t",
        "c",
        "d",
        1,
        0,
        "Confidentiality",
        "The parties agree to the terms below.",
    );
    let in_body = chunk(
        "t",
        "c",
        "d",
        1,
        1,
        "Miscellaneous",
        "The parties agree to confidentiality below.",
    );
    index.add(&[in_body.clone(), in_heading.clone()]).unwrap();
    index.commit().unwrap();
    let hits = index
        .search("confidentiality", &SearchFilter::tenant("t"), 10)
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].chunk_id, in_heading.chunk_id);
    assert!(hits[0].score > hits[1].score);
}

#[test]
fn filters_restrict_to_collections_and_documents() {
    let (_dir, index) = open();
    let a = chunk(
        "t",
        "contracts",
        "doc-a",
        1,
        0,
        "",
        "indemnification obligations",
    );
    let b = chunk("t", "contracts", "doc-b", 1, 0, "", "indemnification cap");
    let c = chunk(
        "t",
        "filings",
        "doc-c",
        1,
        0,
        "",
        "indemnification in the 10-K",
    );
    index.add(&[a.clone(), b.clone(), c.clone()]).unwrap();
    index.commit().unwrap();

    let ids = |filter: &SearchFilter| {
        let mut ids: Vec<Uuid> = index
            .search("indemnification", filter, 10)
            .unwrap()
            .iter()
            .map(|h| h.chunk_id)
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<Uuid>| {
        v.sort();
        v
    };
    assert_eq!(ids(&SearchFilter::tenant("t")).len(), 3);
    assert_eq!(
        ids(&SearchFilter::tenant("t").with_collections(["contracts"])),
        sorted(vec![a.chunk_id, b.chunk_id])
    );
    assert_eq!(
        ids(&SearchFilter::tenant("t").with_documents(["doc-a", "doc-c"])),
        sorted(vec![a.chunk_id, c.chunk_id])
    );
    assert_eq!(
        ids(&SearchFilter::tenant("t")
            .with_collections(["filings"])
            .with_documents(["doc-a"])),
        Vec::<Uuid>::new()
    );
    assert_eq!(
        index
            .count(&SearchFilter::tenant("t").with_collections(["filings", "contracts"]))
            .unwrap(),
        3
    );
    assert_eq!(index.count(&SearchFilter::tenant("other")).unwrap(), 0);
}

#[test]
fn deletes_by_document_version_and_chunk() {
    let (_dir, index) = open();
    let v1: Vec<_> = (0..3)
        .map(|i| chunk("t", "c", "doc", 1, i, "", "base rent"))
        .collect();
    let v2: Vec<_> = (0..2)
        .map(|i| chunk("t", "c", "doc", 2, i, "", "base rent escalation"))
        .collect();
    let other = chunk("t", "c", "other", 1, 0, "", "base rent");
    index.add(&v1).unwrap();
    index.add(&v2).unwrap();
    index.add(std::slice::from_ref(&other)).unwrap();
    index.commit().unwrap();
    let doc = SearchFilter::tenant("t").with_documents(["doc"]);
    assert_eq!(index.count(&doc).unwrap(), 5);

    index.delete_document_version("doc", 1).unwrap();
    index.commit().unwrap();
    assert_eq!(index.count(&doc).unwrap(), 2);

    index.delete_chunks(&[v2[0].chunk_id]).unwrap();
    index.commit().unwrap();
    let left: Vec<Uuid> = index
        .search("rent", &doc, 10)
        .unwrap()
        .iter()
        .map(|h| h.chunk_id)
        .collect();
    assert_eq!(left, vec![v2[1].chunk_id]);

    index.delete_document("doc").unwrap();
    index.commit().unwrap();
    assert_eq!(index.count(&doc).unwrap(), 0);
    assert_eq!(
        index.count(&SearchFilter::tenant("t")).unwrap(),
        1,
        "other documents untouched"
    );
}

#[test]
fn re_adding_a_chunk_replaces_it() {
    let (_dir, index) = open();
    let mut c = chunk("t", "c", "d", 1, 0, "", "original wording");
    index.add(&[c.clone()]).unwrap();
    index.commit().unwrap();
    c.body = "revised wording".into();
    index.add(&[c.clone()]).unwrap();
    index.add(&[c.clone()]).unwrap();
    index.commit().unwrap();
    let filter = SearchFilter::tenant("t");
    assert_eq!(index.count(&filter).unwrap(), 1);
    assert!(index.search("original", &filter, 10).unwrap().is_empty());
    assert_eq!(
        index.search("revised", &filter, 10).unwrap()[0].chunk_id,
        c.chunk_id
    );
}

#[test]
fn committed_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bm25");
    let c = chunk(
        "t",
        "c",
        "d",
        7,
        0,
        "Governing Law",
        "laws of the State of Delaware",
    );
    {
        let index = Bm25Index::open_or_create(&path).unwrap();
        index.add(std::slice::from_ref(&c)).unwrap();
        index.commit().unwrap();
    }
    let index = Bm25Index::open_or_create(&path).unwrap();
    assert_eq!(
        index
            .search("delaware", &SearchFilter::tenant("t"), 5)
            .unwrap()[0]
            .chunk_id,
        c.chunk_id
    );
    index.delete_document_version("d", 7).unwrap();
    index.commit().unwrap();
    assert_eq!(
        index.count(&SearchFilter::tenant("t")).unwrap(),
        0,
        "version is indexed after reopen"
    );
}

#[test]
fn empty_tenant_is_refused_everywhere() {
    let (_dir, index) = open();
    assert!(matches!(
        index.add(&[chunk("", "c", "d", 1, 0, "", "x")]),
        Err(IndexError::InvalidInput(_))
    ));
    assert!(matches!(
        index.search("x", &SearchFilter::tenant(" "), 5),
        Err(IndexError::InvalidInput(_))
    ));
    assert!(matches!(
        index.count(&SearchFilter::tenant("")),
        Err(IndexError::InvalidInput(_))
    ));
}

#[test]
fn hostile_query_syntax_never_errors() {
    let (_dir, index) = open();
    index
        .add(&[chunk(
            "t",
            "c",
            "d",
            1,
            0,
            "Section 2(a)",
            "Net Revenue: as defined in \"Schedule A\" (see Item 7).",
        )])
        .unwrap();
    index.commit().unwrap();
    let filter = SearchFilter::tenant("t");
    for query in [
        "\"unbalanced quote",
        "Section 2(a",
        "Item 7: MD&A",
        "tenant:other",
        "body:",
        ":::",
        "((()))",
        "NOT AND OR",
        "-",
        "+",
        "*",
        "title:[a TO",
        "revenue^",
        "\\",
        "",
    ] {
        index
            .search(query, &filter, 5)
            .unwrap_or_else(|e| panic!("{query:?}: {e}"));
    }
    let hits = index.search("Item 7: \"net revenue", &filter, 5).unwrap();
    assert_eq!(hits.len(), 1, "the words still match");
    // Field syntax cannot reach another tenant: the tenant filter is always applied.
    assert!(index
        .search("tenant:t", &SearchFilter::tenant("u"), 5)
        .unwrap()
        .is_empty());
    assert!(index.search("anything", &filter, 0).unwrap().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn arbitrary_query_text_never_errors(query in "\\PC{0,40}|[\"():+\\-*^~\\[\\]{}!\\\\a-z ]{0,30}") {
        static INDEX: std::sync::OnceLock<(tempfile::TempDir, Bm25Index)> = std::sync::OnceLock::new();
        let (_, index) = INDEX.get_or_init(|| {
            let (dir, index) = open();
            index.add(&[chunk("t", "c", "d", 1, 0, "Heading", "some body text (with) \"quotes\" and: colons")]).unwrap();
            index.commit().unwrap();
            (dir, index)
        });
        prop_assert!(index.search(&query, &SearchFilter::tenant("t"), 5).is_ok());
    }
}

#[test]
fn a_follower_sees_the_writers_commits_and_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bm25");
    // The follower may start first: it creates the empty index the writer adopts.
    let follower = Bm25Index::open_follower(&path).unwrap();
    let writer = Bm25Index::open_or_create(&path).unwrap();
    let filter = SearchFilter::tenant("t");
    let row = chunk("t", "c", "d", 1, 0, "1. Term", "The term is five years.");
    writer.add(std::slice::from_ref(&row)).unwrap();
    writer.commit().unwrap();
    // Without an explicit refresh the follower catches up on its own (tantivy
    // polls meta.json); refresh makes the test independent of that delay.
    follower.refresh().unwrap();
    assert_eq!(follower.count(&filter).unwrap(), 1);
    let hits = follower.search("term years", &filter, 5).unwrap();
    assert_eq!(hits.first().map(|h| h.chunk_id), Some(row.chunk_id));
    assert!(matches!(
        follower.add(std::slice::from_ref(&row)),
        Err(IndexError::ReadOnly(_))
    ));
    assert!(matches!(follower.commit(), Err(IndexError::ReadOnly(_))));
    // A second writer on the same directory is refused while the first lives.
    assert!(Bm25Index::open_or_create(&path).is_err());
}

const VOCABULARY: [&str; 24] = [
    "the",
    "of",
    "agreement",
    "party",
    "shall",
    "terminate",
    "notice",
    "days",
    "payment",
    "invoice",
    "license",
    "software",
    "revenue",
    "fiscal",
    "quarter",
    "margin",
    "indemnify",
    "confidential",
    "warranty",
    "liability",
    "exclusive",
    "territory",
    "renewal",
    "audit",
];

/// Words drawn with a skewed distribution, as in real text: the first few are
/// in almost every chunk, the last ones rare.
fn skewed_words(max: usize) -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(
        (0.0f64..1.0).prop_map(|u| VOCABULARY[((u * u * u) * VOCABULARY.len() as f64) as usize]),
        0..max,
    )
}

type CorpusRow = (u8, u8, u8, Vec<&'static str>, Vec<&'static str>);

fn corpus_chunk() -> impl Strategy<Value = CorpusRow> {
    (0u8..10, 0u8..2, 0u8..12, skewed_words(4), skewed_words(30))
}

/// Indexes generated rows as chunks of `tenant_of(row's tenant draw)`, committed in
/// `batches` parts so that the index has several segments.
fn index_rows(
    index: &Bm25Index,
    rows: &[CorpusRow],
    batches: usize,
    tenant_of: impl Fn(u8) -> &'static str,
) {
    let chunks: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(i, (tenant, collection, document, heading, body))| {
            chunk(
                tenant_of(*tenant),
                &format!("c{collection}"),
                &format!("d{document}"),
                1,
                i as u32,
                &heading.join(" "),
                &body.join(" "),
            )
        })
        .collect();
    for part in chunks.chunks(chunks.len().div_ceil(batches)) {
        index.add(part).unwrap();
        index.commit().unwrap();
    }
}

/// The ids of `hits` scoring above `last` (the exact k-th score), sorted: two exact
/// searches may differ only among hits tied with the last one kept.
fn ids_above(hits: &[folio_index::Hit], last: f32) -> Vec<uuid::Uuid> {
    let mut ids: Vec<_> = hits
        .iter()
        .filter(|h| h.score > last + 1e-4)
        .map(|h| h.chunk_id)
        .collect();
    ids.sort();
    ids
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// The default search (term at a time over the whole index, over-fetching, then
    /// the filter) and tantivy's block-max WAND return what scoring every filtered
    /// document returns, for filters that keep the whole index, most of it, and
    /// few documents (intersected).
    #[test]
    fn default_search_equals_exhaustive_search(
        rows in prop::collection::vec(corpus_chunk(), 50..400),
        batches in 1usize..5,
        delete_one in any::<bool>(),
        one_tenant in any::<bool>(),
        queries in prop::collection::vec((skewed_words(7), 0u8..4, 1usize..25), 1..8),
    ) {
        let (dir, index) = open();
        // Tenant t0 holds 80 % of the chunks, or all of them, so that its filter
        // keeps the whole index.
        index_rows(&index, &rows, batches, |draw| if draw < 8 || one_tenant { "t0" } else { "t1" });
        // Deleted documents must stay out of the top-k, though their postings remain.
        if delete_one {
            index.delete_document("d5").unwrap();
            index.commit().unwrap();
        }
        // Filtered searches forced each way, on the same committed index.
        let follower = || Bm25Index::open_follower(&dir.path().join("bm25")).unwrap();
        let accumulating = follower().with_intersection_cost(f64::INFINITY);
        let intersecting = follower().with_intersection_cost(0.0);
        for (words, filter_kind, limit) in queries {
            let mut filter = SearchFilter::tenant(if filter_kind == 3 { "t1" } else { "t0" });
            match filter_kind {
                1 => filter.collections = vec!["c0".into()],
                2 => filter.documents = vec!["d3".into(), "d7".into()],
                _ => {}
            }
            let query = words.join(" ");
            let exhaustive = index.search_exhaustive(&query, &filter, limit).unwrap();
            let last = exhaustive.last().map_or(0.0, |h| h.score);
            for (collector, found) in [
                ("default", index.search(&query, &filter, limit).unwrap()),
                ("accumulated", accumulating.search(&query, &filter, limit).unwrap()),
                ("intersected", intersecting.search(&query, &filter, limit).unwrap()),
                ("wand", index.search_block_max_wand(&query, &filter, limit).unwrap()),
            ] {
                prop_assert_eq!(found.len(), exhaustive.len(), "{} {:?} {:?}", collector, query, filter);
                for (a, b) in found.iter().zip(&exhaustive) {
                    prop_assert!((a.score - b.score).abs() <= 1e-4 * b.score.abs().max(1.0), "{} {:?}: {} vs {}", collector, query, a.score, b.score);
                }
                prop_assert_eq!(ids_above(&found, last), ids_above(&exhaustive, last), "{} {:?} {:?}", collector, query, filter);
            }
        }
    }
}
