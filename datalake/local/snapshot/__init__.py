"""Saving the local lake on `datalake down` and loading it on `datalake up`, through the AWS APIs.

The endpoint keeps everything in memory, so the daemon exports, before it stops the endpoint,
everything the lake owns: the landing and lake buckets (objects, versions, metadata, tags, content
headers, versioning state), the catalog and rules tables (Scan), the Glue database's tables and
partitions, and the messages still in the arrivals queue and its DLQ. On `up`, after provisioning
and before the runtime starts, the snapshot is verified in full and then applied: objects are
written with the landing bucket's notifications switched off (so nothing is ingested twice),
items with BatchWriteItem, Glue tables with CreateTable/BatchCreatePartition, messages with
SendMessageBatch. Layout (format version 1)::

    snapshot/manifest.json                    format, version, created_at, names, counts, files{path: bytes, sha256, records}
    snapshot/s3/<bucket>/bucket.jsonl         versioning state
    snapshot/s3/<bucket>/objects.jsonl        one line per version or delete marker, oldest first per key
    snapshot/s3/<bucket>/blobs/<n>            object bytes
    snapshot/dynamodb/<table>.jsonl           items as DynamoDB typed JSON (B/BS base64)
    snapshot/glue/<database>/tables.jsonl     TableInput
    snapshot/glue/<database>/partitions.jsonl {"table", "input": PartitionInput}
    snapshot/sqs/<queue>.jsonl                {"body", "message_attributes", ...}
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from datalake_base import aws
from datalake.local.snapshot import _dynamodb, _glue, _s3, _sqs
from datalake.local.snapshot._format import (
    MANIFEST, Progress, SnapshotReader, SnapshotWriter, leftovers, no_progress, snapshot_dir,
)
from datalake.local.snapshot.exceptions import FIX, CorruptSnapshot, RestoreFailed, SnapshotError
from datalake_base.settings import Settings

__all__ = [
    "CorruptSnapshot", "Progress", "RestoreFailed", "SnapshotError", "describe", "discard", "exists", "export_lake", "info",
    "restore_lake", "snapshot_dir",
]

NAME_FIELDS = ("landing_bucket", "lake_bucket", "catalog_table", "rules_table", "glue_database", "arrivals_queue",
               "arrivals_dlq")


def _names(settings: Settings) -> dict[str, str]:
    return {f: getattr(settings, f) for f in NAME_FIELDS}


def exists(settings: Settings) -> bool:
    """A snapshot (complete or not) is waiting in the state directory."""
    return snapshot_dir(settings.state_path).exists() or bool(leftovers(settings.state_path))


def info(settings: Settings) -> dict[str, Any] | None:
    """The manifest of the saved snapshot (unverified), or None; ``{"error": ...}`` if unreadable."""
    root = snapshot_dir(settings.state_path)
    if not exists(settings):
        return None
    try:
        return json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"error": f"{root / MANIFEST}: {exc}"}


def discard(settings: Settings) -> bool:
    """Delete the saved snapshot (and any interrupted one); returns whether there was one."""
    state = settings.state_path
    found = False
    for path in [snapshot_dir(state), *leftovers(state), *state.glob("snapshot.tmp-*")]:
        if path.exists():
            shutil.rmtree(path)
            found = True
    return found


def export_lake(settings: Settings, progress: Progress = no_progress, *,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the lake's state to ``<state>/snapshot`` (atomically replacing the previous one).

    Call it with the runtime stopped. The lake is left as it was: queue messages taken for the
    snapshot are made visible again, and on failure nothing on disk changes.
    """
    s3, ddb, glue, sqs = (aws.client(n, settings) for n in ("s3", "dynamodb", "glue", "sqs"))
    w = SnapshotWriter(settings.state_path)
    drained: list[_sqs.Drained] = []
    try:
        counts: dict[str, Any] = {"buckets": {}, "tables": {}, "queues": {}}
        warnings: list[str] = []
        for bucket in (settings.landing_bucket, settings.lake_bucket):
            counts["buckets"][bucket] = _s3.export_bucket(s3, bucket, w, progress)
        for table in (settings.catalog_table, settings.rules_table):
            counts["tables"][table] = _dynamodb.export_table(ddb, table, w, progress)
        counts["glue"] = _glue.export_database(glue, settings.glue_database, w, progress)
        # Arrivals first: receiving a message at its last allowed receive moves it to the DLQ.
        for queue in (settings.arrivals_queue, settings.arrivals_dlq):
            d, in_flight = _sqs.drain(sqs, queue, settings.snapshot_drain_wait_s, progress)
            drained.append(d)
            counts["queues"][queue] = _sqs.save(d, queue, w)
            if in_flight:
                warnings.append(f"{in_flight} message(s) of {queue} were in flight (waiting for a retry) and were not "
                                "saved; run `datalake reconcile` after `datalake up` to catalogue what they announced")
        # ``extra``: e.g. the endpoint journal's mark, so a replay skips what this snapshot holds.
        manifest = {"names": _names(settings), "counts": counts, "warnings": warnings, **(extra or {})}
        w.commit(manifest)
        return manifest
    except Exception:
        w.abort()
        raise
    finally:
        for d in drained:
            d.release()


