//! Folio's ingestion service: parsers turn uploaded bytes into one canonical
//! text, the structurizer recovers its section tree, the chunker cuts it into
//! exact slices, and the pipeline embeds and indexes them as a durable job
//! that a [`worker::Worker`] claims from the metadata store.
#![warn(missing_docs)]

pub mod chunk;
pub mod failpoints;
pub mod parse;
pub mod structure;
// The pipeline modules (error.rs, pipeline.rs, worker.rs) are wired in once
// the parser, structurizer and index APIs they call have landed.
