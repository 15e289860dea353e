//! Hybrid retrieval: BM25 and dense rankings fused by reciprocal rank fusion.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use folio_common::config::RetrievalConfig;
use folio_index::{reciprocal_rank_fusion, Bm25Index, Embedder, Hit, SearchFilter, VectorStore};
use folio_store::{ChunkRecord, MetadataStore};
use serde::{Deserialize, Serialize};

use crate::QueryError;

/// Which retrievers rank the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetrievalMode {
    /// Full text only (tantivy BM25).
    Bm25,
    /// Embeddings only (the vector store).
    Dense,
    /// Both, fused by reciprocal rank fusion.
    Hybrid,
}

impl RetrievalMode {
    /// The name used in the API, the CLI and the eval report.
    pub fn as_str(self) -> &'static str {
        match self {
            RetrievalMode::Bm25 => "bm25",
            RetrievalMode::Dense => "dense",
            RetrievalMode::Hybrid => "hybrid",
        }
    }
}

/// A chunk's place in one retriever's ranking.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrieverRank {
    /// 1-based rank in that retriever's list.
    pub rank: usize,
    /// That retriever's score (BM25 or cosine similarity).
    pub score: f32,
}

/// One retrieved chunk with where each retriever ranked it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// 1-based rank in the final list.
    pub rank: usize,
    /// Final score: the fused RRF score in hybrid mode, else the retriever's own.
    pub score: f32,
    /// Rank and score from BM25, when BM25 returned the chunk.
    pub bm25: Option<RetrieverRank>,
    /// Rank and score from the dense retriever, when it returned the chunk.
    pub dense: Option<RetrieverRank>,
    /// The chunk, with its exact span in the canonical text.
    pub chunk: ChunkRecord,
}

/// Where the time of one search went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchTimings {
    /// Embedding the query.
    pub embed_ms: f64,
    /// BM25 search.
    pub bm25_ms: f64,
    /// Vector search.
    pub dense_ms: f64,
    /// Loading the chunk rows.
    pub fetch_ms: f64,
    /// The whole search.
    pub total_ms: f64,
}

/// A search's ranked candidates and its timings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// The mode that produced the ranking.
    pub mode: RetrievalMode,
    /// Best first.
    pub candidates: Vec<Candidate>,
    /// Timings.
    pub timings: SearchTimings,
}

/// One search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The user's text.
    pub query: String,
    /// Tenant (mandatory), collections and documents to search within.
    pub filter: SearchFilter,
    /// Results wanted.
    pub limit: usize,
    /// Retrievers to use.
    pub mode: RetrievalMode,
}

/// Runs searches against the hybrid index; cheap to clone.
#[derive(Clone)]
pub struct Retriever {
    store: MetadataStore,
    embedder: Arc<Embedder>,
    bm25: Arc<Bm25Index>,
    vectors: Arc<dyn VectorStore>,
    config: RetrievalConfig,
}

/// Hard cap on results per search: the fused list is built from at most this many
/// hits per retriever, and returning more would only pad with noise.
pub const MAX_LIMIT: usize = 1000;

impl Retriever {
    /// A retriever over the given stores.
    pub fn new(
        store: MetadataStore,
        embedder: Arc<Embedder>,
        bm25: Arc<Bm25Index>,
        vectors: Arc<dyn VectorStore>,
        config: RetrievalConfig,
    ) -> Self {
        Self {
            store,
            embedder,
            bm25,
            vectors,
            config,
        }
    }

    /// The fusion settings in force.
    pub fn config(&self) -> &RetrievalConfig {
        &self.config
    }

