//! Integration tests of folio-index (one test binary per crate), on the real engines:
//! tantivy, qdrant-edge and the all-MiniLM-L6-v2 ONNX model. Qdrant server tests run
//! when `QDRANT_URL` is set (e.g. `http://localhost:6334`) and print a skip line otherwise.

mod bm25;
mod common;
mod embedder;
mod figures;
mod hybrid;
mod tenant_isolation;
mod tenant_scores;
mod vector_stores;
