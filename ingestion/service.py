"""What happens when an object arrives or leaves: the catalog ends equal to the bucket.

Events repeat, arrive late and out of order, and the local endpoint sends no ``sequencer``. So an
event is a *hint* that one key changed; the record is always written from what the bucket holds
when the event is processed (one ranged GET that doubles as HEAD), never from the event alone:

- a duplicate finds the record already equal to the bucket and writes nothing;
- a delete processed after a newer overwrite finds the object there and keeps it catalogued;
- a create processed after its delete finds nothing and records the key as deleted;
- with a ``sequencer``, an event older than the last one written is dropped without touching S3,
  and the write is conditional on it (BRIEF §3);
- every write is conditional on the record's ``rev`` (optimistic concurrency), so two workers
  racing on one key cannot both count it: the loser re-reads and re-decides.

Versioned buckets get one record per version and per delete marker; which version is current is
read from the bucket's version listing, so the dataset counts only current, live versions.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Literal

from catalog.naming import dataset_for_key, pad_sequencer, partitions_for_key
from catalog.store import PRESENT, CatalogStore, WriteConflict
from ingestion.events import ObjectEvent
from ingestion.exceptions import ConcurrentArrivals, QuarantineError
from ingestion.inspection import Profiler, inspect_object
from ingestion.objects import Observed, ObjectReader, VersionInfo
from ingestion.profile import Profile

Status = Literal["ingested", "quarantined", "ignored", "deleted", "duplicate", "stale"]
# Fields a re-catalogued object must not inherit from its previous record (they described old content).
_CONTENT_FIELDS = ("format", "compression", "encoding", "delimiter", "has_header", "columns", "schema_digest",
                   "row_count", "row_count_note", "column_count", "columns_truncated", "validation", "status_reason",
                   "delete_marker", "deleted_at", "handler_failed")
FOLDER_MARKER_REASON = ("folder marker (a zero-byte key ending in '/', as consoles create for folders): not a data "
                        "file; kept out of the dataset's file counts")
DEFAULT_HEAD_BYTES = 1024 * 1024
MAX_RECORDED_COLUMNS = 2000


@dataclass(frozen=True)
class Outcome:
    status: Status
    bucket: str
    key: str
    dataset: str
    reason: str | None = None
    version_id: str | None = None


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def schema_digest(columns: list[dict[str, str]]) -> str:
    return hashlib.sha1(json.dumps(columns, sort_keys=True).encode()).hexdigest()[:12]


def _norm_version(v: str | None) -> str | None:
    return v if v not in (None, "", "null") else None


class Arrivals:
    def __init__(
        self,
        s3: Any,
        store: CatalogStore,
        *,
        max_object_bytes: int,
        profile_byte_budget: int,
        profile_head_bytes: int = DEFAULT_HEAD_BYTES,
        clock: Callable[[], str] = utcnow,
        max_attempts: int = 6,
        profiler: Profiler | None = None,
    ) -> None:
        self.objects = ObjectReader(s3)
        self.store = store
        self.max_object_bytes = max_object_bytes
        self.budget = profile_byte_budget
        self.head_bytes = max(1024, min(profile_head_bytes, profile_byte_budget))
        self.clock = clock
        self.max_attempts = max_attempts
        self._schemas_seen: set[tuple[str, str]] = set()
        # Where a file is parsed: in this process by default; ``ingestion.sandbox`` runs it in a worker
        # process with a memory limit and a timeout (no file can crash or hang the handler).
        self.profiler: Profiler = profiler or (lambda obs: inspect_object(
            self.objects, obs, budget=self.budget, max_object_bytes=self.max_object_bytes))

    def batch(self) -> AbstractContextManager[None]:
        """Around the events of one invocation: their dataset-counter writes are folded into one per
        dataset where the catalog store allows it (``CatalogStore.deferred_counts``)."""
        return self.store.deferred_counts()

    def process(self, ev: ObjectEvent) -> Outcome:
        """Bring the catalog in line with the bucket for the key ``ev`` names."""
        if _norm_version(ev.version_id) or self.objects.is_versioned(ev.bucket):
            return self._sync_versions(ev.bucket, ev.key, ev)
        return self._sync_key(ev.bucket, ev.key, ev)

    def sync(self, bucket: str, key: str) -> Outcome:
        """Re-read one key from the bucket and repair its records (no event: used by reconcile)."""
        if self.objects.is_versioned(bucket):
            return self._sync_versions(bucket, key, None)
        return self._sync_key(bucket, key, None)

    # --- unversioned buckets: one record per key ------------------------------------------------
    def _sync_key(self, bucket: str, key: str, ev: ObjectEvent | None) -> Outcome:
        dataset = dataset_for_key(key)
        seq = pad_sequencer(ev.sequencer) if ev else None
        for attempt in range(self.max_attempts):
            if attempt == 0 and ev is not None and ev.kind == "created":
                # Optimistic create, the common case: a small new object is catalogued without reading
                # the catalog first; the write's "no item yet" condition catches every other case,
                # which then takes the read path below. Saves one request per arrival.
                obs = self.objects.observe(bucket, key, None, self.head_bytes)
                if obs is not None and obs.complete:
                    try:
                        desired = self._catalogue(obs, None, dataset, ev)
                        self._commit(desired, None, seq, True)
                        return self._outcome(desired)
                    except WriteConflict:
                        continue
            existing = self.store.get_object(dataset, bucket, key, None)
            if seq and existing and (existing.get("sequencer_sort") or "") >= seq:
                return Outcome("stale", bucket, key, dataset, "a newer event for this key was already applied")
            obs = self.objects.observe(bucket, key, None, self.head_bytes)
            if obs is None:
                if existing and existing.get("status") == "deleted":
                    return Outcome("duplicate", bucket, key, dataset)
                why = ev.event_name if ev and ev.kind == "removed" else "object not found when its event was processed"
                desired = self._deleted_record(existing, bucket, key, dataset, None, ev, f"removed from the bucket ({why})")
                created = False
            else:
                if existing and _same_content(existing, obs) and existing.get("status") in PRESENT:
                    return Outcome("duplicate", bucket, key, dataset)
                desired = self._catalogue(obs, existing, dataset, ev)
                created = True
            try:
                self._commit(desired, existing, seq, created)
            except WriteConflict:
                continue
            return self._outcome(desired)
        raise ConcurrentArrivals(bucket, key, self.max_attempts)

    # --- versioned buckets: one record per version and per delete marker -----------------------
    def _sync_versions(self, bucket: str, key: str, ev: ObjectEvent | None) -> Outcome:
        dataset = dataset_for_key(key)
        target = _norm_version(ev.version_id) if ev else None
        for _ in range(self.max_attempts):
            listing = self.objects.versions(bucket, key)
            records = {r.get("version_id") or "null": r for r in self.store.list_key_versions(dataset, bucket, key)}
            results: dict[str, dict[str, Any]] = {}
            changed: set[str] = set()
            try:
                for v in listing:
                    rec = records.pop(v.version_id, None)
                    desired = self._version_record(bucket, v, rec, dataset, ev if target in (None, v.version_id) else None)
                    if desired is not None:
                        self._commit(desired, rec, None, created=not v.delete_marker and rec is None)
                        changed.add(v.version_id)
                    results[v.version_id] = desired or rec or {}
                for vid, rec in records.items():  # versions the bucket no longer has: permanently deleted
                    if rec.get("status") != "deleted" or rec.get("is_latest"):
                        desired = self._deleted_record(rec, bucket, key, dataset, vid, ev, "version permanently deleted")
                        desired["is_latest"] = False
                        self._commit(desired, rec, None, created=False)
                        changed.add(vid)
                    results[vid] = rec
                if target and target not in results:
                    # Its delete was processed first, or it never existed: keep a tombstone so a late
                    # create for this version finds it gone.
                    desired = self._deleted_record(None, bucket, key, dataset, target, ev, "version not found in the bucket")
                    desired["is_latest"] = False
                    self._commit(desired, None, None, created=False)
                    results[target] = desired
                    changed.add(target)
            except WriteConflict:
                continue
            vid = target or next((v.version_id for v in listing if v.is_latest), None)
            rec = results.get(vid or "", {})
            if vid not in changed:
                return Outcome("duplicate", bucket, key, dataset, version_id=vid)
            return self._outcome(rec)
        raise ConcurrentArrivals(bucket, key, self.max_attempts)

    def _version_record(self, bucket: str, v: VersionInfo, rec: dict[str, Any] | None, dataset: str,
                        ev: ObjectEvent | None) -> dict[str, Any] | None:
        """The record a version should have, or None if ``rec`` already says it."""
        if v.delete_marker:
            if rec and rec.get("status") == "deleted" and rec.get("delete_marker") and rec.get("is_latest") == v.is_latest:
                return None
            desired = self._deleted_record(rec, bucket, v.key, dataset, v.version_id, ev, "delete marker")
            desired.update(delete_marker=True, is_latest=v.is_latest, size=0, last_modified=v.last_modified)
            return desired
        if rec and rec.get("status") in PRESENT and rec.get("etag") == v.etag and not rec.get("handler_failed"):
            return None if rec.get("is_latest") == v.is_latest else {**rec, "is_latest": v.is_latest}
        obs = self.objects.observe(bucket, v.key, v.version_id, self.head_bytes)
        if obs is None:
            return None  # deleted meanwhile; the next pass sees it gone
        desired = self._catalogue(obs, rec, dataset, ev)
        desired.update(version_id=v.version_id, is_latest=v.is_latest)
        return desired

    # --- records ----------------------------------------------------------------------------------
    def _catalogue(self, obs: Observed, existing: dict[str, Any] | None, dataset: str, ev: ObjectEvent | None) -> dict[str, Any]:
        record = {k: v for k, v in (existing or {}).items() if k not in _CONTENT_FIELDS and k not in ("pk", "sk")}
        now = self.clock()
        record.update({
            "dataset": dataset, "bucket": obs.bucket, "key": obs.key, "version_id": obs.version_id,
            "size": obs.size, "etag": obs.etag, "content_type": obs.content_type, "last_modified": obs.last_modified,
            "arrival_time": (ev.event_time if ev and ev.kind == "created" and ev.event_time else None) or obs.last_modified,
            "sequencer": ev.sequencer if ev else record.get("sequencer"),
            "event_name": ev.event_name if ev else "reconcile", "event_source": ev.source if ev else "reconcile",
            "partitions": partitions_for_key(obs.key), "metadata": obs.metadata,
            "tags": self.objects.tags(obs.bucket, obs.key, obs.version_id) if obs.tag_count else {},
            "is_latest": True, "delete_marker": False,
        })
        if obs.key.endswith("/") and obs.size == 0:
            record["status"], record["status_reason"] = "ignored", FOLDER_MARKER_REASON
        else:
            try:
                record.update(_profile_fields(self.profiler(obs)))
                record["status"], record["status_reason"] = "ingested", None
            except QuarantineError as q:
                record["status"], record["status_reason"] = "quarantined", q.reason
        record["catalogued_at"] = now
        return record

    def record_failure(self, bucket: str, key: str, version_id: str | None, reason: str) -> Outcome | None:
        """Give an object whose processing keeps failing a record that says so (status ``quarantined``,
        ``handler_failed``), so no object is left without one. A later event, a DLQ redrive or reconcile
        processes it again (``handler_failed`` records are never taken for duplicates). None when the
        object is gone (its delete is then the record to write, through the normal path).
        """
        dataset = dataset_for_key(key)
        for _ in range(self.max_attempts):
            obs = self.objects.observe(bucket, key, _norm_version(version_id), 1024)
            if obs is None:
                return None
            version_id = obs.version_id
            existing = self.store.get_object(dataset, bucket, key, version_id)
            record = {k: v for k, v in (existing or {}).items() if k not in _CONTENT_FIELDS and k not in ("pk", "sk")}
            record.update({
                "dataset": dataset, "bucket": bucket, "key": key, "version_id": version_id, "size": obs.size,
                "etag": obs.etag, "content_type": obs.content_type, "last_modified": obs.last_modified,
                "partitions": partitions_for_key(key), "metadata": obs.metadata, "delete_marker": False,
                "is_latest": True if version_id is None else any(
                    v.is_latest for v in self.objects.versions(bucket, key) if v.version_id == version_id),
                "status": "quarantined", "status_reason": reason, "handler_failed": True,
                "event_name": "handler-failure", "catalogued_at": self.clock(),
            })
            record.setdefault("arrival_time", obs.last_modified)
            try:
                self._commit(record, existing, None, existing is None)
            except WriteConflict:
                continue
            return self._outcome(record)
        raise ConcurrentArrivals(bucket, key, self.max_attempts)

    def _deleted_record(self, existing: dict[str, Any] | None, bucket: str, key: str, dataset: str,
                        version_id: str | None, ev: ObjectEvent | None, reason: str) -> dict[str, Any]:
        record = {k: v for k, v in (existing or {}).items() if k not in ("pk", "sk")}
        record.setdefault("arrival_time", (ev.event_time if ev else None) or self.clock())
        record.update({
            "dataset": dataset, "bucket": bucket, "key": key, "version_id": version_id,
            "partitions": partitions_for_key(key), "status": "deleted", "status_reason": reason,
            "deleted_at": self.clock(), "event_name": ev.event_name if ev else "reconcile",
            "event_source": ev.source if ev else "reconcile", "delete_marker": bool(ev and ev.delete_marker),
        })
        if ev and ev.sequencer:
            record["sequencer"] = ev.sequencer
        return record

    def _commit(self, desired: dict[str, Any], existing: dict[str, Any] | None, seq: str | None, created: bool) -> None:
        self.store.commit(desired, existing, sequencer_sort=seq,
                          arrival_time=desired.get("arrival_time") if created else None)
        digest = desired.get("schema_digest")
        if digest and (desired["dataset"], digest) not in self._schemas_seen:
            self.store.put_schema_version(desired["dataset"], digest, desired["columns"], desired["catalogued_at"])
            self._schemas_seen.add((desired["dataset"], digest))

    @staticmethod
    def _outcome(rec: dict[str, Any]) -> Outcome:
        return Outcome(rec.get("status", "duplicate"), rec.get("bucket", ""), rec.get("key", ""), rec.get("dataset", ""),
                       rec.get("status_reason"), rec.get("version_id"))


def _size(rec: dict[str, Any]) -> int:
    size = rec.get("size")
    return -1 if size is None else int(size)  # 0 is a size (an empty object), not a missing one


def _same_content(rec: dict[str, Any], obs: Observed) -> bool:
    # Identity is the content (ETag and size), not LastModified: a restored local lake re-creates every
    # object with a new LastModified, and a redelivered event for an unchanged object must stay a duplicate.
    return (rec.get("etag") == obs.etag and _size(rec) == obs.size
            and not rec.get("handler_failed"))


def _profile_fields(p: Profile) -> dict[str, Any]:
    return {
        "format": p.format,
        "compression": p.compression,
        "encoding": p.encoding,
        "delimiter": p.delimiter,
        "has_header": p.has_header,
        # A DynamoDB item holds at most 400 KB: a very wide file keeps its first columns, its full
        # column count and a digest of the whole schema (so schema changes are still seen).
        "columns": p.columns[:MAX_RECORDED_COLUMNS],
        "column_count": len(p.columns),
        "columns_truncated": len(p.columns) > MAX_RECORDED_COLUMNS or None,
        "schema_digest": schema_digest(p.columns),
        "row_count": p.row_count,
        "row_count_note": p.row_count_note,
    }
