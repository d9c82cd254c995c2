"""Start-up time of everyday commands on a warm local lake (the target is under 1 s each).

    .venv/bin/python bench/startup/run.py [--runs 7] [--report /tmp/startup-bench.json]

Starts a private lake (its own state directory and loopback port), drops one small CSV so that
`status` and `search` have something to show, warms the OS file cache with one run of each
command, then times each command as a fresh process (what a user waits for, imports included).
The lake is stopped and discarded at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [["--help"], ["status"], ["search", "jobs"], ["query", "SELECT 1"]]
TARGET_S = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(env: dict[str, str], *args: str, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "from datalake.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise SystemExit(f"datalake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--report", default="/tmp/startup-bench.json")
    args = ap.parse_args(argv)
    state = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "DATALAKE_MODE": "local", "DATALAKE_STATE_DIR": str(state), "DATALAKE_LOCAL_PORT": str(port),
           "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("DATALAKE_ENDPOINT_URL", None)
    env.pop("AWS_ENDPOINT_URL", None)
    results: dict[str, dict] = {}
    try:
        _cli(env, "up")
        import boto3

        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
        s3.put_object(Bucket="datalake-landing", Key="jobs/2024/jobs.csv", Body=b"id,name\n1,a\n2,b\n")
        time.sleep(3)  # let the runtime catalogue it
        for cmd in COMMANDS:  # warm-up: OS file cache, .pyc files
            _cli(env, *cmd)
        for cmd in COMMANDS:
            times = [_cli(env, *cmd)[0] for _ in range(args.runs)]
            results[" ".join(cmd)] = {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
                                      "max_s": round(max(times), 3), "runs": args.runs,
                                      "under_target": statistics.median(times) < TARGET_S}
    finally:
        _cli(env, "down", "--discard", check=False)
    load = os.getloadavg()[0]
    report = {"target_s": TARGET_S, "load_avg_1m": round(load, 2), "cpus": os.cpu_count(), "commands": results}
    Path(args.report).write_text(json.dumps(report, indent=2))
    for name, r in results.items():
        print(f"datalake {name:<20} median {r['median_s']:.3f}s  min {r['min_s']:.3f}s  "
              f"{'OK' if r['under_target'] else 'OVER'} (target {TARGET_S}s)")
    print(f"load average {load:.2f} on {os.cpu_count()} cpus; report: {args.report}")
    return report


if __name__ == "__main__":
    main()
