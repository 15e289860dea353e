//! Term-at-a-time top-k: each query term's postings are added, block by block,
//! into one score per document of a segment, and the best k are read off.
//!
//! Block-max WAND (tantivy's `TopDocs`) walks every term's postings in document
//! order at once and skips blocks that cannot beat the k-th best score. That pays when the
//! query's terms are rare. A long question's rarest sixteen words may still each
//! occur in a large share of a big corpus: then few blocks can be skipped, and
//! keeping thirty-two cursors (each word in the body and the heading) in document
//! order costs more than the scoring itself. Adding postings into a dense array
//! costs a few nanoseconds each, whatever their number, with no cursor to keep.
//! Scores are tantivy's own BM25 (the same `Bm25Weight`, statistics and field
//! norms as a `TermQuery`), each document's summed term by term in the query's
//! order, as tantivy's union of term scorers sums them; block-max WAND sums in
//! another order, so its scores may differ in the last bits.

use tantivy::fieldnorm::FieldNormReader;
use tantivy::query::{Bm25StatisticsProvider, Bm25Weight, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentReader, Term};

use crate::top_k::BestHits;
use crate::IndexError;

/// Documents per block of the touched-block map (one bit each); also the bits
/// of one word of a filter's members.
const BLOCK_DOCS: usize = 64;

/// One score per document of a segment, and which blocks of 64 documents hold
/// any: the read-off and the reset then cost in proportion to the postings added,
/// not to the segment's size. A search makes one (4 bytes per document of the
/// largest segment) and reuses it from segment to segment.
///
/// Between segments every score is zero and no block is marked.
#[derive(Debug, Default)]
struct Accumulator {
    scores: Vec<Score>,
    /// Bit `b % 64` of word `b / 64` marks block `b`.
    touched: Vec<u64>,
}

impl Accumulator {
    /// Makes room for `max_doc` documents (new room is zero).
    fn fit(&mut self, max_doc: usize) {
        if self.scores.len() < max_doc {
            self.scores.resize(max_doc, 0.0);
            self.touched.resize(max_doc.div_ceil(BLOCK_DOCS * 64), 0);
        }
    }

    #[inline]
    fn add(&mut self, doc: DocId, score: Score) {
        let doc = doc as usize;
        if let Some(slot) = self.scores.get_mut(doc) {
            *slot += score;
            let block = doc / BLOCK_DOCS;
            self.touched[block / 64] |= 1 << (block % 64);
        }
    }

    /// Calls `visit` with each document that scores above the floor (and is one
    /// of `members`, when given), in document order, and resets the accumulator.
    /// The floor starts at `floor` and is then whatever `visit` last returned (the
    /// k-th best score once k are held): a block of 64 documents none of which
    /// beats it, or none of which is a member, is skipped whole.
    fn drain(
        &mut self,
        mut floor: Score,
        members: Option<&Members>,
        mut visit: impl FnMut(DocId, Score) -> Score,
    ) {
        for (word_index, word) in self.touched.iter_mut().enumerate() {
            let mut bits = std::mem::take(word);
            while bits != 0 {
                let block = word_index * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let start = block * BLOCK_DOCS;
                let end = (start + BLOCK_DOCS).min(self.scores.len());
                let scores = &mut self.scores[start..end];
                // One members word covers exactly one block.
                let kept = members.map_or(u64::MAX, |members| members.word(block));
                if kept != 0 && block_max(scores) > floor {
                    for (offset, &score) in scores.iter().enumerate() {
                        if score > floor && kept & (1 << offset) != 0 {
                            floor = visit((start + offset) as DocId, score);
                        }
                    }
                }
                scores.fill(0.0);
            }
        }
    }
}

/// The largest of `scores` (0 for none), in eight lanes so that it compiles to
/// vector instructions.
fn block_max(scores: &[Score]) -> Score {
    let mut lanes = [0.0 as Score; 8];
    let mut chunks = scores.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &score) in lanes.iter_mut().zip(chunk) {
            *lane = if score > *lane { score } else { *lane };
        }
    }
    let rest = chunks.remainder().iter();
    lanes
        .iter()
        .chain(rest)
        .fold(0.0, |max, &score| if score > max { score } else { max })
}

/// A query term with the boost its clause carries (repetitions, heading weight).
#[derive(Debug, Clone)]
pub(crate) struct WeightedTerm {
    /// The analysed term, with its field.
    pub term: Term,
    /// Multiplies the term's BM25 score.
    pub boost: Score,
}

