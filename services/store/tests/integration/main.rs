//! Integration tests of folio-common (one test binary per crate).
//!
//! The store suite runs against SQLite always and against PostgreSQL when
//! `FOLIO_TEST_POSTGRES_URL` points at a server (`.ci/run` starts one).

mod pages;
mod store;
