"""The name cache on a log shaped like DNS traffic: names/s with and without it, for the CLI
(`predict --cache-names`) and the Python package (`Model(cache_names=...)`), and a check that
both give the same output bit for bit.

The log: ROWS rows whose names are drawn from DISTINCT distinct names with probability
proportional to 1 / rank**EXPONENT (a Zipf law truncated at DISTINCT; DNS query names follow
one closely, a few names making most of the queries). The distinct names are generated, not
taken from any list: 5 to 20 random letters and digits under one of ten TLDs, seeded.

    python benches/zipf_cache.py [--rows 1000000] [--distinct 100000] [--exponent 1.0]
"""

import argparse
import pathlib
import subprocess
import tempfile
import time

import numpy as np

import dga_lite

ROOT = pathlib.Path(__file__).resolve().parents[1]
TLDS = ["com", "net", "org", "info", "ru", "de", "co.uk", "io", "biz", "cn"]


def zipf_log(rows, distinct, exponent, seed):
    rng = np.random.default_rng(seed)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    pool = [
        "".join(rng.choice(alphabet, rng.integers(5, 21))) + "." + TLDS[rng.integers(len(TLDS))]
        for _ in range(distinct)
    ]
    weights = 1.0 / np.arange(1, distinct + 1) ** exponent
    ranks = rng.choice(distinct, size=rows, p=weights / weights.sum())
    return [pool[r] for r in ranks]


def timed(work):
    t0 = time.perf_counter()
    result = work()
    return time.perf_counter() - t0, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=100_000)
    parser.add_argument("--exponent", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "dga-lite"))
    args = parser.parse_args()

    names = zipf_log(args.rows, args.distinct, args.exponent, args.seed)
    seen = len(set(names))
    top = np.unique(names, return_counts=True)[1]
    top_share = np.sort(top)[::-1][:100].sum() / len(names)
    print(f"log: {len(names):,} rows, {seen:,} distinct names seen (of {args.distinct:,}), "
          f"Zipf exponent {args.exponent}, the 100 most frequent names {top_share:.0%} of rows")
    print()
    print(f"| {'path':<34} | {'cache':>7} | {'seconds':>7} | {'names/s':>10} | {'speed-up':>8} |")
    print(f"|{'-' * 36}|{'-' * 9}|{'-' * 9}|{'-' * 12}|{'-' * 10}|")

    results = {}
    for cache in (0, 65_536):
        model = dga_lite.Model(threads=args.threads, cache_names=cache)
        seconds, scores = timed(lambda: model.score(names))
        results[("python", cache)] = (seconds, scores)
    with tempfile.TemporaryDirectory() as tmp:
        log = pathlib.Path(tmp) / "log.txt"
        log.write_text("\n".join(names) + "\n")
        for cache in (0, 65_536):
            command = [args.binary, "predict", "--input", str(log), "--threads",
                       str(args.threads), "--cache-names", str(cache)]
            seconds, out = timed(lambda: subprocess.run(command, check=True,
                                                        capture_output=True).stdout)
            results[("cli", cache)] = (seconds, out)

    for path, label in (("cli", "CLI predict"), ("python", "Python Model.score")):
        base = results[(path, 0)][0]
        for cache in (0, 65_536):
            seconds, _ = results[(path, cache)]
            print(f"| {label:<34} | {cache:>7} | {seconds:>7.2f} | {len(names) / seconds:>10,.0f} "
                  f"| {base / seconds:>7.1f}x |")
    same_cli = results[("cli", 0)][1] == results[("cli", 65_536)][1]
    a, b = results[("python", 0)][1], results[("python", 65_536)][1]
    same_python = np.array_equal(a.view(np.uint32), b.view(np.uint32))
    print()
    print(f"same output with and without the cache: CLI {same_cli} (bytes), "
          f"Python {same_python} (score bits)")
    if not (same_cli and same_python):
        raise SystemExit("the cache changed an answer")


if __name__ == "__main__":
    main()
