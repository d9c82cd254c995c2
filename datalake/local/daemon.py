"""The local lake process: starts the endpoint, provisions, restores the saved lake, runs the
event-source mappings; on SIGTERM saves the lake (SIGUSR1: stops without saving) and stops.

Durability (docs/reliability.md): the endpoint journals every acknowledged write; on start the
snapshot is restored, the journal replayed on top, then journaling goes on; a save (on SIGTERM, or
when the journal passes DATALAKE_LOCAL_JOURNAL_COMPACT_BYTES) records the journal's mark in the
snapshot and then drops the records it covers. After a start, one reconcile run
catalogues objects whose notifications were in flight when a process died.

Progress of a restore or a save goes to ``<state>/progress.json``, which `datalake up`/`down`
read to show it and to report an error. A save that fails leaves the lake running (runtime
restarted): nothing is lost, and the error says how to retry or discard.
"""

from __future__ import annotations

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
    from datalake.local.runtime import Runtime
    from ingestion import handler as ingest
    from ingestion import reconcile

    runtime = Runtime(settings, ids["queue_url"], ids["stream_arn"], ingest.handler, indexer.handler,
                      reconcile.handler)
    runtime.start()
    return runtime


def _save(settings: Settings, report: Any) -> dict[str, Any]:
    """Export the lake with the journal's mark, then drop the journal records the snapshot holds."""
    from datalake.local import journal, snapshot

    mark = journal.control(settings.local_endpoint, "mark")
    manifest = snapshot.export_lake(settings, report, extra={"journal": {
        "id": mark.get("id"), "records": mark.get("records")}})
    journal.control(settings.local_endpoint, f"truncate {int(mark.get('records') or 0)}")
    return manifest


_compaction = {"retry_at": 0.0}


def _compact_if_due(settings: Settings, runtime: Any, ids: dict[str, str]) -> Any:
    """Past ``DATALAKE_LOCAL_JOURNAL_COMPACT_BYTES`` of journal, save the running lake to a snapshot
    (the runtime paused: a counter update is then never both in the snapshot and in the kept tail)."""
    from datalake.local import journal

    path = journal.journal_path(settings.state_path)
    try:
        if time.monotonic() < _compaction["retry_at"] or path.stat().st_size < settings.local_journal_compact_bytes:
            return runtime
    except OSError:
        return runtime
    runtime.stop(STOP_JOIN_S)
    report = ProgressFile(settings.state_path, "compact")
    try:
        manifest = _save(settings, report)
        report.write({"compacted": True, "saved": manifest.get("counts")})
    except Exception as exc:  # noqa: BLE001 - the journal is intact; tried again a minute later
        print(f"compacting the journal failed: {exc!r}", file=sys.stderr, flush=True)
        _compaction["retry_at"] = time.monotonic() + 60
    return _runtime(settings, ids)


def _replay_journal(settings: Settings, covered: dict[str, Any] | None) -> None:
    """Bring back the writes acknowledged since the snapshot, then journal new ones."""
    from datalake.local import journal

    path = journal.journal_path(settings.state_path)
    total = journal.pending(path)
    if total:
        report = ProgressFile(settings.state_path, "restore")
        sent = journal.replay(settings.local_endpoint, path, covered,
                              progress=lambda n: report("replaying the endpoint journal", n, total))
        report.write({"replayed": sent, "journal_records": total})
    journal.control(settings.local_endpoint, "on")


RECONCILE_ON_START_TRIES = 30


def _reconcile_once(settings: Settings) -> None:
    """Reconcile soon after start, in the background: SQS is not journaled, so a notification that was
    queued or in flight when a process died is caught here rather than at the first scheduled run.
    Repeated (every 5 s) until a run completes with nothing failed: right after a crash the backlog of
    arrivals keeps moving the dataset counters, and their check needs a quiet moment."""
    from ingestion import components
    from ingestion.reconcile import reconcile

    def run() -> None:
        for _ in range(RECONCILE_ON_START_TRIES):
            try:
                arrivals = components.cached_arrivals()
                report = reconcile(arrivals, arrivals.store, settings.landing_bucket)
                if not any(f.action == "failed" for f in report.fixes):
                    return
            except Exception as exc:  # noqa: BLE001 - tried again, then left to the scheduled runs
                print(f"reconcile on start failed: {exc!r}", file=sys.stderr, flush=True)
            time.sleep(5)

    threading.Thread(target=run, name="reconcile-on-start", daemon=True).start()


def main() -> None:
    settings = get_settings()
    state = settings.state_path
    state.mkdir(parents=True, exist_ok=True)
    from datalake.local import journal, processes

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
        _replay_journal(settings, manifest.get("journal"))
        runtime = _runtime(settings, ids)
        _reconcile_once(settings)
        (state / "daemon.json").write_text(json.dumps({
            "pid": os.getpid(), "endpoint_pid": endpoint.pid, "endpoint": settings.local_endpoint,
            "started_at": time.time(), **ids,
        }))
        while True:
            while not stop.wait(1):
                if endpoint.poll() is not None:
                    raise RuntimeError(f"the local endpoint exited with code {endpoint.returncode}; see {state / 'endpoint.log'}")
                runtime = _compact_if_due(settings, runtime, ids)
            runtime.stop(STOP_JOIN_S)  # nothing may be half-processed while the lake is saved
            runtime = None
            if not request["save"]:
                break
            report = ProgressFile(state, "export")
            try:
                manifest = _save(settings, report)
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
