//! Vector stores: one test body per property, run against qdrant-edge and (when
//! `QDRANT_URL` is set) a Qdrant server.

use std::sync::Arc;

use folio_index::{
    EdgeStoreOptions, EdgeVectorStore, IndexError, SearchFilter, VectorPoint, VectorStore,
    VectorStoreStats,
};
use uuid::Uuid;

use crate::common::{
    cosine, edge_store, point, pseudo_vector, runtime, server_client, server_store,
};

const DIM: usize = 16;

fn points(
    tenant: &str,
    collection: &str,
    document: &str,
    version: u64,
    n: usize,
    seed: u64,
) -> Vec<VectorPoint> {
    (0..n)
        .map(|i| {
            point(
                Uuid::new_v4(),
                pseudo_vector(seed * 10_000 + i as u64, DIM),
                tenant,
                collection,
                document,
                version,
                i as u32,
            )
        })
        .collect()
}

/// Runs `body` against every available backend.
fn on_every_backend<F, Fut>(test: &str, body: F)
where
    F: Fn(Arc<dyn VectorStore>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let rt = runtime();
    rt.block_on(async {
        let (_dir, edge) = edge_store(DIM).await;
        body(edge).await;
        if let Some(server) = server_store(test, DIM).await {
            body(Arc::clone(&server.store)).await;
            server.drop_collection().await;
        }
    });
}

async fn nearest_first(store: Arc<dyn VectorStore>) {
    let stored = points("t", "c", "d", 1, 50, 1);
    store.upsert(&stored).await.unwrap();
    let target = &stored[23];
    let hits = store
        .search(&target.vector, &SearchFilter::tenant("t"), 5)
        .await
        .unwrap();
    assert_eq!(hits.len(), 5, "{}", store.name());
    assert_eq!(hits[0].chunk_id, target.id, "{}", store.name());
    assert!(
        (hits[0].score - 1.0).abs() < 1e-4,
        "cosine of a vector with itself: {}",
        hits[0].score
    );
    for pair in hits.windows(2) {
        assert!(pair[0].score >= pair[1].score);
    }
    let second = stored.iter().find(|p| p.id == hits[1].chunk_id).unwrap();
    assert!(
        (hits[1].score - cosine(&target.vector, &second.vector)).abs() < 1e-4,
        "scores are cosine similarities"
    );
}

#[test]
fn search_returns_the_nearest_points_best_first() {
    on_every_backend(
        "search_returns_the_nearest_points_best_first",
        nearest_first,
    );
}

async fn counting_invariant(store: Arc<dyn VectorStore>) {
    let (n, m) = (37, 23);
    let x = points("t", "c", "doc-x", 1, n, 2);
    let y = points("t", "c", "doc-y", 1, m, 3);
    store.upsert(&x).await.unwrap();
    store.upsert(&y).await.unwrap();
    let count = |documents: &[&str]| {
        let filter = SearchFilter::tenant("t").with_documents(documents.iter().copied());
        let store = store.clone();
        async move { store.count(&filter).await.unwrap() }
    };
    assert_eq!(count(&["doc-x"]).await, n as u64);
    assert_eq!(count(&["doc-y"]).await, m as u64);

    // Re-upserting the same ids (even with new vectors) replaces, never duplicates.
    let mut again = x.clone();
    for p in &mut again {
        p.vector = pseudo_vector(p.payload.ordinal as u64 + 999, DIM);
    }
    store.upsert(&again).await.unwrap();
    store.upsert(&y).await.unwrap();
    assert_eq!(count(&["doc-x"]).await, n as u64, "{}", store.name());
    assert_eq!(count(&["doc-x", "doc-y"]).await, (n + m) as u64);

    store.delete_document("doc-x").await.unwrap();
    assert_eq!(count(&["doc-x"]).await, 0, "{}", store.name());
    assert_eq!(count(&["doc-y"]).await, m as u64, "{}", store.name());
    assert_eq!(
        store.count(&SearchFilter::tenant("t")).await.unwrap(),
        m as u64
    );
}

#[test]
fn deleting_a_document_leaves_the_others_and_reupserts_do_not_duplicate() {
    on_every_backend("counting_invariant", counting_invariant);
}

