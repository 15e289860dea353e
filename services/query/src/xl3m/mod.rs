//! XL3M segment selection: rank segments of a long context by how certain the model
//! becomes about the question after reading each one, keep the best within a token
//! budget, and splice them back in document order.
//!
//! Two entry points share the scoring and selection:
//! * rerank mode: segments around retrieved candidates ([`segments::around_candidates`]);
//! * single-document mode: every segment of one document ([`segments::tile_document`]),
//!   the paper's setting, with progress reporting and a time budget.

mod score;
mod segments;
mod select;

pub use score::{score_segments, CertaintyScores, Progress, ScoredSegments};
pub use segments::{around_candidates, tile_document, Segment, SegmentOptions};
pub use select::{rank_order, select, Definition, SegmentTrace, Selection, SEGMENT_SEPARATOR};