def restore_lake(settings: Settings, progress: Progress = no_progress) -> dict[str, Any]:
    """Verify the saved snapshot in full, then apply it to a freshly provisioned, empty endpoint.

    Raises CorruptSnapshot before writing anything if a file is missing or damaged, and
    RestoreFailed if an API call fails part-way (the caller must then discard the endpoint).
    """
    state = settings.state_path
    root = snapshot_dir(state)
    if not root.exists():
        old = leftovers(state)
        raise SnapshotError(
            f"an interrupted `datalake down` left the previous snapshot in {old[0]}; rename it to {root} to restore "
            "it, or run `datalake down --discard` to start empty"
        )
    r = SnapshotReader(state)
    saved, current = r.manifest.get("names") or {}, _names(settings)
    if saved != current:
        diff = ", ".join(f"{k}: saved {saved.get(k)!r}, now {current[k]!r}" for k in current if saved.get(k) != current[k])
        raise SnapshotError(f"the snapshot in {root} was saved with other resource names ({diff}); set them back, "
                            f"or {FIX}")
    r.verify(progress)
    s3, ddb, glue, sqs = (aws.client(n, settings) for n in ("s3", "dynamodb", "glue", "sqs"))
    step = "switching off the landing bucket's notifications"
    try:
        notifications = s3.get_bucket_notification_configuration(Bucket=settings.landing_bucket)
        notifications.pop("ResponseMetadata", None)
        s3.put_bucket_notification_configuration(Bucket=settings.landing_bucket, NotificationConfiguration={})
        try:
            for bucket in (settings.landing_bucket, settings.lake_bucket):
                step = f"writing the objects of s3://{bucket}"
                _s3.restore_bucket(s3, bucket, r, progress)
        finally:
            step = "switching the landing bucket's notifications back on"
            s3.put_bucket_notification_configuration(Bucket=settings.landing_bucket,
                                                     NotificationConfiguration=notifications)
        for table in (settings.catalog_table, settings.rules_table):
            step = f"writing the items of {table}"
            _dynamodb.restore_table(ddb, table, r, progress)
        step = f"creating the tables of Glue database {settings.glue_database}"
        _glue.restore_database(glue, settings.glue_database, r, progress)
        for queue in (settings.arrivals_queue, settings.arrivals_dlq):
            step = f"sending the saved messages of {queue}"
            _sqs.restore_queue(sqs, queue, r, progress)
    except SnapshotError:
        raise
    except Exception as exc:
        raise RestoreFailed(root, step, exc) from exc
    return r.manifest


def describe(manifest: dict[str, Any]) -> str:
    """One line for the CLI: what a snapshot holds."""
    c = manifest.get("counts") or {}
    objects = sum(b.get("current_objects", 0) for b in (c.get("buckets") or {}).values())
    nbytes = sum(b.get("bytes", 0) for b in (c.get("buckets") or {}).values())
    items = sum((c.get("tables") or {}).values())
    queued = sum((c.get("queues") or {}).values())
    glue = c.get("glue") or {}
    return (f"{objects} object(s) ({nbytes} bytes), {items} table item(s), {glue.get('tables', 0)} Glue table(s), "
            f"{glue.get('partitions', 0)} partition(s), {queued} queued message(s)")
