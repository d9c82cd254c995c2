"""Benchmark of the row-level quality split (a script, not a test).

    .venv/bin/python -m bench.split.run [--rows 1000000] [--udf-sample 500] [--rss-rows 1000000,5000000]
                                        [--no-spark] [--workdir /tmp/dq-bench]

Every way to split the same generated job postings (Parquet input) by the four reference rules,
measured in one run (wall seconds and this process's CPU seconds, so a busy machine shows):
  (f) the floor: bare pyarrow, read the Parquet and write it back as two files (streamed batches
      and whole-table; the faster counts). Any split does at least this.
  (d) ours, in-process Arrow engine (run_validation(engine="arrow", with_oracle=False))
  (b) ours, Spark engine  (run_validation(engine="spark", with_oracle=False))
  (c) a hand-written native Spark filter + write (the floor for Spark)
  (a) the reference approach: Great Expectations called per row inside a Spark Python UDF, on
      ``--udf-sample`` rows (hours at 1M rows); its rate is extrapolated and the report says so.
Checks that (b), (c), (d) reject exactly the same rows with the same comments, and that (a)
agrees with ours on its sample. Spark start-up is excluded (the session is warmed up first).
Peak RSS of the Arrow engine is measured in a fresh process per size (``--rss-rows``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
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


def bare_floor(src: Path, out: Path) -> dict:
    """(f): read + write as two files with nothing in between, streamed and whole-table."""
    out.mkdir(parents=True, exist_ok=True)

    def streamed() -> None:
        pf = pq.ParquetFile(src)
        with pq.ParquetWriter(out / "a.parquet", pf.schema_arrow, compression="snappy") as a, \
                pq.ParquetWriter(out / "b.parquet", pf.schema_arrow, compression="snappy") as b:
            for batch in pf.iter_batches(batch_size=128 * 1024):
                k = batch.num_rows // 2
                a.write_batch(batch.slice(0, k))
                b.write_batch(batch.slice(k))

    def whole() -> None:
        t = pq.read_table(src)
        k = t.num_rows // 2
        pq.write_table(t.slice(0, k), out / "a.parquet", compression="snappy")
        pq.write_table(t.slice(k), out / "b.parquet", compression="snappy")

    return {"streamed": streamed, "whole_table": whole}


def _rejected(path_glob: Path) -> dict[int, str]:
    import pyarrow as pa

    files = sorted(path_glob.parent.glob(path_glob.name))
    t = pa.concat_tables([pq.read_table(f, columns=["source_row", "comments"]) for f in files])
    return dict(zip(t.column("source_row").to_pylist(), t.column("comments").to_pylist()))


_JVM_PID: list[int] = []


def _cpu() -> float:
    """CPU seconds of this process and, once Spark runs, its JVM: comparable on a busy machine."""
    t = os.times()
    total = t.user + t.system
    for pid in _JVM_PID:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _rss_child(src: Path, out: Path) -> None:
    """Run by ``--_rss-child``: one Arrow-engine split, then print this process's peak RSS."""
    from datalake.samples import reference_rules
    from quality_rules.model import RuleSet
    from quality_rules.runner import SourceFile, run_validation

    rs = RuleSet.from_items("jobs", reference_rules("jobs"))
    source = SourceFile(key="landing/jobs/jobs.parquet", path=src, format="parquet", compression="none",
                        ingest_date="2024-05-01")
    before = _vm_hwm_mb()
    t0 = time.monotonic()
    o = run_validation(dataset="jobs", sources=[source], ruleset=rs, output_dir=out, engine="arrow", run_id="rss",
                       with_oracle=False)
    print(json.dumps({"rows": o.rows_in, "seconds": round(time.monotonic() - t0, 2),
                      "peak_rss_mb_after_imports": before, "peak_rss_mb": _vm_hwm_mb()}))


