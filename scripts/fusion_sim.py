#!/usr/bin/env python3
"""Replays fusion functions offline on the dev set's BM25 and dense rankings.

Usage:
  folio eval --set ../shared/eval --mode hybrid        # once: ingests data/eval/eval
  FOLIO__DATA_DIR=data/eval/eval FOLIO__SERVER__AUTH=false \
    FOLIO__SERVER__BIND=127.0.0.1:8899 folio serve &
  python3 scripts/fusion_sim.py [--url http://127.0.0.1:8899] [--set ../shared/eval]

For every answerable question it asks `/v1/search` (hybrid, restricted to the
question's document) once for both retrievers' top ranks, and once per sentence
of the question (dense), then scores fusion variants with `folio eval`'s rule:
a gold span is hit at k when the top-k chunks cover at least half of its
characters. The default row must reproduce `folio eval`'s hybrid figures.
Standard library only.
"""
import argparse
import json
import re
import urllib.request


def post(url, body):
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    return json.load(urllib.request.urlopen(request))


def sentences(question):
    parts = [p.strip() for p in re.split(r"(?<=[.?!])\s+", question) if p.strip()]
    return [p for p in parts if len(p.split()) >= 3] or [question]


def collect(url, eval_dir):
    documents = json.load(urllib.request.urlopen(url + "/v1/documents?limit=1000"))["documents"]
    ids = {d["name"].rsplit(".", 1)[0]: d["id"] for d in documents}
    runs = []
    for line in open(f"{eval_dir}/questions.jsonl"):
        q = json.loads(line)
        if not q["evidence"]:
            continue
        doc = [ids[q["doc_id"]]]
        found = post(url + "/v1/search", {"query": q["question"], "documents": doc, "limit": 100, "mode": "hybrid"})
        candidates = [
            {
                "id": c["chunk"]["id"],
                "span": (c["chunk"]["char_start"], c["chunk"]["char_end"]),
                "bm25": c["bm25"]["rank"] if c["bm25"] else None,
                "bm25_score": c["bm25"]["score"] if c["bm25"] else None,
                "dense": c["dense"]["rank"] if c["dense"] else None,
                "dense_score": c["dense"]["score"] if c["dense"] else None,
            }
            for c in found["candidates"]
        ]
        per_sentence = []
        for text in sentences(q["question"]):
            hits = post(url + "/v1/search", {"query": text, "documents": doc, "limit": 50, "mode": "dense"})
            per_sentence.append(
                [(c["chunk"]["id"], c["dense"]["rank"], (c["chunk"]["char_start"], c["chunk"]["char_end"])) for c in hits["candidates"]]
            )
        runs.append(
            {
                "source": "CUAD" if q["source"].startswith("CUAD") else "FinanceBench",
                "gold": [(e["start"], e["end"]) for e in q["evidence"]],
                "candidates": candidates,
                "sentences": per_sentence,
            }
        )
    return runs


def covered(spans, gold):
    start, end = gold
    pieces = sorted((max(a, start), min(b, end)) for a, b in spans if min(b, end) > max(a, start))
    total, current = 0, None
    for a, b in pieces:
        if current and a <= current[1]:
            current = (current[0], max(current[1], b))
        else:
            if current:
                total += current[1] - current[0]
            current = (a, b)
    if current:
        total += current[1] - current[0]
    return 2 * total >= end - start


def report(runs, label, rank):
    sums = {}
    for run in runs:
        order = rank(run)
        recall = [sum(covered(order[:k], g) for g in run["gold"]) / len(run["gold"]) for k in (3, 10)]
        for source in ("all", run["source"]):
            sums.setdefault(source, []).append(recall)
    cells = []
    for source in ("all", "CUAD", "FinanceBench"):
        values = sums.get(source, [])
        n = max(len(values), 1)
        cells.append(f"{sum(v[0] for v in values) / n:.3f} | {sum(v[1] for v in values) / n:.3f}")
    print(f"| {label} | " + " | ".join(cells) + " |")


def single(key, depth=50):
    def rank(run):
        hits = sorted((c for c in run["candidates"] if c[key] and c[key] <= depth), key=lambda c: c[key])
        return [c["span"] for c in hits]
    return rank


def rrf(k=60.0, depth=50):
    def rank(run):
        scored = []
        for c in run["candidates"]:
            score = sum(1.0 / (k + c[key]) for key in ("bm25", "dense") if c[key] and c[key] <= depth)
            if score > 0:
                scored.append((-score, min(c["bm25"] or 10**6, c["dense"] or 10**6), c["id"], c["span"]))
        return [s[3] for s in sorted(scored)]
    return rank


def interleave(run):
    lists = [sorted((c for c in run["candidates"] if c[key]), key=lambda c: c[key]) for key in ("bm25", "dense")]
    seen, order = set(), []
    for i in range(max(map(len, lists))):
        for hits in lists:
            if i < len(hits) and hits[i]["id"] not in seen:
                seen.add(hits[i]["id"])
                order.append(hits[i]["span"])
    return order


def convex(alpha, depth=50):
    def rank(run):
        def normalised(key):
            hits = [c for c in run["candidates"] if c[key] and c[key] <= depth]
            if not hits:
                return {}
            values = [c[key + "_score"] for c in hits]
            low, high = min(values), max(values)
            return {c["id"]: (c[key + "_score"] - low) / (high - low) if high > low else 1.0 for c in hits}
        bm25, dense = normalised("bm25"), normalised("dense")
        spans = {c["id"]: c["span"] for c in run["candidates"]}
        ids = set(bm25) | set(dense)
        return [spans[i] for i in sorted(ids, key=lambda i: -(alpha * bm25.get(i, 0) + (1 - alpha) * dense.get(i, 0)))]
    return rank


def bm25_with_sentences(run):
    scores, spans = {}, {c["id"]: c["span"] for c in run["candidates"]}
    for c in run["candidates"]:
        if c["bm25"] and c["bm25"] <= 50:
            scores[c["id"]] = scores.get(c["id"], 0) + 1 / (60 + c["bm25"])
    dense = {}
    for hits in run["sentences"]:
        for chunk, position, span in hits:
            spans[chunk] = span
            dense[chunk] = dense.get(chunk, 0) + 1 / (60 + position)
    for position, chunk in enumerate(sorted(dense, key=lambda i: -dense[i])[:50]):
        scores[chunk] = scores.get(chunk, 0) + 1 / (61 + position)
    return [spans[i] for i in sorted(scores, key=lambda i: -scores[i])]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8899")
    parser.add_argument("--set", default="../shared/eval")
    args = parser.parse_args()
    runs = collect(args.url, args.set)
    print(f"{len(runs)} answerable questions\n")
    print("| ranking | all r@3 | r@10 | CUAD r@3 | r@10 | FinanceBench r@3 | r@10 |")
    print("|---|---|---|---|---|---|---|")
    report(runs, "bm25", single("bm25"))
    report(runs, "dense", single("dense"))
    report(runs, "RRF k=60, 50 per retriever (default)", rrf())
    for depth in (10, 20, 30, 100):
        report(runs, f"RRF k=60, {depth} per retriever", rrf(depth=depth))
    report(runs, "interleaved (bm25 1, dense 1, bm25 2, …)", interleave)
    for alpha in (0.3, 0.5, 0.7):
        report(runs, f"min-max normalised scores, {alpha} × bm25 + {1 - alpha:.1f} × dense", convex(alpha))
    report(runs, "RRF of bm25 and per-sentence dense (each sentence of the question searched)", bm25_with_sentences)


if __name__ == "__main__":
    main()
