//! Folio's shared foundation: domain types, layered configuration, error
//! codes and the metadata store (SQLite by default, PostgreSQL at scale).
#![warn(missing_docs)]

pub mod model;
