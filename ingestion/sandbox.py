"""Parse arriving files in worker processes, as Lambda isolates each invocation.

A file can make a parser segfault (libarrow on deep JSON, before the nesting pre-check existed),
allocate without bound or loop; in the handler's process that takes down every poller with it.
``Sandbox`` runs ``ingestion.inspection.inspect_object`` in a pool of long-lived workers
(``python -m ingestion.sandbox``), one request at a time each, with:

- a memory limit (``RLIMIT_AS``, ``DATALAKE_PROFILE_MEMORY_MB``): an allocation past it fails in the
  worker, which reports it; the object is quarantined with that reason;
- a timeout (``DATALAKE_PROFILE_TIMEOUT``): the worker is killed and replaced, the object quarantined;
- crash containment: a worker that dies (a signal) is replaced and the parse tried once more in a
  fresh one (so an unrelated kill never quarantines a good file); a second death quarantines the
  object with the signal's name.

Workers are reused, so the cost per arrival is one pickle round trip over a pipe (measured in
docs/reliability.md), not a process start. Each worker builds its own S3 client for the endpoint
and region it is sent; credentials come from the environment it inherits.
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Any

from ingestion.exceptions import IngestionError, QuarantineError
from ingestion.objects import Observed
from ingestion import profile
from ingestion.profile import Profile

_LEN = struct.Struct("!Q")


class SandboxError(IngestionError):
    """The worker raised something other than a quarantine (an S3 error, a bug): the message is retried."""


class _WorkerDied(Exception):
    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


def _write_frame(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    parts, need = [], n
    while need:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(need, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        need -= len(chunk)
    return b"".join(parts)


def _read_frame(fd: int, deadline: float | None = None) -> Any:
    (n,) = _LEN.unpack(_read_exact(fd, _LEN.size, deadline))
    return pickle.loads(_read_exact(fd, n, deadline))


class _Worker:
    def __init__(self, memory_mb: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingestion.sandbox", str(memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
            # Few malloc arenas: each reserves 64 MB of address space per thread, which counts against the limit.
            env={**os.environ, "MALLOC_ARENA_MAX": "2"},
        )

    def call(self, request: dict[str, Any], timeout_s: float) -> tuple[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        try:
            _write_frame(self.proc.stdin.fileno(), request)
            return _read_frame(self.proc.stdout.fileno(), time.monotonic() + timeout_s)
        except (EOFError, BrokenPipeError) as exc:
            code = self.proc.wait(5)
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            raise _WorkerDied(how) from exc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                f.close()


# Idle workers by memory limit, shared by every Sandbox of the process (a worker holds no per-lake
# state: the endpoint comes with each request), so rebuilding the arrivals service starts no process.
_IDLE: dict[int, list[_Worker]] = {}
_IDLE_LOCK = threading.Lock()


def close_idle_workers() -> None:
    """Stop every idle worker (they also exit by themselves when this process ends)."""
    with _IDLE_LOCK:
        for workers in _IDLE.values():
            for w in workers:
                w.kill()
            workers.clear()


class Sandbox:
    """A ``Profiler`` that parses in worker processes; thread-safe (one worker per concurrent call)."""

    def __init__(self, *, endpoint_url: str | None, region: str, mode: str, budget: int, max_object_bytes: int,
                 timeout_s: float, memory_mb: int, max_nesting: int = profile.MAX_NESTING) -> None:
        self.params = {"endpoint_url": endpoint_url, "region": region, "mode": mode, "budget": budget,
                       "max_object_bytes": max_object_bytes, "max_nesting": max_nesting}
        self.timeout_s, self.memory_mb = timeout_s, memory_mb

    def __call__(self, obs: Observed) -> Profile:
        request = {**self.params, "obs": obs}
        for attempt in (1, 2):
            worker = self._checkout()
            try:
                kind, value = worker.call(request, self.timeout_s)
            except TimeoutError:
                worker.kill()
                raise QuarantineError(
                    f"parsing took longer than {self.timeout_s:g} s (DATALAKE_PROFILE_TIMEOUT) and was stopped; "
                    "the file may be pathological (for example one enormous field); split it or raise the timeout"
                ) from None
            except _WorkerDied as died:
                worker.kill()
                if attempt == 1:
                    continue  # maybe not this file's fault (the worker was killed from outside): once more
                raise QuarantineError(
                    f"the parser crashed ({died.how}) reading this file, twice, each time in a fresh process: it "
                    "is not a file the profiler can read safely; check it is really CSV, JSON lines or Parquet"
                ) from None
            except BaseException:
                worker.kill()
                raise
            self._checkin(worker)
            if kind == "profile":
                return value
            if kind == "quarantine":
                raise QuarantineError(value)
            raise SandboxError(f"profiling s3://{obs.bucket}/{obs.key} failed in the worker: {value}")
        raise AssertionError("unreachable")

    def _checkout(self) -> _Worker:
        with _IDLE_LOCK:
            idle = _IDLE.setdefault(self.memory_mb, [])
            while idle:
                w = idle.pop()
                if w.proc.poll() is None:
                    return w
                w.kill()
        return _Worker(self.memory_mb)

    def _checkin(self, worker: _Worker) -> None:
        with _IDLE_LOCK:
            _IDLE.setdefault(self.memory_mb, []).append(worker)


# --- the worker process ----------------------------------------------------------------------------
def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _serve(memory_mb: int) -> None:
    import boto3
    import pyarrow.csv  # noqa: F401 - loaded before the limit, so it counts only what a parse allocates
    import pyarrow.json  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from ingestion.inspection import inspect_object
    from ingestion.objects import ObjectReader

    # The limit is on address space: what the loaded interpreter maps already, plus the allowance.
    limit = _vm_size() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    readers: dict[tuple[Any, ...], ObjectReader] = {}
    stdin, stdout = sys.stdin.buffer.fileno(), os.dup(sys.stdout.buffer.fileno())
    os.dup2(sys.stderr.fileno(), 1)  # a stray print (or a library's) must not corrupt the reply pipe
    while True:
        try:
            req = _read_frame(stdin)
        except EOFError:
            return  # the parent is gone (or closed us): nothing left to do
        where = (req["endpoint_url"], req["region"], req["mode"])
        if where not in readers:
            creds = {} if req["mode"] == "aws" else {
                "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
                "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "local")}
            s3 = boto3.session.Session(region_name=req["region"], **creds).client("s3", endpoint_url=req["endpoint_url"])
            readers[where] = ObjectReader(s3)
        profile.MAX_NESTING = req["max_nesting"]  # one request at a time: a per-request setting
        try:
            reply: tuple[str, Any] = ("profile", inspect_object(
                readers[where], req["obs"], budget=req["budget"], max_object_bytes=req["max_object_bytes"]))
        except QuarantineError as q:
            reply = ("quarantine", q.reason)
        except MemoryError:
            reply = ("quarantine", f"parsing needs more than {memory_mb} MiB of memory (DATALAKE_PROFILE_MEMORY_MB); "
                                   "the file is pathological for its size (for example one enormous field)")
        except RecursionError:
            reply = ("quarantine", "structure nested too deeply to parse (recursion limit reached); flatten it")
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the message for a retry
            reply = ("error", f"{type(exc).__name__}: {str(exc)[:500]}")
        _write_frame(stdout, reply)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
