//! Best-first top-k over all segments of a tantivy index with one pruning
//! threshold.
//!
//! tantivy's `TopDocs` collects every segment on its own, each starting from no
//! threshold, so block-max WAND prunes nothing in a segment until that segment
//! has filled its own top-k. On an index of many segments (a bulk load commits
//! often; the merge policy keeps several large segments) most of the work is
//! that warm-up, repeated per segment. Here the k-th best score found so far is
//! the starting threshold of the next segment, and the largest segment goes
//! first, so the later ones can skip blocks from their start. On the 1 M-chunk
//! bench index (3 segments) that made BM25 only 5–6 % faster at p95
//! (BENCHMARKS.md): most of the time goes to scoring the largest segment.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use tantivy::query::{EnableScoring, Query};
use tantivy::{DocAddress, Score, Searcher};

use crate::IndexError;

/// A hit in the heap: ordered best first by score, then by lower address, so
/// equal scores resolve the same way on every run.
#[derive(Debug, Clone, Copy)]
struct Ranked {
    score: Score,
    address: DocAddress,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    /// Greater is better.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.address.cmp(&self.address))
    }
}

/// The `limit` best-scoring live documents matching `query`, best first.
///
/// With `prune_factor` 1.0 the result holds the same documents as
/// `TopDocs::with_limit(limit)` except among documents whose score equals the
/// last one kept, where a document met after the threshold reached that score is
/// skipped (block-max WAND passes only scores strictly above the threshold).
/// Above 1.0 the scorer is asked only for documents that beat `prune_factor`
/// times the k-th best score so far: every document scoring above that multiple
/// of the exact k-th score is still found, the ranks below it may hold lesser
/// documents, and every score returned is exact.
pub(crate) fn top_by_score(
    searcher: &Searcher,
    query: &dyn Query,
    limit: usize,
    prune_factor: Score,
) -> Result<Vec<(Score, DocAddress)>, IndexError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let weight = query.weight(EnableScoring::enabled_from_searcher(searcher))?;
    let mut segments: Vec<(u32, &tantivy::SegmentReader)> = searcher
        .segment_readers()
        .iter()
        .enumerate()
        .map(|(ordinal, reader)| (ordinal as u32, reader))
        .collect();
    segments.sort_by_key(|(ordinal, reader)| (Reverse(reader.num_docs()), *ordinal));

    // A min-heap of the best `limit` so far: its top is the one to beat.
    let mut best: BinaryHeap<Reverse<Ranked>> = BinaryHeap::with_capacity(limit + 1);
    let mut threshold = Score::MIN;
    for (ordinal, reader) in segments {
        let alive = reader.alive_bitset();
        let start = threshold;
        weight.for_each_pruning(start, reader, &mut |doc, score| {
            if alive.is_some_and(|bits| bits.is_deleted(doc)) {
                return threshold;
            }
            best.push(Reverse(Ranked {
                score,
                address: DocAddress::new(ordinal, doc),
            }));
            if best.len() > limit {
                best.pop();
            }
            if best.len() == limit {
                if let Some(Reverse(worst)) = best.peek() {
                    // BM25 scores are never negative, so the factor only raises it.
                    threshold = worst.score * prune_factor;
                }
            }
            threshold
        })?;
    }
    let mut ranked: Vec<Ranked> = best.into_iter().map(|Reverse(hit)| hit).collect();
    ranked.sort_by(|a, b| b.cmp(a));
    Ok(ranked
        .into_iter()
        .map(|hit| (hit.score, hit.address))
        .collect())
}
