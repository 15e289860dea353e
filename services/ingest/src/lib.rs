//! Folio's ingestion service: parsers turn uploaded bytes into one canonical
//! text, the structurizer recovers its section tree, the chunker cuts it into
//! exact slices, and the pipeline embeds and indexes them as a durable job
//! that a [`worker::Worker`] claims from the metadata store.
#![warn(missing_docs)]

pub mod chunk;
mod error;
pub mod failpoints;
pub mod parse;
pub mod pipeline;
pub mod structure;
pub mod worker;

pub use error::IngestError;
