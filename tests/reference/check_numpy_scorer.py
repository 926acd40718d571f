#!/usr/bin/env python3
"""Checks examples/numpy_scorer.py against dga-lite on every shipped model (and runs the README's Python snippets): the same names
(generated: word-like and random, short and over 75 characters, upper case, a trailing dot,
characters outside a vocabulary, invalid ones) must get the same scores within 1e-5 and, for
the multiclass model, the same family. Run by .ci/run with NumPy in its virtual environment:

    python3 tests/reference/check_numpy_scorer.py target/release/dga-lite
"""
import json
import os
import random
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import numpy_scorer  # noqa: E402

# Every model shipped in data/ (the embedded default among them).
MODELS = sorted(f[: -len(".safetensors")] for f in os.listdir(os.path.join(ROOT, "data")) if f.endswith(".safetensors"))
TOLERANCE = 1e-5


def names():
    rng = random.Random(7)
    words = ["shop", "news", "mail", "cloud", "bank", "play", "home", "web", "data", "my"]
    out = ["google.com", "xjwqkdpqoe.net", "Example.COM.", "_dmarc.example.com", "a.b"]
    out += ["x" * 63 + "." + "y" * 63 + ".com", "bad name", "", "-"]
    for i in range(400):
        if i % 2:
            label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(5, 30)))
        else:
            label = "".join(rng.choice(words) for _ in range(rng.randint(1, 4))) + str(i)
        sub = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(0, 50)))
        out.append((sub + "." if sub else "") + label + rng.choice([".com", ".net", ".ru", ".co.uk"]))
    return out


def check_readme_python():
    """Runs the README's Python snippets on the shipped default model (they need the
    `safetensors` package, which .ci/run installs beside NumPy)."""
    import re
    readme = open(os.path.join(ROOT, "README.md")).read()
    model = os.path.join(ROOT, "data", "endgame-default.safetensors")
    for block in re.findall(r"```python\n(.*?)```", readme, re.S):
        scope = {}
        exec(block.replace('"model.safetensors"', repr(model)), scope)
        assert scope["header"]["architecture"] == "endgame-lstm", scope["header"]
        assert scope["kernel"].shape == (128, 512), scope["kernel"].shape
        print("README Python snippet: ran, header and kernel as documented")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/dga-lite")
    batch = names()
    worst_all = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "names.txt")
        with open(path, "w") as f:
            f.write("\n".join(batch) + "\n")
        for model in MODELS:
            model_path = os.path.join(ROOT, "data", model + ".safetensors")
            out = subprocess.run(
                # Whole names, every one scored: the NumPy scorer is the model's function; the
                # scope and the `local` verdict are dga-lite's policy around it.
                [binary, "predict", "--model", model_path, "--json", "--scope", "fqdn",
                 "--score-local", "--input", path],
                check=True, capture_output=True, text=True,
            ).stdout
            rows = [json.loads(line) for line in out.splitlines()]
            ours = numpy_scorer.score(model_path, batch)
            assert len(rows) == len(batch) == len(ours), (len(rows), len(batch), len(ours))
            worst = 0.0
            for name, row, mine in zip(batch, rows, ours):
                if "score" not in row:
                    assert mine is None, f"{model}: {name!r}: dga-lite {row}, numpy scored it"
                    continue
                assert mine is not None, f"{model}: {name!r}: numpy called it invalid"
                diff = abs(row["score"] - mine[0])
                worst = max(worst, diff)
                assert diff <= TOLERANCE, f"{model}: {name!r}: {row['score']} vs {mine[0]}"
                if "family" in row:
                    assert row["family"] == mine[1], f"{model}: {name!r}: {row['family']} vs {mine[1]}"
            print(f"{model}: {len(batch)} names, worst |dga-lite - numpy| = {worst:.2e}")
            worst_all = max(worst_all, worst)
    print(f"numpy reference scorer agrees with dga-lite within {TOLERANCE} (worst {worst_all:.2e})")
    check_readme_python()


if __name__ == "__main__":
    main()
