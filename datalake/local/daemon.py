"""The local lake process: starts the endpoint, provisions, restores the saved lake, runs the
event-source mappings; on SIGTERM saves the lake (SIGUSR1: stops without saving) and stops.

Durability (docs/reliability.md, ``datalake.local.recovery``): the endpoint journals every
acknowledged write; on start the journal is replayed on top of the snapshot; saves record the
journal's mark; a reconcile after start catalogues what in-flight notifications announced.

Progress of a restore or a save goes to ``<state>/progress.json``, which `datalake up`/`down`
read to show it and to report an error. A save that fails leaves the lake running (runtime
restarted): nothing is lost, and the error says how to retry or discard.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from datalake.local.lifecycle import PROGRESS, wait_for_endpoint
from datalake_base.settings import Settings, get_settings

STOP_JOIN_S = 30.0  # a handler in the middle of a batch gets this long to finish before the save
START_STACKS_AFTER_S = 45.0  # see main(): a start still unfinished after this long logs every stack


class ProgressFile:
    """The Progress callback of a restore or save: rewrites progress.json atomically, at most 5×/s."""

    def __init__(self, state: Path, phase: str) -> None:
        self.path, self.phase, self._last = state / PROGRESS, phase, 0.0

    def __call__(self, step: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.2:
            return
        self._last = now
        self.write({"step": step, "done": done, "total": total})

    def write(self, body: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"phase": self.phase, "pid": os.getpid(), "at": time.time(), **body}, default=str))
        tmp.replace(self.path)


def _runtime(settings: Settings, ids: dict[str, str]) -> Any:
    from catalog import indexer
    from datalake.local.pipeline import LocalPipeline
    from datalake.local.runtime import Runtime
    from ingestion import handler as ingest
    from ingestion import reconcile
    from pipeline import trigger

    # The pipeline's trigger and executors run only when automatic runs are on (DATALAKE_PIPELINE_AUTO).
    auto = settings.pipeline_auto
    runtime = Runtime(settings, ids["queue_url"], ids["stream_arn"], ingest.handler, indexer.handler,
                      reconcile.handler, trigger=trigger.stream_handler if auto else None,
                      workers=[LocalPipeline(settings)] if auto else [])
    runtime.start()
    return runtime


def main() -> None:
    settings = get_settings()
    state = settings.state_path
    state.mkdir(parents=True, exist_ok=True)
    from datalake.local import journal, processes, recovery

    endpoint = subprocess.Popen(
        [sys.executable, "-m", "datalake.local.endpoint", settings.local_host, str(settings.local_port),
         str(journal.journal_path(state))],
        stdout=subprocess.DEVNULL, stderr=open(state / "endpoint.log", "ab"),
    )
    # Written first: should this process die, `datalake up`/`down` find the endpoint and adopt it.
    processes.write_json(state / processes.ENDPOINT_PID, {"pid": endpoint.pid, "endpoint": settings.local_endpoint})
    stop = threading.Event()
    request = {"save": True}

    def on_signal(save: bool) -> Any:
        def handler(*_: Any) -> None:
            request["save"] = save
            stop.set()
        return handler

    signal.signal(signal.SIGTERM, on_signal(True))
    signal.signal(signal.SIGINT, on_signal(True))
    signal.signal(signal.SIGUSR1, on_signal(False))
    runtime = None
    # A start that has not finished in this long prints every thread's stack to daemon.log (stderr),
    # so a hung start says where it hangs; cancelled once the lake runs.
    faulthandler.dump_traceback_later(START_STACKS_AFTER_S, exit=False)
    try:
        wait_for_endpoint(settings.local_endpoint, timeout=60)
        os.environ["DATALAKE_ENDPOINT_URL"] = settings.local_endpoint

        from datalake.local import snapshot
        from datalake.local.provision import provision

        ids = provision(settings)
        manifest: dict[str, Any] = {}
        if snapshot.exists(settings):
            report = ProgressFile(state, "restore")
            try:
                manifest = snapshot.restore_lake(settings, report)
            except Exception as exc:
                report.write({"error": str(exc)})
                raise
            report.write({"restored": snapshot.describe(manifest), "created_at": manifest.get("created_at")})
        recovery.replay_journal(settings, manifest.get("journal"), ProgressFile(state, "restore"))
        runtime = _runtime(settings, ids)
        recovery.reconcile_on_start(settings)
        # Atomically (write, then rename): `datalake up` polls this file while it is written.
        processes.write_json(state / "daemon.json", {
            "pid": os.getpid(), "endpoint_pid": endpoint.pid, "endpoint": settings.local_endpoint,
            "started_at": time.time(), **ids,
        })
        faulthandler.cancel_dump_traceback_later()
        while True:
            while not stop.wait(1):
                if endpoint.poll() is not None:
                    raise RuntimeError(f"the local endpoint exited with code {endpoint.returncode}; see {state / 'endpoint.log'}")
                runtime = recovery.compact_if_due(settings, runtime, lambda: _runtime(settings, ids),
                                                  ProgressFile(state, "compact"), STOP_JOIN_S)
            runtime.stop(STOP_JOIN_S)  # nothing may be half-processed while the lake is saved
            runtime = None
            if not request["save"]:
                break
            report = ProgressFile(state, "export")
            try:
                manifest = recovery.save(settings, report)
            except Exception as exc:
                print(f"saving the local lake failed: {exc!r}", file=sys.stderr, flush=True)
                report.write({"error": (
                    f"saving the local lake to {snapshot.snapshot_dir(state)} failed: {exc}. The lake is still running "
                    "and nothing was lost (the previous snapshot, if any, is untouched); fix the cause and run "
                    "`datalake down` again, or `datalake down --discard` to stop without saving"
                )})
                request["save"] = True
                stop.clear()
                runtime = _runtime(settings, ids)
                continue
            report.write({"saved": snapshot.describe(manifest), "warnings": manifest.get("warnings", [])})
            break
    finally:
        if runtime:
            runtime.stop()
        endpoint.terminate()
        try:
            endpoint.wait(10)
        except subprocess.TimeoutExpired:
            endpoint.kill()
        Path(state / "daemon.json").unlink(missing_ok=True)
        Path(state / processes.ENDPOINT_PID).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
