//! Folio's shared foundation: domain types, layered configuration, text rules
//! (sentence units, number words) and the blob store. The metadata store is
//! `folio-store`.
#![warn(missing_docs)]

pub mod blob;
pub mod config;
pub mod model;
pub mod text;
