//! End to end: real embeddings into qdrant-edge and tantivy, fused with RRF.

use folio_index::{reciprocal_rank_fusion, Bm25Index, EdgeVectorStore, SearchFilter, VectorStore};

use crate::common::{chunk, embedder, point_for, runtime};

#[test]
fn hybrid_retrieval_finds_paraphrases_and_exact_identifiers() {
    let corpus = [
        ("Article 9 › 9.2 Termination for Convenience", "Either party may end this Agreement at any time without cause by giving ninety days prior written notice to the other party."),
        ("Article 9 › 9.3 Termination for Breach", "A party may terminate this Agreement if the other party materially breaches it and fails to cure within thirty days."),
        ("Article 4 › 4.1 Fees", "Customer shall pay the fees set out in Schedule B within forty-five days of the invoice date."),
        ("Article 11 › 11.1 Governing Law", "This Agreement is governed by the laws of the State of New York."),
        ("Item 7 › Results of Operations", "Net revenue increased 12% to $4.2 billion, driven by subscription growth."),
        ("Article 12 › 12.4 Notices", "All notices must be in writing and delivered to the addresses in Exhibit C."),
    ];
    let chunks: Vec<_> = corpus
        .iter()
        .enumerate()
        .map(|(i, (heading, body))| {
            chunk("tenant-a", "contracts", "msa", 1, i as u32, heading, body)
        })
        .collect();
    let texts: Vec<String> = chunks
        .iter()
        .map(|c| format!("{}\n{}", c.heading, c.body))
        .collect();
    let vectors = embedder().embed(&texts).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let bm25 = Bm25Index::open_or_create(&dir.path().join("bm25")).unwrap();
    bm25.add(&chunks).unwrap();
    bm25.commit().unwrap();
    let rt = runtime();
    let store = rt.block_on(async {
        let store = EdgeVectorStore::open(&dir.path().join("vectors"))
            .await
            .unwrap();
        store.ensure_ready(embedder().dimension()).await.unwrap();
        let points: Vec<_> = chunks
            .iter()
            .zip(vectors)
            .map(|(c, v)| point_for(c, v))
            .collect();
        store.upsert(&points).await.unwrap();
        store
    });

    let filter = SearchFilter::tenant("tenant-a");
    let ask = |question: &str| {
        let text = bm25.search(question, &filter, 10).unwrap();
        let query = embedder().embed(&[question.to_string()]).unwrap().remove(0);
        let dense = rt.block_on(store.search(&query, &filter, 10)).unwrap();
        let fused = reciprocal_rank_fusion(&[(1.0, &text), (1.0, &dense)], 60.0);
        (text, dense, fused)
    };

    // A paraphrase with no shared keyword: only the dense side can find it.
    // BM25 matches nothing here or only incidental words, so fusion may put such a
    // match ahead; the paraphrase must still make the fused top two.
    let (text, dense, fused) = ask("can we walk away from the contract whenever we like?");
    assert_eq!(dense[0].chunk_id, chunks[0].chunk_id);
    assert!(text
        .first()
        .is_none_or(|hit| hit.chunk_id != chunks[0].chunk_id));
    assert!(fused[..2].iter().any(|h| h.chunk_id == chunks[0].chunk_id));

    // An exact identifier: BM25 pins it.
    let (text, _, fused) = ask("Exhibit C");
    assert_eq!(text[0].chunk_id, chunks[5].chunk_id);
    assert_eq!(fused[0].chunk_id, chunks[5].chunk_id);
    assert_eq!(fused[0].ranks[0], Some(1));

    // Both agree.
    let (_, _, fused) = ask("termination for convenience");
    assert_eq!(fused[0].chunk_id, chunks[0].chunk_id);
    assert!(fused[0].ranks.iter().all(Option::is_some));
}
