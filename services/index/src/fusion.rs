//! Reciprocal rank fusion of ranked hit lists.

use std::collections::HashMap;

use uuid::Uuid;

use crate::Hit;

/// A chunk after fusion, with its fused score and its rank in every input list.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedHit {
    /// The chunk.
    pub chunk_id: Uuid,
    /// `Σ_r w_r / (k + rank_r)` over the lists that contain the chunk.
    pub score: f32,
    /// The chunk's 1-based rank in each input list (same order as the input), or
    /// `None` where the list does not contain it. Kept for the query trace.
    pub ranks: Vec<Option<usize>>,
}

/// Fuses ranked lists with reciprocal rank fusion: `score(d) = Σ_r w_r / (k + rank_r(d))`,
/// ranks counted from 1.
///
/// Each list must already be ordered best first; its scores are ignored (that is the
/// point of RRF: BM25 and cosine scores are not comparable). A chunk that appears twice
/// in one list counts at its best rank only. The result is sorted by fused score, best
/// first; ties are broken by the best rank in any list, then by chunk id, so the output
/// is deterministic. A `k` below zero is treated as zero.
pub fn reciprocal_rank_fusion(lists: &[(f32, &[Hit])], k: f32) -> Vec<FusedHit> {
    let k = k.max(0.0);
    let mut fused: Vec<FusedHit> = Vec::new();
    let mut position_of: HashMap<Uuid, usize> = HashMap::new();

    for (list_index, (weight, hits)) in lists.iter().enumerate() {
        for (position, hit) in hits.iter().enumerate() {
            let rank = position + 1;
            let slot = *position_of.entry(hit.chunk_id).or_insert_with(|| {
                fused.push(FusedHit {
                    chunk_id: hit.chunk_id,
                    score: 0.0,
                    ranks: vec![None; lists.len()],
                });
                fused.len() - 1
            });
            let entry = &mut fused[slot];
            if entry.ranks[list_index].is_some() {
                continue;
            }
            entry.ranks[list_index] = Some(rank);
            entry.score += weight / (k + rank as f32);
        }
    }

    fused.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| best_rank(a).cmp(&best_rank(b)))
            .then_with(|| a.chunk_id.cmp(&b.chunk_id))
    });
    fused
}

fn best_rank(hit: &FusedHit) -> usize {
    hit.ranks
        .iter()
        .flatten()
        .copied()
        .min()
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn hits(ids: &[u128]) -> Vec<Hit> {
        ids.iter()
            .enumerate()
            .map(|(i, &n)| Hit {
                chunk_id: id(n),
                score: 100.0 - i as f32,
            })
            .collect()
    }

    #[test]
    fn scores_follow_the_formula() {
        let bm25 = hits(&[1, 2, 3]);
        let dense = hits(&[3, 1]);
        let fused = reciprocal_rank_fusion(&[(1.0, &bm25), (0.5, &dense)], 60.0);

        let by_id = |n| fused.iter().find(|h| h.chunk_id == id(n)).unwrap();
        assert!((by_id(1).score - (1.0 / 61.0 + 0.5 / 62.0)).abs() < 1e-7);
        assert!((by_id(2).score - (1.0 / 62.0)).abs() < 1e-7);
        assert!((by_id(3).score - (1.0 / 63.0 + 0.5 / 61.0)).abs() < 1e-7);
        assert_eq!(by_id(1).ranks, vec![Some(1), Some(2)]);
        assert_eq!(by_id(2).ranks, vec![Some(2), None]);
        assert_eq!(by_id(3).ranks, vec![Some(3), Some(1)]);
    }

    #[test]
    fn agreement_beats_a_single_top_rank() {
        // 2 is second in both lists; 1 is first in one list only.
        let a = hits(&[1, 2]);
        let b = hits(&[3, 2]);
        let fused = reciprocal_rank_fusion(&[(1.0, &a), (1.0, &b)], 60.0);
        assert_eq!(fused[0].chunk_id, id(2));
        assert_eq!(fused.len(), 3);
    }

    #[test]
    fn output_is_sorted_and_ties_are_deterministic() {
        let a = hits(&[5, 6]);
        let b = hits(&[6, 5]);
        let fused = reciprocal_rank_fusion(&[(1.0, &a), (1.0, &b)], 60.0);
        assert_eq!(fused[0].score, fused[1].score);
        assert_eq!(
            fused[0].chunk_id,
            id(5),
            "equal score and best rank: lower id first"
        );
        for pair in fused.windows(2) {
            assert!(pair[0].score >= pair[1].score);
        }
    }

    #[test]
    fn duplicates_within_a_list_count_once_at_their_best_rank() {
        let a = hits(&[1, 2, 1]);
        let fused = reciprocal_rank_fusion(&[(1.0, &a)], 10.0);
        let first = fused.iter().find(|h| h.chunk_id == id(1)).unwrap();
        assert_eq!(first.ranks, vec![Some(1)]);
        assert!((first.score - 1.0 / 11.0).abs() < 1e-7);
    }

    #[test]
    fn weights_can_flip_the_order_and_empty_input_is_empty() {
        let a = hits(&[1]);
        let b = hits(&[2]);
        let fused = reciprocal_rank_fusion(&[(0.2, &a), (1.0, &b)], 60.0);
        assert_eq!(fused[0].chunk_id, id(2));
        assert!(reciprocal_rank_fusion(&[], 60.0).is_empty());
        assert!(reciprocal_rank_fusion(&[(1.0, &[])], 60.0).is_empty());
    }

    #[test]
    fn zero_k_gives_reciprocal_ranks() {
        let a = hits(&[1, 2]);
        let fused = reciprocal_rank_fusion(&[(1.0, &a)], 0.0);
        assert_eq!(fused[0].score, 1.0);
        assert_eq!(fused[1].score, 0.5);
    }
}
