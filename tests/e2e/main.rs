//! End-to-end tests that drive the real `folio` binary: HTTP upload and
//! ingestion, bad input, crash recovery (SIGKILL and failure-injection
//! points), and the CLI. One test binary for the whole suite.

mod harness;

mod answer;
mod auth;
mod backup;
mod cli;
mod crash;
mod documents;
mod grounded;
mod hostile;
mod limits;
mod load;
mod search;
mod security;
mod split;
mod telemetry;
mod tenancy;
