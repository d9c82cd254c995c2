"""Queues: messages still waiting (arrivals) or dead-lettered (arrivals DLQ) are received, saved and
sent again on restore. Receive counts and message ids are the queue's to assign, so they restart.

Messages stay on the queue, invisible, while the export runs, and are made visible again after it,
so a failed `datalake down` leaves the running lake exactly as it was.
"""

from __future__ import annotations

import time
from typing import Any

from datalake.local.snapshot._format import Progress, SnapshotReader, SnapshotWriter, b64, unb64

HOLD_S = 900  # received messages stay invisible this long while the export finishes (released after)


class Drained:
    """Messages received from one queue, and how to give them back if the export fails."""

    def __init__(self, sqs: Any, url: str) -> None:
        self.sqs, self.url = sqs, url
        self.messages: dict[str, dict[str, Any]] = {}

    def release(self) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                   for i, m in enumerate(self.messages.values())]
        for i in range(0, len(entries), 10):
            try:
                self.sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=entries[i:i + 10])
            except Exception:  # best effort: the messages come back after HOLD_S anyway
                pass


def _not_visible(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    return int(attrs["Attributes"].get("ApproximateNumberOfMessagesNotVisible", 0))


def drain(sqs: Any, queue: str, wait_s: float, progress: Progress) -> tuple[Drained, int]:
    """Receive every message of ``queue``; messages in flight (invisible after a failed attempt)
    are waited for up to ``wait_s``. Returns the messages and how many were still in flight."""
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    d = Drained(sqs, url)
    deadline = time.monotonic() + wait_s
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=HOLD_S,
                                    AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        for m in batch:
            d.messages.setdefault(m["MessageId"], m)
        if batch:
            progress(f"saving queue {queue}", len(d.messages), len(d.messages))
            continue
        in_flight = max(0, _not_visible(sqs, url) - len(d.messages))
        if in_flight == 0 or time.monotonic() >= deadline:
            return d, in_flight
        time.sleep(0.5)


def _attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, a in attrs.items():
        v: dict[str, Any] = {"DataType": a["DataType"]}
        if "StringValue" in a:
            v["StringValue"] = a["StringValue"]
        if "BinaryValue" in a:
            v["BinaryValue"] = {"b64": b64(a["BinaryValue"])}
        out[name] = v
    return out


def save(d: Drained, queue: str, w: SnapshotWriter) -> int:
    rows = ({"body": m["Body"], "message_attributes": _attributes(m.get("MessageAttributes", {})),
             "sent_timestamp": m.get("Attributes", {}).get("SentTimestamp"),
             "receive_count": m.get("Attributes", {}).get("ApproximateReceiveCount")}
            for m in d.messages.values())
    return w.jsonl(f"sqs/{queue}.jsonl", rows)


def restore_queue(sqs: Any, queue: str, r: SnapshotReader, progress: Progress) -> int:
    rows = list(r.jsonl(f"sqs/{queue}.jsonl"))
    if not rows:
        return 0
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for i in range(0, len(rows), 10):
        entries = []
        for j, row in enumerate(rows[i:i + 10]):
            attrs = {k: ({**v, "BinaryValue": unb64(v["BinaryValue"]["b64"])} if "BinaryValue" in v else v)
                     for k, v in row["message_attributes"].items()}
            entries.append({"Id": str(j), "MessageBody": row["body"], **({"MessageAttributes": attrs} if attrs else {})})
        failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed") or []
        if failed:
            raise RuntimeError(f"SQS refused {len(failed)} message(s) for {queue}: {failed[0].get('Message', failed[0])}")
        progress(f"restoring queue {queue}", min(i + 10, len(rows)), len(rows))
    return len(rows)
