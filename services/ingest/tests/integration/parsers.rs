//! Parser tests on real and hand-made malformed documents.
