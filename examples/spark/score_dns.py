"""Score DNS logs on Apache Spark with dga-lite, on the executors.

Reads Zeek JSON dns.log files (or any JSON-lines, Parquet or CSV data with a name column),
scores every name with the dga_lite package inside `mapInArrow` (Arrow batches straight into
Rust, no Python object per name; one model per Python worker process, loaded once), and
writes Parquet: the original columns plus `score` (float, NaN where a name is not scored)
and `verdict` (dga, suspicious, benign, local, allowed, empty, invalid: as the CLI prints).

    spark-submit --master 'local[2]' examples/spark/score_dns.py \\
        --input 'logs/dns*.log' --output scored.parquet

The same command runs on a cluster (`--master yarn`, `k8s://...`) once every executor can
import dga_lite: install the wheel on the nodes, or ship a packed virtual environment with
`--archives venv.tar.gz#venv` and `PYSPARK_PYTHON=./venv/bin/python` (README.md, "Spark").
"""

import argparse
import sys

NAME_COLUMNS = ("query", "domain", "qname", "name", "hostname", "host")
FORMATS = ("zeek", "json", "parquet", "csv")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Score the names in DNS logs with dga-lite on Spark; write Parquet.",
        epilog="Output: the input's columns plus score and verdict, one row per input row "
        "(or only the hits with --only-hits).",
    )
    parser.add_argument("--input", required=True, nargs="+", help="files, folders or globs")
    parser.add_argument("--output", required=True, help="Parquet folder to write")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="zeek",
        help="zeek (Zeek JSON dns.log: JSON lines whose name is `query`; the default), "
        "json (JSON lines), parquet, or csv (with a header)",
    )
    parser.add_argument(
        "--column",
        help="the column holding the name (default: the first of "
        + ", ".join(NAME_COLUMNS)
        + "); a dotted path reaches into structs (dns.rrname)",
    )
    parser.add_argument("--model", help="a model file (default: the embedded default model)")
    parser.add_argument(
        "--only-hits",
        action="store_true",
        help="write only rows called dga (with --suspicious, suspicious ones too)",
    )
    parser.add_argument(
        "--suspicious", action="store_true", help="with --only-hits, keep suspicious rows"
    )
    parser.add_argument(
        "--scope",
        choices=("registrable", "fqdn"),
        default="registrable",
        help="score the registrable domain (the default, as the models were trained) "
        "or the whole name",
    )
    parser.add_argument(
        "--threads-per-task",
        type=int,
        default=1,
        help="scoring threads in each task (default 1: Spark already runs one task per core)",
    )
    parser.add_argument(
        "--cache-names",
        type=int,
        default=65536,
        help="names whose scores each worker remembers (exact; 0: none; default 65536)",
    )
    parser.add_argument(
        "--mode",
        choices=("error", "overwrite", "append"),
        default="error",
        help="when --output exists: fail (the default), overwrite it, or append",
    )
    return parser.parse_args(argv)


def read_logs(spark, args):
    reader = spark.read
    if args.format in ("zeek", "json"):
        return reader.json(args.input)
    if args.format == "parquet":
        return reader.parquet(*args.input)
    return reader.option("header", True).csv(args.input)


def name_column(df, wanted):
    """The column expression holding names, or exit with what the data has instead."""
    from pyspark.sql import functions as F

    if wanted is None:
        found = next((c for c in NAME_COLUMNS if c in df.columns), None)
        if found is None:
            sys.exit(
                f"error: no name column among {', '.join(NAME_COLUMNS)}; the data has "
                f"{', '.join(df.columns)}: choose one with --column"
            )
        wanted = found
    # A top-level column whose name has dots (Zeek's id.orig_h) is quoted; else a path.
    column = F.col(f"`{wanted}`") if wanted in df.columns else F.col(wanted)
    try:
        df.select(column).schema
    except Exception as e:  # AnalysisException: say which column, not a stack trace
        sys.exit(f"error: no column {wanted!r} ({e.__class__.__name__}); the data has {df.columns}")
    return column


def scorer(name_field, score_field, verdict_field, model_path, options, keep):
    """The function each task runs on its Arrow batches (pickled to the executors)."""

    def score_batches(batches):
        import pyarrow as pa
        import pyarrow.compute as pc

        import dga_lite

        model = dga_lite.shared_model(model_path, **options)
        for batch in batches:
            scores, verdicts = model.classify(batch.column(name_field))
            verdicts = pa.array(verdicts, pa.string())
            out = batch.append_column(score_field, pa.array(scores, pa.float32()))
            out = out.append_column(verdict_field, verdicts).drop_columns([name_field])
            if keep is not None:
                out = out.filter(pc.is_in(verdicts, value_set=pa.array(keep)))
            yield out

    return score_batches


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.threads_per_task < 1:
        sys.exit("error: --threads-per-task must be at least 1")
    from pyspark.sql import SparkSession
    from pyspark.sql.types import FloatType, StringType, StructField, StructType

    spark = SparkSession.builder.appName("dga-lite score_dns").getOrCreate()
    df = read_logs(spark, args)
    for taken in ("score", "verdict"):
        if taken in df.columns:
            sys.exit(f"error: the input already has a column {taken!r}")
    # The name travels in a column of its own, so a nested path works and is dropped after.
    name_field = "__dga_lite_name"
    df = df.withColumn(name_field, name_column(df, args.column))
    # mapInArrow cannot pass top-level names with dots (Zeek's id.orig_h): rename them for
    # the trip and back after.
    dotted = {c: f"__dga_lite_column_{i}" for i, c in enumerate(df.columns) if "." in c}
    for original, temporary in dotted.items():
        df = df.withColumnRenamed(original, temporary)
    schema = StructType(
        [f for f in df.schema.fields if f.name != name_field]
        + [StructField("score", FloatType()), StructField("verdict", StringType())]
    )
    options = dict(
        threads=args.threads_per_task, scope=args.scope, cache_names=args.cache_names
    )
    keep = None
    if args.only_hits:
        keep = ["dga", "suspicious"] if args.suspicious else ["dga"]
    scored = df.mapInArrow(
        scorer(name_field, "score", "verdict", args.model, options, keep), schema
    )
    for original, temporary in dotted.items():
        scored = scored.withColumnRenamed(temporary, original)
    scored.write.mode(args.mode).parquet(args.output)
    spark.stop()


if __name__ == "__main__":
    main()
