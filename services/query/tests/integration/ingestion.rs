//! What the ingestion worker leaves behind in the indexes it feeds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use folio_index::{
    EdgeVectorStore, Hit, SearchFilter, StoreFuture, VectorPoint, VectorStore, VectorStoreStats,
};
use folio_ingest::worker::Worker;
use tokio::sync::{watch, Notify};

use crate::common::{Stack, CONTRACT};

/// The real qdrant-edge shard, counting the optimiser runs it is asked for.
struct CountingOptimiser {
    inner: EdgeVectorStore,
    runs: Arc<AtomicUsize>,
}

impl VectorStore for CountingOptimiser {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn ensure_ready(&self, dimension: usize) -> StoreFuture<'_, ()> {
        self.inner.ensure_ready(dimension)
    }
    fn upsert<'a>(&'a self, points: &'a [VectorPoint]) -> StoreFuture<'a, ()> {
        self.inner.upsert(points)
    }
    fn delete_document<'a>(&'a self, document: &'a str) -> StoreFuture<'a, ()> {
        self.inner.delete_document(document)
    }
    fn delete_document_version<'a>(
        &'a self,
        document: &'a str,
        version: u64,
    ) -> StoreFuture<'a, ()> {
        self.inner.delete_document_version(document, version)
    }
    fn search<'a>(
        &'a self,
        vector: &'a [f32],
        filter: &'a SearchFilter,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Hit>> {
        self.inner.search(vector, filter, limit)
    }
    fn count<'a>(&'a self, filter: &'a SearchFilter) -> StoreFuture<'a, u64> {
        self.inner.count(filter)
    }
    fn optimize(&self) -> StoreFuture<'_, bool> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.inner.optimize()
    }
    fn stats(&self) -> StoreFuture<'_, VectorStoreStats> {
        self.inner.stats()
    }
    fn recorded_embedder(&self) -> StoreFuture<'_, Option<String>> {
        self.inner.recorded_embedder()
    }
    fn record_embedder<'a>(&'a self, embedder_id: &'a str) -> StoreFuture<'a, ()> {
        self.inner.record_embedder(embedder_id)
    }
}

/// A stack whose vector store counts the optimiser runs it is asked for.
async fn counting_stack() -> (Stack, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let stack = Stack::with_vectors(move |edge| {
        Arc::new(CountingOptimiser {
            inner: edge,
            runs: counter,
        })
    })
    .await;
    (stack, runs)
}

/// Waits for the first optimiser run, failing after `limit`.
async fn first_run(runs: &AtomicUsize, limit: Duration) {
    let started = Instant::now();
    while runs.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < limit, "never optimised");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A burst of jobs ends with one optimiser run (qdrant-edge builds no vector
/// index otherwise), and an idle worker does not run it again.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_optimises_the_vectors_once_its_queue_drains() {
    let (stack, runs) = counting_stack().await;
    let first = stack.submit("t", "c", "one.md", CONTRACT).await;
    stack
        .submit("t", "c", "two.md", &CONTRACT.replace("valves", "pumps"))
        .await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "nothing runs before a worker"
    );

    let (stop, stopped) = watch::channel(false);
    let worker = Worker::new(stack.pipeline.clone(), "w", Arc::new(Notify::new()));
    let running = tokio::spawn(worker.run_forever(stopped));
    first_run(&runs, Duration::from_secs(120)).await;
    let counts = stack.store.counts().await.unwrap();
    assert_eq!(
        counts.ready_documents, 2,
        "optimised after both jobs: {counts:?}"
    );
    // Idle polling (every 500 ms) finds no job and must not optimise again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let points = stack
        .pipeline
        .indexes()
        .vectors
        .count(&SearchFilter::tenant(first.tenant.clone()))
        .await
        .unwrap();
    assert_eq!(points as i64, counts.chunks, "optimising keeps every point");
    stop.send(true).unwrap();
    running.await.unwrap();
}

/// A worker that starts on an empty queue optimises once, for what an earlier
/// process left unoptimised (a `folio ingest` from before it optimised, a crash),
/// then stays idle.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_starting_idle_optimises_once() {
    let (stack, runs) = counting_stack().await;
    let (stop, stopped) = watch::channel(false);
    let worker = Worker::new(stack.pipeline.clone(), "w", Arc::new(Notify::new()));
    let running = tokio::spawn(worker.run_forever(stopped));
    first_run(&runs, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    stop.send(true).unwrap();
    running.await.unwrap();
}
