//! Folio's query service.
//!
//! * [`retrieve`]: hybrid retrieval (BM25 + dense, reciprocal rank fusion) with the
//!   rank and score of each retriever kept for the trace.
//! * [`xl3m`]: segment selection by the local model's certainty about the question.
//! * [`prompt`]: the prompt layout XL3M and answering share (the question block is
//!   the prompt's tail).
//! * [`context`]: question → key context (retrieve or take a whole document, then
//!   XL3M), the entry point answering builds on.
//! * [`answer`]: question → cited answer (pipelines `plain` … `full`), built on
//!   [`alr2`] (numbered units, fact verification), [`demos`] (recycled
//!   demonstrations) and [`sentences`] (legal-aware splitting).
//! * [`extract`]: the `extract` pipeline (the evidence itself as the answer),
//!   with [`values`] (dates, periods, amounts, places found and compared).
//! * [`document`]: a document's current version (text, structure, chunks) as the
//!   query side reads it.
#![warn(missing_docs)]

pub mod alr2;
pub mod answer;
pub mod claims;
pub mod context;
pub mod demos;
pub mod document;
mod error;
pub mod extract;
pub mod injection;
pub mod prompt;
pub mod retrieve;
pub mod values;
pub mod xl3m;

pub use error::QueryError;
