#!/usr/bin/env python3
"""A reference scorer for dga-lite model files in plain NumPy: no dga-lite, no safetensors
package, no ML framework. It follows the scoring contract each model file carries in its
metadata (`"contract"` under the `dga_lite` key; the same rules for older files without it)
and reproduces dga-lite's scores to within 1e-5 for every architecture: the Endgame LSTM
(binary and multiclass), the Snowman CNN, and the ensemble of both.

    python3 examples/numpy_scorer.py MODEL.safetensors google.com xjwqkdpqoe.net
    python3 examples/numpy_scorer.py MODEL.safetensors --input names.txt

prints `name<TAB>score` per name (`name<TAB>invalid` for a name dga-lite would not score),
and for a multiclass model the most probable family and its probability as well.
"""
import argparse
import json
import struct
import sys

import numpy as np

MAXLEN = 75
DTYPES = {"F32": "<f4", "U32": "<u4"}


def load(path):
    """The header (dga-lite's metadata as a dict) and the tensors of a model file."""
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    meta = json.loads(header.pop("__metadata__")["dga_lite"])
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=DTYPES[info["dtype"]])
        tensors[name] = array.reshape(info["shape"]).astype(np.float64)
    return meta, tensors


def normalise(raw):
    """The contract's `normalise`: the name as dga-lite scores it, or None when invalid."""
    name = raw.strip()
    if name.endswith("."):
        name = name[:-1]
    if not name or not name.isascii() or len(name) > 253:
        return None
    name = name.lower()
    if any(not (c.isdigit() or "a" <= c <= "z" or c in "-_.") for c in name):
        return None
    if any(not label or len(label) > 63 for label in name.split(".")):
        return None
    return name


def encode(names, vocab):
    """The contract's `encode`: [n, 75] indices, pre-padded, keeping each name's end."""
    index = {c: i + 2 for i, c in enumerate(vocab)}
    out = np.zeros((len(names), MAXLEN), dtype=np.int64)
    for row, name in zip(out, names):
        kept = name[-MAXLEN:]
        row[MAXLEN - len(kept) :] = [index.get(c, 1) for c in kept]
    return out


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_logits(meta, t, indices):
    units = meta["config"]["units"]
    if meta["config"].get("recurrent_activation", "sigmoid") == "hard_sigmoid":
        gate = lambda z: np.clip(0.2 * z + 0.5, 0.0, 1.0)  # Keras 2's hard sigmoid
    else:
        gate = sigmoid
    x = t["embedding.weight"][indices]  # [n, 75, embedding_dim]
    h = np.zeros((len(indices), units))
    c = np.zeros((len(indices), units))
    for step in range(MAXLEN):
        z = x[:, step] @ t["lstm.kernel"] + h @ t["lstm.recurrent_kernel"] + t["lstm.bias"]
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        c = gate(f) * c + gate(i) * np.tanh(g)
        h = gate(o) * np.tanh(c)
    return h @ t["dense.kernel"] + t["dense.bias"]


def cnn_logits(meta, t, indices):
    x = t["embedding.weight"][indices]  # [n, 75, embedding_dim]
    pooled = []
    for k, width in enumerate(meta["config"]["widths"]):
        kernel = t[f"conv{k}.kernel"]  # [width, embedding_dim, filters]
        out = sum(
            np.einsum("nte,ef->ntf", x[:, j : MAXLEN - width + 1 + j], kernel[j])
            for j in range(width)
        )
        out = np.maximum(out + t[f"conv{k}.bias"], 0.0)
        pooled.append(out.max(axis=1))
    return np.concatenate(pooled, axis=1) @ t["dense.kernel"] + t["dense.bias"]


def members(t, prefix):
    """An ensemble member's tensors, under their own names (`lstm/lstm.kernel` -> `lstm.kernel`)."""
    return {k[len(prefix) :]: v for k, v in t.items() if k.startswith(prefix)}


def ensemble_scores(meta, t, indices):
    """The contract's ensemble: w * the LSTM's probability + (1 - w) * the CNN's."""
    config = meta["config"]
    w = config["lstm_weight"]
    lstm = sigmoid(lstm_logits({"config": config["lstm"]}, members(t, "lstm/"), indices)[:, 0])
    cnn = sigmoid(cnn_logits({"config": config["cnn"]}, members(t, "cnn/"), indices)[:, 0])
    return w * lstm + (1.0 - w) * cnn


def score(path, raw_names):
    """Per name: (score, family, family probability), or None for an invalid name."""
    meta, t = load(path)
    names = [normalise(n) for n in raw_names]
    valid = [n for n in names if n is not None]
    results = iter([])
    if valid:
        indices = encode(valid, meta["vocab"])
        if meta["architecture"] == "lstm-cnn-ensemble":
            scores = ensemble_scores(meta, t, indices)
            results = iter((float(s), None, None) for s in scores)
            return [None if n is None else next(results) for n in names]
        if meta["architecture"] == "snowman-cnn":
            logits = cnn_logits(meta, t, indices)
        else:
            logits = lstm_logits(meta, t, indices)
        if logits.shape[1] == 1:
            results = iter((float(s), None, None) for s in sigmoid(logits[:, 0]))
        else:
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            best = 1 + p[:, 1:].argmax(axis=1)
            classes = meta["classes"]
            results = iter(
                (float(1.0 - row[0]), classes[b], float(row[b])) for row, b in zip(p, best)
            )
    return [None if n is None else next(results) for n in names]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("names", nargs="*")
    p.add_argument("--input", help="a file of names, one per line")
    a = p.parse_args()
    names = list(a.names)
    if a.input:
        names += open(a.input, encoding="utf-8").read().splitlines()
    for name, result in zip(names, score(a.model, names)):
        if result is None:
            print(f"{name}\tinvalid")
        elif result[1] is None:
            print(f"{name}\t{result[0]:.6f}")
        else:
            print(f"{name}\t{result[0]:.6f}\t{result[1]}\t{result[2]:.6f}")


if __name__ == "__main__":
    sys.exit(main())
