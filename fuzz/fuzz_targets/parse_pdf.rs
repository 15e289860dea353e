#![no_main]
//! The pdf parser on arbitrary bytes: no panic, no hang, and a well-formed result.

use folio_common::model::DocumentFormat;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::parse_and_check(DocumentFormat::Pdf, data);
});
