//! Chunker (owned by the structure work).
