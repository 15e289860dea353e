//! The CLI: one file per command, each calling `folio-app`'s use cases and
//! printing what they return. `serve` is the one command that starts another
//! front end (the HTTP API).

pub mod admin;
pub mod args;
pub mod ask;
pub mod docs;
pub mod ingest;
pub mod models;
pub mod search;
pub mod select;
pub mod serve;
