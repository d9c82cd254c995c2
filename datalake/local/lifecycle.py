"""`datalake up / status / down`: the local lake as a background process with a pid file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from datalake.exceptions import LocalLakeError
from datalake.settings import Settings

# Derived local stores that only make sense with the in-memory endpoint's state.
DERIVED = ("search.sqlite3", "search.sqlite3-wal", "search.sqlite3-shm", "warehouse.duckdb", "warehouse.duckdb.wal")


@dataclass
class LakeStatus:
    running: bool
    endpoint: str | None = None
    pid: int | None = None
    uptime_s: float | None = None


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
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def status(settings: Settings) -> LakeStatus:
    info_path = settings.state_path / "daemon.json"
    if not info_path.exists():
        return LakeStatus(running=False)
    info = json.loads(info_path.read_text())
    if not _alive(info["pid"]):
        info_path.unlink(missing_ok=True)
        return LakeStatus(running=False)
    return LakeStatus(True, info["endpoint"], info["pid"], time.time() - info["started_at"])


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def up(settings: Settings, timeout: float = 90) -> LakeStatus:
    current = status(settings)
    if current.running:
        return current
    if not _port_free(settings.local_host, settings.local_port):
        raise LocalLakeError(
            f"port {settings.local_port} on {settings.local_host} is in use by another program; "
            "stop it or choose another port with DATALAKE_LOCAL_PORT=<port>"
        )
    state = settings.state_path
    state.mkdir(parents=True, exist_ok=True)
    for name in DERIVED:  # the endpoint starts empty, so derived stores start empty too
        (state / name).unlink(missing_ok=True)
    log = open(state / "daemon.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "datalake.local.daemon"], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        start_new_session=True, env={**os.environ, "DATALAKE_STATE_DIR": str(state)},
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = status(settings)
        if current.running:
            return current
        if proc.poll() is not None:
            raise LocalLakeError(f"the local lake failed to start; last lines of {state / 'daemon.log'}:\n{_tail(state / 'daemon.log')}")
        time.sleep(0.2)
    proc.terminate()
    raise LocalLakeError(f"the local lake did not become ready in {timeout:.0f}s; see {state / 'daemon.log'}")


def down(settings: Settings, timeout: float = 20) -> bool:
    current = status(settings)
    if not current.running or current.pid is None:
        return False
    os.kill(current.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(current.pid):
        time.sleep(0.2)
    if _alive(current.pid):
        os.kill(current.pid, signal.SIGKILL)
    (settings.state_path / "daemon.json").unlink(missing_ok=True)
    return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
