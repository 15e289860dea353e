//! Measurements, not tests: run with
//! `cargo test --release -p folio-index --test integration figures -- --ignored --nocapture`.
//! They print figures and assert nothing about time.

use std::time::Instant;

use folio_common::model::TokenCounter;
use folio_index::{Bm25Index, EdgeVectorStore, SearchFilter, VectorStore};

use crate::common::{chunk, embedder, point, pseudo_vector, runtime};

const WORDS: &[&str] = &[
    "agreement",
    "party",
    "shall",
    "termination",
    "notice",
    "licensee",
    "indemnify",
    "revenue",
    "fiscal",
    "obligation",
    "breach",
    "warranty",
    "liability",
    "section",
    "schedule",
    "payment",
    "confidential",
    "governing",
    "law",
    "assignment",
    "subsidiary",
    "consolidated",
    "statement",
    "material",
    "adverse",
];

fn passage(seed: usize, words: usize) -> String {
    (0..words)
        .map(|i| WORDS[(seed * 7 + i * 13 + i / 5) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
#[ignore = "measurement; run explicitly"]
fn figures_embedding_throughput() {
    let embedder = embedder();
    let passages: Vec<String> = (0..96).map(|i| passage(i, 300)).collect();
    let tokens = embedder.count_tokens(&passages[0]);
    assert!(
        tokens >= 256,
        "passages must fill the 256-token window, got {tokens}"
    );
    embedder.embed(&passages[..32]).unwrap(); // warm-up
    let start = Instant::now();
    let vectors = embedder.embed(&passages).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(vectors.len(), passages.len());
    println!(
        "FIGURE embedding: {} passages x {} tokens (batch 32, {} cores): {:.2} s, {:.1} passages/s, {:.0} tokens/s",
        passages.len(),
        embedder.max_length(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        seconds,
        passages.len() as f64 / seconds,
        (passages.len() * embedder.max_length()) as f64 / seconds
    );
}

#[test]
#[ignore = "measurement; run explicitly"]
fn figures_tantivy_indexing() {
    let dir = tempfile::tempdir().unwrap();
    let index = Bm25Index::open_or_create(dir.path()).unwrap();
    let chunks: Vec<_> = (0..10_000)
        .map(|i| {
            chunk(
                "t",
                "c",
                &format!("doc-{}", i / 100),
                1,
                (i % 100) as u32,
                &passage(i, 6),
                &passage(i + 1, 180),
            )
        })
        .collect();
    let bytes: usize = chunks.iter().map(|c| c.body.len() + c.heading.len()).sum();
    let start = Instant::now();
    index.add(&chunks).unwrap();
    index.commit().unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let filter = SearchFilter::tenant("t").with_documents(["doc-7", "doc-42"]);
    let queries = 200;
    let search_start = Instant::now();
    for i in 0..queries {
        index
            .search(
                &format!(
                    "{} {}",
                    WORDS[i % WORDS.len()],
                    WORDS[(i * 3) % WORDS.len()]
                ),
                &filter,
                10,
            )
            .unwrap();
    }
    let per_query = search_start.elapsed().as_secs_f64() / queries as f64;
    println!(
        "FIGURE tantivy: add+commit {} chunks ({:.1} MB): {:.2} s ({:.1} MB/s); filtered top-10 {:.3} ms/query",
        chunks.len(),
        bytes as f64 / 1e6,
        seconds,
        bytes as f64 / 1e6 / seconds,
        per_query * 1e3
    );
}

#[test]
#[ignore = "measurement; run explicitly"]
fn figures_edge_vectors() {
    const DIM: usize = 384;
    const N: usize = 10_000;
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard");
        let store = EdgeVectorStore::open(&path).await.unwrap();
        store.ensure_ready(DIM).await.unwrap();
        let points: Vec<_> = (0..N)
            .map(|i| {
                let tenant = format!("tenant-{}", i % 10);
                point(uuid::Uuid::new_v4(), pseudo_vector(i as u64, DIM), &tenant, "c", &format!("doc-{}", i / 50), 1, i as u32)
            })
            .collect();
        let start = Instant::now();
        for batch in points.chunks(256) {
            store.upsert(batch).await.unwrap();
        }
        let upsert = start.elapsed().as_secs_f64();

        let filter = SearchFilter::tenant("tenant-3");
        let measure = |label: &'static str| {
            let store = &store;
            let filter = &filter;
            async move {
                let queries = 200;
                let start = Instant::now();
                for i in 0..queries {
                    let hits = store.search(&pseudo_vector(1_000_000 + i, DIM), filter, 10).await.unwrap();
                    assert_eq!(hits.len(), 10);
                }
                println!("FIGURE edge: filtered (1/10 tenant) top-10 {label}: {:.3} ms/query", start.elapsed().as_secs_f64() * 1e3 / queries as f64);
            }
        };
        measure("before optimize").await;
        let start = Instant::now();
        store.optimize().await.unwrap();
        let optimize = start.elapsed().as_secs_f64();
        measure("after optimize").await;
        drop(store);
        let start = Instant::now();
        let store = EdgeVectorStore::open(&path).await.unwrap();
        let reload = start.elapsed().as_secs_f64();
        assert_eq!(store.count(&SearchFilter::tenant("tenant-3")).await.unwrap(), (N / 10) as u64);
        println!(
            "FIGURE edge: upsert {N} x {DIM}-d points in batches of 256 (flushed per batch): {upsert:.2} s ({:.0} points/s); optimize {optimize:.2} s; reopen {reload:.3} s",
            N as f64 / upsert
        );
    });
}

#[test]
#[ignore = "measurement; needs FOLIO_BM25_DIR (e.g. the 1M-chunk bench index) and FOLIO_TENANT"]
fn figures_bm25_default_against_exhaustive_on_a_large_index() {
    let dir = std::env::var("FOLIO_BM25_DIR").expect("FOLIO_BM25_DIR");
    let tenant = std::env::var("FOLIO_TENANT").expect("FOLIO_TENANT");
    let index = Bm25Index::open_follower(std::path::Path::new(&dir)).unwrap();
    let filter = SearchFilter::tenant(tenant);
    let questions = [
        "What is the notice period for termination of the agreement?",
        "What was the total revenue of the company in fiscal 2023?",
        "Does the contract contain an exclusivity clause?",
        "how much was the operating margin in the fourth quarter",
    ];
    for question in questions {
        let start = Instant::now();
        let found = index.search(question, &filter, 58).unwrap();
        let fast = start.elapsed().as_secs_f64() * 1e3;
        let start = Instant::now();
        let exhaustive = index.search_exhaustive(question, &filter, 58).unwrap();
        let slow = start.elapsed().as_secs_f64() * 1e3;
        println!("FIGURE bm25 {question:?}: default {fast:.1} ms, exhaustive {slow:.1} ms, same top-1: {}", found.first().map(|h| h.chunk_id) == exhaustive.first().map(|h| h.chunk_id));
    }
}

#[test]
#[ignore = "measurement; needs FOLIO_BM25_DIR, FOLIO_TENANT, FOLIO_DOCUMENT_IDS (a file of the tenant's document ids, one per line) and FOLIO_QUESTIONS (a questions.jsonl)"]
fn figures_bm25_filtered_ways_on_a_large_index() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name}"));
    let dir = std::path::PathBuf::from(var("FOLIO_BM25_DIR"));
    let tenant = var("FOLIO_TENANT");
    let documents: Vec<String> = std::fs::read_to_string(var("FOLIO_DOCUMENT_IDS"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let questions: Vec<String> = std::fs::read_to_string(var("FOLIO_QUESTIONS"))
        .unwrap()
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            row["question"].as_str().unwrap().to_string()
        })
        .collect();
    let open = || Bm25Index::open_follower(&dir).unwrap();
    let (accumulating, intersecting, default) = (
        open().with_intersection_cost(f64::INFINITY),
        open().with_intersection_cost(0.0),
        open(),
    );
    let everything = SearchFilter::tenant(tenant.clone());
    for question in questions.iter().take(20) {
        accumulating.search(question, &everything, 58).unwrap();
    }
    for count in [1usize, 5, 10, 25, 50, 100, 250, 400] {
        if count > documents.len() {
            break;
        }
        let mut filter = SearchFilter::tenant(tenant.clone());
        filter.documents = documents[..count].to_vec();
        let (mut accumulated_ms, mut intersected_ms, mut default_ms) = (0.0, 0.0, 0.0);
        for (i, question) in questions.iter().enumerate() {
            let time = |index: &Bm25Index| {
                let start = Instant::now();
                let hits = index.search(question, &filter, 58).unwrap();
                (start.elapsed().as_secs_f64() * 1e3, hits.len())
            };
            // Which way goes first alternates, so neither always finds warm caches.
            let (accumulated, intersected) = if i % 2 == 0 {
                let accumulated = time(&accumulating);
                (accumulated, time(&intersecting))
            } else {
                let intersected = time(&intersecting);
                (time(&accumulating), intersected)
            };
            assert_eq!(accumulated.1, intersected.1, "{question}");
            accumulated_ms += accumulated.0;
            intersected_ms += intersected.0;
            default_ms += time(&default).0;
        }
        let n = questions.len() as f64;
        println!(
            "FIGURE bm25 filtered to {count} documents, ms per search: term at a time {:.2}, intersection {:.2}, default (estimate) {:.2}",
            accumulated_ms / n,
            intersected_ms / n,
            default_ms / n
        );
    }
}
