//! Folio's shared foundation: domain types, layered configuration, the
//! metadata store (SQLite by default, PostgreSQL at scale) and the blob store.
#![warn(missing_docs)]

pub mod blob;
pub mod config;
pub mod model;
pub mod store;
pub mod text;
