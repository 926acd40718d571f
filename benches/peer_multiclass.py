#!/usr/bin/env python3
"""PyTorch peer for the multiclass Endgame LSTM: trains the same architecture on exactly the
split `dga-lite train --split-out FILE` wrote, and prints its held-out metrics as JSON, for
the comparison in BENCHMARKS.md.

Model: Embedding(V, 128) -> LSTM(128) -> Dropout(0.5) -> Linear(128, K), softmax
cross-entropy, RMSprop (lr 1e-3, rho 0.9, eps 1e-7 as Keras), batch 128; each epoch ends with
validation accuracy, and the best epoch is kept (patience as given), as dga-lite does.
Names are encoded as dga-lite does (0 padding, 1 unknown, then the training names' sorted
characters; pre-padded / pre-truncated to 75). Classes: benign, the families in sorted
order, other_dga last (dga-lite's order). --class-weight balanced weights each example by
n / (K * n_class), averaged over the batch (Keras' class_weight).

Metrics on the test split: micro F1 (= accuracy), macro F1 over every class with support,
the same two without other_dga, and the binary ROC AUC of 1 - P(benign).

Install: pip install torch numpy.   Run:
  python3 benches/peer_multiclass.py --split /tmp/split.csv --epochs 8 --patience 3 --threads 2
"""
import argparse
import csv
import json
import time

import numpy as np
import torch

MAXLEN = 75


def read_split(path):
    rows = {"train": [], "val": [], "test": []}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows[r["split"]].append((r["name"], r["class"]))
    return rows


def class_order(names):
    families = sorted(c for c in names if c not in ("benign", "other_dga"))
    return ["benign"] + families + (["other_dga"] if "other_dga" in names else [])


def encoder(train_names):
    chars = sorted({c for n in train_names for c in n})
    index = {c: i + 2 for i, c in enumerate(chars)}

    def encode(names):
        out = np.zeros((len(names), MAXLEN), dtype=np.int64)
        for r, n in enumerate(names):
            ids = [index.get(c, 1) for c in n][-MAXLEN:]
            if ids:
                out[r, MAXLEN - len(ids):] = ids
        return torch.from_numpy(out)

    return encode, len(chars) + 2


class EndgameLstmMulticlass(torch.nn.Module):
    def __init__(self, vocab, classes):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, 128)
        self.lstm = torch.nn.LSTM(128, 128, batch_first=True)
        self.dropout = torch.nn.Dropout(0.5)
        self.dense = torch.nn.Linear(128, classes)

    def forward(self, x):
        _, (h, _) = self.lstm(self.embedding(x))
        return self.dense(self.dropout(h[0]))


def probabilities(model, x, batch=2048):
    model.eval()
    with torch.no_grad():
        out = torch.cat([torch.softmax(model(x[i:i + batch]), dim=1) for i in range(0, len(x), batch)])
    model.train()
    return out.numpy()


def auc(scores, positive):
    """Mann-Whitney AUC with average ranks for ties (as dga-lite computes it)."""
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2 + 1
        i = j + 1
    pos = positive[order]
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def f1_scores(truth, predicted, k, keep):
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    f1 = []
    for c in range(k):
        tp, support, called = confusion[c, c], confusion[c].sum(), confusion[:, c].sum()
        p = tp / called if called else 0.0
        r = tp / support if support else 0.0
        f1.append((2 * p * r / (p + r) if p + r else 0.0, support))
    rows = [c for c in range(k) if keep[c]]
    micro = sum(confusion[c, c] for c in rows) / max(1, sum(confusion[c].sum() for c in rows))
    with_support = [f1[c][0] for c in rows if f1[c][1] > 0]
    return float(micro), float(np.mean(with_support)), f1, confusion


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", required=True)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--class-weight", choices=["none", "balanced"], default="none")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    rows = read_split(args.split)
    classes = class_order({c for part in rows.values() for _, c in part})
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    encode, vocab = encoder([n for n, _ in rows["train"]])
    data = {}
    for part, items in rows.items():
        data[part] = (encode([n for n, _ in items]), np.array([index[c] for _, c in items]))
    x_train, y_train = data["train"]
    counts = np.bincount(y_train, minlength=k)
    if args.class_weight == "balanced":
        present = (counts > 0).sum()
        weights = torch.tensor(np.where(counts > 0, len(y_train) / (present * np.maximum(counts, 1)), 1.0), dtype=torch.float32)
    else:
        weights = torch.ones(k)

    model = EndgameLstmMulticlass(vocab, k)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    y_train_t = torch.from_numpy(y_train)
    best, best_state, best_epoch, history = -1.0, None, 0, []
    for epoch in range(1, args.epochs + 1):
        started = time.time()
        order = torch.from_numpy(rng.permutation(len(y_train)))
        total = 0.0
        for i in range(0, len(order), 128):
            b = order[i:i + 128]
            logits = model(x_train[b])
            y = y_train_t[b]
            loss = (weights[y] * torch.nn.functional.cross_entropy(logits, y, reduction="none")).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(b)
        seconds = time.time() - started
        x_val, y_val = data["val"]
        val_acc = float((probabilities(model, x_val).argmax(1) == y_val).mean())
        history.append({"epoch": epoch, "loss": total / len(order), "val_accuracy": val_acc, "seconds": seconds})
        print(json.dumps(history[-1]), flush=True)
        if val_acc > best:
            best, best_epoch = val_acc, epoch
            best_state = {n: t.clone() for n, t in model.state_dict().items()}
        elif epoch - best_epoch >= args.patience:
            break
    model.load_state_dict(best_state)

    x_test, y_test = data["test"]
    p = probabilities(model, x_test)
    predicted = p.argmax(1)
    everything = [True] * k
    named = [c != "other_dga" for c in classes]
    micro, macro, f1, confusion = f1_scores(y_test, predicted, k, everything)
    micro_named, macro_named, _, _ = f1_scores(y_test, predicted, k, named)
    score = p[:, 1:].sum(1)
    result = {
        "framework": f"torch {torch.__version__}",
        "threads": args.threads,
        "class_weight": args.class_weight,
        "best_epoch": best_epoch,
        "history": history,
        "test_names": int(len(y_test)),
        "micro_f1": micro,
        "macro_f1": macro,
        "micro_f1_named": micro_named,
        "macro_f1_named": macro_named,
        "auc": auc(score, y_test != 0),
        "per_class_f1": {classes[c]: round(f1[c][0], 4) for c in range(k)},
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