async fn version_deletes(store: Arc<dyn VectorStore>) {
    let v1 = points("t", "c", "doc", 1, 10, 4);
    let v2 = points("t", "c", "doc", 2, 6, 5);
    store.upsert(&v1).await.unwrap();
    store.upsert(&v2).await.unwrap();
    store.delete_document_version("doc", 1).await.unwrap();
    let filter = SearchFilter::tenant("t").with_documents(["doc"]);
    assert_eq!(store.count(&filter).await.unwrap(), 6, "{}", store.name());
    let hits = store.search(&v1[0].vector, &filter, 20).await.unwrap();
    assert!(hits.iter().all(|h| v2.iter().any(|p| p.id == h.chunk_id)));
    store.delete_document_version("doc", 99).await.unwrap();
    assert_eq!(store.count(&filter).await.unwrap(), 6);
}

#[test]
fn deleting_a_version_keeps_the_other_versions() {
    on_every_backend("version_deletes", version_deletes);
}

async fn filters(store: Arc<dyn VectorStore>) {
    let a = points("t", "contracts", "a", 1, 5, 6);
    let b = points("t", "filings", "b", 1, 5, 7);
    let other_tenant = points("u", "contracts", "a", 1, 5, 8);
    for batch in [&a, &b, &other_tenant] {
        store.upsert(batch).await.unwrap();
    }
    let query = &a[0].vector;
    let ids = |filter: SearchFilter| {
        let store = store.clone();
        async move {
            store
                .search(query, &filter, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|h| h.chunk_id)
                .collect::<Vec<_>>()
        }
    };
    let hits = ids(SearchFilter::tenant("t").with_collections(["contracts"])).await;
    assert_eq!(hits.len(), 5);
    assert!(
        hits.iter().all(|id| a.iter().any(|p| p.id == *id)),
        "{}",
        store.name()
    );
    let hits = ids(SearchFilter::tenant("t")
        .with_collections(["contracts", "filings"])
        .with_documents(["b"]))
    .await;
    assert!(hits.len() == 5 && hits.iter().all(|id| b.iter().any(|p| p.id == *id)));
    let hits = ids(SearchFilter::tenant("u")).await;
    assert!(
        hits.len() == 5
            && hits
                .iter()
                .all(|id| other_tenant.iter().any(|p| p.id == *id))
    );
    assert!(ids(SearchFilter::tenant("nobody")).await.is_empty());
    // A tenant id with whitespace must be matched exactly, not as full text.
    assert!(ids(SearchFilter::tenant("t u")).await.is_empty());
    assert_eq!(store.count(&SearchFilter::tenant("t")).await.unwrap(), 10);
}

#[test]
fn filters_select_tenant_collections_and_documents() {
    on_every_backend("filters", filters);
}

async fn refusals(store: Arc<dyn VectorStore>) {
    let mut bad = points("t", "c", "d", 1, 1, 9);
    bad[0].vector.pop();
    assert!(matches!(
        store.upsert(&bad).await,
        Err(IndexError::DimensionMismatch {
            expected: DIM,
            actual: 15
        })
    ));
    let no_tenant = points("", "c", "d", 1, 1, 9);
    assert!(matches!(
        store.upsert(&no_tenant).await,
        Err(IndexError::InvalidInput(_))
    ));
    assert!(matches!(
        store.search(&[0.0; 3], &SearchFilter::tenant("t"), 5).await,
        Err(IndexError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        store.count(&SearchFilter::tenant("")).await,
        Err(IndexError::InvalidInput(_))
    ));
    assert!(matches!(
        store.ensure_ready(DIM + 1).await,
        Err(IndexError::DimensionMismatch { .. })
    ));
    store.ensure_ready(DIM).await.unwrap();
    assert!(store.upsert(&[]).await.is_ok());
    assert!(store
        .search(&pseudo_vector(1, DIM), &SearchFilter::tenant("t"), 0)
        .await
        .unwrap()
        .is_empty());
}

#[test]
fn bad_input_is_refused_with_clear_errors() {
    on_every_backend("refusals", refusals);
}

#[test]
fn edge_store_reopens_with_points_dimension_and_payload_indexes() {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard");
        let stored = points("t", "c", "d", 3, 40, 10);
        {
            let store = EdgeVectorStore::open(&path).await.unwrap();
            let error = store.count(&SearchFilter::tenant("t")).await.unwrap_err();
            assert!(matches!(error, IndexError::NotReady { .. }), "{error}");
            store.ensure_ready(DIM).await.unwrap();
            store.upsert(&stored).await.unwrap();
            store.ensure_ready(DIM).await.unwrap();
        }
        let store = EdgeVectorStore::open(&path).await.unwrap();
        assert_eq!(
            store.count(&SearchFilter::tenant("t")).await.unwrap(),
            40,
            "no ensure_ready needed after reopen"
        );
        let hits = store
            .search(&stored[7].vector, &SearchFilter::tenant("t"), 1)
            .await
            .unwrap();
        assert_eq!(hits[0].chunk_id, stored[7].id);
        assert!(matches!(
            store.ensure_ready(DIM * 2).await,
            Err(IndexError::DimensionMismatch { .. })
        ));
        store.ensure_ready(DIM).await.unwrap();

        // Optimising (index build, vacuum) keeps what deletes left.
        store.delete_document_version("d", 3).await.unwrap();
        store.upsert(&stored[..5]).await.unwrap();
        store.optimize().await.unwrap();
        assert_eq!(store.count(&SearchFilter::tenant("t")).await.unwrap(), 5);
        drop(store);
        let store = EdgeVectorStore::open(&path).await.unwrap();
        assert_eq!(
            store
                .count(&SearchFilter::tenant("t").with_documents(["d"]))
                .await
                .unwrap(),
            5
        );

        // The shard's WAL is locked: a second store on the same directory is refused
        // instead of corrupting it.
        let second = EdgeVectorStore::open(&path).await;
        assert!(matches!(second, Err(IndexError::Edge(_))), "{second:?}");
    });
}

