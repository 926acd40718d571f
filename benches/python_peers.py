"""Side by side, on the same names and the same machine in one run: names/s and ROC AUC of the
dga-lite CLI, the dga_lite Python package, the Spark job in local mode (per core), and the
Python packages dgaintel and dgad in their own APIs.

The labelled sample is drawn (seeded) from the test split of the embedded default model, so
none of dga-lite's models trained on it: pass the split CSV that `dga-lite train --split-out`
writes for the model card's own command (the split depends on the data, the split fractions
and the seed only, so one epoch is enough to write it), for example:

    dga-lite train --benign ../shared/data/benign.csv --dga ../shared/data/dga.csv \\
        --test-split 0.1 --val-split 0.05 --seed 1 --epochs 1 --split-out split.csv \\
        --out /tmp/throwaway.safetensors
    python benches/python_peers.py --split split.csv \
        --dgaintel-python /tmp/peers/bin/python --dgad-python /tmp/peers-dgad/bin/python

The script checks the split's sizes against the card. dgaintel and dgad are not dependencies,
and they cannot share one environment (dgad pins pandas 1.x, which needs NumPy 1, which
today's TensorFlow refuses): install each in a virtual environment of its own and pass their
Pythons, `pip install dgaintel tf_keras` (its model file needs Keras 2: the script sets
TF_USE_LEGACY_KERAS=1) for --dgaintel-python and `pip install dgad "numpy<2"` for
--dgad-python. What they were trained on is theirs and unknown to us, so the
sample cannot be proven disjoint from their training data (which can only favour them).
"""

import argparse
import csv
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import time

import numpy as np

import dga_lite

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Run in the peers' virtual environment: scores a names file, prints JSON with the seconds of
# the timed call and writes the scores.
PEER_SCRIPT = r"""
import json, sys, time, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tool, names_path, scores_path = sys.argv[1:4]
names = open(names_path).read().split("\n")
t0 = time.perf_counter()
if tool == "dgaintel":
    from dgaintel.predict import get_prob
    load = time.perf_counter() - t0
    get_prob(names[:10], raw=True)  # warm-up (graph tracing)
    t0 = time.perf_counter()
    scores = list(get_prob(names, raw=True))
else:
    from importlib import resources
    import dgad.models
    from dgad.classification import TCNClassifier
    from dgad.data_model import get_all_padded_token_vectors, get_all_subdomains
    classifier = TCNClassifier()
    with resources.path(dgad.models, "tcn_best.h5") as path:
        classifier.load_keras_model(filepath=path)
    load = time.perf_counter() - t0
    classifier.classify_raw_domains(names[:5])  # warm-up
    t0 = time.perf_counter()
    domains = classifier.classify_raw_domains(names)  # the timed call: its public API
    seconds = time.perf_counter() - t0
    # Its verdicts are binary (any word of a name above 0.5); for the AUC, the probability of
    # its model for each word, the name's score the highest of its words, as it decides.
    vectors = get_all_padded_token_vectors(domains)
    p = classifier.model.predict(vectors, verbose=0)[:, 0]
    owners = list(range(len(domains)))
    for d_index, d in enumerate(domains):
        owners += [d_index] * len(d.subdomains)
    scores = [0.0] * len(domains)
    for owner, prob in zip(owners, p):
        scores[owner] = max(scores[owner], float(prob))
    json.dump([float(s) for s in scores], open(scores_path, "w"))
    print(json.dumps({"seconds": seconds, "load": load, "names": len(names)}))
    sys.exit(0)
seconds = time.perf_counter() - t0
json.dump([float(s) for s in scores], open(scores_path, "w"))
print(json.dumps({"seconds": seconds, "load": load, "names": len(names)}))
"""


