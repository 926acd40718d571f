"""dga_lite.Model as a Python user meets it: every accepted input type gives the same scores,
bad rows give NaN and a verdict (never an exception), and scores equal the CLI's bit for bit.

Run: pip install ./python[test] && pytest python/tests (from the repository root).
"""

import json
import os
import pathlib
import subprocess
import threading

import numpy as np
import pytest

import dga_lite

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = pathlib.Path(os.environ.get("DGA_LITE_BIN", ROOT / "target" / "release" / "dga-lite"))

NAMES = [
    "google.com",
    "xjwqkdpqoe.net",
    "mail.google.accounts.login.secure.update.static.xjwqkdpqoe.net",
    "qxkwhjvbnrtplm.biz",
    "WWW.Example.COM.",
    "brwc0cb383d1f42",
    "printer.local",
    "a..b",
    "",
]
VERDICTS = [None, None, None, None, None, "local", "local", "invalid", "empty"]


@pytest.fixture(scope="module")
def model():
    return dga_lite.Model()


def same_bits(a, b):
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_the_readme_call(model):
    scores = model.score(["google.com", "xjwqkdpqoe.net"])
    assert scores.dtype == np.float32 and scores.shape == (2,)
    assert scores[0] < 0.01 < 0.99 < scores[1]
    assert model.verdict(["google.com"]) == ["benign"]


def test_verdicts_and_nan_for_names_not_scored(model):
    scores, verdicts = model.classify(NAMES)
    for name, score, verdict, expected in zip(NAMES, scores, verdicts, VERDICTS):
        if expected is None:
            assert verdict in ("dga", "suspicious", "benign"), name
            assert 0.0 <= score <= 1.0, name
        else:
            assert verdict == expected, name
            assert np.isnan(score), name
    assert verdicts == model.verdict(NAMES)
    assert same_bits(scores, model.score(NAMES))
    # The prefix evasion is judged on the registrable domain, as the model was trained.
    assert scores[2] == scores[1]
    # Operating points: dga at the FPR 1e-3 point, suspicious at 1e-2.
    points = model.operating_points
    assert points["dga"] == pytest.approx(model.threshold)
    assert points["suspicious"] < points["dga"]


def test_every_input_type_gives_the_same_scores(model):
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    valid = [n for n, v in zip(NAMES, VERDICTS) if v != "empty"]
    expected = model.score(valid)
    inputs = {
        "list": valid,
        "tuple": tuple(valid),
        "generator": (n for n in valid),
        "numpy U": np.array(valid),
        "numpy S": np.array([n.encode() for n in valid]),
        "numpy object": np.array(valid, dtype=object),
        "pandas object": pd.Series(valid, dtype=object),
        "pandas string[python]": pd.Series(valid, dtype="string[python]"),
        "pandas string[pyarrow]": pd.Series(valid, dtype="string[pyarrow]"),
        "pandas default": pd.Series(valid),
        "pyarrow string": pa.array(valid, pa.string()),
        "pyarrow large_string": pa.array(valid, pa.large_string()),
        "pyarrow string_view": pa.array(valid, pa.string_view()),
        "pyarrow chunked": pa.chunked_array([valid[:3], valid[3:]]),
        "pyarrow sliced": pa.array(["pad"] + valid + ["pad"]).slice(1, len(valid)),
    }
    for kind, names in inputs.items():
        assert same_bits(model.score(names), expected), kind


def test_polars_series_through_the_arrow_stream(model):
    pl = pytest.importorskip("polars", reason="polars is not installed (pip install polars)")
    valid = [n for n, v in zip(NAMES, VERDICTS) if v != "empty"]
    expected = model.score(valid)
    assert same_bits(model.score(pl.Series(valid)), expected)
    assert same_bits(model.score(pl.Series(["pad"] + valid)[1:]), expected)
    assert model.verdict(pl.Series(["google.com", None])) == ["benign", "empty"]


def test_missing_values_in_every_container(model):
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    for names in (
        ["google.com", None, float("nan")],
        np.array(["google.com", None, np.nan], dtype=object),
        pd.Series(["google.com", None, None], dtype="string[pyarrow]"),
        pa.array(["google.com", None, None]),
    ):
        assert model.verdict(names) == ["benign", "empty", "empty"]
        scores = model.score(names)
        assert not np.isnan(scores[0]) and np.isnan(scores[1:]).all()


def test_rows_that_are_not_text_are_invalid_not_errors(model):
    names = ["google.com", 42, b"\xff\xfe", b"example.org", object(), "\ud800.com"]
    assert model.verdict(names) == [
        "benign",
        "invalid",
        "invalid",
        "benign",
        "invalid",
        "invalid",
    ]


def test_unicode(model):
    # Internationalised names must come in punycode: the Unicode form is invalid, as in the CLI.
    assert model.verdict(["bücher.de", "xn--bcher-kva.de", "😀.com", "ä" * 300]) == [
        "invalid",
        "benign",
        "invalid",
        "invalid",
    ]
    wide = np.array(["bücher.de", "xn--bcher-kva.de"])  # numpy 'U' holds code points
    assert model.verdict(wide) == ["invalid", "benign"]


def test_empty_input(model):
    for names in ([], (), np.array([], dtype=str)):
        scores = model.score(names)
        assert scores.dtype == np.float32 and scores.shape == (0,)
        assert model.verdict(names) == []


def test_wrong_input_is_a_clear_error(model):
    with pytest.raises(TypeError, match="not one string"):
        model.score("google.com")
    with pytest.raises(TypeError, match="cannot read names"):
        model.score(3)
    with pytest.raises(ValueError, match="one-dimensional"):
        model.score(np.array([["a.com"]]))
    with pytest.raises(TypeError, match="dtype kind"):
        model.score(np.arange(3))
    pa = pytest.importorskip("pyarrow")
    with pytest.raises(TypeError, match="holds no strings"):
        model.score(pa.array([1, 2]))


