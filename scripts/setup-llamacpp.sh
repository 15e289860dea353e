#!/usr/bin/env bash
# Builds llama.cpp (through llama-cpp-python from PyPI) into a virtualenv outside the
# repository, for `folio bench score`'s reference measurement. llama.cpp is not a
# dependency of Folio: only this benchmark uses it. Idempotent.
set -euo pipefail
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
VENV="${FOLIO_BENCH_VENV:-$HOME/.cache/folio-bench/venv}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$VERSION')" 2>/dev/null; then
  echo "llama-cpp-python $VERSION already in $VENV"
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
# A plain CPU build tuned for this machine (the comparison is on this machine).
CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_BLAS=OFF -DGGML_CUDA=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
  "$VENV/bin/pip" install --no-cache-dir "llama-cpp-python==$VERSION"
echo "llama-cpp-python $VERSION installed in $VENV"
