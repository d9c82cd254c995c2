"""`datalake up / status / down`: the local lake as a background process with a pid file.

`down` asks the daemon to save the lake to ``<state>/snapshot`` (SIGTERM) or to stop without
saving (SIGUSR1, `--discard`); `up` restores a saved lake and replays the endpoint's journal on
top (``datalake.local.journal``). Both follow the daemon's progress file and wait as long as it
advances (``DATALAKE_LOCAL_STALL_TIMEOUT`` without progress ends it).

They always tell the truth about processes (``datalake.local.processes``: pid files checked
against /proc). An endpoint whose daemon died (kill -9) still holds the lake in memory: `up` and
`down` adopt it — save it to a snapshot while it answers, then stop it — so it never blocks the
port and is never killed with unsaved state; one that no longer answers is killed, and its
journal brings its acknowledged writes back.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datalake.exceptions import LocalLakeError
from datalake.local import processes
from datalake.local.journal import journal_path
from datalake.local.journal import pending as journal_pending
from datalake_base.settings import Settings

# Derived local stores: kept with a saved lake (they match it), cleared when the lake starts empty.
DERIVED = ("search.tantivy", "search.sqlite3", "search.sqlite3-wal", "search.sqlite3-shm", "warehouse.duckdb",
           "warehouse.duckdb.wal")
PROGRESS = "progress.json"

# Receives the daemon's progress.json: {"phase": "restore"|"export", "step", "done", "total"}.
OnProgress = Callable[[dict[str, Any]], None]


def read_progress(state: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state / PROGRESS).read_text())
    except (OSError, ValueError):
        return None


@dataclass
class LakeStatus:
    running: bool
    endpoint: str | None = None
    pid: int | None = None
    uptime_s: float | None = None
    # An endpoint left running by a daemon that died: it holds the lake until `up`/`down` adopts it.
    stray_endpoint_pid: int | None = None


def wait_for_endpoint(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise LocalLakeError(f"the local endpoint {url} did not answer within {timeout:.0f}s")


def _alive(pid: int) -> bool:
    return processes.is_running(pid, processes.DAEMON_MODULE)


def status(settings: Settings) -> LakeStatus:
    info_path = settings.state_path / "daemon.json"
    info = processes.read_json(info_path)
    if info and _alive(info["pid"]):
        return LakeStatus(True, info["endpoint"], info["pid"], time.time() - info["started_at"])
    if info:  # only a file naming a dead daemon is stale; one that does not parse is being written
        info_path.unlink(missing_ok=True)
    return LakeStatus(running=False, stray_endpoint_pid=processes.endpoint_pid(settings.state_path))


def adopt_stray_endpoint(settings: Settings, pid: int, *, save: bool = True,
                         progress: OnProgress | None = None) -> str:
    """Take over an endpoint whose daemon died: save its lake while it answers, then stop it.

    Returns what was done, for the CLI. The save records the journal's mark, so the next `up`
    replays only what the snapshot does not hold.
    """
    from datalake.local import journal, snapshot

    state = settings.state_path
    url = settings.local_endpoint
    saved = "stopped it without saving (--discard)"
    if save:
        try:
            wait_for_endpoint(url, timeout=5)
            answering = True
        except LocalLakeError:
            answering = False
        if answering:
            def report(step: str, done: int, total: int) -> None:
                if progress:
                    progress({"phase": "export", "step": step, "done": done, "total": total})

            mark = journal.control(url, "mark")
            manifest = snapshot.export_lake(settings, report, extra={"journal": {"id": mark.get("id"),
                                                                                "records": mark.get("records")}})
            saved = f"saved it ({snapshot.describe(manifest)})"
        else:
            saved = (f"it did not answer, so it was killed; its journal ({journal_pending(journal_path(state))} "
                     "acknowledged write(s)) restores what it held")
    processes.stop(pid)
    (state / processes.ENDPOINT_PID).unlink(missing_ok=True)
    return f"found the endpoint (pid {pid}) of a lake whose daemon had died; {saved}"


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def up(settings: Settings, timeout: float = 90, progress: OnProgress | None = None,
       env: dict[str, str] | None = None) -> LakeStatus:
    """Start the lake and wait until it runs; a saved lake is restored first (``progress`` follows it).

    ``timeout`` bounds the start; while a restore reports progress, the wait is extended. ``env``
    adds settings for the lake's processes only (e.g. the engine of its automatic runs).
    """
    from datalake.local import snapshot

    current = status(settings)
    if current.running:
        return current
    if current.stray_endpoint_pid:
        note = adopt_stray_endpoint(settings, current.stray_endpoint_pid, progress=progress)
        if progress:
            progress({"phase": "adopt", "step": note, "done": 1, "total": 1})
    if not _port_free(settings.local_host, settings.local_port):
        raise LocalLakeError(
            f"port {settings.local_port} on {settings.local_host} is in use by another program; "
            "stop it or choose another port with DATALAKE_LOCAL_PORT=<port>"
        )
    state = settings.state_path
    state.mkdir(parents=True, exist_ok=True)
    if not snapshot.exists(settings) and not journal_pending(journal_path(state)):
        # the endpoint starts empty, so derived stores start empty too
        for name in DERIVED:
            if (state / name).is_dir():
                shutil.rmtree(state / name)
            else:
                (state / name).unlink(missing_ok=True)
    (state / PROGRESS).unlink(missing_ok=True)
    log = open(state / "daemon.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "datalake.local.daemon"], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        start_new_session=True, env={**os.environ, **(env or {}), "DATALAKE_STATE_DIR": str(state)},
    )
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        current = status(settings)
        if current.running:
            return current
        report = read_progress(state)
        if report != last and report is not None:
            last = report
            deadline = max(deadline, time.monotonic() + settings.local_stall_timeout_s)
            if progress and "error" not in report:
                progress(report)
        if proc.poll() is not None:
            if report and report.get("error"):
                raise LocalLakeError(report["error"])
            raise LocalLakeError(f"the local lake failed to start; last lines of {state / 'daemon.log'}:\n{_tail(state / 'daemon.log')}")
        time.sleep(0.2)
    proc.terminate()
    raise LocalLakeError(f"the local lake did not become ready in {timeout:.0f}s; see {state / 'daemon.log'}")


def down(settings: Settings, timeout: float | None = None, *, discard: bool = False,
         progress: OnProgress | None = None) -> bool:
    """Stop the lake, saving it to ``<state>/snapshot`` unless ``discard`` (which also deletes a saved one).

    Returns whether a lake was running. Raises LocalLakeError if the save failed (the lake then
    keeps running, nothing lost) or if the daemon made no progress for ``timeout`` seconds
    (default ``DATALAKE_LOCAL_STALL_TIMEOUT``; it is then killed and the previous snapshot kept).
    """
    from datalake.local import snapshot

    state = settings.state_path
    current = status(settings)
    if not current.running or current.pid is None:
        stray = current.stray_endpoint_pid
        if stray:
            adopt_stray_endpoint(settings, stray, save=not discard, progress=progress)
        if discard:
            snapshot.discard(settings)
            journal_path(state).unlink(missing_ok=True)
        return bool(stray)
    stall = timeout if timeout is not None else settings.local_stall_timeout_s
    (state / PROGRESS).unlink(missing_ok=True)
    os.kill(current.pid, signal.SIGUSR1 if discard else signal.SIGTERM)
    deadline = time.monotonic() + stall
    last: dict[str, Any] | None = None
    while _alive(current.pid) and time.monotonic() < deadline:
        report = read_progress(state)
        if report != last and report is not None:
            last = report
            deadline = time.monotonic() + stall
            if report.get("error"):
                raise LocalLakeError(report["error"])
            if progress:
                progress(report)
        time.sleep(0.2)
    killed = _alive(current.pid)
    if killed:
        os.kill(current.pid, signal.SIGKILL)
    (state / "daemon.json").unlink(missing_ok=True)
    if discard:
        snapshot.discard(settings)
        journal_path(state).unlink(missing_ok=True)
    elif killed:
        raise LocalLakeError(
            f"the local lake made no progress for {stall:.0f}s while stopping and was killed; the previous snapshot "
            f"in {snapshot.snapshot_dir(state)} is kept, and the endpoint's journal holds every write since "
            "(`datalake up` replays it). "
            f"See {state / 'daemon.log'}; DATALAKE_LOCAL_STALL_TIMEOUT allows longer"
        )
    return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
