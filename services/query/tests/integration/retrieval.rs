//! Hybrid retrieval against the real indexes.

use folio_index::SearchFilter;
use folio_query::retrieve::{RetrievalMode, SearchRequest};
use folio_query::QueryError;

use crate::common::{Stack, CONTRACT, MEMO};

fn request(query: &str, filter: SearchFilter, mode: RetrievalMode) -> SearchRequest {
    SearchRequest {
        query: query.into(),
        filter,
        limit: 5,
        mode,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mode_finds_what_it_is_good_at_and_hybrid_keeps_both_ranks() {
    let stack = Stack::new().await;
    let contract = stack.ingest("acme", "contracts", "msa.md", CONTRACT).await;
    let filter = SearchFilter::tenant(&contract.tenant);

    // An exact identifier: BM25's strength.
    let bm25 = stack
        .retriever
        .search(&request("PO-77341-ZX", filter.clone(), RetrievalMode::Bm25))
        .await
        .unwrap();
    let top = &bm25.candidates[0];
    assert!(
        top.chunk.text.contains("PO-77341-ZX"),
        "{:?}",
        top.chunk.text
    );
    assert_eq!(top.bm25.map(|r| r.rank), Some(1));
    assert!(top.dense.is_none(), "bm25 mode runs no dense search");

    // A paraphrase with no shared keywords: the embedder's strength.
    let dense = stack
        .retriever
        .search(&request(
            "which state's law applies to disputes",
            filter.clone(),
            RetrievalMode::Dense,
        ))
        .await
        .unwrap();
    assert!(
        dense.candidates[0].chunk.text.contains("Delaware"),
        "{:?}",
        dense.candidates[0].chunk.text
    );

    let hybrid = stack
        .retriever
        .search(&request(
            "how many days notice to terminate for convenience",
            filter.clone(),
            RetrievalMode::Hybrid,
        ))
        .await
        .unwrap();
    let top = &hybrid.candidates[0];
    assert!(
        top.chunk.text.contains("ninety (90) days"),
        "{:?}",
        top.chunk.text
    );
    assert!(top.bm25.is_some() && top.dense.is_some(), "{top:?}");
    // Ranks are 1..n and the fused scores never increase.
    for (i, pair) in hybrid.candidates.windows(2).enumerate() {
        assert_eq!(pair[0].rank, i + 1);
        assert!(pair[0].score >= pair[1].score);
    }
    // Every candidate's span is exact in the canonical text.
    for candidate in &hybrid.candidates {
        assert!(candidate.chunk.char_end > candidate.chunk.char_start);
        assert_eq!(candidate.chunk.document_id, contract.document);
    }
    assert!(hybrid.timings.total_ms >= hybrid.timings.bm25_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_scope_by_tenant_collection_and_document() {
    let stack = Stack::new().await;
    let contract = stack.ingest("acme", "contracts", "msa.md", CONTRACT).await;
    let memo = stack.ingest("acme", "memos", "memo.md", MEMO).await;
    let other = stack
        .ingest("globex", "contracts", "msa.md", CONTRACT)
        .await;
    let query = "terminate";

    for mode in [
        RetrievalMode::Bm25,
        RetrievalMode::Dense,
        RetrievalMode::Hybrid,
    ] {
        let all = stack
            .retriever
            .search(&request(
                query,
                SearchFilter::tenant(&contract.tenant),
                mode,
            ))
            .await
            .unwrap();
        let documents: std::collections::HashSet<&str> = all
            .candidates
            .iter()
            .map(|c| c.chunk.document_id.as_str())
            .collect();
        assert!(documents.contains(contract.document.as_str()), "{mode:?}");
        assert!(documents.contains(memo.document.as_str()), "{mode:?}");
        assert!(
            !documents.contains(other.document.as_str()),
            "{mode:?}: another tenant's chunk leaked"
        );
        assert!(all
            .candidates
            .iter()
            .all(|c| c.chunk.tenant_id == contract.tenant));

        let memos_only = stack
            .retriever
            .search(&request(
                query,
                SearchFilter::tenant(&contract.tenant).with_collections([memo.collection.clone()]),
                mode,
            ))
            .await
            .unwrap();
        assert!(!memos_only.candidates.is_empty());
        assert!(memos_only
            .candidates
            .iter()
            .all(|c| c.chunk.document_id == memo.document));

        let one_doc = stack
            .retriever
            .search(&request(
                query,
                SearchFilter::tenant(&other.tenant).with_documents([contract.document.clone()]),
                mode,
            ))
            .await
            .unwrap();
        assert!(
            one_doc.candidates.is_empty(),
            "{mode:?}: a document id of another tenant must match nothing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused() {
    let stack = Stack::new().await;
    let filter = SearchFilter::tenant("acme");
    for (query, limit) in [("   ", 5), ("terminate", 0), ("terminate", 100_000)] {
        let error = stack
            .retriever
            .search(&SearchRequest {
                query: query.into(),
                filter: filter.clone(),
                limit,
                mode: RetrievalMode::Hybrid,
            })
            .await
            .unwrap_err();
        assert!(matches!(error, QueryError::InvalidRequest(_)), "{error:?}");
    }
    let error = stack
        .retriever
        .search(&request("x", SearchFilter::tenant(""), RetrievalMode::Bm25))
        .await
        .unwrap_err();
    assert!(matches!(error, QueryError::Index(_)), "{error:?}");
}