#[test]
fn stores_are_usable_as_shared_trait_objects_from_many_tasks() {
    let rt = runtime();
    rt.block_on(async {
        let (_dir, store) = edge_store(DIM).await;
        let mut tasks = Vec::new();
        for task in 0..8u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let batch = points("t", "c", &format!("doc-{task}"), 1, 25, 100 + task);
                store.upsert(&batch).await.unwrap();
                store
                    .search(&batch[0].vector, &SearchFilter::tenant("t"), 3)
                    .await
                    .unwrap()
            }));
        }
        for task in tasks {
            assert!(!task.await.unwrap().is_empty());
        }
        assert_eq!(store.count(&SearchFilter::tenant("t")).await.unwrap(), 200);
    });
}

/// Copies a directory tree (segment directories hold only plain files and folders).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Leaves `shard` as a crash inside qdrant-edge's optimizer does: the optimised segment
/// is in the segments directory while the segment it replaces is still there.
fn duplicate_every_segment(shard: &std::path::Path) {
    let segments = shard.join("segments");
    let originals: Vec<_> = std::fs::read_dir(&segments)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    assert!(!originals.is_empty());
    for original in originals {
        copy_tree(&original, &segments.join(Uuid::new_v4().to_string()));
    }
}

#[test]
fn a_crash_inside_the_optimizer_leaves_no_duplicate_points_after_reopen() {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors");
        let stored = points("t", "c", "d", 1, 2_500, 9);
        {
            let store = EdgeVectorStore::open(&path).await.unwrap();
            store.ensure_ready(DIM).await.unwrap();
            store.upsert(&stored).await.unwrap();
        }

        // Without the marker that an optimisation was under way, the copies stand
        // (this is the state the repair exists for, and shows the copy reproduces it).
        let unmarked = dir.path().join("unmarked");
        copy_tree(&path, &unmarked);
        duplicate_every_segment(&unmarked);
        let store = EdgeVectorStore::open(&unmarked).await.unwrap();
        assert_eq!(
            store.count(&SearchFilter::tenant("t")).await.unwrap(),
            5_000
        );
        drop(store);

        duplicate_every_segment(&path);
        std::fs::write(path.join("folio-optimizing"), b"").unwrap();
        let leftover = path.join("temp_segments").join("half-built");
        std::fs::create_dir_all(&leftover).unwrap();
        let store = EdgeVectorStore::open(&path).await.unwrap();
        assert_eq!(
            store.count(&SearchFilter::tenant("t")).await.unwrap(),
            2_500,
            "each point is kept exactly once"
        );
        assert!(!path.join("folio-optimizing").exists());
        assert!(!leftover.exists(), "a half-built segment is removed");
        let hits = store
            .search(&stored[42].vector, &SearchFilter::tenant("t"), 3)
            .await
            .unwrap();
        assert_eq!(hits[0].chunk_id, stored[42].id);
        assert!(
            (hits[0].score - 1.0).abs() < 1e-4,
            "the vector came back intact"
        );
        assert_ne!(
            hits[1].chunk_id, stored[42].id,
            "no point is returned twice"
        );
        assert_eq!(
            store
                .count(&SearchFilter::tenant("t").with_documents(["d"]))
                .await
                .unwrap(),
            2_500,
            "payloads came back intact"
        );

        // A finished optimisation removes its marker.
        store.optimize().await.unwrap();
        assert!(!path.join("folio-optimizing").exists());
        assert_eq!(
            store.count(&SearchFilter::tenant("t")).await.unwrap(),
            2_500
        );
    });
}

