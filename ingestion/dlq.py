"""The arrivals dead-letter queue: look at what failed, and send it back once the cause is fixed.

Redrive moves each message body (and its attributes) to the source queue, then deletes it from the
DLQ; a message is never deleted before its copy is sent, so an interruption duplicates rather than
loses (arrivals are idempotent, duplicates are harmless).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from ingestion.events import parse_sqs_body
from ingestion.exceptions import IngestionError, QueueNotFound

PEEK_VISIBILITY_S = 30


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receive_count: int
    sent_at: str
    objects: list[str]
    error: str | None
    body: str

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def queue_url(sqs: Any, name: str) -> str:
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if "NonExistentQueue" in exc.response.get("Error", {}).get("Code", ""):
            raise QueueNotFound(name) from exc
        raise


def _describe(m: dict[str, Any]) -> DeadLetter:
    attrs = m.get("Attributes", {})
    sent = attrs.get("SentTimestamp")
    sent_at = datetime.fromtimestamp(int(sent) / 1000, timezone.utc).isoformat() if sent else ""
    try:
        objects, error = [ev.correlation_id for ev in parse_sqs_body(m["Body"])], None
    except IngestionError as exc:
        objects, error = [], str(exc)
    return DeadLetter(m["MessageId"], int(attrs.get("ApproximateReceiveCount", 0)), sent_at, objects, error, m["Body"])


def _receive(sqs: Any, url: str, visibility: int) -> list[dict[str, Any]]:
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=visibility,
                               AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])


def list_dead_letters(sqs: Any, dlq_url: str, limit: int = 100) -> list[DeadLetter]:
    """Peek at up to ``limit`` messages; they are made visible again straight after."""
    seen: dict[str, dict[str, Any]] = {}
    try:
        while len(seen) < limit:
            batch = [m for m in _receive(sqs, dlq_url, PEEK_VISIBILITY_S) if m["MessageId"] not in seen]
            if not batch:
                break
            for m in batch:
                seen[m["MessageId"]] = m
    finally:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(seen.values())]
        for i in range(0, len(entries), 10):
            sqs.change_message_visibility_batch(QueueUrl=dlq_url, Entries=entries[i:i + 10])
    return [_describe(m) for m in list(seen.values())[:limit]]


def redrive(sqs: Any, dlq_url: str, target_url: str, limit: int | None = None) -> int:
    """Move messages from the DLQ back to ``target_url``; returns how many moved."""
    moved = 0
    while limit is None or moved < limit:
        batch = _receive(sqs, dlq_url, PEEK_VISIBILITY_S)
        if limit is not None:
            batch = batch[: limit - moved]
        if not batch:
            break
        sent = sqs.send_message_batch(QueueUrl=target_url, Entries=[
            {"Id": str(i), "MessageBody": m["Body"],
             **({"MessageAttributes": m["MessageAttributes"]} if m.get("MessageAttributes") else {})}
            for i, m in enumerate(batch)
        ])
        ok = {int(s["Id"]) for s in sent.get("Successful", [])}
        done = [m for i, m in enumerate(batch) if i in ok]
        if done:
            sqs.delete_message_batch(QueueUrl=dlq_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        moved += len(done)
        if len(done) < len(batch):
            failed = sent.get("Failed", [])
            raise IngestionError(f"the source queue refused {len(failed)} message(s): {failed[:3]}; they stay in the DLQ")
    return moved
