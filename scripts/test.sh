#!/usr/bin/env bash
# Runs Folio's whole test suite: builds once (release profile, shared with the
# binary), fetches the models the tests use, starts PostgreSQL so the store
# tests run on both databases, then runs every crate's tests.
#
# Environment: CARGO_TARGET_DIR (default ~/.cache/folio-target, reused across
# runs and clones), QDRANT_URL (optional: also test the Qdrant-server backend).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/folio-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export FOLIO_MODELS_DIR="${FOLIO_MODELS_DIR:-$PWD/models}"

echo "== starting PostgreSQL"
FOLIO_TEST_POSTGRES_URL="$(bash scripts/start-postgres.sh)"
export FOLIO_TEST_POSTGRES_URL

echo "== building (release profile; tests and binary share it)"
cargo test --release --workspace --no-run --locked

echo "== fetching models into $FOLIO_MODELS_DIR"
# Gemma 3 270M too, so the SentencePiece tokenizer and the gemma3 decoder are tested.
"$CARGO_TARGET_DIR/release/folio" models fetch --with gemma3

echo "== running tests"
cargo test --release --workspace --locked -- --test-threads="${FOLIO_TEST_THREADS:-2}"

echo "== browser tests of the web UI (chromium + playwright-core)"
bash scripts/browser-test.sh
echo "== deployment files (docker-compose schema check, no Docker engine needed)"
bash scripts/validate-deploy.sh
echo "== fuzz smoke: every cargo-fuzz target for 5 s (scripts/fuzz.sh SECONDS for real runs)"
FOLIO_FUZZ_JOBS=2 bash scripts/fuzz.sh 5
