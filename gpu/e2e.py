"""`folio serve` answering with its local model on a chosen device: uploads a
contract, asks the same question twice through POST /v1/ask (pipeline `full`,
with the trace), and checks that XL3M's segment scores and selection are the
same both times. With random weights the answer text means nothing; what is
checked is that every stage runs on the device, and its timings.

usage: python e2e.py FOLIO MODEL_DIR MODELS_DIR DEVICE OUT_JSON
  MODEL_DIR: Hugging Face directory with tokenizer.gguf; MODELS_DIR: holds
  all-minilm-l6-v2/ (the embedder); ONNX Runtime comes from ORT_DYLIB_PATH.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import requests

QUESTION = "How many days of written notice does a party need to terminate the agreement?"

SECTIONS = [
    ("1. Definitions", "\"Effective Date\" means the date on which both parties have signed this "
     "Agreement. \"Services\" means the hosting and support services described in Exhibit A. "
     "\"Confidential Information\" means any non-public information disclosed by one party to the other."),
    ("2. Term", "This Agreement begins on the Effective Date and continues for an initial term of "
     "three (3) years. It renews automatically for successive one (1) year terms unless either party "
     "gives notice of non-renewal at least sixty (60) days before the end of the then-current term."),
    ("3. Fees", "Customer shall pay the fees set out in Exhibit B within thirty (30) days of the "
     "invoice date. Late payments bear interest at one percent (1%) per month. Provider may increase "
     "the fees once per year by no more than five percent (5%)."),
    ("4. Termination", "Either party may terminate this Agreement for convenience upon ninety (90) "
     "days' prior written notice to the other party. Either party may terminate this Agreement "
     "immediately if the other party materially breaches it and fails to cure the breach within "
     "thirty (30) days of notice."),
    ("5. Confidentiality", "Each party shall protect the other party's Confidential Information with "
     "at least reasonable care and shall not disclose it to any third party except its advisers "
     "bound by equivalent obligations. These obligations survive for five (5) years after termination."),
    ("6. Governing Law", "This Agreement is governed by the laws of the State of New York, without "
     "regard to its conflict of laws rules. The courts of New York County have exclusive jurisdiction."),
]


# Enough further text that XL3M's token budget keeps only part of it.
SECTIONS += [(f"{7 + i}. Service Level {i + 1}", f"Provider shall keep the service in region {i + 1} "
              f"available {99 - i % 5}.{i % 10}% of each calendar month, measured at five-minute "
              f"intervals. For each full {10 + i} minutes of unavailability Customer receives a credit "
              f"of {i % 4 + 1} percent of the monthly fee for that region, up to {20 + i} percent in total.")
             for i in range(30)]


def main(folio, model_dir, models_dir, device, out_path):
    data = tempfile.mkdtemp(prefix="folio-e2e-")
    env = dict(os.environ, FOLIO_DATA_DIR=data, FOLIO_MODELS_DIR=models_dir, FOLIO_LOG="info",
               FOLIO__MODELS__LLM_DIR=model_dir, FOLIO__MODELS__LLM_DEVICE=device,
               FOLIO__MODELS__LLM_WEIGHTS="bf16" if device.startswith("cuda") else "f32")
    created = subprocess.run([folio, "admin", "key", "create", "--role", "admin", "--name", "e2e",
                              "--json"], env=env, check=True, capture_output=True)
    key = json.loads(created.stdout)["key"]
    server = subprocess.Popen([folio, "serve", "--bind", "127.0.0.1:0"], env=env,
                              stdout=subprocess.PIPE, text=True)
    base = None
    for line in server.stdout:
        if line.startswith("folio listening on "):
            base = line.split("folio listening on ", 1)[1].strip()
            break
    if base is None:
        sys.exit(f"folio serve exited: {server.wait()}")
    threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {key}"
    base = base if base.startswith("http") else f"http://{base}"
    url = lambda path: f"{base}{path}"
    try:
        text = "MASTER SERVICES AGREEMENT\n\n" + "\n\n".join(f"{h}\n\n{b}" for h, b in SECTIONS) + "\n"
        response = http.post(url("/v1/documents?collection=e2e"),
                             files={"file": ("agreement.txt", text.encode())})
        response.raise_for_status()
        document = response.json()["documents"][0]["document_id"]
        deadline = time.time() + 120
        while time.time() < deadline:
            status = http.get(url(f"/v1/documents/{document}")).json()["status"]
            if status in ("ready", "failed"):
                break
            time.sleep(0.5)
        assert status == "ready", status
        runs = []
        for _ in range(2):
            started = time.time()
            response = http.post(url("/v1/ask"), json={"question": QUESTION, "documents": [document],
                                                       "pipeline": "full", "trace": True},
                                 timeout=600)
            assert response.status_code == 200, response.text
            answer = response.json()
            answer["wall_s"] = time.time() - started
            runs.append(answer)
        selections = [[(s["segment"].get("start"), s["segment"].get("end"), s["score"], s["kept"])
                       for s in run["trace"]["key_context"]["selection"]["segments"]] for run in runs]
        result = {
            "device": device,
            "model": runs[0]["model"],
            "segments_scored": len(selections[0]),
            "segments_kept": sum(1 for s in selections[0] if s[3]),
            "selection_identical": selections[0] == selections[1],
            "timings": [run["timings"] for run in runs],
            "wall_s": [run["wall_s"] for run in runs],
            "calls": [{k: v for k, v in c.items() if not isinstance(v, (str, list, dict))
                       or k in ("stage", "finish_reason")}
                      for c in runs[0]["trace"]["calls"]],
            "answer": runs[0]["answer"][:300],
            "citations": len(runs[0].get("citations", [])),
        }
        json.dump(result, open(out_path, "w"), indent=1)
        print(json.dumps(result, indent=1), flush=True)
        assert result["selection_identical"], "XL3M selected differently on the same input"
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main(*sys.argv[1:6])
