#!/usr/bin/env python3
"""Cross-validates the `extract` ranker's feature weights by document.

Reads the per-question log of `folio eval --answers extract` (every answer's
trace holds each unit's ranking features) and the set's gold evidence, and
asks: with which weights does the best-ranked unit overlap a gold span?

For each of K folds (documents split into K groups, never a question of a
held-out document in training), the weights that do best on the training
documents are picked from a small grid and scored on the held-out documents;
the hand-set weights shipped in `services/query/src/extract.rs` are scored on
the same folds. Prints both, fold by fold. Nothing here changes the code: a
better grid point is adopted by editing the constants, with these figures.

Usage: extract_weights_cv.py ANSWERS_JSONL QUESTIONS_JSONL [K]
"""

import itertools
import json
import random
import sys

SHIPPED = {"lexical": 0.35, "retrieval": 0.15, "heading": 0.1, "typed": 0.3}
GRID = {
    "lexical": [0.0, 0.2, 0.35, 0.5, 0.8],
    "retrieval": [0.0, 0.15, 0.3],
    "heading": [0.0, 0.1, 0.2],
    "typed": [0.0, 0.15, 0.3, 0.5],
}


def load(answers_path, questions_path):
    gold = {}
    for line in open(questions_path):
        q = json.loads(line)
        spans = [(e["start"], e["end"]) for e in q.get("evidence", [])]
        gold[q["id"]] = (q["doc_id"], spans)
    items = []
    for line in open(answers_path):
        row = json.loads(line)
        if row.get("pipeline") != "extract":
            continue
        doc, spans = gold[row["id"]]
        if not spans:
            continue
        trace = row["answer"].get("trace", {})
        units = {u["id"]: u for u in trace.get("units", [])}
        evidence = trace.get("evidence", [])
        if not evidence:
            continue
        rows = []
        for e in evidence:
            u = units.get(e["unit"])
            if u is None:
                continue
            hit = any(u["char_start"] < g1 and g0 < u["char_end"] for g0, g1 in spans)
            rows.append((e, hit))
        items.append((doc, rows))
    return items


def score(e, w):
    base = e["similarity"] + sum(w[k] * e.get(k, 0.0) for k in w)
    return base * (1.0 + e.get("substance", 1.0)) / 2.0


def hit_rate(items, w):
    if not items:
        return 0.0
    hits = 0
    for _, rows in items:
        best = max(rows, key=lambda r: score(r[0], w))
        hits += best[1]
    return hits / len(items)


def main():
    answers, questions = sys.argv[1], sys.argv[2]
    k = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    items = load(answers, questions)
    docs = sorted({d for d, _ in items})
    random.Random(20261207).shuffle(docs)
    folds = [set(docs[i::k]) for i in range(k)]
    grid = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    print(f"{len(items)} answerable questions with a trace, {len(docs)} documents, {k} folds by document")
    print("fold  held-out n  shipped hit@1  CV-picked hit@1  picked weights")
    totals = [0, 0.0, 0.0]
    for i, held in enumerate(folds):
        train = [it for it in items if it[0] not in held]
        test = [it for it in items if it[0] in held]
        best = max(grid, key=lambda w: hit_rate(train, w))
        shipped, picked = hit_rate(test, SHIPPED), hit_rate(test, best)
        totals[0] += len(test)
        totals[1] += shipped * len(test)
        totals[2] += picked * len(test)
        print(f"{i:>4}  {len(test):>10}  {shipped:>13.3f}  {picked:>15.3f}  {best}")
    n = totals[0]
    print(f" all  {n:>10}  {totals[1] / n:>13.3f}  {totals[2] / n:>15.3f}")


if __name__ == "__main__":
    main()
