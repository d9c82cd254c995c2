"""Recovery and compaction steps of the local lake's daemon (design: docs/reliability.md).

The daemon calls these: ``replay_journal`` on start (after the snapshot is restored),
``reconcile_on_start`` once the runtime runs, ``save`` on `datalake down`, ``compact_if_due`` while
it waits. ``report`` is the daemon's progress callback (``ProgressFile``).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable

from datalake_base.settings import Settings


def save(settings: Settings, report: Any) -> dict[str, Any]:
    """Export the lake with the journal's mark, then drop the journal records the snapshot holds."""
    from datalake.local import journal, snapshot

    mark = journal.control(settings.local_endpoint, "mark")
    manifest = snapshot.export_lake(settings, report, extra={"journal": {
        "id": mark.get("id"), "records": mark.get("records")}})
    journal.control(settings.local_endpoint, f"truncate {int(mark.get('records') or 0)}")
    return manifest


_compaction = {"retry_at": 0.0}


def compact_if_due(settings: Settings, runtime: Any, restart: Callable[[], Any], report: Any,
                   stop_join_s: float) -> Any:
    """Past ``DATALAKE_LOCAL_JOURNAL_COMPACT_BYTES`` of journal, save the running lake to a snapshot
    (the runtime paused: a counter update is then never both in the snapshot and in the kept tail)."""
    from datalake.local import journal

    path = journal.journal_path(settings.state_path)
    try:
        if time.monotonic() < _compaction["retry_at"] or path.stat().st_size < settings.local_journal_compact_bytes:
            return runtime
    except OSError:
        return runtime
    runtime.stop(stop_join_s)
    try:
        manifest = save(settings, report)
        report.write({"compacted": True, "saved": manifest.get("counts")})
    except Exception as exc:  # noqa: BLE001 - the journal is intact; tried again a minute later
        print(f"compacting the journal failed: {exc!r}", file=sys.stderr, flush=True)
        _compaction["retry_at"] = time.monotonic() + 60
    return restart()


def replay_journal(settings: Settings, covered: dict[str, Any] | None, report: Any) -> None:
    """Bring back the writes acknowledged since the snapshot, then journal new ones."""
    from datalake.local import journal

    path = journal.journal_path(settings.state_path)
    total = journal.pending(path)
    if total:
        sent = journal.replay(settings.local_endpoint, path, covered,
                              progress=lambda n: report("replaying the endpoint journal", n, total))
        report.write({"replayed": sent, "journal_records": total})
    journal.control(settings.local_endpoint, "on")


RECONCILE_ON_START_TRIES = 30


def reconcile_on_start(settings: Settings) -> None:
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
