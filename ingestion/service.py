"""What happens when an object arrives or leaves: the catalog ends equal to the bucket.

Events repeat and arrive out of order. With a ``sequencer`` the write is conditional on it; without
one (the local endpoint never sends it) the object is re-read with HEAD, so the record states what
is really in the bucket whatever order the events came in.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Literal

from botocore.exceptions import ClientError

from catalog.exceptions import StaleEvent
from catalog.naming import dataset_for_key, pad_sequencer, partitions_for_key
from catalog.store import CatalogStore
from ingestion.events import ObjectEvent
from ingestion.exceptions import QuarantineError
from ingestion.profile import PARQUET_MAGIC, Profile, profile_bytes, profile_parquet

Status = Literal["ingested", "quarantined", "deleted", "duplicate", "stale"]
FINAL = {"ingested", "quarantined", "validated", "loaded"}


@dataclass(frozen=True)
class Outcome:
    status: Status
    bucket: str
    key: str
    dataset: str
    reason: str | None = None


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def schema_digest(columns: list[dict[str, str]]) -> str:
    return hashlib.sha1(json.dumps(columns, sort_keys=True).encode()).hexdigest()[:12]


class S3RangeReader(io.RawIOBase):
    """A seekable file over ranged GETs, so Parquet footers are read without the whole object."""

    def __init__(self, s3: Any, bucket: str, key: str, size: int, version_id: str | None = None) -> None:
        self.s3, self.bucket, self.key, self.size, self.version_id = s3, bucket, key, size, version_id
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, n: int = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        if self.pos >= end:
            return b""
        data = get_range(self.s3, self.bucket, self.key, self.pos, end - 1, self.version_id)
        self.pos += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def get_range(s3: Any, bucket: str, key: str, first: int, last: int, version_id: str | None = None) -> bytes:
    extra = {"VersionId": version_id} if version_id else {}
    return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}", **extra)["Body"].read()


class Arrivals:
    def __init__(
        self,
        s3: Any,
        store: CatalogStore,
        *,
        max_object_bytes: int,
        profile_byte_budget: int,
        clock: Callable[[], str] = utcnow,
    ) -> None:
        self.s3 = s3
        self.store = store
        self.max_object_bytes = max_object_bytes
        self.budget = profile_byte_budget
        self.clock = clock

    def process(self, ev: ObjectEvent) -> Outcome:
        if ev.kind == "created":
            return self._created(ev)
        return self._removed(ev)

    # --- create ----------------------------------------------------------------------------------
    def _created(self, ev: ObjectEvent) -> Outcome:
        dataset = dataset_for_key(ev.key)
        head = self._head(ev.bucket, ev.key, ev.version_id)
        if head is None:
            # Gone before we looked: the delete (or a newer overwrite's delete) already happened.
            return self._mark_deleted(ev, dataset, "object was removed before its create event was processed")
        version_id = head.get("VersionId") if head.get("VersionId") not in (None, "null") else None
        etag = head["ETag"].strip('"')
        existing = self.store.get_object(dataset, ev.bucket, ev.key, version_id)
        if existing and existing.get("etag") == etag and existing.get("status") in FINAL and existing.get(
            "last_modified"
        ) == head["LastModified"].isoformat():
            return Outcome("duplicate", ev.bucket, ev.key, dataset)

        record = self._base_record(ev, dataset, head, version_id, etag)
        try:
            profile = self._profile(ev.bucket, ev.key, version_id, int(head["ContentLength"]))
            record.update(_profile_fields(profile))
            record["status"], record["status_reason"] = "ingested", None
        except QuarantineError as q:
            record["status"], record["status_reason"] = "quarantined", q.reason
        try:
            self.store.put_object(record, sequencer_sort=pad_sequencer(ev.sequencer))
        except StaleEvent:
            return Outcome("stale", ev.bucket, ev.key, dataset)
        if not existing or existing.get("status") == "deleted":
            self.store.record_arrival(
                dataset,
                files_delta=1,
                bytes_delta=int(head["ContentLength"]),
                arrival_time=record["arrival_time"],
                schema_digest=record.get("schema_digest"),
            )
        elif record.get("schema_digest"):
            self.store.record_arrival(
                dataset, files_delta=0, bytes_delta=int(head["ContentLength"]) - int(existing.get("size") or 0),
                arrival_time=record["arrival_time"], schema_digest=record["schema_digest"],
            )
        return Outcome(record["status"], ev.bucket, ev.key, dataset, record.get("status_reason"))

    def _base_record(self, ev: ObjectEvent, dataset: str, head: dict[str, Any], version_id: str | None, etag: str) -> dict[str, Any]:
        return {
            "dataset": dataset,
            "bucket": ev.bucket,
            "key": ev.key,
            "version_id": version_id,
            "size": int(head["ContentLength"]),
            "etag": etag,
            "content_type": head.get("ContentType"),
            "last_modified": head["LastModified"].isoformat(),
            "arrival_time": ev.event_time or self.clock(),
            "catalogued_at": self.clock(),
            "sequencer": ev.sequencer,
            "event_name": ev.event_name,
            "event_source": ev.source,
            "partitions": partitions_for_key(ev.key),
            "metadata": head.get("Metadata") or {},
            "tags": self._tags(ev.bucket, ev.key, version_id),
        }

    def _profile(self, bucket: str, key: str, version_id: str | None, size: int) -> Profile:
        if size > self.max_object_bytes:
            raise QuarantineError(
                f"object is {size} bytes, over the {self.max_object_bytes}-byte limit "
                "(DATALAKE_MAX_OBJECT_BYTES); split it or raise the limit"
            )
        if size == 0:
            raise QuarantineError("empty object (0 bytes): nothing to catalogue; upload the file again with content")
        head = get_range(self.s3, bucket, key, 0, min(size, self.budget) - 1, version_id)
        if head[:4] == PARQUET_MAGIC:
            return profile_parquet(io.BufferedReader(S3RangeReader(self.s3, bucket, key, size, version_id), buffer_size=1 << 20))
        return profile_bytes(head, complete=size <= self.budget, key=key)

    def _tags(self, bucket: str, key: str, version_id: str | None) -> dict[str, str]:
        extra = {"VersionId": version_id} if version_id else {}
        try:
            tagset = self.s3.get_object_tagging(Bucket=bucket, Key=key, **extra)["TagSet"]
        except ClientError:
            return {}
        return {t["Key"]: t["Value"] for t in tagset}

    # --- remove ----------------------------------------------------------------------------------
    def _removed(self, ev: ObjectEvent) -> Outcome:
        dataset = dataset_for_key(ev.key)
        if not ev.sequencer and not ev.version_id and self._head(ev.bucket, ev.key, None) is not None:
            # No order information, and the key exists again: a newer create won; catalogue that.
            return self._created(ev)
        return self._mark_deleted(ev, dataset, f"removed from the bucket ({ev.event_name})")

    def _mark_deleted(self, ev: ObjectEvent, dataset: str, reason: str) -> Outcome:
        version_id = ev.version_id if ev.version_id not in (None, "null") else None
        existing = self.store.get_object(dataset, ev.bucket, ev.key, version_id)
        if existing and existing.get("status") == "deleted":
            return Outcome("duplicate", ev.bucket, ev.key, dataset)
        record = dict(existing or {"dataset": dataset, "bucket": ev.bucket, "key": ev.key, "version_id": version_id,
                                   "arrival_time": ev.event_time or self.clock(),
                                   "partitions": partitions_for_key(ev.key)})
        for k in ("pk", "sk", "sequencer_sort"):
            record.pop(k, None)
        record.update(status="deleted", status_reason=reason, deleted_at=self.clock(), sequencer=ev.sequencer,
                      event_name=ev.event_name, event_source=ev.source, delete_marker=ev.delete_marker)
        try:
            self.store.put_object(record, sequencer_sort=pad_sequencer(ev.sequencer))
        except StaleEvent:
            return Outcome("stale", ev.bucket, ev.key, dataset)
        if existing:
            self.store.record_arrival(dataset, files_delta=-1, bytes_delta=-int(existing.get("size") or 0),
                                      arrival_time=existing.get("arrival_time") or self.clock(), schema_digest=None)
        return Outcome("deleted", ev.bucket, ev.key, dataset, reason)

    def _head(self, bucket: str, key: str, version_id: str | None) -> dict[str, Any] | None:
        extra = {"VersionId": version_id} if version_id else {}
        try:
            return self.s3.head_object(Bucket=bucket, Key=key, **extra)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise


def _profile_fields(p: Profile) -> dict[str, Any]:
    return {
        "format": p.format,
        "compression": p.compression,
        "encoding": p.encoding,
        "delimiter": p.delimiter,
        "has_header": p.has_header,
        "columns": p.columns,
        "schema_digest": schema_digest(p.columns),
        "row_count": p.row_count,
    }
