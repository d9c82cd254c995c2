"""A write-ahead journal of the local endpoint's mutating requests, so `kill -9` loses no acknowledged write.

The endpoint keeps the lake in memory. ``JournalMiddleware`` wraps its WSGI app: every request
that changes S3, DynamoDB or Glue state is applied under one lock, appended to
``<state>/journal.log`` (method, path, headers, body), and the file is fsynced *before* the response
leaves the process. Concurrent writers share fsyncs (group commit): one fsync covers every record
appended before it. A response is therefore only ever seen for a write that is on disk.

Recovery (`datalake up` after a crash): the last snapshot is restored, then ``replay`` sends every
complete record of the journal to the fresh endpoint, in order. A torn last record (the crash hit
mid-append, so it was never acknowledged) fails its CRC and ends the replay. The journal is
superseded, and emptied, whenever a snapshot of the live lake is taken (`datalake down`, or adopting
a stray endpoint). See docs/reliability.md for what is and is not journaled.

Journaling is off until the daemon turns it on (``POST /_datalake/journal`` with ``on``), so the
restore and the replay themselves are not journaled again.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

JOURNAL = "journal.log"
ADMIN_PATH = "/_datalake/journal"
_HEAD = struct.Struct("!2sIQI")  # magic, header length, body length, crc32 of header+body
_MAGIC = b"DJ"
# Services whose state the lake owns. SQS is left out on purpose: receipt handles cannot be replayed,
# and replaying S3 writes re-sends their notifications anyway (see docs/reliability.md).
_JOURNALED = {"s3", "dynamodb", "glue"}
_READ_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "Search")
# Headers a replay must not copy (they describe the original connection, not the request).
_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "expect"}


@dataclass(frozen=True)
class Entry:
    method: str
    path: str  # raw path with its query string
    headers: dict[str, str]
    body: bytes


def journal_path(state: Path) -> Path:
    return state / JOURNAL


# --- the file ---------------------------------------------------------------------------------------
def encode(entry: Entry) -> bytes:
    header = json.dumps({"m": entry.method, "p": entry.path, "h": entry.headers}).encode()
    crc = zlib.crc32(entry.body, zlib.crc32(header))
    return _HEAD.pack(_MAGIC, len(header), len(entry.body), crc) + header + entry.body


def _records(path: Path) -> Iterator[tuple[Entry, int]]:
    """Every complete record with the file offset just past it; stops at a torn or damaged tail."""
    if not path.exists():
        return
    with open(path, "rb") as f:
        while True:
            head = f.read(_HEAD.size)
            if len(head) < _HEAD.size:
                return
            magic, hlen, blen, crc = _HEAD.unpack(head)
            if magic != _MAGIC:
                return
            header, body = f.read(hlen), f.read(blen)
            if len(header) < hlen or len(body) < blen or zlib.crc32(body, zlib.crc32(header)) != crc:
                return
            h = json.loads(header)
            yield Entry(h["m"], h["p"], h["h"], body), f.tell()


def read_entries(path: Path, *, headers: bool = False) -> Iterator[Entry]:
    """Every complete record, in order; stops at a torn or damaged tail (it was never acknowledged)."""
    for entry, _ in _records(path):
        if headers or entry.method != _HEADER:
            yield entry


# The first record of a journal names it; a snapshot records (id, records) of the journal it covers,
# so a replay after a crash between "snapshot written" and "journal emptied" skips what it holds.
_HEADER = "JOURNAL"


def journal_id(path: Path) -> str | None:
    first = next(read_entries(path, headers=True), None)
    return first.path if first and first.method == _HEADER else None


class Journal:
    """Append-only, group-committed journal file.

    ``fsync``: "always" (default) flushes and fsyncs before a write is acknowledged, so it survives a
    machine crash; "os" only hands the record to the kernel before acknowledging, which survives
    any process crash (kill -9 included) but not a power loss, for a fraction of the cost.
    """

    def __init__(self, path: Path, fsync: str = "always") -> None:
        self.path, self.fsync = path, fsync
        self._file: io.BufferedWriter | None = None
        self._lock = threading.Lock()  # appends
        self._sync_lock = threading.Lock()
        self._written = self._synced = 0
        self.id: str | None = None
        self._records = 0  # records (not counting the header) in the file

    @property
    def active(self) -> bool:
        return self._file is not None

    def start(self) -> None:
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.id = journal_id(self.path)
                end, self._records = 0, 0
                for entry, end in _records(self.path):
                    self._records += entry.method != _HEADER
                self._file = open(self.path, "ab" if self.id else "wb")  # noqa: SIM115 - held open while on
                if self.id:
                    self._file.truncate(end)  # a torn tail was never acknowledged: append after the last whole record
                if not self.id:
                    self._write_header()

    def _write_header(self) -> None:
        assert self._file is not None
        self.id = uuid.uuid4().hex
        self._file.write(encode(Entry(_HEADER, self.id, {}, b"")))
        self._file.flush()
        os.fsync(self._file.fileno())

    def mark(self) -> dict[str, Any]:
        """Which journal, and how many of its records, a snapshot taken now covers."""
        with self._lock:
            return {"id": self.id, "records": self._records}

    def stop(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                self._file = None

    def truncate(self, upto: int | None = None) -> None:
        """Drop the first ``upto`` records (all: None), which a snapshot now holds.

        Records appended after the snapshot's mark are kept, in a new journal (new id, written beside
        and renamed into place), so a write acknowledged while the snapshot was taken is never lost.
        """
        with self._lock:
            if self._file is None:
                self.path.unlink(missing_ok=True)
                return
            self._file.flush()
            keep = [] if upto is None else list(read_entries(self.path))[upto:]
            self._file.close()
            tmp = self.path.with_suffix(".tmp")
            self._file = open(tmp, "wb")  # noqa: SIM115 - becomes the journal
            self._write_header()
            for entry in keep:
                self._file.write(encode(entry))
            self._file.flush()
            os.fsync(self._file.fileno())
            tmp.replace(self.path)
            self._records = len(keep)

    def append(self, entry: Entry) -> int:
        """Buffer one record; returns its sequence number for ``sync``."""
        data = encode(entry)
        with self._lock:
            if self._file is None:
                return 0
            self._file.write(data)
            self._written += 1
            self._records += 1
            return self._written

    def sync(self, upto: int) -> None:
        """Make every record up to ``upto`` durable; one fsync serves every writer waiting."""
        if upto == 0:
            return
        with self._sync_lock:
            if self._synced >= upto:
                return
            with self._lock:
                if self._file is None:
                    return
                self._file.flush()
                target, fd = self._written, self._file.fileno()
            if self.fsync == "always":
                os.fsync(fd)
            self._synced = target


# --- which requests ---------------------------------------------------------------------------------
def service_of(environ: dict[str, Any]) -> str:
    """The AWS service a request is for, from its SigV4 credential scope (as moto dispatches)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    marker = "Credential="
    if marker in auth:
        scope = auth.split(marker, 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            return scope[3]
    return ""


def is_mutation(environ: dict[str, Any]) -> bool:
    service = service_of(environ)
    if service not in _JOURNALED:
        return False
    method = environ.get("REQUEST_METHOD", "GET")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:  # JSON protocol (DynamoDB, Glue): reads are named Get*/List*/Query/Scan/...
        return not target.rsplit(".", 1)[-1].startswith(_READ_PREFIXES)
    if service != "s3" or method in ("GET", "HEAD", "OPTIONS"):
        return False
    query = environ.get("QUERY_STRING", "")
    # Multipart pieces are journaled as one PutObject when the upload completes (upload ids are not replayable).
    if "uploadId=" in query or "uploads" in query.split("&"):
        return method == "POST" and "uploadId=" in query
    return True


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    out = {}
    for k, v in environ.items():
        if k.startswith("HTTP_"):
            name = k[5:].replace("_", "-").lower()
            if name not in _HOP:
                out[name] = v
    if environ.get("CONTENT_TYPE"):
        out["content-type"] = environ["CONTENT_TYPE"]
    return out


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    if environ.get("wsgi.input_terminated") or environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        return stream.read()
    return b""


def _completed_upload_as_put(environ: dict[str, Any], headers: dict[str, str]) -> Entry | None:
    """The object a CompleteMultipartUpload made, as one PutObject (read from the endpoint's own backend)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    path = environ.get("PATH_INFO", "")
    bucket, _, key = path.lstrip("/").partition("/")
    obj = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, unquote(key))
    if obj is None:
        return None
    put_headers = {k: v for k, v in headers.items() if k in ("authorization", "x-amz-date", "user-agent")}
    put_headers["content-type"] = getattr(obj, "content_type", None) or obj.metadata.get("content-type") or "binary/octet-stream"
    put_headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    for k, v in (obj.metadata or {}).items():
        if k.lower().startswith("x-amz-meta-"):
            put_headers[k.lower()] = v
    return Entry("PUT", environ.get("RAW_URI") or path, put_headers, obj.value)


class JournalMiddleware:
    """WSGI middleware: apply, append, fsync, then answer (module docstring)."""

    def __init__(self, app: Callable[..., Any], journal: Journal) -> None:
        self.app, self.journal = app, journal
        self._apply = threading.Lock()  # journal order = the order mutations were applied

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == ADMIN_PATH:
            return self._admin(environ, start_response)
        if not self.journal.active or not is_mutation(environ):
            return self.app(environ, start_response)
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers, exc_info]
            return lambda data: None

        with self._apply:
            result = self.app(environ, capture)
            try:
                chunks = list(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            seq = 0
            if captured and captured[0][:1] == "2":
                headers = _headers(environ)
                raw = environ.get("RAW_URI") or environ.get("PATH_INFO", "") + (
                    "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
                entry: Entry | None = Entry(environ["REQUEST_METHOD"], raw, headers, body)
                if "uploadId=" in environ.get("QUERY_STRING", ""):
                    entry = _completed_upload_as_put(environ, headers)
                if entry is not None:
                    seq = self.journal.append(entry)
        self.journal.sync(seq)  # outside the apply lock: concurrent writers share the fsync
        start_response(*captured)
        return chunks

    def _admin(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        command = _read_body(environ).decode().strip()
        if command == "on":
            self.journal.start()
        elif command == "off":
            self.journal.stop()
        elif command.startswith("truncate"):
            upto = command.split()[1:]
            self.journal.truncate(int(upto[0]) if upto else None)
        body = json.dumps({"active": self.journal.active, "path": str(self.journal.path), **self.journal.mark()}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


# --- the daemon's side ------------------------------------------------------------------------------
def control(endpoint: str, command: str, timeout: float = 30) -> dict[str, Any]:
    """Send ``on``/``off``/``truncate`` to a running endpoint's journal."""
    u = urlsplit(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("POST", ADMIN_PATH, body=command.encode())
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def replay(endpoint: str, path: Path, covered: dict[str, Any] | None = None,
           progress: Callable[[int], None] | None = None) -> int:
    """Send every complete journal record to ``endpoint`` in order; returns how many were sent.

    ``covered`` is the snapshot's ``journal`` mark: when it names this journal, its first
    ``records`` records are already in the snapshot and are skipped.

    A record the endpoint now refuses (a conditional write whose condition no longer holds is
    refused again, exactly as the first time) is not an error: the journal only replays history.
    """
    u = urlsplit(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    n = 0
    skip = int(covered.get("records") or 0) if covered and covered.get("id") == journal_id(path) else 0
    try:
        for i, entry in enumerate(read_entries(path)):
            if i < skip:
                continue
            headers = {k: v for k, v in entry.headers.items() if k not in _HOP}
            headers["content-length"] = str(len(entry.body))
            conn.request(entry.method, entry.path, body=entry.body, headers=headers)
            conn.getresponse().read()
            n += 1
            if progress and n % 200 == 0:
                progress(n)
    finally:
        conn.close()
    return n


def pending(path: Path) -> int:
    """How many complete records wait to be replayed."""
    return sum(1 for _ in read_entries(path))