async fn best_view(store: Arc<dyn VectorStore>) {
    let mut stored = points("t", "c", "d", 1, 50, 11);
    let window = pseudo_vector(777, DIM);
    stored[7].windows = vec![pseudo_vector(778, DIM), window.clone()];
    store.upsert(&stored).await.unwrap();
    let filter = SearchFilter::tenant("t");
    assert_eq!(
        store.count(&filter).await.unwrap(),
        50,
        "windows are part of their chunk's point, not points: {}",
        store.name()
    );
    let hits = store.search(&window, &filter, 3).await.unwrap();
    assert_eq!(hits[0].chunk_id, stored[7].id, "{}", store.name());
    assert!(
        (hits[0].score - 1.0).abs() < 1e-4,
        "a point scores as its best-matching view: {}",
        hits[0].score
    );
    assert!(
        cosine(&window, &stored[7].vector) < 0.9,
        "the whole-text vector alone would not have matched"
    );
    let hits = store.search(&stored[7].vector, &filter, 1).await.unwrap();
    assert_eq!(hits[0].chunk_id, stored[7].id);
    assert!(
        (hits[0].score - 1.0).abs() < 1e-4,
        "the whole-text view counts too"
    );
}

#[test]
fn a_point_is_found_by_its_best_matching_window() {
    on_every_backend("a_point_is_found_by_its_best_matching_window", best_view);
}

#[test]
fn windows_survive_optimisation_and_reopening() {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors");
        let mut stored = points("t", "c", "d", 1, 3_000, 12);
        for (i, point) in stored.iter_mut().enumerate() {
            point.windows = (0..i % 3)
                .map(|w| pseudo_vector(1_000_000 + (i * 3 + w) as u64, DIM))
                .collect();
        }
        // A threshold far below the default, so that these few small vectors get the
        // HNSW index that a real store's get, and MaxSim is searched through it.
        let indexed_early = EdgeStoreOptions {
            indexing_threshold_kb: Some(1),
        };
        {
            let store = EdgeVectorStore::open_with(&path, indexed_early)
                .await
                .unwrap();
            store.ensure_ready(DIM).await.unwrap();
            store.upsert(&stored).await.unwrap();
            assert_eq!(store.stats().await.unwrap().indexed_vectors, 0);
            assert!(store.optimize().await.unwrap());
        }
        // Reopened without options: the threshold stays as the shard saved it.
        let store = EdgeVectorStore::open(&path).await.unwrap();
        store.ensure_ready(DIM).await.unwrap();
        let stats = store.stats().await.unwrap();
        assert_eq!(stats.points, 3_000, "{stats:?}");
        assert_eq!(stats.indexed_vectors, 3_000, "{stats:?}");
        assert!(!store.optimize().await.unwrap(), "nothing left to optimise");
        let filter = SearchFilter::tenant("t");
        assert_eq!(store.count(&filter).await.unwrap(), 3_000);
        for i in [2, 500, 2_999] {
            let query = stored[i].windows.last().unwrap();
            let hits = store.search(query, &filter, 1).await.unwrap();
            assert_eq!(hits[0].chunk_id, stored[i].id, "window of point {i}");
            assert!((hits[0].score - 1.0).abs() < 1e-3, "{}", hits[0].score);
        }
    });
}

#[test]
fn edge_store_scans_small_stores_until_the_indexing_threshold() {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors");
        let store = EdgeVectorStore::open(&path).await.unwrap();
        assert_eq!(store.stats().await.unwrap(), VectorStoreStats::default());
        store.ensure_ready(DIM).await.unwrap();
        store
            .upsert(&points("t", "c", "d", 1, 500, 13))
            .await
            .unwrap();
        // 500 vectors of 16 floats are far below qdrant-edge's 10,000 KB default.
        store.optimize().await.unwrap();
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.points, stats.indexed_vectors), (500, 0), "{stats:?}");
        drop(store);

        // A lower threshold given at a later open applies to the existing shard.
        let store = EdgeVectorStore::open_with(
            &path,
            EdgeStoreOptions {
                indexing_threshold_kb: Some(1),
            },
        )
        .await
        .unwrap();
        assert!(store.optimize().await.unwrap());
        let stats = store.stats().await.unwrap();
        assert_eq!(
            (stats.points, stats.indexed_vectors),
            (500, 500),
            "{stats:?}"
        );
    });
}