def _vm_hwm_mb() -> int:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _scaled_copy(src: Path, rows: int, dest: Path) -> Path:
    """A Parquet file of ``rows`` rows made by repeating ``src`` (row groups of the source size)."""
    pf = pq.ParquetFile(src)
    with pq.ParquetWriter(dest, pf.schema_arrow, compression="snappy") as w:
        left = rows
        while left > 0:
            for batch in pf.iter_batches(batch_size=128 * 1024):
                if left <= 0:
                    break
                w.write_batch(batch.slice(0, min(left, batch.num_rows)))
                left -= min(left, batch.num_rows)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--udf-sample", type=int, default=500)
    ap.add_argument("--rss-rows", default="1000000,5000000", help="comma-separated sizes; empty to skip")
    ap.add_argument("--no-spark", action="store_true", help="floor and Arrow engine only")
    ap.add_argument("--workdir", default="/tmp/dq-bench")
    ap.add_argument("--_rss-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._rss_child:
        _rss_child(Path(args._rss_child[0]), Path(args._rss_child[1]))
        return
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    from datalake.samples import generate_jobs_frame, reference_rules
    from quality_rules.model import RuleSet
    from quality_rules.runner import SourceFile, run_validation

    t = time.monotonic()
    frame = generate_jobs_frame(args.rows, seed=7)
    src = work / "jobs.parquet"
    frame.to_parquet(src, index=False)
    del frame
    print(f"generated {args.rows} rows -> {src} ({src.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - t:.1f}s")
    rules = reference_rules("jobs")
    rs = RuleSet.from_items("jobs", rules)
    source = SourceFile(key="landing/jobs/jobs.parquet", path=src, format="parquet", compression="none",
                        ingest_date="2024-05-01")
    results: dict[str, dict] = {}

    def timed(label: str, fn, rows: int) -> None:
        t0, c0 = time.monotonic(), _cpu()
        fn()
        dt, cpu = time.monotonic() - t0, _cpu() - c0
        results[label] = {"rows": rows, "seconds": round(dt, 2), "cpu_seconds": round(cpu, 2),
                          "rows_per_s": round(rows / dt)}
        print(f"{label}: {rows} rows in {dt:.2f}s (cpu {cpu:.2f}s) = {rows / dt:,.0f} rows/s", flush=True)

    def arrow() -> None:
        run_validation(dataset="jobs", sources=[source], ruleset=rs, output_dir=work / "d", engine="arrow",
                       run_id="d", with_oracle=False)

    floors = bare_floor(src, work / "f")
    arrow()  # warm-up: imports and page cache, for the floor and ours alike
    floors["streamed"]()
    # floor and ours alternate, twice, so a burst of load elsewhere hits both; the best of each counts
    for i in range(2):
        for name, fn in floors.items():
            timed(f"f_floor_{name}_{i}", fn, args.rows)
        timed(f"d_ours_arrow_{i}", arrow, args.rows)
    best = {k: min((v for n, v in results.items() if n.startswith(k)), key=lambda r: r["seconds"])
            for k in ("f_floor", "d_ours_arrow")}
    best_cpu = {k: min(v["cpu_seconds"] for n, v in results.items() if n.startswith(k))
                for k in ("f_floor", "d_ours_arrow")}
    ratios = {"d_time_over_floor_time": round(best["d_ours_arrow"]["seconds"] / best["f_floor"]["seconds"], 2),
              "d_cpu_over_floor_cpu": round(best_cpu["d_ours_arrow"] / best_cpu["f_floor"], 2)}
    checks: dict = {"rejected": None}
    rej_d = _rejected(work / "d" / "rejected" / "dataset=jobs" / "ingest_date=2024-05-01" / "*.parquet")
    checks["rejected"], checks["accepted"] = len(rej_d), args.rows - len(rej_d)

    if not args.no_spark:
        from quality_rules.spark_session import get_spark

        spark = get_spark("local[2]")
        spark.range(1000).selectExpr("sum(id)").collect()  # warm-up: exclude JVM/session start
        proc = getattr(spark.sparkContext._gateway, "proc", None)
        if proc is not None and Path(f"/proc/{proc.pid}/stat").exists():
            _JVM_PID.append(proc.pid)
        # a first small run warms the code paths (JIT, Python worker import)
        run_validation(dataset="jobs", sources=[source], ruleset=rs, output_dir=work / "warm", engine="spark",
                       run_id="warm", with_oracle=False)
        for i in range(2):  # alternate, as above; the best of each counts
            timed(f"b_ours_spark_{i}", lambda: run_validation(dataset="jobs", sources=[source], ruleset=rs,
                                                              output_dir=work / "b", engine="spark", run_id="b",
                                                              with_oracle=False), args.rows)
            timed(f"c_native_spark_{i}", lambda: native_spark(spark, src, work / "c"), args.rows)
        for k in ("b_ours_spark", "c_native_spark"):
            results[k] = min((v for n, v in results.items() if n.startswith(k + "_")), key=lambda r: r["seconds"])
            best_cpu[k] = min(v["cpu_seconds"] for n, v in results.items() if n.startswith(k + "_"))

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

        rej_b = _rejected(work / "b" / "rejected" / "dataset=jobs" / "ingest_date=2024-05-01" / "*.parquet")
        rej_c = _rejected(work / "c" / "rejected" / "*.parquet")
        a_tab = pq.read_table(sample_out)
        rej_a = {r: c for r, c in zip(a_tab.column("source_row").to_pylist(), a_tab.column("comments").to_pylist())
                 if c}
        checks.update({"b_equals_d": rej_b == rej_d, "b_equals_c": rej_b == rej_c,
                       "a_equals_ours_on_sample": rej_a == {r: c for r, c in rej_d.items() if r < args.udf_sample}})
        a_rate = results["a_ge_row_udf_sample"]["rows_per_s"]
        ratios.update({
            "b_time_over_c_time": round(results["b_ours_spark"]["seconds"] / results["c_native_spark"]["seconds"], 2),
            "b_cpu_over_c_cpu": round(best_cpu["b_ours_spark"] / best_cpu["c_native_spark"], 2),
            "b_over_a_speedup": round(results["b_ours_spark"]["rows_per_s"] / a_rate, 1),
            "d_over_a_speedup": round(best["d_ours_arrow"]["rows_per_s"] / a_rate, 1),
            "a_extrapolated_seconds_for_all_rows": round(args.rows / a_rate),
        })

    rss = []
    for n in [int(x) for x in args.rss_rows.split(",") if x.strip()]:
        path = src if n == args.rows else _scaled_copy(src, n, work / f"jobs_{n}.parquet")
        proc = subprocess.run([sys.executable, "-m", "bench.split.run", "--_rss-child", str(path),
                               str(work / f"rss_{n}")], capture_output=True, text=True, check=True)
        rss.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"arrow engine peak RSS at {n} rows: {rss[-1]}", flush=True)
        shutil.rmtree(work / f"rss_{n}", ignore_errors=True)
        if path != src:
            path.unlink()

    report = {"rows": args.rows, "udf_sample": args.udf_sample, "machine": f"{os.cpu_count()} cores",
              "load_avg_at_end": os.getloadavg(), "results": results, "best": best, "ratios": ratios,
              "answers": checks, "arrow_peak_rss": rss}
    print(json.dumps(report, indent=2))
    (work / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