    /// Cosine similarity of `query` to each of `texts`, by the index's embedder: the
    /// same model, so a passage scores as its chunk would in dense retrieval.
    pub async fn similarities(
        &self,
        query: &str,
        texts: Vec<String>,
    ) -> Result<Vec<f32>, QueryError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let embedder = Arc::clone(&self.embedder);
        let query = query.to_string();
        let abandoned = Abandoned::default();
        let flag = abandoned.flag();
        let vectors = tokio::task::spawn_blocking(move || {
            if flag.is_set() {
                return Ok(Vec::new());
            }
            let mut inputs = Vec::with_capacity(texts.len() + 1);
            inputs.push(embedder.first_window(&query).to_string());
            inputs.extend(texts);
            embedder.embed(&inputs)
        })
        .await??;
        let Some((query_vector, passages)) = vectors.split_first() else {
            return Err(QueryError::Task("the embedder returned no vectors".into()));
        };
        Ok(passages.iter().map(|v| cosine(query_vector, v)).collect())
    }

    /// Ranks the chunks of `request.filter` for `request.query`.
    ///
    /// Only chunks of a document's current version are returned: index entries of a
    /// version being replaced or deleted are dropped when their rows are loaded.
    pub async fn search(&self, request: &SearchRequest) -> Result<SearchResults, QueryError> {
        let started = Instant::now();
        let query = request.query.trim();
        if query.is_empty() {
            return Err(QueryError::InvalidRequest("the query is empty".into()));
        }
        if request.limit == 0 || request.limit > MAX_LIMIT {
            return Err(QueryError::InvalidRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        // Over-fetch a little: rows of superseded versions are dropped after fusion.
        let depth = self.config.per_retriever.max(request.limit).min(MAX_LIMIT) + 8;
        let mut timings = SearchTimings::default();
        // A search dropped at its deadline (or by a client that left) must not
        // leave its blocking work queued behind other searches.
        let abandoned = Abandoned::default();

        // The two retrievers run at the same time: full-text search on a blocking
        // thread while the query is embedded and the vector store searched.
        let full_text = async {
            if request.mode == RetrievalMode::Dense {
                return Ok::<_, QueryError>((Vec::new(), 0.0));
            }
            let (bm25, text, filter) = (
                Arc::clone(&self.bm25),
                query.to_string(),
                request.filter.clone(),
            );
            let flag = abandoned.flag();
            tokio::task::spawn_blocking(move || {
                if flag.is_set() {
                    return Ok((Vec::new(), 0.0));
                }
                let at = Instant::now();
                let hits = bm25.search(&text, &filter, depth)?;
                Ok((hits, elapsed_ms(at)))
            })
            .await?
        };
        let dense = async {
            if request.mode == RetrievalMode::Bm25 {
                return Ok::<_, QueryError>((Vec::new(), 0.0, 0.0));
            }
            let at = Instant::now();
            let embedder = Arc::clone(&self.embedder);
            let text = query.to_string();
            let flag = abandoned.flag();
            let vector = tokio::task::spawn_blocking(move || {
                if flag.is_set() {
                    return Err(QueryError::Task("the search was abandoned".into()));
                }
                Ok(embedder.embed_query(&text)?)
            })
            .await??;
            let embed_ms = elapsed_ms(at);
            let at = Instant::now();
            let hits = self.vectors.search(&vector, &request.filter, depth).await?;
            Ok((hits, embed_ms, elapsed_ms(at)))
        };
        let (full_text, dense) = tokio::join!(full_text, dense);
        let (bm25_hits, bm25_ms) = full_text?;
        let (dense_hits, embed_ms, dense_ms) = dense?;
        timings.bm25_ms = bm25_ms;
        timings.embed_ms = embed_ms;
        timings.dense_ms = dense_ms;

        let ranked = rank(
            request.mode,
            &bm25_hits,
            &dense_hits,
            &self.config,
            request.limit + 8,
        );
        let at = Instant::now();
        let ids: Vec<String> = ranked.iter().map(|r| r.chunk_id.to_string()).collect();
        let mut rows: std::collections::HashMap<String, ChunkRecord> = self
            .store
            .chunks_by_ids(&request.filter.tenant, &ids)
            .await?
            .into_iter()
            .map(|row| (row.id.clone(), row))
            .collect();
        timings.fetch_ms = elapsed_ms(at);

        let mut candidates = Vec::with_capacity(request.limit);
        for entry in ranked {
            let Some(chunk) = rows.remove(&entry.chunk_id.to_string()) else {
                continue;
            };
            candidates.push(Candidate {
                rank: candidates.len() + 1,
                score: entry.score,
                bm25: entry.bm25,
                dense: entry.dense,
                chunk,
            });
            if candidates.len() == request.limit {
                break;
            }
        }
        timings.total_ms = elapsed_ms(started);
        Ok(SearchResults {
            mode: request.mode,
            candidates,
            timings,
        })
    }
}

/// Set when the future that owns it is dropped before finishing: blocking work it
/// queued checks the flag when it starts and skips what nobody waits for any more.
#[derive(Default)]
struct Abandoned(Arc<AtomicBool>);

/// The blocking side's view of an [`Abandoned`].
struct AbandonedFlag(Arc<AtomicBool>);

impl Abandoned {
    fn flag(&self) -> AbandonedFlag {
        AbandonedFlag(Arc::clone(&self.0))
    }
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl AbandonedFlag {
    fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A ranked chunk id before its row is loaded.
#[derive(Debug, Clone, PartialEq)]
struct RankedId {
    chunk_id: uuid::Uuid,
    score: f32,
    bm25: Option<RetrieverRank>,
    dense: Option<RetrieverRank>,
}

fn rank(
    mode: RetrievalMode,
    bm25: &[Hit],
    dense: &[Hit],
    config: &RetrievalConfig,
    limit: usize,
) -> Vec<RankedId> {
    let place = |hits: &[Hit], id: uuid::Uuid| {
        hits.iter()
            .position(|h| h.chunk_id == id)
            .map(|i| RetrieverRank {
                rank: i + 1,
                score: hits[i].score,
            })
    };
    let single = |hits: &[Hit]| -> Vec<RankedId> {
        let mut seen = std::collections::HashSet::new();
        hits.iter()
            .filter(|h| seen.insert(h.chunk_id))
            .take(limit)
            .map(|h| RankedId {
                chunk_id: h.chunk_id,
                score: h.score,
                bm25: place(bm25, h.chunk_id),
                dense: place(dense, h.chunk_id),
            })
            .collect()
    };
    match mode {
        RetrievalMode::Bm25 => single(bm25),
        RetrievalMode::Dense => single(dense),
        RetrievalMode::Hybrid => {
            let fused = reciprocal_rank_fusion(
                &[(config.bm25_weight, bm25), (config.dense_weight, dense)],
                config.rrf_k,
            );
            fused
                .into_iter()
                .take(limit)
                .map(|f| RankedId {
                    chunk_id: f.chunk_id,
                    score: f.score,
                    bm25: f.ranks[0].map(|rank| RetrieverRank {
                        rank,
                        score: bm25[rank - 1].score,
                    }),
                    dense: f.ranks[1].map(|rank| RetrieverRank {
                        rank,
                        score: dense[rank - 1].score,
                    }),
                })
                .collect()
        }
    }
}

fn elapsed_ms(at: Instant) -> f64 {
    at.elapsed().as_secs_f64() * 1000.0
}

/// Cosine of two vectors; 0 when either is all zeros.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut norm_a, mut norm_b) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    let norm = (norm_a * norm_b).sqrt();
    if norm > 0.0 {
        dot / norm
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(n: u128, score: f32) -> Hit {
        Hit {
            chunk_id: uuid::Uuid::from_u128(n),
            score,
        }
    }

    #[test]
    fn cosine_ignores_length_and_zero_vectors_score_zero() {
        assert!((cosine(&[1.0, 0.0], &[3.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 2.0]).abs() < 1e-6);
        assert!((cosine(&[1.0, 1.0], &[-1.0, -1.0]) + 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn hybrid_carries_each_retrievers_rank_and_score() {
        let bm25 = [hit(1, 9.0), hit(2, 5.0)];
        let dense = [hit(2, 0.9), hit(3, 0.8)];
        let ranked = rank(
            RetrievalMode::Hybrid,
            &bm25,
            &dense,
            &RetrievalConfig::default(),
            10,
        );
        assert_eq!(ranked[0].chunk_id, uuid::Uuid::from_u128(2));
        assert_eq!(
            ranked[0].bm25,
            Some(RetrieverRank {
                rank: 2,
                score: 5.0
            })
        );
        assert_eq!(
            ranked[0].dense,
            Some(RetrieverRank {
                rank: 1,
                score: 0.9
            })
        );
        assert_eq!(ranked.len(), 3);
        let only_dense = ranked
            .iter()
            .find(|r| r.chunk_id == uuid::Uuid::from_u128(3))
            .unwrap();
        assert_eq!(only_dense.bm25, None);
    }

    #[test]
    fn weights_can_silence_a_retriever() {
        let bm25 = [hit(1, 9.0), hit(2, 5.0)];
        let dense = [hit(2, 0.9), hit(1, 0.8)];
        let config = RetrievalConfig {
            bm25_weight: 0.0,
            ..RetrievalConfig::default()
        };
        let ranked = rank(RetrievalMode::Hybrid, &bm25, &dense, &config, 10);
        assert_eq!(ranked[0].chunk_id, uuid::Uuid::from_u128(2));
    }

    #[test]
    fn single_modes_keep_the_retrievers_order_and_limit() {
        let bm25 = [hit(1, 9.0), hit(2, 5.0), hit(3, 1.0)];
        let ranked = rank(
            RetrievalMode::Bm25,
            &bm25,
            &[],
            &RetrievalConfig::default(),
            2,
        );
        let ids: Vec<u128> = ranked.iter().map(|r| r.chunk_id.as_u128()).collect();
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(
            ranked[1].bm25,
            Some(RetrieverRank {
                rank: 2,
                score: 5.0
            })
        );
    }
}
