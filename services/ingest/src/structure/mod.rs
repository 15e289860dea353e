//! Structurizer (owned by the structure work).
