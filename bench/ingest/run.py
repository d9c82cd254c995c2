"""Arrival benchmark: drop files with stock boto3 into a live local lake and time their cataloguing.

Not a test: run it by hand (`.venv/bin/python bench/ingest/run.py`), once, on a quiet machine. It
starts its own lake on a free port with its own state directory, and in the same run measures:

1. floor      - the local endpoint's own PutObject throughput (one client, as fast as it goes, into a
                bucket with no notifications): the most any pipeline in front of it could do;
2. latency    - N files dropped at a fixed rate (default 50/s): drop -> catalogued p50/p95/p99;
3. throughput - N files dropped as fast as one client can: files catalogued per second, end to end.

The lake's automatic pipeline is switched off (``--with-pipeline`` keeps it): this measures
arrivals, and a validation run started by the latency phase's files would share the two cores with
the throughput phase. Each phase also reports the CPU time each lake process spent per file (read
from /proc), which says where an arrival's cost goes.

"Catalogued" is the record's ``catalogued_at`` (written by the handler) minus the wall-clock time
just before the PutObject call; both clocks are this machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from catalog.store import CatalogStore  # noqa: E402
from datalake_base import aws  # noqa: E402
from datalake.local import lifecycle  # noqa: E402
from datalake_base.settings import Settings, reset_settings_cache  # noqa: E402
from tests.fixtures.aws import free_port  # noqa: E402

BODY = b"id,name,amount\n" + b"".join(b"%d,name-%d,%d.5\n" % (i, i, i) for i in range(50))


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


PUT_MS: dict[str, float] = {}  # mean PutObject round trip per prefix, as the dropping client saw it


def drop(s3, bucket: str, prefix: str, n: int, rate: float | None) -> dict[str, float]:
    started: dict[str, float] = {}
    t0 = time.time()
    spent = 0.0
    for i in range(n):
        if rate:
            wait = t0 + i / rate - time.time()
            if wait > 0:
                time.sleep(wait)
        key = f"{prefix}/part-{i:05d}.csv"
        started[key] = time.time()
        s3.put_object(Bucket=bucket, Key=key, Body=BODY)
        spent += time.time() - started[key]
    PUT_MS[prefix] = round(1000 * spent / max(1, n), 2)
    return started


def wait_counted(store: CatalogStore, dataset: str, keys: set[str], timeout: float) -> None:
    """Wait on the dataset item's file count (one GetItem per poll, so the measurement does not load
    the endpoint it measures)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ds = store.get_dataset(dataset) or {}
        if int(ds.get("file_count") or 0) >= len(keys):
            return
        time.sleep(0.25)


def catalogued_times(store: CatalogStore, dataset: str, keys: set[str]) -> dict[str, float]:
    """Catalogued time per key, read once the files are counted."""
    return {r["key"]: datetime.fromisoformat(r["catalogued_at"]).timestamp()
            for r in store.list_objects(dataset) if r["key"] in keys and r.get("catalogued_at")}


_PROCESSES = {"datalake.local.endpoint": "endpoint", "datalake.local.daemon": "runtime", "ingestion.sandbox": "parsers"}


def cpu_seconds() -> dict[str, float]:
    """CPU time (user + system) so far of the lake's processes, by role; and this process's as "client"."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {role: 0.0 for role in _PROCESSES.values()}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        role = next((r for m, r in _PROCESSES.items() if m in cmd), None)
        if role:
            out[role] += (int(fields[11]) + int(fields[12])) / tick
    out["client"] = time.process_time()
    return out


def cpu_ms_per_file(before: dict[str, float], after: dict[str, float], files: int) -> dict[str, float]:
    per = {k: round(1000 * (after[k] - before[k]) / max(1, files), 2) for k in after}
    per["total"] = round(sum(per.values()), 2)
    return per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=500, help="files per phase")
    ap.add_argument("--rate", type=float, default=50.0, help="drop rate of the latency phase, files/s")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--with-pipeline", action="store_true", help="leave the automatic pipeline on")
    args = ap.parse_args()

    state = tempfile.mkdtemp(prefix="bench-ingest-")
    os.environ.update({"DATALAKE_MODE": "local", "DATALAKE_LOCAL_PORT": str(free_port()), "DATALAKE_STATE_DIR": state,
                       "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
                       "DATALAKE_LOG_LEVEL": os.environ.get("DATALAKE_LOG_LEVEL", "WARNING")})
    if not args.with_pipeline:
        os.environ["DATALAKE_PIPELINE_AUTO"] = "false"
    os.environ.pop("DATALAKE_ENDPOINT_URL", None)
    reset_settings_cache()
    s = Settings()
    lifecycle.up(s)
    try:
        import boto3

        s3 = boto3.client("s3", endpoint_url=s.local_endpoint, region_name=s.region)  # stock boto3, default config
        store = CatalogStore(s.catalog_table, aws.client("dynamodb", s))
        s3.create_bucket(Bucket="bench-floor")
        time.sleep(2)  # let the runtime settle (provisioning's s3:TestEvent)

        c0, t = cpu_seconds(), time.time()
        drop(s3, "bench-floor", "floor", args.files, None)
        floor = args.files / (time.time() - t)
        c1 = cpu_seconds()

        started = drop(s3, s.landing_bucket, "benchlat", args.files, args.rate)
        wait_counted(store, "benchlat", set(started), timeout=120)
        done = catalogued_times(store, "benchlat", set(started))
        lat = [done[k] - started[k] for k in done]

        c2 = cpu_seconds()
        started2 = drop(s3, s.landing_bucket, "benchtput", args.files, None)
        wait_counted(store, "benchtput", set(started2), timeout=180)
        c3 = cpu_seconds()
        done2 = catalogued_times(store, "benchtput", set(started2))
        span = max(done2.values()) - min(started2.values()) if done2 else float("inf")
        tput = len(done2) / span

        figures = {
            "files_per_phase": args.files, "cpu_count": os.cpu_count(), "concurrency": s.local_concurrency,
            "endpoint_put_floor_per_s": round(floor, 1),
            "floor_cpu_ms_per_put": cpu_ms_per_file(c0, c1, args.files), "floor_put_ms": PUT_MS["floor"],
            "latency_phase": {"rate_per_s": args.rate, "catalogued": len(done),
                              "p50_s": round(pct(lat, 50), 3), "p95_s": round(pct(lat, 95), 3),
                              "p99_s": round(pct(lat, 99), 3), "mean_s": round(statistics.mean(lat), 3)},
            "throughput_phase": {"catalogued": len(done2), "files_per_s": round(tput, 1),
                                 "ratio_to_floor": round(tput / floor, 3),
                                 "cpu_ms_per_file": cpu_ms_per_file(c2, c3, len(done2)),
                                 "put_ms": PUT_MS["benchtput"]},
        }
        print(json.dumps(figures, indent=2))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        lifecycle.down(s, discard=True)


if __name__ == "__main__":
    main()
