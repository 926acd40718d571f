#!/usr/bin/env python3
"""The service a user would otherwise write: Flask serving a dga-lite model in PyTorch.

Loads a dga-lite model file (safetensors; layout mapping as in tests/reference/make_golden.py)
into the same architecture in PyTorch and serves the same API as `dga-lite serve`:
POST /v1/score {"domains": [...]} and GET /v1/score?domain=NAME. For benches/load.sh.
Install: pip install torch flask safetensors numpy.
Run:     python3 benches/peer_flask.py MODEL.safetensors PORT [THREADS]
"""
import json
import sys

import torch
from flask import Flask, jsonify, request
from safetensors import safe_open

MAXLEN = 75


def load(path):
    with safe_open(path, "pt") as f:
        header = json.loads(f.metadata()["dga_lite"])
        t = {k: f.get_tensor(k) for k in f.keys()}
    arch, cfg = header["architecture"], header["config"]
    vocab = header["vocab"]
    if arch == "endgame-lstm":
        emb = torch.nn.Embedding.from_pretrained(t["embedding.weight"])
        lstm = torch.nn.LSTM(cfg["embedding_dim"], cfg["units"], batch_first=True)
        with torch.no_grad():
            lstm.weight_ih_l0.copy_(t["lstm.kernel"].T)
            lstm.weight_hh_l0.copy_(t["lstm.recurrent_kernel"].T)
            lstm.bias_ih_l0.copy_(t["lstm.bias"])
            lstm.bias_hh_l0.zero_()

        def forward(x):
            _, (h, _) = lstm(emb(x))
            return h[0] @ t["dense.kernel"] + t["dense.bias"]
    elif arch == "snowman-cnn":
        emb = t["embedding.weight"]
        kernels = [(t[f"conv{i}.kernel"].permute(2, 1, 0).contiguous(), t[f"conv{i}.bias"])
                   for i in range(len(cfg["widths"]))]

        def forward(x):
            e = emb[x].transpose(1, 2)
            pooled = [torch.relu(torch.nn.functional.conv1d(e, k, b)).max(dim=2).values for k, b in kernels]
            return torch.cat(pooled, dim=1) @ t["dense.kernel"] + t["dense.bias"]
    else:
        raise SystemExit(f"unknown architecture {arch}")
    index = {c: i + 2 for i, c in enumerate(vocab)}
    return forward, index, header["threshold"], arch


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    forward, index, threshold, arch = load(path)
    app = Flask(__name__)

    def score(names):
        rows = []
        for n in names:
            ids = [index.get(c, 1) for c in n.strip().lower().rstrip(".")][-MAXLEN:]
            rows.append([0] * (MAXLEN - len(ids)) + ids)
        with torch.no_grad():
            return torch.sigmoid(forward(torch.tensor(rows, dtype=torch.long)))[:, 0].tolist()

    def answer(names):
        scores = score(names) if names else []
        return jsonify({"model": arch, "results": [
            {"domain": n, "score": s, "dga": s >= threshold} for n, s in zip(names, scores)]})

    @app.post("/v1/score")
    def batch():
        return answer(request.get_json()["domains"])

    @app.get("/v1/score")
    def one():
        return answer([request.args["domain"]])

    app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main()
