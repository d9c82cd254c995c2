"""Benchmark of the row-level quality split (a script, not a test).

    .venv/bin/python -m bench.split.run [--rows 1000000] [--udf-sample 1000] [--workdir /tmp/dq-bench]

Four ways to split the same generated job postings (Parquet input) by the four reference rules:
  (a) the reference approach: Great Expectations called per row inside a Spark Python UDF.
      Infeasible at 1M rows (hours), so it runs on ``--udf-sample`` rows and its rate is
      extrapolated; the report says so.
  (b) ours, Spark engine  (run_validation(engine="spark", with_oracle=False))
  (c) a hand-written native Spark filter + write (the floor for Spark)
  (d) ours, pandas engine (run_validation(engine="pandas", with_oracle=False))
Checks that (b), (c), (d) reject exactly the same rows with the same comments, and that (a)
agrees with ours on its sample. Times include read + flag + write; Spark start-up is excluded
(the session is warmed up first).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq


def _ge_row_udf_factory(rules: list[dict]):
    """A Spark UDF that validates one row at a time with GE, as the reference solution did."""

    def validate_row(organization, job_type, uniq_id, location):  # runs on the Python worker
        import builtins
        import contextlib
        import io
        import warnings

        cache = getattr(builtins, "_dq_bench_ge", None)
        if cache is None:
            import great_expectations  # noqa: F401 - loaded once per worker, as the reference UDF did


            from quality_rules.model import RuleSet
            from quality_rules.oracle import _context, _suite

            with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ctx = _context()
                ds = ctx.data_sources.add_pandas("row")
                bd = ds.add_dataframe_asset(name="row").add_batch_definition_whole_dataframe("row")
                rs = RuleSet.from_items("jobs", rules)
                suite = ctx.suites.add(_suite(rs.checks, "row"))
            cache = (bd, suite, [c.rule.reject_msg for c in rs.checks])
            builtins._dq_bench_ge = cache
        import pandas as pd

        bd, suite, msgs = cache
        row = pd.DataFrame({"organization": [organization], "job_type": [job_type], "uniq_id": [uniq_id],
                            "location": [location]})
        with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = bd.get_batch(batch_parameters={"dataframe": row}).validate(suite)
        failed = [m for m, r in zip(msgs, res.results) if not r.success]
        return "|".join(failed) if failed else None

    return validate_row


def native_spark(spark, src: Path, out: Path) -> None:
    """(c): the four rules written by hand as Spark SQL expressions."""
    from pyspark.sql import functions as F

    df = spark.read.parquet(str(src)).withColumn("source_row", F.monotonically_increasing_id())
    org, jt, uid, loc = (F.col(c) for c in ("organization", "job_type", "uniq_id", "location"))
    f1 = org.isNull()
    f2 = jt.isNotNull() & ~jt.rlike(".*Full.*Time|.*Part.*Time|.*Contract.*")
    f3 = uid.isNotNull() & uid.rlike("\\s")
    f4 = loc.isNotNull() & ~F.length(loc).between(3, 60)
    comments = F.concat_ws("|", F.when(f1, "REJECT:null_values_found_in_organization"),
                           F.when(f2, "REJECT:job_type_not_in_list"), F.when(f3, "REJECT:whitespace_found_in_uniq_id"),
                           F.when(f4, "REJECT:location_length_out_of_range"))
    flagged = df.withColumn("comments", comments)
    flagged.where(F.col("comments") == "").drop("comments").write.mode("overwrite").parquet(str(out / "accepted"))
    flagged.where(F.col("comments") != "").write.mode("overwrite").parquet(str(out / "rejected"))


def _rejected(path_glob: Path) -> dict[int, str]:
    import pyarrow as pa

    files = sorted(path_glob.parent.glob(path_glob.name))
    t = pa.concat_tables([pq.read_table(f, columns=["source_row", "comments"]) for f in files])
    return dict(zip(t.column("source_row").to_pylist(), t.column("comments").to_pylist()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--udf-sample", type=int, default=1000)
    ap.add_argument("--workdir", default="/tmp/dq-bench")
    args = ap.parse_args()
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    from datalake.samples import generate_jobs_frame, reference_rules
    from quality_rules.model import RuleSet
    from quality_rules.runner import SourceFile, run_validation
    from quality_rules.spark_session import get_spark

    t = time.monotonic()
    frame = generate_jobs_frame(args.rows, seed=7)
    src = work / "jobs.parquet"
    frame.to_parquet(src, index=False)
    print(f"generated {args.rows} rows -> {src} ({src.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - t:.1f}s")
    rules = reference_rules("jobs")
    rs = RuleSet.from_items("jobs", rules)
    source = SourceFile(key="landing/jobs/jobs.parquet", path=src, format="parquet", compression="none",
                        ingest_date="2024-05-01")

    spark = get_spark("local[2]")
    spark.range(1000).selectExpr("sum(id)").collect()  # warm-up: exclude JVM/session start
    results: dict[str, dict] = {}

    def timed(label: str, fn, rows: int) -> None:
        t0 = time.monotonic()
        fn()
        dt = time.monotonic() - t0
        results[label] = {"rows": rows, "seconds": round(dt, 2), "rows_per_s": round(rows / dt)}
        print(f"{label}: {rows} rows in {dt:.2f}s = {rows / dt:,.0f} rows/s", flush=True)

    # (b) ours on Spark; a first small run warms the code paths (JIT, Python worker import)
    run_validation(dataset="jobs", sources=[source], ruleset=rs, output_dir=work / "warm", engine="spark",
                   run_id="warm", with_oracle=False)
    timed("b_ours_spark", lambda: run_validation(dataset="jobs", sources=[source], ruleset=rs,
                                                 output_dir=work / "b", engine="spark", run_id="b",
                                                 with_oracle=False), args.rows)
    timed("c_native_spark", lambda: native_spark(spark, src, work / "c"), args.rows)
    timed("d_ours_pandas", lambda: run_validation(dataset="jobs", sources=[source], ruleset=rs,
                                                  output_dir=work / "d", engine="pandas", run_id="d",
                                                  with_oracle=False), args.rows)

    # (a) GE per row in a Spark UDF, on a sample
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    udf = F.udf(_ge_row_udf_factory(rules), StringType())
    sample = (spark.read.parquet(str(src)).withColumn("source_row", F.monotonically_increasing_id())
              .where(F.col("source_row") < args.udf_sample).repartition(2))
    sample_out = work / "a"

    def run_a() -> None:
        (sample.withColumn("comments", udf("organization", "job_type", "uniq_id", "location"))
         .write.mode("overwrite").parquet(str(sample_out)))

    # warm the workers' GE import/context on a few rows so (a) is not charged for start-up
    spark.read.parquet(str(src)).limit(4).repartition(2).select(
        udf("organization", "job_type", "uniq_id", "location")).collect()
    timed("a_ge_row_udf_sample", run_a, args.udf_sample)

    # ---- answers
    rej_b = _rejected(work / "b" / "rejected" / "dataset=jobs" / "ingest_date=2024-05-01" / "*.parquet")
    rej_d = _rejected(work / "d" / "rejected" / "dataset=jobs" / "ingest_date=2024-05-01" / "*.parquet")
    rej_c = _rejected(work / "c" / "rejected" / "*.parquet")
    a_tab = pq.read_table(sample_out)
    rej_a = {r: c for r, c in zip(a_tab.column("source_row").to_pylist(), a_tab.column("comments").to_pylist()) if c}
    ours_on_sample = {r: c for r, c in rej_b.items() if r < args.udf_sample}
    checks = {
        "b_equals_d": rej_b == rej_d,
        "b_equals_c": rej_b == rej_c,
        "a_equals_ours_on_sample": rej_a == ours_on_sample,
        "rejected": len(rej_b),
        "accepted": args.rows - len(rej_b),
    }
    a_rate = results["a_ge_row_udf_sample"]["rows_per_s"]
    ratios = {
        "b_over_a_speedup": round(results["b_ours_spark"]["rows_per_s"] / a_rate, 1),
        "b_time_over_c_time": round(results["b_ours_spark"]["seconds"] / results["c_native_spark"]["seconds"], 2),
        "d_over_a_speedup": round(results["d_ours_pandas"]["rows_per_s"] / a_rate, 1),
        "a_extrapolated_seconds_for_all_rows": round(args.rows / a_rate),
    }
    report = {"rows": args.rows, "udf_sample": args.udf_sample, "results": results, "ratios": ratios,
              "answers": checks}
    print(json.dumps(report, indent=2))
    (work / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
