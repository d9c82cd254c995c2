"""Buckets: every object (every version and delete marker when the bucket is versioned), with its
metadata, content headers and tags, through GetObject/PutObject.

ETags are kept: the catalog stores them and `datalake reconcile` compares them. A single-part
object gets its MD5 ETag back from PutObject; a multipart one (``<md5>-<parts>``, e.g. from
`aws s3 cp` of a file over 8 MiB) is uploaded again in parts of the size that reproduces its ETag,
found among the usual client part sizes. Version ids and LastModified are new after a restore
(S3 assigns them), which is why the catalog's version-less sort keys of unversioned buckets matter.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from datalake.local.snapshot._format import CHUNK, Progress, SnapshotReader, SnapshotWriter

HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl")
MiB = 1024 * 1024
PART_SIZES = (8 * MiB, 5 * MiB, 16 * MiB, 10 * MiB, 15 * MiB, 25 * MiB, 32 * MiB, 50 * MiB, 64 * MiB, 100 * MiB, 128 * MiB)


def _listing(s3: Any, bucket: str, versioned: bool) -> list[dict[str, Any]]:
    """Entries in the order to replay them: per key, oldest version first."""
    out: list[dict[str, Any]] = []
    if not versioned:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            out += [{"key": o["Key"], "version_id": None, "delete_marker": False} for o in page.get("Contents", [])]
        return out
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for kind, marker in (("Versions", False), ("DeleteMarkers", True)):
            for i, v in enumerate(page.get(kind, [])):
                out.append({"key": v["Key"], "version_id": v.get("VersionId"), "delete_marker": marker,
                            "is_latest": v.get("IsLatest", False), "_when": v["LastModified"], "_i": -i})
    # listings are newest first per key; IsLatest breaks a tie in LastModified (1 s resolution)
    out.sort(key=lambda e: (e["key"], e["_when"], e["is_latest"], e["_i"]))
    for e in out:
        del e["_when"], e["_i"]
    return out


def export_bucket(s3: Any, bucket: str, w: SnapshotWriter, progress: Progress) -> dict[str, Any]:
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")  # None, Enabled or Suspended
    entries = _listing(s3, bucket, versioned=versioning is not None)
    base = f"s3/{bucket}"
    total_bytes = 0
    for n, e in enumerate(entries, 1):
        if not e["delete_marker"]:
            ver = {"VersionId": e["version_id"]} if e["version_id"] else {}
            obj = s3.get_object(Bucket=bucket, Key=e["key"], **ver)
            blob = f"blobs/{n:08d}"
            path = w.path(f"{base}/{blob}")
            h = hashlib.sha256()
            with path.open("wb") as f:
                for chunk in obj["Body"].iter_chunks(CHUNK):
                    h.update(chunk)
                    f.write(chunk)
            e.update({
                "blob": blob, "size": path.stat().st_size, "sha256": h.hexdigest(), "etag": obj.get("ETag", "").strip('"'),
                "metadata": obj.get("Metadata", {}), "headers": {k: obj[k] for k in HEADERS if obj.get(k)},
                "tags": s3.get_object_tagging(Bucket=bucket, Key=e["key"], **ver).get("TagSet", []),
                "last_modified": obj.get("LastModified"),
            })
            total_bytes += e["size"]
        progress(f"saving s3://{bucket}", n, len(entries))
    w.jsonl(f"{base}/bucket.jsonl", [{"bucket": bucket, "versioning": versioning}])
    w.jsonl(f"{base}/objects.jsonl", entries)
    markers = sum(1 for e in entries if e["delete_marker"])
    return {"versioning": versioning, "entries": len(entries), "delete_markers": markers,
            "current_objects": sum(1 for e in entries if not e["delete_marker"] and e.get("is_latest", True)),
            "bytes": total_bytes}


def restore_bucket(s3: Any, bucket: str, r: SnapshotReader, progress: Progress) -> int:
    base = f"s3/{bucket}"
    info = next(r.jsonl(f"{base}/bucket.jsonl"), {"versioning": None})
    if info.get("versioning"):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    entries = list(r.jsonl(f"{base}/objects.jsonl"))
    for n, e in enumerate(entries, 1):
        if e["delete_marker"]:
            s3.delete_object(Bucket=bucket, Key=e["key"])
        else:
            _put(s3, bucket, e, r.root / base / e["blob"])
        progress(f"restoring s3://{bucket}", n, len(entries))
    if info.get("versioning") == "Suspended":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    return len(entries)


def _put(s3: Any, bucket: str, e: dict[str, Any], path: Path) -> None:
    extra: dict[str, Any] = {"Metadata": e.get("metadata") or {}, **(e.get("headers") or {})}
    if e.get("tags"):
        extra["Tagging"] = urlencode([(t["Key"], t["Value"]) for t in e["tags"]])
    parts = _multipart_count(e.get("etag", ""))
    if parts is None:
        with path.open("rb") as f:
            s3.put_object(Bucket=bucket, Key=e["key"], Body=f, **extra)
        return
    size = _part_size(path, e["size"], parts, e["etag"])
    upload = s3.create_multipart_upload(Bucket=bucket, Key=e["key"], **extra)["UploadId"]
    try:
        done = []
        with path.open("rb") as f:
            for number in range(1, parts + 1):
                body = f.read(size)
                etag = s3.upload_part(Bucket=bucket, Key=e["key"], UploadId=upload, PartNumber=number, Body=body)["ETag"]
                done.append({"PartNumber": number, "ETag": etag})
        s3.complete_multipart_upload(Bucket=bucket, Key=e["key"], UploadId=upload, MultipartUpload={"Parts": done})
    except Exception:
        s3.abort_multipart_upload(Bucket=bucket, Key=e["key"], UploadId=upload)
        raise


def _multipart_count(etag: str) -> int | None:
    _, sep, count = etag.partition("-")
    return int(count) if sep and count.isdigit() else None


def _part_size(path: Path, size: int, parts: int, etag: str) -> int:
    """The part size whose multipart ETag equals ``etag``; the even split when none does."""
    even = max(1, math.ceil(size / parts))
    for candidate in (*PART_SIZES, even, math.ceil(even / MiB) * MiB):
        if math.ceil(size / candidate) == parts and _multipart_etag(path, candidate) == etag:
            return candidate
    return even


def _multipart_etag(path: Path, part_size: int) -> str:
    digests = b""
    with path.open("rb") as f:
        while chunk := f.read(part_size):
            digests += hashlib.md5(chunk).digest()  # noqa: S324 - S3's ETag algorithm, not security
    return f"{hashlib.md5(digests).hexdigest()}-{len(digests) // 16}"  # noqa: S324


