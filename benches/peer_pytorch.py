#!/usr/bin/env python3
"""PyTorch peer for `dga-lite bench`: the same model (Endgame LSTM or Snowman CNN), batch,
threads and names.

Reads names (one per line) from --names, encodes them as dga-lite does (index 0 padding,
1 unknown, then the sorted characters; Keras pre-padding/truncation to 75), and prints one
JSON object: training names/s (batch 128, RMSprop, dropout 0.5), scoring names/s at batch
1024, single-name latency, and peak RSS. Install: pip install torch.
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch

MAXLEN = 75


def encode(names):
    chars = sorted({c for n in names for c in n})
    index = {c: i + 2 for i, c in enumerate(chars)}
    rows = []
    for n in names:
        ids = [index.get(c, 1) for c in n][-MAXLEN:]
        rows.append([0] * (MAXLEN - len(ids)) + ids)
    return torch.tensor(rows, dtype=torch.long), len(chars) + 2


class SnowmanCnn(torch.nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, 15)
        self.convs = torch.nn.ModuleList(torch.nn.Conv1d(15, 15, w) for w in (2, 4, 6))
        self.dropout = torch.nn.Dropout(0.2)
        self.dense = torch.nn.Linear(45, 1)

    def forward(self, x):
        e = self.embedding(x).transpose(1, 2)
        pooled = [torch.relu(c(e)).max(dim=2).values for c in self.convs]
        return self.dense(self.dropout(torch.cat(pooled, dim=1)))[:, 0]


class EndgameLstm(torch.nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, 128)
        self.lstm = torch.nn.LSTM(128, 128, batch_first=True)
        self.dropout = torch.nn.Dropout(0.5)
        self.dense = torch.nn.Linear(128, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(self.embedding(x))
        return self.dense(self.dropout(h[0]))[:, 0]


class LstmCnnEnsemble(torch.nn.Module):
    """dga-lite's lstm-cnn-ensemble: both members see every batch (each with its own loss, so
    each trains as it would alone); the score averages their probabilities."""

    def __init__(self, vocab):
        super().__init__()
        self.lstm = EndgameLstm(vocab)
        self.cnn = SnowmanCnn(vocab)

    def forward(self, x):
        return self.lstm(x), self.cnn(x)


MODELS = {"endgame-lstm": EndgameLstm, "snowman-cnn": SnowmanCnn, "lstm-cnn-ensemble": LstmCnnEnsemble}


def loss_of(out, y, loss_fn):
    return sum(loss_fn(o, y) for o in out) if isinstance(out, tuple) else loss_fn(out, y)


def probability(out):
    if isinstance(out, tuple):
        return 0.5 * torch.sigmoid(out[0]) + 0.5 * torch.sigmoid(out[1])
    return torch.sigmoid(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--train-names", type=int, default=6400)
    ap.add_argument("--score-names", type=int, default=20480)
    ap.add_argument("--latency-runs", type=int, default=200)
    ap.add_argument("--model", choices=sorted(MODELS), default="endgame-lstm")
    # GPU runs (`dga-lite bench --device cuda`): nn.LSTM uses cuDNN there; TF32 stays off, as
    # our kernels compute in plain f32.
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--batch", type=int, default=128, help="training batch")
    ap.add_argument("--score-batch", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=1,
                    help="repeat each measurement, keeping the best (as dga-lite bench does)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    device = torch.device(args.device)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    names = [line.strip() for line in open(args.names) if line.strip()]
    x, vocab = encode(names)
    y = torch.tensor([float(i % 2) for i in range(len(names))])
    x, y = x.to(device), y.to(device)
    model = MODELS[args.model](vocab).to(device)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    batch = args.batch

    def train(count):
        model.train()
        for start in range(0, count, batch):
            xb, yb = x[start % len(x):][:batch], y[start % len(y):][:batch]
            opt.zero_grad()
            loss_of(model(xb), yb, loss_fn).backward()
            opt.step()
        sync()

    train(2 * batch)  # warm-up
    count = max(args.train_names, 20 * batch) if args.device == "cuda" else args.train_names
    train_rate = 0.0
    for _ in range(max(args.repeat, 1)):
        t = time.perf_counter()
        train(count)
        train_rate = max(train_rate, count / (time.perf_counter() - t))

    model.eval()
    sb = args.score_batch
    with torch.no_grad():
        model(x[:sb])
        sync()
        target = max(args.score_names, 20 * sb) if args.device == "cuda" else args.score_names
        one = x[:1]
        score_rate, latency = 0.0, float("inf")
        for _ in range(max(args.repeat, 1)):
            t = time.perf_counter()
            done = 0
            while done < target:
                start = done % len(x)
                done += len(probability(model(x[start:start + sb])).cpu())
            score_rate = max(score_rate, done / (time.perf_counter() - t))
            times = []
            for _ in range(args.latency_runs):
                t = time.perf_counter()
                probability(model(one)).cpu()
                times.append(time.perf_counter() - t)
            latency = min(latency, statistics.median(times))
    json.dump({
        "peer": f"PyTorch {torch.__version__}" + (f" on {torch.cuda.get_device_name()}" if args.device == "cuda" else ""),
        "train_names_per_s": train_rate,
        "score_names_per_s": score_rate,
        "latency_us": latency * 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
