//! No side channel through BM25 scores: a tenant's scores and ranking are a
//! function of its own live documents, never of what other tenants store.

use folio_index::{Bm25Index, Hit, IndexedChunk, SearchFilter};
use proptest::prelude::*;

use crate::common::chunk;

/// Ids with the exact bits of their scores, in rank order.
fn exact(hits: &[Hit]) -> Vec<(uuid::Uuid, u32)> {
    hits.iter()
        .map(|hit| (hit.chunk_id, hit.score.to_bits()))
        .collect()
}

const QUERIES: [&str; 5] = [
    "termination notice",
    "payment invoice days",
    "What is the notice period for termination of this agreement?",
    "confidential audit warranty liability",
    "+termination \"written notice\"",
];

/// Every way the index can collect a tenant's hits, on the same committed data:
/// the default, forced term at a time, forced intersection and exhaustive scoring.
fn all_searches(
    dir: &std::path::Path,
    index: &Bm25Index,
    tenant: &str,
) -> Vec<Vec<(uuid::Uuid, u32)>> {
    let follower = || Bm25Index::open_follower(&dir.join("bm25")).unwrap();
    let accumulating = follower().with_intersection_cost(f64::INFINITY);
    let intersecting = follower().with_intersection_cost(0.0);
    let mut results = Vec::new();
    let filters = [
        SearchFilter::tenant(tenant),
        SearchFilter::tenant(tenant).with_collections(["contracts"]),
        SearchFilter::tenant(tenant).with_documents(["a-1", "a-2"]),
    ];
    for filter in &filters {
        for query in QUERIES {
            results.push(exact(&index.search(query, filter, 10).unwrap()));
            results.push(exact(&accumulating.search(query, filter, 10).unwrap()));
            results.push(exact(&intersecting.search(query, filter, 10).unwrap()));
            results.push(exact(&index.search_exhaustive(query, filter, 10).unwrap()));
        }
    }
    results
}

fn tenant_a_chunks() -> Vec<IndexedChunk> {
    let bodies = [
        "Either party may terminate this agreement on ninety days written notice.",
        "Payment is due within thirty days of the invoice date.",
        "The supplier shall keep confidential information confidential and allow an audit once a year.",
        "Termination for convenience requires written notice to the other party and payment of fees.",
        "The warranty excludes liability for indirect damages; notice of a claim is due in ten days.",
        "Invoices are issued monthly; late payment carries interest.",
    ];
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let collection = if i % 2 == 0 { "contracts" } else { "finance" };
            chunk(
                "tenant-a",
                collection,
                &format!("a-{}", i % 3),
                1,
                i as u32,
                "Terms",
                body,
            )
        })
        .collect()
}

fn tenant_b_chunks(round: usize) -> Vec<IndexedChunk> {
    (0..40)
        .map(|i| {
            // B's chunks are full of A's words, in other proportions, so that the
            // whole index's statistics move a lot.
            let body = match i % 4 {
                0 => "termination termination notice notice notice",
                1 => "payment invoice days payment invoice days termination",
                2 => "confidential audit warranty liability notice agreement period",
                _ => "written notice of termination of the agreement within days",
            };
            chunk(
                "tenant-b",
                "contracts",
                &format!("b-{round}-{}", i % 5),
                1,
                i as u32,
                "Termination notice",
                body,
            )
        })
        .collect()
}

/// Tenant A's scores and order are bit for bit the same before and after tenant B
/// adds documents sharing A's words (over several commits), deletes some of them,
/// and deletes all of them, whichever way A's search is collected.
#[test]
fn a_tenants_scores_do_not_move_when_another_tenant_writes() {
    let dir = tempfile::tempdir().unwrap();
    let index = Bm25Index::open_or_create(&dir.path().join("bm25")).unwrap();
    index.add(&tenant_a_chunks()).unwrap();
    index.commit().unwrap();
    let alone = all_searches(dir.path(), &index, "tenant-a");
    assert!(
        alone.iter().any(|hits| hits.len() >= 3),
        "the queries find A's chunks"
    );

    for round in 0..3 {
        index.add(&tenant_b_chunks(round)).unwrap();
        index.commit().unwrap();
    }
    // The whole index's statistics did change: B's own scores for the same words
    // differ from A's, which is what tantivy's statistics would have leaked.
    assert!(index.count(&SearchFilter::tenant("tenant-b")).unwrap() == 120);
    assert_eq!(
        all_searches(dir.path(), &index, "tenant-a"),
        alone,
        "after B's uploads"
    );

    index.delete_document("b-0-1").unwrap();
    index.delete_document("b-1-3").unwrap();
    index.commit().unwrap();
    assert_eq!(
        all_searches(dir.path(), &index, "tenant-a"),
        alone,
        "after some of B's deletions"
    );

    for round in 0..3 {
        for document in 0..5 {
            index
                .delete_document(&format!("b-{round}-{document}"))
                .unwrap();
        }
    }
    index.commit().unwrap();
    assert_eq!(index.count(&SearchFilter::tenant("tenant-b")).unwrap(), 0);
    assert_eq!(
        all_searches(dir.path(), &index, "tenant-a"),
        alone,
        "after all of B's deletions"
    );
}

