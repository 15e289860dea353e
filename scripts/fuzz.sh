#!/usr/bin/env bash
# Fuzzes Folio's parsers, structurizer, chunker, ALR² fact checking and API
# request decoding with cargo-fuzz (libFuzzer), on the stable toolchain.
#
#   scripts/fuzz.sh SECONDS [TARGET...]   (default: every target; 5 s each for a smoke run)
#
# Seed corpora are regenerated from the dev documents and hand-made malformed
# files (scripts/fuzz_seeds.py); what the fuzzer learns accumulates in
# fuzz/corpus/<target>/ (not committed). A crash leaves its input in
# fuzz/artifacts/<target>/ and fails the run; every crash found becomes a
# regression test in the crate it belongs to.
#
# Environment: FOLIO_FUZZ_TARGET_DIR (instrumented build, default
# ~/.cache/folio-fuzz-target), FOLIO_EVAL_DIR (default ../shared/eval, else tests/fixtures),
# FOLIO_FUZZ_JOBS (targets run at once, default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
shift || true
all=(parse_pdf parse_html parse_docx structure_and_chunk alr2_facts api_requests)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
target_dir="${FOLIO_FUZZ_TARGET_DIR:-$HOME/.cache/folio-fuzz-target}"
jobs="${FOLIO_FUZZ_JOBS:-1}"
# cargo-fuzz passes nightly-only flags; RUSTC_BOOTSTRAP lets the stable 1.95
# toolchain accept them (the project pins no nightly).
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
rm -rf fuzz/seeds
# Seeds from the dev set where this checkout has one, else from the committed fixtures.
seed_docs="${FOLIO_EVAL_DIR:-../shared/eval}"
[ -d "$seed_docs/docs" ] || seed_docs=tests/fixtures
python3 scripts/fuzz_seeds.py fuzz/seeds "$seed_docs" >/dev/null

# No sanitizer (the code under test is safe Rust; panics, overflows with debug
# assertions on, hangs and memory blow-ups are what libFuzzer reports).
(cd fuzz && cargo fuzz build -s none -a -O --target-dir "$target_dir")
bin_dir="$target_dir/x86_64-unknown-linux-gnu/release"

run_one() {
  local target="$1"
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  local log="fuzz/artifacts/$target/last-run.log"
  local status=0
  "$bin_dir/$target" "fuzz/corpus/$target" "fuzz/seeds/$target" \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$target/" >"$log" 2>&1 || status=$?
  local runs
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
  local corpus
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    echo "$target: ${seconds}s, $runs executions, corpus $corpus inputs, no crash"
  else
    echo "$target: CRASH after $runs executions (exit $status); input and log in fuzz/artifacts/$target/"
    # A stack overflow leaves no libFuzzer crash file; the parser targets'
    # own handler writes the input as overflow-input instead.
    tail -n 30 "$log"
  fi
  return "$status"
}

failed=0
running=0
for target in "${targets[@]}"; do
  run_one "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit "$failed"
