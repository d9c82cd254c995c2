"""Unwrap every envelope an S3 arrival can come in, into plain ``ObjectEvent`` values.

Shapes accepted (BRIEF §3): direct S3 notification (``Records[].s3``), SQS-wrapped (``body`` is
that JSON), SNS→SQS (``body`` is an SNS envelope whose ``Message`` is the JSON; raw delivery
strips the envelope), and EventBridge ("Object Created" / "Object Deleted"), directly or via SQS.
``s3:TestEvent`` yields no events. Parsing is tolerant: the local endpoint omits ``sequencer``,
``userIdentity`` and ``requestParameters``, which Powertools' strict models reject.

Keys are form-URL-encoded in every shape (EventBridge included, see docs/arrivals.md) and are
decoded exactly once, here; nothing downstream decodes again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus

from ingestion.exceptions import EventShapeError

EventKind = Literal["created", "removed"]
Source = Literal["s3", "sqs", "sns", "eventbridge"]


@dataclass(frozen=True)
class ObjectEvent:
    kind: EventKind
    bucket: str
    key: str  # decoded exactly once
    event_name: str
    event_time: str
    source: Source
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    delete_marker: bool = False
    request_id: str | None = None
    via_sqs: bool = False  # an EventBridge event delivered through an SQS target

    @property
    def correlation_id(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def decode_key(raw: str) -> str:
    """S3 notifications form-URL-encode keys (`+` for space, `%2B` for `+`); decode exactly once."""
    try:
        return unquote_plus(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise EventShapeError(
            f"object key {raw!r} does not decode as form-URL-encoded UTF-8 ({exc.reason}); "
            "the event was not produced by S3 or was decoded twice upstream"
        ) from exc


def _s3_records(doc: Mapping[str, Any], source: Source) -> list[ObjectEvent]:
    if doc.get("Event") == "s3:TestEvent" or doc.get("Service") == "Amazon S3" and "Records" not in doc:
        return []
    records = doc.get("Records")
    if not isinstance(records, list):
        raise EventShapeError(f"expected 'Records' to be a list in S3 notification, got {type(records).__name__}")
    out: list[ObjectEvent] = []
    for rec in records:
        name = str(rec.get("eventName", ""))
        s3 = rec.get("s3") or {}
        obj = s3.get("object") or {}
        bucket = (s3.get("bucket") or {}).get("name")
        if not bucket or "key" not in obj:
            raise EventShapeError(f"S3 record without bucket name or object key: eventName={name!r}")
        if name.startswith("ObjectCreated"):
            kind: EventKind = "created"
        elif name.startswith(("ObjectRemoved", "LifecycleExpiration")):
            kind = "removed"
        else:
            continue  # restore, replication, lifecycle transitions: nothing to catalogue
        out.append(
            ObjectEvent(
                kind=kind,
                bucket=bucket,
                key=decode_key(obj["key"]),
                event_name=name,
                event_time=str(rec.get("eventTime", "")),
                source=source,
                size=obj.get("size"),
                etag=obj.get("eTag"),
                version_id=obj.get("versionId"),
                sequencer=obj.get("sequencer"),
                delete_marker=name.endswith("DeleteMarkerCreated"),
                request_id=(rec.get("responseElements") or {}).get("x-amz-request-id"),
            )
        )
    return out


def _eventbridge(doc: Mapping[str, Any], source: Source) -> list[ObjectEvent]:
    detail_type = doc.get("detail-type")
    detail = doc.get("detail") or {}
    obj = detail.get("object") or {}
    bucket = (detail.get("bucket") or {}).get("name")
    if detail_type not in ("Object Created", "Object Deleted"):
        return []
    if not bucket or "key" not in obj:
        raise EventShapeError(f"EventBridge {detail_type!r} event without bucket name or object key")
    kind: EventKind = "created" if detail_type == "Object Created" else "removed"
    return [
        ObjectEvent(
            kind=kind,
            bucket=bucket,
            key=decode_key(str(obj["key"])),
            event_name=f"{detail_type}:{detail.get('reason', '')}",
            event_time=str(doc.get("time", "")),
            source="eventbridge",
            via_sqs=source != "s3",
            size=obj.get("size"),
            etag=obj.get("etag"),
            version_id=obj.get("version-id"),
            sequencer=obj.get("sequencer"),
            delete_marker=detail.get("deletion-type") == "Delete Marker Created",
            request_id=detail.get("request-id"),
        )
    ]


def parse_document(doc: Any, source: Source = "s3") -> list[ObjectEvent]:
    """Events in one decoded notification document of any supported shape."""
    if isinstance(doc, str):
        doc = _loads(doc, "event")
    if not isinstance(doc, Mapping):
        raise EventShapeError(f"expected a JSON object, got {type(doc).__name__}")
    if doc.get("Type") == "Notification" and "Message" in doc:  # SNS envelope (raw delivery strips it)
        return parse_document(_loads(doc["Message"], "SNS Message"), "sns")
    if "Records" in doc and doc["Records"] and isinstance(doc["Records"], list) and "Sns" in doc["Records"][0]:
        # SNS straight to Lambda: each record carries one envelope.
        return [ev for r in doc["Records"] for ev in parse_document(_loads(r["Sns"]["Message"], "SNS Message"), "sns")]
    if "detail-type" in doc and doc.get("source") == "aws.s3":
        return _eventbridge(doc, source)
    if "Records" in doc or doc.get("Event") == "s3:TestEvent":
        return _s3_records(doc, source)
    raise EventShapeError(
        f"unrecognised event shape with keys {sorted(doc)[:8]}; expected S3 'Records', an SNS envelope "
        "or an EventBridge 'aws.s3' event"
    )


def _loads(text: Any, what: str) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventShapeError(f"{what} is not JSON ({exc.msg} at position {exc.pos}): {text[:80]!r}") from exc


def parse_sqs_body(body: Any) -> list[ObjectEvent]:
    """Events in one SQS message body: an S3 notification, an SNS envelope or an EventBridge event."""
    return parse_document(_loads(body, "SQS body"), "sqs")


def is_sqs_batch(event: Mapping[str, Any]) -> bool:
    records = event.get("Records")
    return isinstance(records, list) and bool(records) and records[0].get("eventSource") == "aws:sqs"
