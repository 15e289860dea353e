#!/usr/bin/env python3
"""Replays MaxP offline: a chunk's dense score from the best of its windows.

Usage:
  folio eval --set ../shared/eval --mode hybrid        # once: ingests data/eval/eval
  FOLIO__DATA_DIR=data/eval/eval FOLIO__SERVER__AUTH=false \
    FOLIO__SERVER__BIND=127.0.0.1:8899 folio serve &
  python3 scripts/maxp_sim.py data/eval/eval models/all-minilm-l6-v2 \
    http://127.0.0.1:8899 ../shared/eval MODEL_ID 128[,64]

Reads the chunks from the data dir's SQLite database and their whole-text vectors
from its embedding cache (MODEL_ID is the cache's model id; a chunk whose rebuilt
text is not cached is re-embedded), embeds each chunk's token windows (laid out as
the embedder's `window_ranges` lays them out) with the same ONNX model, takes BM25
and Folio's dense ranks from `/v1/search`, and reports r@3/r@10 with `folio eval`'s
coverage rule for dense rankings and for RRF (k = 60, 50 per retriever) hybrids.
Rows "bm25/dense/hybrid (folio)" and "whole" must reproduce `folio eval`.
Needs numpy, onnxruntime and tokenizers.
"""
import json, sqlite3, sys, time, urllib.request
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer

DATA, MODEL, URL, SET = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

def post(body):
    r = urllib.request.Request(URL + "/v1/search", json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(r))

db = sqlite3.connect(f"{DATA}/folio.db")
docs = {}
for did, name, ver in db.execute("select id, name, current_version from documents"):
    docs[name.rsplit(".", 1)[0]] = (did, ver)
chunks = {}
for cid, did, ver, hp, cs, ce, text, ch in db.execute(
        "select id, document_id, version, heading_path, char_start, char_end, text, context_header from chunks"):
    hp = json.loads(hp) if hp.startswith("[") else [hp] if hp else []
    out = ""
    if hp: out += " › ".join(hp) + "\n"
    if ch: out += ch + "\n"
    out += text
    chunks[cid] = dict(doc=did, ver=ver, span=(cs, ce), text=out)

tok = Tokenizer.from_file(f"{MODEL}/tokenizer.json")
tok.no_truncation(); tok.no_padding()
sess = ort.InferenceSession(f"{MODEL}/model.onnx", providers=["CPUExecutionProvider"])
names = [i.name for i in sess.get_inputs()]
CLS, SEP = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")