/// Without per-tenant statistics the test above could not pass: the same chunk
/// text scores differently in two tenants whose other documents differ.
#[test]
fn identical_chunks_of_two_tenants_score_by_their_own_tenants_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let index = Bm25Index::open_or_create(&dir.path().join("bm25")).unwrap();
    let text = "Either party may terminate on written notice.";
    let mut chunks = vec![
        chunk("a", "c", "a-doc", 1, 0, "", text),
        chunk("b", "c", "b-doc", 1, 0, "", text),
    ];
    for i in 0..20 {
        chunks.push(chunk(
            "b",
            "c",
            "b-other",
            1,
            i + 1,
            "",
            "notice notice notice",
        ));
    }
    index.add(&chunks).unwrap();
    index.commit().unwrap();
    let score = |tenant: &str| {
        index
            .search("notice", &SearchFilter::tenant(tenant), 50)
            .unwrap()
    };
    let a = score("a");
    let b = score("b");
    assert_eq!(a.len(), 1);
    let b_same = b
        .iter()
        .find(|hit| hit.chunk_id == chunks[1].chunk_id)
        .unwrap();
    assert_ne!(
        a[0].score, b_same.score,
        "\"notice\" is rare in A and common in B"
    );
}

/// A's hits in an index holding only `a_chunks`: the reference, scored with
/// tantivy's own statistics of that index.
fn hits_alone(a_chunks: &[IndexedChunk], query: &str) -> Vec<(uuid::Uuid, u32)> {
    let dir = tempfile::tempdir().unwrap();
    let alone = Bm25Index::open_or_create(&dir.path().join("bm25")).unwrap();
    alone.add(a_chunks).unwrap();
    alone.commit().unwrap();
    exact(&alone.search(query, &SearchFilter::tenant("a"), 10).unwrap())
}

/// A small tenant beside a large one in one segment: its word counts come from
/// looking its few documents up in long postings (not from walking them), and a
/// deletion after its statistics were cached is counted, both as an index of
/// its own would score them.
#[test]
fn a_small_tenant_in_a_shared_segment_scores_as_alone_before_and_after_a_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let index = Bm25Index::open_or_create(&dir.path().join("bm25")).unwrap();
    let mut a_chunks: Vec<IndexedChunk> = [
        "Termination requires ninety days written notice.",
        "Notice of a claim is due within ten days.",
        "Payment is due on receipt of the invoice.",
    ]
    .iter()
    .enumerate()
    .map(|(i, body)| chunk("a", "c", &format!("a-{i}"), 1, i as u32, "", body))
    .collect();
    let mut all = a_chunks.clone();
    for i in 0..200 {
        all.push(chunk(
            "b",
            "c",
            &format!("b-{i}"),
            1,
            0,
            "",
            "notice of termination and notice of payment",
        ));
    }
    // One commit: one segment shared by both tenants.
    index.add(&all).unwrap();
    index.commit().unwrap();
    let query = "notice termination payment";
    let search = || exact(&index.search(query, &SearchFilter::tenant("a"), 10).unwrap());
    assert_eq!(search(), hits_alone(&a_chunks, query));
    // Searched again from the cache: the same.
    assert_eq!(search(), hits_alone(&a_chunks, query));
    index.delete_document("a-1").unwrap();
    index.commit().unwrap();
    a_chunks.remove(1);
    assert_eq!(search(), hits_alone(&a_chunks, query), "after A's deletion");
}

