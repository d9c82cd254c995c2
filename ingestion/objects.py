"""S3 access for arrivals, behind one adapter taking an injected client.

Everything the arrival path learns about the bucket goes through here: a ranged GET that doubles
as HEAD (size, ETag, metadata, tag count and the first bytes in one request), streaming reads for
row counts, ranged reads for Parquet footers, version listings and bucket listings for reconcile.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchVersion", "405", "MethodNotAllowed"}
# A bucket seen unversioned is asked again after this long; one seen versioned stays versioned
# (versioning can be suspended, never removed).
VERSIONING_TTL_S = 60.0


@dataclass(frozen=True)
class Observed:
    """What the bucket holds for one key (or one version of it) right now."""

    bucket: str
    key: str
    size: int
    etag: str
    last_modified: str
    version_id: str | None
    content_type: str | None
    metadata: dict[str, str]
    tag_count: int
    head: bytes = field(repr=False)

    @property
    def complete(self) -> bool:
        return len(self.head) >= self.size


@dataclass(frozen=True)
class VersionInfo:
    key: str
    version_id: str
    is_latest: bool
    delete_marker: bool
    size: int = 0
    etag: str | None = None
    last_modified: str | None = None


def _vid(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in NOT_FOUND


class ObjectReader:
    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self._versioned: dict[str, tuple[bool, float]] = {}

    def observe(self, bucket: str, key: str, version_id: str | None, head_bytes: int) -> Observed | None:
        """The object's current state and first ``head_bytes`` bytes, or None when it (or the version) is gone."""
        try:
            r = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{head_bytes - 1}", **_vid(version_id))
        except ClientError as exc:
            if _missing(exc):
                return None
            if exc.response.get("Error", {}).get("Code") != "InvalidRange":
                raise
            # A zero-byte object has no byte 0: fall back to HEAD.
            try:
                r = self.s3.head_object(Bucket=bucket, Key=key, **_vid(version_id))
            except ClientError as exc2:
                if _missing(exc2):
                    return None
                raise
            r = {**r, "Body": io.BytesIO(b"")}
        content_range = r.get("ContentRange")
        size = int(content_range.rsplit("/", 1)[1]) if content_range else int(r["ContentLength"])
        vid = r.get("VersionId")
        return Observed(
            bucket=bucket, key=key, size=size, etag=str(r["ETag"]).strip('"'),
            last_modified=r["LastModified"].isoformat(), version_id=vid if vid not in (None, "null") else None,
            content_type=r.get("ContentType"), metadata=dict(r.get("Metadata") or {}),
            tag_count=int(r.get("TagCount") or 0), head=r["Body"].read(),
        )

    def read_head(self, obs: Observed, n: int) -> bytes:
        """The first ``n`` bytes of exactly the object ``obs`` saw (same version or ETag, or nothing)."""
        cond = {"VersionId": obs.version_id} if obs.version_id else {"IfMatch": obs.etag}
        r = self.s3.get_object(Bucket=obs.bucket, Key=obs.key, Range=f"bytes=0-{n - 1}", **cond)
        return r["Body"].read()

    def tags(self, bucket: str, key: str, version_id: str | None) -> dict[str, str]:
        try:
            tagset = self.s3.get_object_tagging(Bucket=bucket, Key=key, **_vid(version_id))["TagSet"]
        except ClientError as exc:
            if _missing(exc):
                return {}
            raise
        return {t["Key"]: t["Value"] for t in tagset}

    def stream(self, bucket: str, key: str, version_id: str | None) -> Any:
        """The whole object as a streaming, file-like body (read in chunks, never held whole)."""
        return self.s3.get_object(Bucket=bucket, Key=key, **_vid(version_id))["Body"]

    def range_file(self, obs: Observed) -> io.BufferedReader:
        return io.BufferedReader(S3RangeReader(self.s3, obs.bucket, obs.key, obs.size, obs.version_id), buffer_size=1 << 20)

    # --- versions ------------------------------------------------------------------------------
    def is_versioned(self, bucket: str) -> bool:
        cached = self._versioned.get(bucket)
        if cached and (cached[0] or time.monotonic() - cached[1] < VERSIONING_TTL_S):
            return cached[0]
        status = self.s3.get_bucket_versioning(Bucket=bucket).get("Status")
        versioned = status in ("Enabled", "Suspended")
        self._versioned[bucket] = (versioned, time.monotonic())
        return versioned

    def versions(self, bucket: str, key: str) -> list[VersionInfo]:
        """Every version and delete marker of exactly ``key`` (the listing is by prefix)."""
        return [v for v in self.list_versions(bucket, key) if v.key == key]

    def list_versions(self, bucket: str, prefix: str = "") -> Iterator[VersionInfo]:
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for v in page.get("Versions", []):
                yield VersionInfo(v["Key"], v["VersionId"], v["IsLatest"], False, int(v["Size"]),
                                  str(v["ETag"]).strip('"'), v["LastModified"].isoformat())
            for m in page.get("DeleteMarkers", []):
                yield VersionInfo(m["Key"], m["VersionId"], m["IsLatest"], True,
                                  last_modified=m["LastModified"].isoformat())

    def list_objects(self, bucket: str, prefix: str = "", delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        extra = {"Delimiter": delimiter} if delimiter else {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **extra):
            for o in page.get("Contents", []):
                yield {"key": o["Key"], "size": int(o["Size"]), "etag": str(o["ETag"]).strip('"'),
                       "last_modified": o["LastModified"].isoformat()}


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
        r = self.s3.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={self.pos}-{end - 1}", **_vid(self.version_id))
        data = r["Body"].read()
        self.pos += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)
