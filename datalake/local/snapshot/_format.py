"""The snapshot on disk: a folder of JSON-lines files and blobs, described by ``manifest.json``.

A snapshot is written into a temporary folder beside the final one and renamed into place only
once its manifest is written, so ``<state>/snapshot`` is either a complete snapshot or absent.
The manifest lists every file with its size and SHA-256 (blobs are listed, with theirs, in their
bucket's ``objects.jsonl``); a reader checks all of them before anything is applied.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from datalake.local.snapshot.exceptions import CorruptSnapshot, SnapshotError

FORMAT = "datalake-local-snapshot"
VERSION = 1
DIRNAME = "snapshot"
MANIFEST = "manifest.json"
CHUNK = 1024 * 1024

# step, done, total: called as work advances (the daemon forwards it to the CLI's progress bar).
Progress = Callable[[str, int, int], None]


def no_progress(step: str, done: int, total: int) -> None:
    """The default Progress: report nothing."""


def snapshot_dir(state: Path) -> Path:
    return state / DIRNAME


def leftovers(state: Path) -> list[Path]:
    """Earlier snapshots an interrupted swap left behind (``snapshot.old-*``)."""
    return sorted(state.glob(f"{DIRNAME}.old-*"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


class SnapshotWriter:
    """Writes into ``<state>/snapshot.tmp-<pid>``; ``commit()`` swaps it into place atomically."""

    def __init__(self, state: Path) -> None:
        self.state = state
        for stale in state.glob(f"{DIRNAME}.tmp-*"):  # a crashed earlier export: never a valid snapshot
            shutil.rmtree(stale, ignore_errors=True)
        self.root = state / f"{DIRNAME}.tmp-{os.getpid()}"
        self.root.mkdir(parents=True)
        self.files: dict[str, dict[str, Any]] = {}

    def path(self, rel: str) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def jsonl(self, rel: str, rows: Iterable[dict[str, Any]]) -> int:
        n = 0
        p = self.path(rel)
        with p.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, default=str, separators=(",", ":")) + "\n")
                n += 1
        self.files[rel] = {"bytes": p.stat().st_size, "sha256": sha256_file(p), "records": n}
        return n

    def commit(self, manifest: dict[str, Any]) -> Path:
        body = {"format": FORMAT, "version": VERSION, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **manifest, "files": self.files}
        with (self.root / MANIFEST).open("w", encoding="utf-8") as f:
            json.dump(body, f, indent=2, default=str)
            f.flush()
            os.fsync(f.fileno())
        final = snapshot_dir(self.state)
        old = self.state / f"{DIRNAME}.old-{os.getpid()}"
        if final.exists():
            final.rename(old)
        self.root.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return final

    def abort(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class SnapshotReader:
    """Opens ``<state>/snapshot``; ``verify()`` checks every file before anything is restored."""

    def __init__(self, state: Path) -> None:
        self.root = snapshot_dir(state)
        path = self.root / MANIFEST
        if not path.is_file():
            raise CorruptSnapshot(self.root, f"{MANIFEST} is missing (an export that did not finish?)")
        try:
            self.manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorruptSnapshot(self.root, f"{MANIFEST} is unreadable: {exc}") from exc
        if self.manifest.get("format") != FORMAT:
            raise CorruptSnapshot(self.root, f"{MANIFEST} is not a {FORMAT} manifest")
        if self.manifest.get("version") != VERSION:
            raise SnapshotError(
                f"the snapshot in {self.root} has format version {self.manifest.get('version')!r}, this datalake "
                f"reads version {VERSION}; start with a matching datalake version, or move the folder away "
                "(or run `datalake down --discard`) to start empty"
            )

    def verify(self, progress: Progress = no_progress) -> None:
        """Check sizes and SHA-256 of every listed file and every blob its buckets reference."""
        files: dict[str, dict[str, Any]] = self.manifest.get("files") or {}
        for i, (rel, want) in enumerate(files.items(), 1):
            self._check(self.root / rel, want["bytes"], want["sha256"], rel)
            progress("verifying the snapshot", i, len(files))
        blobs = [(rel, e) for rel in files if rel.endswith("objects.jsonl") for e in self.jsonl(rel) if e.get("blob")]
        for i, (rel, e) in enumerate(blobs, 1):
            self._check(self.root / Path(rel).parent / e["blob"], e["size"], e["sha256"], f"{e['blob']} ({e['key']})")
            progress("verifying object data", i, len(blobs))

    def _check(self, path: Path, size: int, sha: str, what: str) -> None:
        if not path.is_file():
            raise CorruptSnapshot(self.root, f"{what} is missing")
        if path.stat().st_size != size:
            raise CorruptSnapshot(self.root, f"{what} has {path.stat().st_size} bytes, the manifest says {size}")
        if sha256_file(path) != sha:
            raise CorruptSnapshot(self.root, f"{what} does not match its SHA-256 in the manifest")

    def jsonl(self, rel: str) -> Iterator[dict[str, Any]]:
        if rel not in (self.manifest.get("files") or {}):
            return
        with (self.root / rel).open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise CorruptSnapshot(self.root, f"{rel} line {n} is not JSON: {exc}") from exc
