//! `folio eval` and `folio bench`: figures of what users get. Everything here
//! calls `folio-app`'s use cases and the production `ContextBuilder` and
//! answerer; nothing serves users, so nothing in the production crates depends
//! on this one.

pub mod answers;
pub mod args;
pub mod bench;
mod bench_retrieve;
mod bench_score;
mod bench_synthetic;
mod bench_tokens;
pub mod retrieval;
