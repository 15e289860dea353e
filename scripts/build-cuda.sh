#!/usr/bin/env bash
# Builds `folio` with the `cuda` feature on a machine without a GPU, for
# NVIDIA Hopper (compute capability 9.0) and CUDA 13.0, then packs a stripped,
# compressed copy into gpu/dist/ for the GPU machine (see gpu/README.md).
#
# The CUDA toolkit comes from PyPI (nvcc, headers and the libraries the link
# needs), pinned to 13.0.x: PTX from a newer nvcc is refused by a 13.0 driver.
# No wheel ships libcuda, so the link uses a stub with the driver API's symbol
# names; the GPU machine's real driver library is found at start-up.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${FOLIO_CUDA_VENV:-$HOME/.cache/cuda13-venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/folio-target}"

if [ ! -x "$VENV/bin/pip" ]; then
  python3 -m venv "$VENV"
fi
if [ ! -x "$VENV"/lib/python3*/site-packages/nvidia/cu13/bin/nvcc ]; then
  "$VENV/bin/pip" install -q \
    "cuda-toolkit[nvcc,nvvm,crt,cudart,cccl,cublas,curand,nvrtc]==13.0.2"
fi
CU=$(echo "$VENV"/lib/python3*/site-packages/nvidia/cu13)

# Unversioned names for the linker (the wheels ship only the sonames).
for lib in cudart cublas cublasLt nvrtc; do
  ln -sf "lib$lib.so.13" "$CU/lib/lib$lib.so"
done
ln -sf libcurand.so.10 "$CU/lib/libcurand.so"

# libcuda stub: every driver entry point cudarc declares, as empty functions,
# under the real soname so the binary asks for libcuda.so.1 at run time.
CUDARC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.10 | head -1)
mkdir -p "$CU/lib/stubs"
if [ ! -f "$CU/lib/stubs/libcuda.so" ]; then
  grep -ohP '^\s*pub (unsafe )?fn \Kcu\w+' "$CUDARC/src/driver/sys/mod.rs" | sort -u |
    awk '{print "void " $1 "(void) {}"}' >"$CU/lib/stubs/cuda_stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$CU/lib/stubs/libcuda.so" "$CU/lib/stubs/cuda_stub.c"
fi

export PATH="$CU/bin:$PATH" CUDA_HOME="$CU" CUDA_PATH="$CU" NVCC="$CU/bin/nvcc"
export CUDA_COMPUTE_CAP=90 CUDARC_CUDA_VERSION=13000
export CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-$(nproc)}"
export LIBRARY_PATH="$CU/lib:$CU/lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"

cargo build --release --locked -p folio-server --features cuda --bin folio
mkdir -p gpu/dist
# A different name from the CPU build's target/release/folio, which the next
# CPU build overwrites.
cp "$CARGO_TARGET_DIR/release/folio" gpu/dist/folio-cuda
strip gpu/dist/folio-cuda
xz -T0 -6 -f gpu/dist/folio-cuda
ls -l gpu/dist/