async fn embedder_record(store: Arc<dyn VectorStore>) {
    assert_eq!(
        store.recorded_embedder().await.unwrap(),
        None,
        "a new store records no embedder: {}",
        store.name()
    );
    // The second record stands for a rebuild, which replaces the first.
    for id in ["minilm-int8-256", "minilm-f32-256"] {
        store.record_embedder(id).await.unwrap();
        assert_eq!(
            store.recorded_embedder().await.unwrap().as_deref(),
            Some(id),
            "{}",
            store.name()
        );
    }
    // Recording touches neither points nor the collection's layout.
    let stored = points("t", "c", "d", 1, 20, 14);
    store.upsert(&stored).await.unwrap();
    assert_eq!(store.count(&SearchFilter::tenant("t")).await.unwrap(), 20);
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.points, 20, "{}: {stats:?}", store.name());
    store.record_embedder("minilm-int8-256").await.unwrap();
    assert_eq!(store.count(&SearchFilter::tenant("t")).await.unwrap(), 20);
    let hits = store
        .search(&stored[3].vector, &SearchFilter::tenant("t"), 1)
        .await
        .unwrap();
    assert_eq!(hits[0].chunk_id, stored[3].id, "{}", store.name());
}

#[test]
fn the_embedder_record_is_kept_and_replaced_beside_the_vectors() {
    on_every_backend(
        "the_embedder_record_is_kept_and_replaced_beside_the_vectors",
        embedder_record,
    );
    // On qdrant-edge the record is a file of the shard directory: it outlives the process.
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors");
        {
            let store = EdgeVectorStore::open(&path).await.unwrap();
            store.ensure_ready(DIM).await.unwrap();
            store.record_embedder("e1").await.unwrap();
        }
        let store = EdgeVectorStore::open(&path).await.unwrap();
        assert_eq!(
            store.recorded_embedder().await.unwrap().as_deref(),
            Some("e1")
        );
    });
}

/// A collection created before passage windows (one plain vector per point) stays
/// usable: windows are dropped on upsert and searches use the whole-text vector.
#[test]
fn a_server_collection_without_multivectors_is_searched_by_whole_text_vectors() {
    let Ok(url) = std::env::var("QDRANT_URL") else {
        eprintln!("skip: single-vector Qdrant collection (QDRANT_URL not set)");
        return;
    };
    use folio_index::{QdrantCollectionOptions, QdrantServerStore};
    use qdrant_client::qdrant::{CreateCollectionBuilder, Distance, VectorParamsBuilder};
    let rt = runtime();
    rt.block_on(async {
        let collection = format!("folio_test_legacy_{}", Uuid::new_v4().simple());
        let client = server_client(&url);
        client
            .create_collection(
                CreateCollectionBuilder::new(&collection)
                    .vectors_config(VectorParamsBuilder::new(DIM as u64, Distance::Cosine)),
            )
            .await
            .unwrap();
        let store = QdrantServerStore::connect(
            &url,
            &collection,
            QdrantCollectionOptions {
                api_key: std::env::var("QDRANT_API_KEY").ok(),
                ..QdrantCollectionOptions::default()
            },
        )
        .await
        .unwrap();
        store.ensure_ready(DIM).await.unwrap();
        let mut stored = points("t", "c", "d", 1, 30, 15);
        let window = pseudo_vector(999, DIM);
        stored[4].windows = vec![window.clone()];
        store.upsert(&stored).await.unwrap();
        let filter = SearchFilter::tenant("t");
        assert_eq!(store.count(&filter).await.unwrap(), 30);
        let hits = store.search(&stored[4].vector, &filter, 1).await.unwrap();
        assert_eq!(hits[0].chunk_id, stored[4].id);
        assert!((hits[0].score - 1.0).abs() < 1e-4, "{}", hits[0].score);
        // The window was not stored, so it matches no better than by chance.
        let hits = store.search(&window, &filter, 1).await.unwrap();
        assert!(hits[0].score < 0.99, "{}", hits[0].score);
        // A wrong dimension is still refused against the existing collection.
        let other =
            QdrantServerStore::connect(&url, &collection, QdrantCollectionOptions::default())
                .await
                .unwrap();
        assert!(matches!(
            other.ensure_ready(DIM + 1).await,
            Err(IndexError::DimensionMismatch { .. })
        ));
        client.delete_collection(&collection).await.unwrap();
    });
}
