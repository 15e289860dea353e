//! The best k hits of a search across segments, with equal scores resolved to
//! the lower address so that every run returns the same hits.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use tantivy::{DocAddress, Score};

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

/// The best `limit` hits seen so far.
pub(crate) struct BestHits {
    limit: usize,
    /// A min-heap: its top is the hit to beat.
    heap: BinaryHeap<Reverse<Ranked>>,
}

impl BestHits {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
        }
    }

    /// The score a hit must exceed to get in, once `limit` hits are held.
    pub(crate) fn threshold(&self) -> Option<Score> {
        (self.heap.len() >= self.limit)
            .then(|| self.heap.peek().map(|Reverse(worst)| worst.score))
            .flatten()
    }

    pub(crate) fn push(&mut self, score: Score, address: DocAddress) {
        if self.limit == 0 {
            return;
        }
        self.heap.push(Reverse(Ranked { score, address }));
        if self.heap.len() > self.limit {
            self.heap.pop();
        }
    }

    /// The hits held, best first.
    pub(crate) fn into_sorted(self) -> Vec<(Score, DocAddress)> {
        let mut ranked: Vec<Ranked> = self.heap.into_iter().map(|Reverse(hit)| hit).collect();
        ranked.sort_by(|a, b| b.cmp(a));
        ranked
            .into_iter()
            .map(|hit| (hit.score, hit.address))
            .collect()
    }
}
