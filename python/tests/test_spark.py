"""examples/spark/score_dns.py in Spark's local mode, as the README runs it: 200,000 generated
Zeek dns.log rows in several files (several partitions), every output row's score and verdict
checked against the CLI's for the same name, bit for bit.

Skipped (with the reason) where pyspark or Java is missing; .ci/run installs both.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from test_model import CLI, ROOT, same_bits

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install pyspark)")
pq = pytest.importorskip("pyarrow.parquet")

JOB = ROOT / "examples" / "spark" / "score_dns.py"
ROWS = 200_000
FILES = 4


def zeek_logs(folder, rng):
    """Zeek JSON dns.log files: names drawn by a Zipf law from 20,000 distinct names (random
    ones, a few real ones, local and invalid names), and some rows without a query."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    pool = ["".join(rng.choice(letters, rng.integers(5, 20))) + ".com" for _ in range(19_990)]
    pool += ["google.com", "www.wikipedia.org", "printer.local", "WORKGROUP", "a..b",
             "1.0.168.192.in-addr.arpa", "mail.google.accounts.xjwqkdpqoe.net", "x" * 70 + ".com",
             "Example.COM.", "cdn.example.co.uk"]
    ranks = np.minimum(rng.zipf(1.2, ROWS), len(pool)) - 1
    # The ten special names among the most frequent ones (ranks 2 to 11).
    shuffled = rng.permutation(19_990)
    order = np.concatenate([shuffled[:2], np.arange(19_990, 20_000), shuffled[2:]])
    names = [pool[order[r]] for r in ranks]
    for k in range(FILES):
        with open(folder / f"dns.{k}.log", "w") as f:
            for i in range(k, ROWS, FILES):
                row = {"ts": 1_700_000_000.0 + i, "uid": f"C{i}", "id.orig_h": "10.0.0.7",
                       "qtype_name": "A"}
                if i % 97 != 0:  # Zeek leaves the field out when there was no query
                    row["query"] = names[i]
                f.write(json.dumps(row) + "\n")
    return sorted(set(names))


def run_job(*args):
    """spark-submit --master local[2] score_dns.py ARGS, with this Python on the executors."""
    if shutil.which("java") is None and "JAVA_HOME" not in os.environ:
        pytest.skip("no Java: Spark needs a JDK (17 or later)")
    bin_dir = pathlib.Path(sys.executable).parent
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(bin_dir / "spark-submit"), "--master", "local[2]", str(JOB), *args],
        env=env,
        capture_output=True,
        text=True,
    )


def spark_submit(*args):
    result = run_job(*args)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def cli_results(names, tmp_path):
    if not CLI.exists():
        pytest.skip(f"{CLI} not built (cargo build --release, or set DGA_LITE_BIN)")
    listing = tmp_path / "distinct.txt"
    listing.write_text("\n".join(names) + "\n")
    out = subprocess.run(
        [str(CLI), "predict", "--json", "--input", str(listing)],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    assert len(out) == len(names)
    results = {}
    for name, line in zip(names, out):
        row = json.loads(line)
        verdict = row.get("verdict") or next(k for k in ("local", "empty", "error") if k in row)
        results[name] = (np.float32(row.get("score", np.nan)), {"error": "invalid"}.get(verdict, verdict))
    return results


def test_the_spark_job_matches_the_cli_on_every_row(tmp_path):
    rng = np.random.default_rng(11)
    logs = tmp_path / "logs"
    logs.mkdir()
    distinct = zeek_logs(logs, rng)
    expected = cli_results(distinct, tmp_path)

    out = tmp_path / "scored.parquet"
    spark_submit("--input", str(logs), "--output", str(out))
    table = pq.read_table(out)
    assert table.num_rows == ROWS
    assert set(table.column_names) == {"ts", "uid", "id.orig_h", "qtype_name", "query",
                                       "score", "verdict"}
    queries = table.column("query").to_pylist()
    scores = table.column("score").to_numpy(zero_copy_only=False).astype(np.float32)
    verdicts = table.column("verdict").to_pylist()
    want_scores = np.array([expected[q][0] if q is not None else np.nan for q in queries],
                           dtype=np.float32)
    want_verdicts = [expected[q][1] if q is not None else "empty" for q in queries]
    assert same_bits(scores, want_scores)
    assert verdicts == want_verdicts
    assert verdicts.count("empty") == len(range(0, ROWS, 97))
    assert {"local", "invalid", "benign"} <= set(verdicts)

    # --only-hits keeps exactly the rows called dga.
    hits = tmp_path / "hits.parquet"
    spark_submit("--input", str(logs), "--output", str(hits), "--only-hits")
    kept = pq.read_table(hits)
    assert kept.num_rows == verdicts.count("dga")
    assert set(kept.column("verdict").to_pylist()) <= {"dga"}


def test_a_missing_name_column_is_a_clear_error(tmp_path):
    logs = tmp_path / "logs.json"
    logs.write_text('{"ts": 1.0, "answer": "x"}\n')
    result = run_job("--input", str(logs), "--output", str(tmp_path / "out"), "--format", "json")
    assert result.returncode != 0
    # spark-submit passes the driver's messages through on stdout
    assert "no name column among query, domain" in result.stdout + result.stderr
