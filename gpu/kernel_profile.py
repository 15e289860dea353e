"""Kernel-time profile of one XL3M scoring pass (8 segments of 1024 tokens) under
Nsight Compute, for Folio and for PyTorch on the same model and inputs.

usage: python kernel_profile.py plan MODEL_DIR PLAN_JSON      (Folio's plan)
       python kernel_profile.py torch MODEL_DIR               (the PyTorch pass)
       python kernel_profile.py summary NCU_CSV [NCU_CSV ...] (time per kernel family)
"""
import collections
import csv
import json
import re
import sys



BATCH, LENGTH, QUESTION = 8, 1024, 32


def inputs(model_dir):
    import torch

    vocab = json.load(open(f"{model_dir}/config.json"))["vocab_size"]
    return torch.randint(0, vocab, (BATCH, LENGTH), generator=torch.Generator().manual_seed(3))


def plan(model_dir, out):
    seqs = [{"ids": row.tolist(), "prefix": LENGTH - QUESTION} for row in inputs(model_dir)]
    json.dump({"tasks": [{"name": "profile", "kind": "score", "sequences": seqs,
                          "max_batch_tokens": BATCH * LENGTH}]}, open(out, "w"))


def torch_pass(model_dir):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16,
                                                 attn_implementation="sdpa").cuda().eval()
    ids = inputs(model_dir).cuda()
    with torch.inference_mode():
        hidden = model.model(input_ids=ids).last_hidden_state
        lp = torch.log_softmax(model.lm_head(hidden[:, LENGTH - QUESTION - 1 : -1]).float(), -1)
        (lp.exp() * lp).sum(-1)
    torch.cuda.synchronize()


def family(name):
    name = re.sub(r"\(.*", "", name)
    for pattern, label in [(r"gemm|gemv|sm90_xmma|cutlass|nvjet|Kernel2", "matmul (cuBLAS)"),
                           (r"flash|fmha|attention|efficient", "fused attention"),
                           (r"softmax", "softmax"), (r"ucopy|copy", "copies"),
                           (r"badd|bmul|bsub|bdiv|add|mul", "elementwise binary"),
                           (r"rms|norm", "rms norm"), (r"rope", "rotary"),
                           (r"affine|silu|exp|log|neg|unary", "elementwise unary")]:
        if re.search(pattern, name, re.I):
            return label
    return "other"


def summary(paths):
    for path in paths:
        rows = list(csv.reader(open(path)))
        start = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
        header, units = rows[start], rows[start + 1]
        name_col, time_col = header.index("Kernel Name"), header.index("gpu__time_duration.sum")
        scale = {"ns": 1e-6, "nsecond": 1e-6, "us": 1e-3, "usecond": 1e-3, "ms": 1.0,
                 "msecond": 1.0, "s": 1e3, "second": 1e3}[units[time_col]]
        by_kernel = collections.Counter()
        by_family = collections.Counter()
        count = collections.Counter()
        for row in rows[start + 2 :]:
            if len(row) <= time_col or not row[time_col]:
                continue
            ms = float(row[time_col].replace(",", "")) * scale
            kernel = re.sub(r"\(.*", "", row[name_col])[:60]
            by_kernel[kernel] += ms
            by_family[family(row[name_col])] += ms
            count[kernel] += 1
        total = sum(by_kernel.values())
        print(f"== {path}: {sum(count.values())} kernels, {total:.2f} ms of kernel time")
        for label, ms in by_family.most_common():
            print(f"  {label:<22} {ms:9.2f} ms  {ms / total:6.1%}")
        for kernel, ms in by_kernel.most_common(12):
            print(f"    {kernel:<60} x{count[kernel]:<5} {ms:9.2f} ms")


if __name__ == "__main__":
    {"plan": lambda: plan(sys.argv[2], sys.argv[3]), "torch": lambda: torch_pass(sys.argv[2]),
     "summary": lambda: summary(sys.argv[2:])}[sys.argv[1]]()
