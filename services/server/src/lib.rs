//! Folio's HTTP front end (axum) and what the `folio` binary shares with it:
//! the table of error codes, metrics and telemetry. The binary (`src/main.rs`,
//! with the CLI in `src/commands/`) calls `folio-app` for every use case. It is
//! a library so that fuzz targets can drive the API's request decoding in-process.

pub mod error_codes;
pub mod http;
pub mod metrics;
pub mod telemetry;

#[cfg(test)]
mod layering;
