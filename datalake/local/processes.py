"""Which local-lake processes are really alive: pid files checked against /proc, never trusted alone.

A pid file can outlive its process (kill -9) and a pid can be reused by an unrelated program, so a
process counts as ours only if it is alive, not a zombie, and its command line names our module.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

DAEMON_MODULE = "datalake.local.daemon"
ENDPOINT_MODULE = "datalake.local.endpoint"
ENDPOINT_PID = "endpoint.json"  # written by the daemon when it starts the endpoint, removed when it stops it


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def reap(pid: int) -> None:
    """Collect our own exited child (a test or `demo` that started the lake in-process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def is_running(pid: int | None, module: str) -> bool:
    if not pid:
        return False
    reap(pid)
    return not _zombie(pid) and module in _cmdline(pid)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, body: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body))
    tmp.replace(path)


def endpoint_pid(state: Path) -> int | None:
    """The endpoint a daemon started, if it still runs (with or without its daemon)."""
    info = read_json(state / ENDPOINT_PID)
    pid = int(info["pid"]) if info and info.get("pid") else None
    if is_running(pid, ENDPOINT_MODULE):
        return pid
    (state / ENDPOINT_PID).unlink(missing_ok=True)
    return None


def stop(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; returns once the process is gone."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            reap(pid)
            if _zombie(pid) or not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.05)
