"""Where `datalake validate` spends its time, phase by phase (a script, not a test).

    .venv/bin/python -m bench.validate.run [--rows 1000000] [--engine arrow] [--workdir /tmp/dq-validate]

Starts its own moto server on a loopback port, lands one generated job-postings CSV through the
real arrival path, crawls it, stores the reference rules, then runs ``validate_dataset`` exactly
as the CLI does (GE report on) and prints the seconds of each phase (stage, flag and write,
GE report, publish, catalog update) and the share of the wall time spent outside the engine and
GE's report.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--engine", default="arrow")
    ap.add_argument("--workdir", default="/tmp/dq-validate")
    args = ap.parse_args()
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update({"DATALAKE_MODE": "local", "DATALAKE_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                       "DATALAKE_STATE_DIR": str(work / "state"), "AWS_ACCESS_KEY_ID": "local",
                       "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"})
    try:
        from datalake.demo import RULES_FILE
        from datalake.local.provision import provision
        from datalake.samples import generate_jobs_csv
        from datalake_base import aws
        from datalake_base.settings import Settings
        from ingestion import components
        from ingestion.events import ObjectEvent
        from pipeline.steps import crawl_dataset, validate_dataset
        from quality_rules.phases import PhaseClock
        from quality_rules.store import rules_store

        settings = Settings()
        provision(settings)
        path = generate_jobs_csv(work / "jobs.csv", rows=args.rows, seed=7)
        key = "jobs/batch=1/postings.csv"
        aws.client("s3", settings).upload_file(str(path), settings.landing_bucket, key)
        components.arrivals(settings).process(ObjectEvent(
            kind="created", bucket=settings.landing_bucket, key=key, event_name="ObjectCreated:Put",
            event_time="2026-11-25T10:00:00Z", source="s3"))
        rules_store(settings).put_items(json.loads(RULES_FILE.read_text()))
        crawl_dataset(settings, "jobs")
        print(f"landed {args.rows} rows ({path.stat().st_size / 1e6:.0f} MB CSV)", flush=True)

        def show(name: str, event: str, seconds: float, detail: str) -> None:
            if event == "end":
                print(f"  {name}: {seconds:.2f}s {detail}", flush=True)

        t0 = time.monotonic()
        result = validate_dataset(settings, "jobs", engine=args.engine, full=True, clock=PhaseClock(show))
        wall = time.monotonic() - t0
        inside = result.outcome.duration_s
        report = {"rows": args.rows, "engine": args.engine, "wall_s": round(wall, 2), "phases": result.phases,
                  "run_validation_s": inside, "outside_s": round(wall - inside, 2),
                  "outside_share": round((wall - inside) / wall, 3), "accepted": result.outcome.accepted,
                  "rejected": result.outcome.rejected, "oracle_agrees": result.outcome.oracle_agrees,
                  "load_avg_at_end": os.getloadavg()}
        print(json.dumps(report, indent=2))
        (work / "report.json").write_text(json.dumps(report, indent=2))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
