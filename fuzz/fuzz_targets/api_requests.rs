#![no_main]
//! The HTTP API's request decoding (JSON bodies of every route, multipart uploads,
//! the collection query) through the server's own extractors: a request either
//! decodes or becomes a 4xx API error with a `{"error": {message, code, type}}` JSON body.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&route, body)) = data.split_first() {
        folio_server::http::fuzzing::decode_request(route, body);
    }
});
