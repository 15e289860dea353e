"""XL3M scoring and generation throughput on one GPU: Folio (candle, bf16) next
to PyTorch/transformers (bf16, sdpa attention) on the same random weights and
the same token ids, in one run.

Scoring is what XL3M does: a forward pass over each segment, then the
log-probability and entropy of the question block (the last QUESTION tokens)
only. Both sides score N sequences of L tokens in batches of B (Folio: its
length-packing scheduler with a budget of B×L tokens per pass).

MFU counts useful FLOPs (matrix products of the layers, causal attention as
half the square, the vocabulary projection of the scored rows) over the H200's
dense bf16 peak, 989.4 TFLOP/s (datasheet).

usage: python bench.py FOLIO OUT_JSON MODEL_DIR [MODEL_DIR ...]
"""
import json
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM

LENGTHS = [256, 512, 1024]
BATCHES = [1, 8, 32, 64]
SEQUENCES = 64
QUESTION = 32
GEN_PROMPT, GEN_NEW, GEN_BATCHES = 128, 128, [1, 16]
PEAK = 989.4e12
REPEATS = 3


def shape(config):
    d, n = config["hidden_size"], config["num_hidden_layers"]
    h = config["num_attention_heads"]
    kv = config.get("num_key_value_heads", h)
    hd = config.get("head_dim") or d // h
    return d, n, h, kv, hd, config["intermediate_size"], config["vocab_size"]


def scoring_flops(config, length, sequences):
    d, n, h, kv, hd, ff, vocab = shape(config)
    linear = 2 * n * (d * h * hd + 2 * d * kv * hd + h * hd * d + 3 * d * ff)
    attention = 2 * n * 2 * h * hd * length * (length + 1) / 2
    head = 2 * vocab * d * QUESTION
    return sequences * (linear * length + attention + head)


def torch_score(model, batch, prefix):
    hidden = model.model(input_ids=batch).last_hidden_state
    rows = hidden[:, prefix - 1 : -1]
    lp = torch.log_softmax(model.lm_head(rows).float(), -1)
    chosen = lp.gather(-1, batch[:, prefix:, None])
    entropy = -(lp.exp() * lp).sum(-1)
    return chosen, entropy


def timed(fn, repeats=REPEATS):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_model(folio, model_dir):
    config = json.load(open(f"{model_dir}/config.json"))
    vocab = config["vocab_size"]
    g = torch.Generator().manual_seed(11)
    data = {L: torch.randint(0, vocab, (SEQUENCES, L), generator=g) for L in LENGTHS}
    prompts = torch.randint(0, vocab, (max(GEN_BATCHES), GEN_PROMPT), generator=g)
    tasks = []
    for L in LENGTHS:
        seqs = [{"ids": row.tolist(), "prefix": L - QUESTION} for row in data[L]]
        for b in BATCHES:
            tasks.append({"name": f"score-L{L}-b{b}", "kind": "score", "sequences": seqs,
                          "max_batch_tokens": b * L, "warmup": 1, "repeats": REPEATS})
        # The same largest batch with candle's ops instead of the fused kernels: their gain.
        tasks.append(dict(tasks[-1], name=f"score-L{L}-b{BATCHES[-1]}-unfused",
                          unfused=True))
    for b in GEN_BATCHES:
        tasks.append({"name": f"generate-b{b}", "kind": "generate", "new_tokens": GEN_NEW,
                      "prompts": prompts[:b].tolist(), "warmup": 1, "repeats": 2, "keep": True})
    with tempfile.TemporaryDirectory() as tmp:
        json.dump({"tasks": tasks}, open(f"{tmp}/plan.json", "w"))
        subprocess.run([folio, "bench", "tokens", "--model", model_dir, "--device", "cuda:0",
                        "--weights", "bf16", "--plan", f"{tmp}/plan.json",
                        "--output", f"{tmp}/out.json"], check=True)
        ours = {t["name"]: t for t in json.load(open(f"{tmp}/out.json"))["tasks"]}

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16,
                                                 attn_implementation="sdpa").cuda().eval()
    rows = []
    with torch.inference_mode():
        for L in LENGTHS:
            ids = data[L].cuda()
            for b in BATCHES:
                def run():
                    for start in range(0, SEQUENCES, b):
                        torch_score(model, ids[start : start + b], L - QUESTION)
                try:
                    torch_s = timed(run)
                except torch.OutOfMemoryError:
                    torch_s = float("nan")
                folio_s = ours[f"score-L{L}-b{b}"]["median_s"]
                unfused = ours.get(f"score-L{L}-b{b}-unfused", {}).get("median_s")
                flops = scoring_flops(config, L, SEQUENCES)
                rows.append({
                    "kind": "score", "length": L, "batch": b, "sequences": SEQUENCES,
                    "folio_s": folio_s, "torch_s": torch_s, "folio_unfused_s": unfused,
                    "folio_tokens_per_s": SEQUENCES * L / folio_s,
                    "torch_tokens_per_s": SEQUENCES * L / torch_s,
                    "folio_segments_per_s": SEQUENCES / folio_s,
                    "ratio": torch_s / folio_s,
                    "folio_mfu": flops / folio_s / PEAK, "torch_mfu": flops / torch_s / PEAK,
                })
                print(f"{model_dir} L={L} b={b}: folio {folio_s*1e3:.1f} ms, torch {torch_s*1e3:.1f} ms,"
                      f" ratio {rows[-1]['ratio']:.2f}, MFU {rows[-1]['folio_mfu']:.1%}"
                      f" vs {rows[-1]['torch_mfu']:.1%}", flush=True)
        for b in GEN_BATCHES:
            x = prompts[:b].cuda()
            out = {}
            def gen():
                out["ids"] = model.generate(x, attention_mask=torch.ones_like(x),
                                            max_new_tokens=GEN_NEW, min_new_tokens=GEN_NEW,
                                            do_sample=False, pad_token_id=0)
            torch_s = timed(gen, repeats=2)
            folio_task = ours[f"generate-b{b}"]
            folio_s = folio_task["median_s"]
            ours_ids = folio_task["result"]
            theirs = out["ids"][:, GEN_PROMPT:].tolist()
            # Greedy choices on a random model are near ties: bf16 rounding flips
            # some, after which the continuations differ. Report the shared prefix.
            agree = [next((i for i, (a, c) in enumerate(zip(p, q)) if a != c), len(p))
                     for p, q in zip(ours_ids, theirs)]
            rows.append({
                "kind": "generate", "batch": b, "prompt": GEN_PROMPT, "new_tokens": GEN_NEW,
                "folio_s": folio_s, "torch_s": torch_s,
                "folio_tokens_per_s": b * GEN_NEW / folio_s,
                "torch_tokens_per_s": b * GEN_NEW / torch_s,
                "ratio": torch_s / folio_s,
                "greedy_tokens_agreeing_before_first_difference": agree,
            })
            print(f"{model_dir} generate b={b}: folio {b*GEN_NEW/folio_s:.0f} tok/s,"
                  f" torch {b*GEN_NEW/torch_s:.0f} tok/s, ratio {rows[-1]['ratio']:.2f},"
                  f" agreeing prefix {agree}", flush=True)
    del model
    torch.cuda.empty_cache()
    return {"model": model_dir, "architecture": config["model_type"], "rows": rows}


def main(folio, out_path, *model_dirs):
    result = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "peak_flops": PEAK, "question_tokens": QUESTION, "models": []}
    for model_dir in model_dirs:
        result["models"].append(bench_model(folio, model_dir))
        json.dump(result, open(out_path, "w"), indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
