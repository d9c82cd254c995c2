"""The local lake process: starts the endpoint, provisions, runs the event-source mappings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from datalake.local.lifecycle import wait_for_endpoint
from datalake.settings import get_settings


def main() -> None:
    settings = get_settings()
    state = settings.state_path
    state.mkdir(parents=True, exist_ok=True)
    endpoint = subprocess.Popen(
        [sys.executable, "-m", "datalake.local.endpoint", settings.local_host, str(settings.local_port)],
        stdout=subprocess.DEVNULL, stderr=open(state / "endpoint.log", "ab"),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runtime = None
    try:
        wait_for_endpoint(settings.local_endpoint, timeout=60)
        os.environ["DATALAKE_ENDPOINT_URL"] = settings.local_endpoint

        from catalog import indexer
        from datalake.local.provision import provision
        from datalake.local.runtime import Runtime
        from ingestion import handler as ingest

        ids = provision(settings)
        runtime = Runtime(settings, ids["queue_url"], ids["stream_arn"], ingest.handler, indexer.handler)
        runtime.start()
        (state / "daemon.json").write_text(json.dumps({
            "pid": os.getpid(), "endpoint_pid": endpoint.pid, "endpoint": settings.local_endpoint,
            "started_at": time.time(), **ids,
        }))
        while not stop.wait(1):
            if endpoint.poll() is not None:
                raise RuntimeError(f"the local endpoint exited with code {endpoint.returncode}; see {state / 'endpoint.log'}")
    finally:
        if runtime:
            runtime.stop()
        endpoint.terminate()
        try:
            endpoint.wait(10)
        except subprocess.TimeoutExpired:
            endpoint.kill()
        Path(state / "daemon.json").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
