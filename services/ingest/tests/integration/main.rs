//! Integration tests of folio-ingest (one test binary per crate).

mod parsers;
mod structure;
