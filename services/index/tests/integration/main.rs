//! Integration tests of folio-index (one test binary per crate).
