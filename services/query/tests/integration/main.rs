//! Integration tests of folio-query against real stores, indexes and models
//! (one test binary for the crate).

mod answering;
mod common;
mod grounding;
mod ingestion;
mod retrieval;
mod xl3m;