/// The `limit` best-scoring live documents that match any of `terms` (and
/// `filter`, when given), best first, scored as the sum of each term's boosted
/// BM25 score under `statistics`; equal scores resolve to the lower address.
pub(crate) fn top_by_accumulation(
    searcher: &Searcher,
    statistics: &dyn Bm25StatisticsProvider,
    terms: &[WeightedTerm],
    filter: Option<&dyn Weight>,
    limit: usize,
) -> Result<Vec<(Score, DocAddress)>, IndexError> {
    if limit == 0 || terms.is_empty() {
        return Ok(Vec::new());
    }
    // The statistics a `TermQuery` scored with this provider has.
    let weights = terms
        .iter()
        .map(|weighted| {
            Ok(
                Bm25Weight::for_terms(statistics, std::slice::from_ref(&weighted.term))?
                    .boost_by(weighted.boost),
            )
        })
        .collect::<Result<Vec<_>, IndexError>>()?;
    let mut best = BestHits::new(limit);
    let mut accumulator = Accumulator::default();
    for (ordinal, reader) in searcher.segment_readers().iter().enumerate() {
        accumulator.fit(reader.max_doc() as usize);
        for (weighted, weight) in terms.iter().zip(&weights) {
            add_term(reader, &weighted.term, weight, &mut accumulator)?;
        }
        let alive = reader.alive_bitset();
        let members = filter
            .map(|weight| Members::of(weight, reader))
            .transpose()?;
        // Every matching document scores above zero (BM25's idf is positive), and
        // documents come in address order, so only a score above the k-th best so
        // far gets in (an equal one never displaces a hit).
        let floor = best.threshold().unwrap_or(0.0);
        accumulator.drain(floor, members.as_ref(), |doc, score| {
            // `drain` passes only scores above the k-th best so far.
            if alive.is_none_or(|bits| bits.is_alive(doc)) {
                best.push(score, DocAddress::new(ordinal as u32, doc));
            }
            best.threshold().unwrap_or(0.0)
        });
    }
    Ok(best.into_sorted())
}

/// The documents of a segment that a filter keeps, one bit each.
struct Members {
    bits: Vec<u64>,
}

impl Members {
    fn of(filter: &dyn Weight, reader: &SegmentReader) -> Result<Self, IndexError> {
        let mut bits = vec![0u64; (reader.max_doc() as usize).div_ceil(64)];
        filter.for_each_no_score(reader, &mut |docs| {
            for &doc in docs {
                if let Some(word) = bits.get_mut(doc as usize / 64) {
                    *word |= 1 << (doc % 64);
                }
            }
        })?;
        Ok(Self { bits })
    }

    /// The members among documents `64 × index` to `64 × index + 63`, one bit each.
    fn word(&self, index: usize) -> u64 {
        self.bits.get(index).copied().unwrap_or(0)
    }
}

/// Adds `term`'s BM25 score to each document of the segment that contains it.
fn add_term(
    reader: &SegmentReader,
    term: &Term,
    weight: &Bm25Weight,
    accumulator: &mut Accumulator,
) -> Result<(), IndexError> {
    let Some(mut postings) = reader
        .inverted_index(term.field())?
        .read_block_postings(term, IndexRecordOption::WithFreqs)?
    else {
        return Ok(());
    };
    // A field indexed without norms scores every document as one token long, as
    // a `TermQuery` does.
    let norms = match reader.fieldnorms_readers().get_field(term.field())? {
        Some(norms) => norms,
        None => FieldNormReader::constant(reader.max_doc(), 1),
    };
    loop {
        let docs = postings.docs();
        if docs.is_empty() {
            return Ok(());
        }
        for (position, &doc) in docs.iter().enumerate() {
            // `freq` reads 1 where the field keeps no frequencies.
            let frequency = postings.freq(position);
            accumulator.add(doc, weight.score(norms.fieldnorm_id(doc), frequency));
        }
        postings.advance();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Accumulator, Members};

    proptest! {
        /// Draining yields each touched member whose sum beats the floor once,
        /// in document order, with the sum of its scores, and leaves the
        /// accumulator as new: a second round on the same (reused, possibly
        /// smaller) accumulator sees none of the first.
        #[test]
        fn draining_returns_the_sums_above_the_floor_and_resets(
            rounds in prop::collection::vec(
                (
                    1usize..20_000,
                    prop::collection::vec((0usize..20_000, 1u8..10), 0..300),
                    prop_oneof![Just(0u8), 0u8..20],
                    prop::option::of(prop::collection::vec(any::<u64>(), 0..320)),
                ),
                1..4,
            ),
        ) {
            let mut accumulator = Accumulator::default();
            for (max_doc, additions, floor, members) in rounds {
                let floor = f32::from(floor);
                let members = members.map(|bits| Members { bits });
                accumulator.fit(max_doc);
                let mut expected = std::collections::BTreeMap::new();
                for (doc, score) in additions {
                    let doc = doc % max_doc;
                    accumulator.add(doc as u32, f32::from(score));
                    *expected.entry(doc as u32).or_insert(0.0f32) += f32::from(score);
                }
                let mut drained = Vec::new();
                accumulator.drain(floor, members.as_ref(), |doc, score| {
                    drained.push((doc, score));
                    floor
                });
                let member = |doc: u32| {
                    members.as_ref().is_none_or(|m| m.word(doc as usize / 64) & (1 << (doc % 64)) != 0)
                };
                let expected: Vec<(u32, f32)> = expected
                    .into_iter()
                    .filter(|&(doc, sum)| sum > floor && member(doc))
                    .collect();
                prop_assert_eq!(drained, expected);
                prop_assert!(accumulator.scores.iter().all(|&score| score == 0.0));
                prop_assert!(accumulator.touched.iter().all(|&word| word == 0));
            }
        }
    }
}
