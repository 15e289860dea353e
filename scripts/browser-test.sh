#!/usr/bin/env bash
# Browser tests of the web UI: Debian's chromium (installed if missing) driven by
# playwright-core from npm against the real `folio serve`.
# Environment: FOLIO_BIN (default $CARGO_TARGET_DIR/release/folio), FOLIO_MODELS_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
npm ci --prefix web --no-audit --no-fund --silent
export CHROMIUM="${CHROMIUM:-$(command -v chromium)}"
export FOLIO_BIN="${FOLIO_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/folio-target}/release/folio}"
export FOLIO_UI_ARTIFACTS="${FOLIO_UI_ARTIFACTS:-${CARGO_TARGET_DIR:-$HOME/.cache/folio-target}/ui-artifacts}"
node web/tests/ui.test.mjs
