#!/usr/bin/env bash
# One call on the GPU machine: parity, benchmarks and the end-to-end run, with
# results under $OUT. Carried: gpu/dist (folio-cuda.xz, smollm2-tokenizer.gguf)
# and models/all-minilm-l6-v2 (the embedder). See gpu/README.md.
#   STAGES="env parity profile bench e2e" (default all)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/folio-gpu-out}"; mkdir -p "$OUT"
STAGES="${STAGES:-env parity profile bench e2e}"
WORK=/tmp/folio-gpu; mkdir -p "$WORK"
export PYTHONUNBUFFERED=1

# CUDA libraries: the driver's libcuda, and cuBLAS/cuRAND/NVRTC/runtime from the
# image's Python nvidia packages (the binary was linked against their sonames).
libdirs=$(python3 - <<'PY'
import glob, os, site
dirs = set()
for root in site.getsitepackages():
    for pattern in ("libcublas.so.13*", "libcurand.so.10*", "libnvrtc.so.13*", "libcudart.so.13*"):
        for path in glob.glob(f"{root}/nvidia/**/{pattern}", recursive=True):
            dirs.add(os.path.dirname(path))
print(":".join(sorted(dirs)))
PY
)
export LD_LIBRARY_PATH="$libdirs:/usr/local/nvidia/lib64:/usr/local/nvidia/lib:${LD_LIBRARY_PATH:-}"
export ORT_DYLIB_PATH=$(python3 -c 'import glob, onnxruntime, os; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))[0])')

FOLIO="$WORK/folio"
[ -x "$FOLIO" ] || xz -dc gpu/dist/folio-cuda.xz >"$FOLIO" && chmod +x "$FOLIO"

stage() { [[ " $STAGES " == *" $1 "* ]]; }

if stage env; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/env.txt"
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' | tee -a "$OUT/env.txt"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >>"$OUT/env.txt"
  ldd "$FOLIO" | grep -E "cuda|cublas|curand|nvrtc|not found" | tee -a "$OUT/env.txt"
fi

python3 gpu/models.py "$WORK/models" qwen2-0.5b llama-3.2-1b smollm2-135m 2>&1 | grep -v Warning

if stage parity; then
  for m in qwen2-0.5b llama-3.2-1b; do
    timeout 300 python3 gpu/parity.py "$FOLIO" "$WORK/models/$m" "$OUT/parity-$m.json" 2>&1 | tail -45
  done
fi

if stage profile; then
  m="$WORK/models/qwen2-0.5b"
  python3 gpu/kernel_profile.py plan "$m" "$WORK/profile-plan.json"
  ncu="ncu --clock-control none --csv --page raw --metrics gpu__time_duration.sum"
  timeout 200 $ncu "$FOLIO" bench tokens --model "$m" --device cuda:0 --weights bf16 \
    --plan "$WORK/profile-plan.json" --output "$WORK/profile-out.json" >"$OUT/ncu-folio.csv" 2>"$WORK/ncu-folio.err"
  timeout 200 $ncu python3 gpu/kernel_profile.py torch "$m" >"$OUT/ncu-torch.csv" 2>"$WORK/ncu-torch.err"
  python3 gpu/kernel_profile.py summary "$OUT/ncu-folio.csv" "$OUT/ncu-torch.csv" | tee "$OUT/profile.txt"
fi

if stage bench; then
  timeout 420 python3 gpu/bench.py "$FOLIO" "$OUT/bench.json" "$WORK/models/qwen2-0.5b" "$WORK/models/llama-3.2-1b" 2>&1 | grep -v Warning
fi

if stage e2e; then
  cp gpu/dist/smollm2-tokenizer.gguf "$WORK/models/smollm2-135m/tokenizer.gguf"
  timeout 300 python3 gpu/e2e.py "$FOLIO" "$WORK/models/smollm2-135m" "$PWD/models" cuda:0 "$OUT/e2e.json" 2>&1 | tail -40
fi
ls -la "$OUT"
