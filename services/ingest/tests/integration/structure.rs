//! Structurizer and chunker tests.