def roc_auc(scores, labels):
    """Mann-Whitney AUC, ties counted half."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    positives = labels.sum()
    negatives = len(labels) - positives
    return (ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives)


def sample(split_path, per_class, seed, max_len):
    card = dga_lite.Model().info["training"]["split_sizes"]["test"]
    test = {"benign": [], "dga": []}
    counts = {"benign": 0, "dga": 0}
    with open(split_path) as f:
        for row in csv.DictReader(f):
            if row["split"] == "test":
                counts[row["class"]] += 1
                if len(row["name"]) <= max_len:
                    test[row["class"]].append(row["name"])
    if counts != card:
        sys.exit(
            f"error: {split_path}'s test split {counts} is not the embedded model's {card}: "
            "write it with the card's command and seed (see this script's docstring)"
        )
    rng = random.Random(seed)
    benign = rng.sample(test["benign"], per_class)
    dga = rng.sample(test["dga"], per_class)
    names = benign + dga
    labels = [0] * per_class + [1] * per_class
    both = list(zip(names, labels))
    rng.shuffle(both)
    return [n for n, _ in both], [l for _, l in both]


def best_of(runs, work):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return min(times)


def spark_rate(names, cores, tmp):
    """Rows/s per core of the Spark job in local mode, without the job's fixed start-up
    cost (measured with a one-row log in the same way)."""
    bin_dir = pathlib.Path(sys.executable).parent
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"

    def run(log, out):
        t0 = time.perf_counter()
        subprocess.run(
            [str(bin_dir / "spark-submit"), "--master", f"local[{cores}]",
             str(ROOT / "examples" / "spark" / "score_dns.py"), "--input", str(log),
             "--output", str(out), "--mode", "overwrite", "--cache-names", "0"],
            env=env, check=True, capture_output=True,
        )
        return time.perf_counter() - t0

    big, small = tmp / "big", tmp / "small.json"
    big.mkdir(exist_ok=True)
    for k in range(10):  # ten files (ten partitions), each the whole sample
        with open(big / f"dns.{k}.log", "w") as f:
            for name in names:
                f.write(json.dumps({"query": name, "ts": float(k)}) + "\n")
    small.write_text(json.dumps({"query": names[0], "ts": 0.0}) + "\n")
    fixed = min(run(small, tmp / "o1"), run(small, tmp / "o1"))
    whole = min(run(big, tmp / "o2"), run(big, tmp / "o2"))
    rows = 10 * len(names)
    return rows / max(whole - fixed, 1e-9) / cores, whole, fixed, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", required=True, help="train --split-out CSV of the default")
    parser.add_argument("--per-class", type=int, default=10_000)
    parser.add_argument("--dgad-names", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "dga-lite"))
    parser.add_argument("--dgaintel-python", help="Python of a venv with dgaintel, tf_keras")
    parser.add_argument("--dgad-python", help="Python of a venv with dgad")
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args()

    # 75: the Endgame length; dgaintel's input is 82 wide and fails on longer names.
    names, labels = sample(args.split, args.per_class, args.seed, max_len=75)
    print(f"sample: {len(names)} names from the default model's test split "
          f"({args.per_class} benign, {args.per_class} DGA, seed {args.seed})")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        listing = tmp / "names.txt"
        listing.write_text("\n".join(names))

        cli = [args.binary, "predict", "--input", str(listing), "--cache-names", "0",
               "--threads", str(args.threads)]
        seconds = best_of(3, lambda: subprocess.run(cli, check=True, capture_output=True))
        out = subprocess.run(cli + ["--json"], check=True, capture_output=True, text=True)
        cli_scores = [json.loads(l).get("score", 0.0) for l in out.stdout.splitlines()]
        rows.append(("dga-lite CLI (predict, 2 threads)", len(names) / seconds,
                     roc_auc(cli_scores, labels), len(names)))

        model = dga_lite.Model(threads=args.threads, cache_names=0)
        seconds = best_of(3, lambda: model.score(names))
        scores = np.nan_to_num(model.score(names), nan=0.0)
        rows.append(("dga_lite Python package (2 threads)", len(names) / seconds,
                     roc_auc(scores, labels), len(names)))
        not_scored = int(np.isnan(model.score(names)).sum())
        print(f"names the package did not score (local or invalid, counted as 0): {not_scored}")

        if not args.no_spark:
            for cores in (1, 2):
                rate, whole, fixed, n = spark_rate(names, cores, tmp)
                print(f"spark local[{cores}]: {n} rows in {whole:.1f} s, start-up {fixed:.1f} s")
                rows.append((f"Spark job, local[{cores}], per core", rate, None, n))

        peers = (("dgaintel", args.dgaintel_python, len(names)),
                 ("dgad", args.dgad_python, args.dgad_names))
        for tool, python, count in peers:
            if python is None:
                continue
            subset = tmp / f"{tool}.txt"
            subset.write_text("\n".join(names[:count]))
            result = subprocess.run(
                [python, "-c", PEER_SCRIPT, tool, str(subset), str(tmp / f"{tool}.json")],
                capture_output=True, text=True, env=dict(os.environ, TF_USE_LEGACY_KERAS="1"),
            )
            if result.returncode != 0:
                sys.exit(f"{tool} failed:\n{result.stderr[-3000:]}")
            timing = json.loads(result.stdout.strip().splitlines()[-1])
            peer_scores = json.load(open(tmp / f"{tool}.json"))
            rows.append((f"{tool} ({count} names)", count / timing["seconds"],
                         roc_auc(peer_scores, labels[:count]), count))
            rows.append((f"  dga_lite on the same {count} names", None,
                         roc_auc(scores[:count], labels[:count]), count))
            print(f"{tool}: model load {timing['load']:.1f} s (not counted)")

    print()
    print(f"| {'tool':<40} | {'names/s':>10} | {'ROC AUC':>7} | {'names':>6} |")
    print(f"|{'-' * 42}|{'-' * 12}|{'-' * 9}|{'-' * 8}|")
    for name, rate, auc, n in rows:
        rate_text = f"{rate:,.0f}" if rate is not None else ""
        auc_text = f"{auc:.4f}" if auc is not None else ""
        print(f"| {name:<40} | {rate_text:>10} | {auc_text:>7} | {n:>6} |")


if __name__ == "__main__":
    main()