type Row = (bool, u8, u8, Vec<&'static str>, Vec<&'static str>);

const WORDS: [&str; 12] = [
    "agreement",
    "party",
    "terminate",
    "notice",
    "days",
    "payment",
    "invoice",
    "license",
    "indemnify",
    "confidential",
    "warranty",
    "audit",
];

fn words(max: usize) -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(
        (0.0f64..1.0).prop_map(|u| WORDS[((u * u) * WORDS.len() as f64) as usize]),
        0..max,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Exhaustive scoring and every search way see a tenant as if it were alone:
    /// tenant A's hits in an index shared with B (several segments, deletions in
    /// both tenants) equal, bit for bit, its hits in an index of A's live chunks only.
    #[test]
    fn a_tenants_hits_equal_its_hits_in_an_index_of_its_own(
        rows in prop::collection::vec((any::<bool>(), 0u8..2, 0u8..8, words(3), words(20)), 20..200),
        batches in 1usize..4,
        deleted in prop::collection::vec(0u8..8, 0..3),
        queries in prop::collection::vec((words(6), 0u8..3, 1usize..20), 1..6),
    ) {
        let rows: Vec<Row> = rows;
        let chunks: Vec<IndexedChunk> = rows
            .iter()
            .enumerate()
            .map(|(i, (in_a, collection, document, heading, body))| {
                let tenant = if *in_a { "a" } else { "b" };
                chunk(tenant, &format!("c{collection}"), &format!("{tenant}{document}"), 1, i as u32, &heading.join(" "), &body.join(" "))
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let shared = Bm25Index::open_or_create(&dir.path().join("bm25")).unwrap();
        for part in chunks.chunks(chunks.len().div_ceil(batches)) {
            shared.add(part).unwrap();
            shared.commit().unwrap();
        }
        for document in &deleted {
            shared.delete_document(&format!("a{document}")).unwrap();
            shared.delete_document(&format!("b{}", 7 - document)).unwrap();
        }
        shared.commit().unwrap();
        let own_dir = tempfile::tempdir().unwrap();
        let own = Bm25Index::open_or_create(&own_dir.path().join("bm25")).unwrap();
        let live_a: Vec<IndexedChunk> = chunks
            .iter()
            .filter(|c| c.tenant == "a" && !deleted.iter().any(|d| c.document == format!("a{d}")))
            .cloned()
            .collect();
        own.add(&live_a).unwrap();
        own.commit().unwrap();

        let follower = |cost: f64| Bm25Index::open_follower(&dir.path().join("bm25")).unwrap().with_intersection_cost(cost);
        let (accumulating, intersecting) = (follower(f64::INFINITY), follower(0.0));
        for (query_words, filter_kind, limit) in queries {
            let mut filter = SearchFilter::tenant("a");
            match filter_kind {
                1 => filter.collections = vec!["c0".into()],
                2 => filter.documents = vec!["a1".into(), "a2".into(), "a3".into()],
                _ => {}
            }
            let query = query_words.join(" ");
            let reference = exact(&own.search_exhaustive(&query, &filter, limit).unwrap());
            for (way, found) in [
                ("default", shared.search(&query, &filter, limit).unwrap()),
                ("accumulated", accumulating.search(&query, &filter, limit).unwrap()),
                ("intersected", intersecting.search(&query, &filter, limit).unwrap()),
                ("exhaustive", shared.search_exhaustive(&query, &filter, limit).unwrap()),
            ] {
                let found = exact(&found);
                // Equal scores may come in another order (document addresses differ
                // between the two indexes); the multiset of (score, id) may not.
                prop_assert_eq!(found.len(), reference.len(), "{} {:?}", way, query);
                let scores = |hits: &[(uuid::Uuid, u32)]| hits.iter().map(|h| h.1).collect::<Vec<_>>();
                prop_assert_eq!(scores(&found), scores(&reference), "{} {:?} {:?}", way, query, filter);
                let last = reference.last().map(|h| h.1);
                let above = |hits: &[(uuid::Uuid, u32)]| {
                    let mut ids: Vec<_> = hits.iter().filter(|h| Some(h.1) != last).copied().collect();
                    ids.sort();
                    ids
                };
                prop_assert_eq!(above(&found), above(&reference), "{} {:?} {:?}", way, query, filter);
            }
        }
    }
}
