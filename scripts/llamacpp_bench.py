#!/usr/bin/env python3
"""llama.cpp prompt-processing reference for `folio bench score`.

`folio bench score` writes the exact token sequences it scores with candle to a JSON
file and runs this script on the same GGUF with the same thread count, so both sides
process identical tokens in the same run:

    $VENV/bin/python scripts/llamacpp_bench.py --model M.gguf --threads 2 \
        --tokens-file seqs.json [--repeats 1]

`seqs.json` is {"sequences": [[id, ...], ...]}. Output: one JSON object on stdout with
`llama_cpp_version`, `load_s`, and for `all_logits` (logits at every position, what
scoring needs) and `last_logits` (llama.cpp's plain prefill), `seconds` and
`tokens_per_s` (best of the repeats).
"""
import argparse
import json
import time


def run(model_path, threads, sequences, logits_all, repeats):
    import llama_cpp

    longest = max(len(s) for s in sequences)
    started = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=model_path,
        n_ctx=longest + 8,
        n_batch=longest,
        n_ubatch=longest,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=logits_all,
        verbose=False,
    )
    load_s = time.perf_counter() - started
    llm.reset()
    llm.eval(sequences[0][:32])  # warm-up
    best = None
    for _ in range(repeats):
        started = time.perf_counter()
        for seq in sequences:
            llm.reset()
            llm.eval(seq)
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    tokens = sum(len(s) for s in sequences)
    return load_s, {"seconds": best, "tokens_per_s": tokens / best, "tokens": tokens}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--tokens-file", required=True)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with open(args.tokens_file) as f:
        sequences = json.load(f)["sequences"]
    import llama_cpp

    load_s, all_logits = run(args.model, args.threads, sequences, True, args.repeats)
    _, last_logits = run(args.model, args.threads, sequences, False, args.repeats)
    print(
        json.dumps(
            {
                "llama_cpp_version": llama_cpp.__version__,
                "load_s": load_s,
                "threads": args.threads,
                "all_logits": all_logits,
                "last_logits": last_logits,
            }
        )
    )


if __name__ == "__main__":
    main()
