"""Pipeline benchmark: drop a 1 MB CSV into a dataset with rules, 20 times, and time each drop
until a query answers with its accepted rows, with nobody running any command.

Not a test: run it by hand (`.venv/bin/python bench/pipeline/run.py`) on a quiet machine. It starts
its own lake on a free port with its own state directory (discarded at the end), stores the
reference rules, then for each drop: PutObject with stock boto3, then poll the query engine
(`datalake query`'s code path, in process) every 0.25 s until
``SELECT count(*) FROM accepted_jobs WHERE source_key = '<key>'`` equals that file's accepted row
count, which is computed independently here with pandas from the reference rules.

Prints p50/p95 of drop -> queryable, the debounce separately, and the share of each drop spent
before its run started (arrival, catalogue, stream, debounce, due poll) and inside the run.
"""

from __future__ import annotations

import argparse
import io
import signal
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from athena_queries.engine import run_query  # noqa: E402
from datalake.demo import RULES_FILE  # noqa: E402
from datalake.local import lifecycle  # noqa: E402
from datalake.samples import generate_jobs_csv  # noqa: E402
from datalake_base import aws  # noqa: E402
from pipeline import components  # noqa: E402
from quality_rules.store import rules_store  # noqa: E402
from tests.fixtures.lake import lake_environment  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def expected_accepted(body: bytes) -> int:
    """The reference rules, recomputed with pandas (Great Expectations semantics: nulls skip map rules)."""
    df = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, na_values=[""])
    jt, loc = df["job_type"], df["location"]
    bad = (df["organization"].isna()
           | (jt.notna() & ~jt.fillna("").str.match(r".*Full.*Time|.*Part.*Time|.*Contract.*"))
           | df["uniq_id"].fillna("").str.contains(r"\s")
           | (loc.notna() & ~loc.fillna("").str.len().between(3, 60)))
    return int((~bad).sum())


def one_mb_csv(workdir: Path, seed: int, target: int = 1_000_000) -> bytes:
    # 1 MB, not 1 MiB: an object longer than DATALAKE_PROFILE_HEAD_BYTES (1 MiB) whose head ends inside
    # a quoted multi-line field is quarantined as ragged by the arrival profiler (reported separately).
    path = workdir / f"drop-{seed}.csv"
    rows = 4000
    generate_jobs_csv(path, rows=rows, seed=seed)
    rows = max(1, int(rows * target / path.stat().st_size))
    generate_jobs_csv(path, rows=rows, seed=seed)
    return path.read_bytes()


def accepted_count(settings, key: str) -> int:
    try:
        return run_query(settings, f"SELECT count(*) FROM accepted_jobs WHERE source_key = '{key}'").rows[0][0]
    except Exception:  # the table does not exist before the first run
        return -1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--drops", type=int, default=20)
    ap.add_argument("--debounce", type=float, default=5.0, help="DATALAKE_PIPELINE_DEBOUNCE for the lake (s)")
    ap.add_argument("--timeout", type=float, default=180.0, help="give up on one drop after this many seconds")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so the lake it started is stopped on the way out

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp, lake_environment(
            Path(tmp) / "state", DATALAKE_PIPELINE_DEBOUNCE=str(args.debounce),
            DATALAKE_VALIDATION_ENGINE="auto") as settings:
        lifecycle.up(settings)
        rules_store(settings).put_items(json.loads(RULES_FILE.read_text()))
        s3 = aws.client("s3", settings)
        runs = components.run_store(settings)
        totals, before_run, in_run, sizes = [], [], [], []
        for i in range(args.drops):
            body = one_mb_csv(Path(tmp), seed=100 + i)
            want = expected_accepted(body)
            key = f"jobs/drop-{i:02d}.csv"
            t0 = time.time()
            s3.put_object(Bucket=settings.landing_bucket, Key=key, Body=body)
            while accepted_count(settings, key) != want:
                if time.time() - t0 > args.timeout:
                    raise SystemExit(f"drop {i}: {key} not queryable after {args.timeout:.0f}s; see `datalake runs jobs`")
                time.sleep(0.25)
            total = time.time() - t0
            run = runs.list("jobs", 1)[0]
            started = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00")).timestamp()
            totals.append(total)
            before_run.append(started - t0)
            in_run.append(total - (started - t0))
            sizes.append(len(body))
            print(f"drop {i:2d}: {len(body) / 1e6:.2f} MB, {want} accepted rows -> queryable after {total:5.1f}s "
                  f"(run {run['run_id']} started after {started - t0:4.1f}s, engine "
                  f"{((run['steps'].get('validate') or {}).get('counts') or {}).get('engine')})", flush=True)
        print()
        print(f"debounce: {args.debounce:g}s (DATALAKE_PIPELINE_DEBOUNCE)")
        print(f"drop -> queryable over {len(totals)} drops of ~{statistics.mean(sizes) / 1e6:.2f} MB: "
              f"p50 {pct(totals, 50):.1f}s, p95 {pct(totals, 95):.1f}s, max {max(totals):.1f}s")
        print(f"  before the run started (arrival, catalogue, stream, debounce, due poll): p50 {pct(before_run, 50):.1f}s, "
              f"p95 {pct(before_run, 95):.1f}s")
        print(f"  run until queryable (crawl, plan, validate, publish, load, query poll): p50 {pct(in_run, 50):.1f}s, "
              f"p95 {pct(in_run, 95):.1f}s")
        target = args.debounce + 10
        print(f"target p95 < debounce + 10 s = {target:g}s: {'met' if pct(totals, 95) < target else 'NOT met'}")


if __name__ == "__main__":
    main()