def test_huge_batches_span_blocks_and_keep_order(model):
    rng = np.random.default_rng(7)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    names = ["".join(rng.choice(letters, 12)) + ".com" for _ in range(150_000)]
    scores = model.score(names)
    assert scores.shape == (150_000,) and not np.isnan(scores).any()
    # Any slice scored alone gives the same bits (scores do not depend on the batch).
    for start in (0, 65_530, 149_990):
        assert same_bits(scores[start : start + 10], model.score(names[start : start + 10]))


def test_the_cache_is_exact_and_counted():
    cached = dga_lite.Model(cache_names=1000)
    plain = dga_lite.Model(cache_names=0)
    names = NAMES * 50
    first = cached.score(names)
    second = cached.score(names)
    assert same_bits(first, second) and same_bits(first, plain.score(names))
    info = cached.cache_info()
    assert info["hits"] > 0 and info["names"] <= 1000 and info["capacity"] == 1000
    assert plain.cache_info() == {"hits": 0, "misses": 0, "names": 0, "capacity": 0}


def test_threads_score_concurrently_and_agree(model):
    names = [f"{i:x}qzv{i * 7919 % 10007:x}.net" for i in range(20_000)]
    expected = model.score(names)
    results = [None] * 4

    def work(k):
        results[k] = model.score(names)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(same_bits(r, expected) for r in results)
    assert dga_lite.Model(threads=1).threads == 1


def test_options():
    assert dga_lite.Model(scope="fqdn").score([NAMES[2]])[0] != dga_lite.Model().score(
        [NAMES[2]]
    )[0]
    local = dga_lite.Model(score_local=True)
    assert local.verdict(["printer.local"])[0] in ("dga", "suspicious", "benign")
    plain = dga_lite.Model(threshold=0.5)
    assert plain.operating_points is None and plain.threshold == 0.5
    assert set(plain.verdict(NAMES[:5])) <= {"dga", "benign"}
    for bad in (
        dict(scope="whole"),
        dict(threshold=1.5),
        dict(threads=0),
        dict(cache_names=10**9),
    ):
        with pytest.raises(ValueError):
            dga_lite.Model(**bad)


def test_model_files_and_their_errors(tmp_path):
    snowman = dga_lite.Model(ROOT / "data" / "snowman-default.safetensors")
    assert snowman.architecture == "snowman-cnn"
    info = snowman.info
    assert info["architecture"] == "snowman-cnn" and "training" in info
    with pytest.raises(FileNotFoundError, match="cannot read model"):
        dga_lite.Model(tmp_path / "missing.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(dga_lite.ModelError, match="garbage.safetensors"):
        dga_lite.Model(garbage)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes((ROOT / "data" / "snowman-default.safetensors").read_bytes()[:500])
    with pytest.raises(dga_lite.ModelError):
        dga_lite.Model(truncated)


def test_multiclass_models_name_families_only_when_not_benign():
    multi = dga_lite.Model(ROOT / "data" / "endgame-multiclass.safetensors")
    assert multi.is_multiclass and multi.classes[0] == "benign"
    names = ["google.com", "xjwqkdpqoe.net", "printer.local"]
    families, probabilities = multi.family(names)
    verdicts = multi.verdict(names)
    for family, p, verdict in zip(families, probabilities, verdicts):
        if verdict in ("dga", "suspicious"):
            assert family in multi.classes[1:] and 0.0 < p <= 1.0
        else:
            assert family is None and np.isnan(p)
    with pytest.raises(ValueError, match="binary"):
        dga_lite.Model().family(names)


def cli_scores(args, names, tmp_path):
    """The CLI's scores for names, from `predict --json` (NaN where it printed none)."""
    if not CLI.exists():
        pytest.skip(f"{CLI} not built (cargo build --release, or set DGA_LITE_BIN)")
    listing = tmp_path / "names.txt"
    listing.write_text("\n".join(names) + "\n")
    out = subprocess.run(
        [str(CLI), "predict", "--json", *args, "--input", str(listing)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(names)
    return np.array([r.get("score", np.nan) for r in rows], dtype=np.float64).astype(
        np.float32
    ), [r.get("verdict") for r in rows]


@pytest.mark.parametrize(
    "file", [None, "snowman-default.safetensors", "endgame-multiclass.safetensors"]
)
def test_scores_equal_the_cli_bit_for_bit(file, tmp_path):
    rng = np.random.default_rng(3)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789-"))
    names = [
        "".join(rng.choice(letters[:-1], 1)) + "".join(rng.choice(letters, rng.integers(4, 30)))
        + rng.choice([".com", ".net", ".co.uk", ".ru", ".info"])
        for _ in range(3000)
    ] + [n for n in NAMES if n]
    args = [] if file is None else ["--model", str(ROOT / "data" / file)]
    expected, cli_verdicts = cli_scores(args, names, tmp_path)
    model = dga_lite.Model(None if file is None else ROOT / "data" / file)
    scores, verdicts = model.classify(names)
    assert same_bits(scores, expected)
    for ours, theirs in zip(verdicts, cli_verdicts):
        if theirs is not None:
            assert ours == theirs


def test_the_readmes_python_examples_print_what_it_says(capsys):
    """README.md's ```py blocks run, and each `print(...)  # text` prints that text."""
    import re

    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```py\n(.*?)```", readme, re.S)
    assert blocks, "README.md has no ```py example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
        printed = capsys.readouterr().out.splitlines()
        promised = [
            line.split("#", 1)[1].strip()
            for line in block.splitlines()
            if line.startswith("print(") and "#" in line
        ]
        assert printed == promised