def embed_ids(seqs):
    out = []
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    res = [None] * len(seqs)
    for b in range(0, len(order), 32):
        idx = order[b:b + 32]
        L = max(len(seqs[i]) for i in idx) + 2
        ids = np.zeros((len(idx), L), np.int64); mask = np.zeros_like(ids)
        for r, i in enumerate(idx):
            s = [CLS] + seqs[i] + [SEP]
            ids[r, :len(s)] = s; mask[r, :len(s)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names: feeds["token_type_ids"] = np.zeros_like(ids)
        h = sess.run(None, feeds)[0]
        v = (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        for r, i in enumerate(idx): res[i] = v[r]
    return res

def windows(ids, w, _stride=None):
    # folio's window_ranges: the fewest evenly spaced windows of w tokens covering all
    n = len(ids)
    if n <= w: return [ids]
    count = -(-n // w); slack = n - w
    return [ids[s:s + w] for s in ((i * slack + (count - 1) // 2) // (count - 1) for i in range(count))]

questions = [json.loads(l) for l in open(f"{SET}/questions.jsonl")]
questions = [q for q in questions if q["evidence"]]
needed = {docs[q["doc_id"]][0] for q in questions}
ver_of = {d: v for d, v in docs.values()}
cids = [c for c, v in chunks.items() if v["doc"] in needed and v["ver"] == ver_of[v["doc"]]]
print(len(cids), "chunks", file=sys.stderr)
t = time.time()
ids = {c: tok.encode(chunks[c]["text"], add_special_tokens=False).ids for c in cids}
import hashlib
model_id = sys.argv[5]
cache = {}
for h, blob in db.execute("select text_sha256, vector from embeddings where model_id = ?", (model_id,)):
    cache[h] = np.frombuffer(blob, dtype="<f4")
WHOLE, miss = {}, []
for c in cids:
    h = hashlib.sha256(chunks[c]["text"].encode()).hexdigest()
    if h in cache: WHOLE[c] = cache[h]
    else: miss.append(c)
print("cached whole vectors", len(WHOLE), "missing", len(miss), file=sys.stderr)
for c, v in zip(miss, embed_ids([ids[c][:510] for c in miss])): WHOLE[c] = v
print("whole", time.time() - t, file=sys.stderr)
WIN = {}
WINDOWS = [int(x) for x in sys.argv[6].split(',')]
for w in WINDOWS:
    seqs, owner = [], []
    for c in cids:
        for x in windows(ids[c], w, w // 2):
            seqs.append(x); owner.append(c)
    vecs = embed_ids(seqs)
    d = {}
    for c, v in zip(owner, vecs): d.setdefault(c, []).append(v)
    WIN[w] = {c: np.stack(v) for c, v in d.items()}
    print("win", w, len(seqs), time.time() - t, file=sys.stderr)

qv = embed_ids([tok.encode(q["question"], add_special_tokens=False).ids[:510] for q in questions])
by_doc = {}
for c in cids: by_doc.setdefault(chunks[c]["doc"], []).append(c)

def covered(spans, gold):
    s, e = gold
    pieces = sorted((max(a, s), min(b, e)) for a, b in spans if min(b, e) > max(a, s))
    tot, cur = 0, None
    for a, b in pieces:
        if cur and a <= cur[1]: cur = (cur[0], max(cur[1], b))
        else:
            if cur: tot += cur[1] - cur[0]
            cur = (a, b)
    if cur: tot += cur[1] - cur[0]
    return 2 * tot >= e - s

runs = []
for q, v in zip(questions, qv):
    did = docs[q["doc_id"]][0]
    found = post({"query": q["question"], "documents": [did], "limit": 100, "mode": "hybrid"})
    bm = {c["chunk"]["id"]: c["bm25"]["rank"] for c in found["candidates"] if c["bm25"]}
    fd = {c["chunk"]["id"]: c["dense"]["rank"] for c in found["candidates"] if c["dense"]}
    cs = by_doc[did]
    scores = {}
    scores["whole"] = {c: float(WHOLE[c] @ v) for c in cs}
    for w in WINDOWS:
        scores[f"max{w}"] = {c: float((WIN[w][c] @ v).max()) for c in cs}
        scores[f"max{w}+whole"] = {c: max(scores[f"max{w}"][c], scores["whole"][c]) for c in cs}
        scores[f"mean(whole,max{w})"] = {c: (scores[f"max{w}"][c] + scores["whole"][c]) / 2 for c in cs}
    runs.append(dict(q=q, bm=bm, fd=fd, scores=scores))

def evaluate(label, rank_fn):
    agg = {}
    for r in runs:
        order = [chunks[c]["span"] for c in rank_fn(r)]
        gold = [(e["start"], e["end"]) for e in r["q"]["evidence"]]
        rec = [sum(covered(order[:k], g) for g in gold) / len(gold) for k in (3, 10)]
        src = "CUAD" if r["q"]["source"].startswith("CUAD") else "FinanceBench"
        for s in ("all", src): agg.setdefault(s, []).append(rec)
    cells = []
    for s in ("all", "CUAD", "FinanceBench"):
        v = agg[s]; cells.append(f"{np.mean([x[0] for x in v]):.3f} | {np.mean([x[1] for x in v]):.3f}")
    print(f"| {label} | " + " | ".join(cells) + " |", flush=True)

def dense_ranks(r, key):
    s = r["scores"][key]
    return {c: i + 1 for i, c in enumerate(sorted(s, key=lambda c: -s[c]))}

def rrf(r, dense, k=60, depth=50):
    sc = {}
    for ranks in (r["bm"], dense):
        for c, p in ranks.items():
            if p <= depth: sc[c] = sc.get(c, 0) + 1 / (k + p)
    return sorted(sc, key=lambda c: (-sc[c], min(r["bm"].get(c, 10**6), dense.get(c, 10**6)), c))

print("| ranking | all r@3 | r@10 | CUAD r@3 | r@10 | FB r@3 | r@10 |\n|---|---|---|---|---|---|---|")
evaluate("bm25 (folio)", lambda r: sorted(r["bm"], key=r["bm"].get))
evaluate("dense (folio)", lambda r: sorted(r["fd"], key=r["fd"].get))
evaluate("hybrid (folio ranks, RRF)", lambda r: rrf(r, r["fd"]))
for key in runs[0]["scores"]:
    evaluate(f"dense {key}", lambda r, key=key: sorted(dense_ranks(r, key), key=dense_ranks(r, key).get))
    evaluate(f"hybrid bm25 + {key}", lambda r, key=key: rrf(r, dense_ranks(r, key)))
