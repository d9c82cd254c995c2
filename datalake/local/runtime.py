"""The local stand-in for Lambda event-source mappings.

It polls the arrivals queue and the catalog table's stream and calls the *same* handler functions
that run in Lambda, with real SQS and DynamoDB-stream event shapes, honouring their contracts:
- SQS: messages a handler reports in ``batchItemFailures`` (or every message of a batch whose
  handler raised) are not deleted: they stay invisible, then come back. Lambda leaves them for the
  queue's whole visibility timeout; locally that is shortened to an exponential backoff capped by
  it (``DATALAKE_LOCAL_RETRY_BACKOFF``; 0 keeps AWS's behaviour). Retries are bounded by the
  queue's redrive policy: the endpoint moves a message to the DLQ once it has been received
  ``maxReceiveCount`` times, exactly as SQS does. Successful messages are deleted in one batch.
- Streams: records are delivered in order per shard; a reported failure is retried from that
  sequence number up to ``stream_max_retries`` times, then sent to the on-failure queue and skipped.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from datalake_base import aws
from datalake.local.context import LocalContext
from datalake_base.observability import logger
from datalake_base.settings import Settings

Handler = Callable[[dict[str, Any], Any], Any]
log = logger()


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS mapping builds from ReceiveMessage output."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def stream_event(records: list[dict[str, Any]], stream_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's DynamoDB-stream mapping builds from GetRecords output."""
    out = []
    for r in records:
        ddb = dict(r["dynamodb"])
        ts = ddb.get("ApproximateCreationDateTime")
        if isinstance(ts, datetime):
            ddb["ApproximateCreationDateTime"] = int(ts.timestamp())
        out.append({
            "eventID": r.get("eventID", uuid.uuid4().hex),
            "eventName": r["eventName"],
            "eventVersion": r.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": region,
            "dynamodb": ddb,
            "eventSourceARN": stream_arn,
        })
    return {"Records": out}


def _failed_ids(response: Any) -> set[str]:
    if isinstance(response, dict):
        return {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    return set()


def retry_delay(message: dict[str, Any], base_s: float, visibility_timeout_s: int) -> int:
    """Seconds a failed message stays invisible: base * 2^(receives-1), at most the visibility timeout."""
    count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
    return int(max(1, min(visibility_timeout_s, round(base_s * 2 ** (count - 1)))))


SQS_BATCH_SIZE = 10  # the template's BatchSize for the arrivals queue
SHARD_REFRESH_S = 10.0
STREAM_BATCH_SIZE = 100  # the template's BatchSize for both stream mappings


class SqsMapping(threading.Thread):
    def __init__(self, settings: Settings, queue_url: str, handler: Handler, stop: threading.Event, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.settings, self.queue_url, self.handler, self.stop_event = settings, queue_url, handler, stop
        self.sqs = aws.client("sqs", settings)
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll_once()
            except Exception:  # the runtime must keep going whatever one poll does
                log.exception("SQS poll failed; retrying")
                self.stop_event.wait(1)

    def _receive(self, n: int, wait_s: int) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=n, WaitTimeSeconds=wait_s,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])

    def poll_once(self) -> int:
        messages = self._receive(SQS_BATCH_SIZE, self.settings.poll_wait_s)
        if not messages:
            return 0
        # Lambda's MaximumBatchingWindowInSeconds: a batch that is not full waits a little for more,
        # so a burst becomes a few full invocations rather than many small ones.
        deadline = time.monotonic() + self.settings.local_sqs_batch_window_s
        while len(messages) < SQS_BATCH_SIZE and time.monotonic() < deadline and not self.stop_event.is_set():
            more = self._receive(SQS_BATCH_SIZE - len(messages), 0)
            if more:
                messages += more
            else:
                self.stop_event.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        event = sqs_event(messages, self.queue_arn, self.settings.region)
        try:
            failed = _failed_ids(self.handler(event, LocalContext("datalake-ingest", region=self.settings.region)))
        except Exception:
            log.exception("ingestion handler raised; the whole batch will be retried")
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        base = self.settings.local_retry_backoff_s
        retry = [m for m in messages if m["MessageId"] in failed]
        if retry and base > 0:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"],
                          "VisibilityTimeout": retry_delay(m, base, self.settings.visibility_timeout_s)}
                         for i, m in enumerate(retry)],
            )
        if retry:
            log.warning("messages left on the queue for retry", extra={"count": len(retry), "message_ids": sorted(failed)})
        return len(messages)


class StreamMapping(threading.Thread):
    def __init__(self, settings: Settings, stream_arn: str, handler: Handler, stop: threading.Event, dlq_url: str,
                 function: str = "datalake-indexer") -> None:
        super().__init__(name=f"stream-mapping-{function}", daemon=True)
        self.function = function
        self.settings, self.stream_arn, self.handler, self.stop_event = settings, stream_arn, handler, stop
        self.streams = aws.client("dynamodbstreams", settings)
        self.sqs = aws.client("sqs", settings)
        self.dlq_url = dlq_url
        self.iterators: dict[str, str | None] = {}
        self.checkpoints: dict[str, str] = {}  # last sequence number delivered, per shard
        # Records read but not yet delivered, per shard, and when the first of them was read: Lambda's
        # MaximumBatchingWindowInSeconds (one invocation per window or per full batch, not per read).
        self.buffered: dict[str, list[dict[str, Any]]] = {}
        self._buffered_since: dict[str, float] = {}
        self.idle = threading.Event()
        self._shards_checked = 0.0

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                read = self.poll_once()
                if read == 0 and not any(self.buffered.values()):
                    self.idle.set()
                    self.stop_event.wait(0.2)
                else:
                    self.idle.clear()
                    if read < STREAM_BATCH_SIZE:  # nothing more waiting: let the window gather records
                        self.stop_event.wait(min(0.2, self.settings.local_stream_batch_window_s))
            except Exception:
                log.exception("stream poll failed; retrying")
                self.stop_event.wait(1)
        try:
            self.poll_once()  # the stop event is set: what the window still holds is delivered now
        except Exception:
            log.exception("stream records held in the batching window were not delivered at stop")

    def _refresh_shards(self) -> None:
        # Shards change rarely (splits, table re-creation); describing the stream on every poll
        # would double the endpoint's load for nothing.
        if self.iterators and time.monotonic() - self._shards_checked < SHARD_REFRESH_S:
            return
        self._shards_checked = time.monotonic()
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            sid = shard["ShardId"]
            if sid not in self.iterators:
                self.iterators[sid] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def poll_once(self) -> int:
        self._refresh_shards()
        total = 0
        for sid, it in list(self.iterators.items()):
            if it is None:
                continue
            try:
                resp = self.streams.get_records(ShardIterator=it, Limit=STREAM_BATCH_SIZE)
            except Exception:
                # An expired or lost iterator: resume after the last record delivered, as Lambda
                # resumes from its checkpoint, so nothing is skipped or delivered twice.
                log.warning("shard iterator failed; resuming from the checkpoint", extra={"shard": sid})
                self.buffered.pop(sid, None)  # read again from the checkpoint
                self.iterators[sid] = self._iterator_after(sid)
                continue
            records = resp.get("Records", [])
            self.iterators[sid] = resp.get("NextShardIterator")
            total += len(records)
            if records and not self.buffered.get(sid):
                self._buffered_since[sid] = time.monotonic()
            buffer = self.buffered.setdefault(sid, [])
            buffer += records
            window = self.settings.local_stream_batch_window_s
            while buffer and (len(buffer) >= STREAM_BATCH_SIZE or time.monotonic() - self._buffered_since[sid] >= window
                              or self.stop_event.is_set()):
                batch, buffer[:] = buffer[:STREAM_BATCH_SIZE], buffer[STREAM_BATCH_SIZE:]
                self._deliver(sid, batch)
                self.checkpoints[sid] = batch[-1]["dynamodb"]["SequenceNumber"]
        return total

    def _iterator_after(self, shard_id: str) -> str:
        seq = self.checkpoints.get(shard_id)
        extra = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": seq} if seq else {
            "ShardIteratorType": "TRIM_HORIZON"}
        return self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **extra)["ShardIterator"]

    def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        pending = records
        for attempt in range(self.settings.stream_max_retries + 1):
            event = stream_event(pending, self.stream_arn, self.settings.region)
            try:
                failed = _failed_ids(self.handler(event, LocalContext(self.function, region=self.settings.region)))
            except Exception:
                log.exception("stream handler raised; retrying the batch", extra={"function": self.function})
                failed = {r["dynamodb"]["SequenceNumber"] for r in pending}
            if not failed:
                return
            # As Lambda does with ReportBatchItemFailures: resume from the lowest failed sequence number.
            first = min(int(s) for s in failed)
            pending = [r for r in pending if int(r["dynamodb"]["SequenceNumber"]) >= first]
            time.sleep(min(2.0, 0.1 * 2 ** attempt))
        self.sqs.send_message(
            QueueUrl=self.dlq_url,
            MessageBody=json.dumps({
                "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.function},
                "DDBStreamBatchInfo": {
                    "shardId": shard_id, "streamArn": self.stream_arn, "batchSize": len(pending),
                    "startSequenceNumber": pending[0]["dynamodb"]["SequenceNumber"],
                    "endSequenceNumber": pending[-1]["dynamodb"]["SequenceNumber"],
                },
            }),
        )
        log.error("stream records sent to the on-failure queue after retries", extra={"count": len(pending)})


def scheduled_event(rule: str, region: str) -> dict[str, Any]:
    """The event an EventBridge schedule rule sends to its target."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "000000000000", "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region, "resources": [f"arn:aws:events:{region}:000000000000:rule/{rule}"], "detail": {},
    }


class ScheduleMapping(threading.Thread):
    """Invokes a handler on a fixed rate, as an EventBridge schedule rule does."""

    def __init__(self, settings: Settings, handler: Handler, stop: threading.Event, interval_s: float, rule: str) -> None:
        super().__init__(name=f"schedule-{rule}", daemon=True)
        self.settings, self.handler, self.stop_event, self.interval_s, self.rule = settings, handler, stop, interval_s, rule

    def run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            try:
                self.handler(scheduled_event(self.rule, self.settings.region),
                             LocalContext(self.rule, region=self.settings.region, timeout_s=900))
            except Exception:  # a schedule target failing must not stop the runtime
                log.exception("scheduled handler failed; it runs again at the next tick", extra={"rule": self.rule})


class Runtime:
    """Starts the event-source mappings; ``stop()`` ends them.

    ``trigger`` is the stream's second consumer (Lambda allows two mappings per stream): the
    pipeline's change marker. ``workers`` are other services with start()/stop(timeout), such as
    the pipeline's due poller and executor pool.
    """

    def __init__(self, settings: Settings, queue_url: str, stream_arn: str,
                 ingest: Handler, index: Handler, reconcile: Handler | None = None,
                 trigger: Handler | None = None, workers: list[Any] | None = None) -> None:
        self.stop_event = threading.Event()
        dlq_url = aws.client("sqs", settings).get_queue_url(QueueName=settings.indexer_dlq)["QueueUrl"]
        self.sqs = [
            SqsMapping(settings, queue_url, ingest, self.stop_event, name=f"sqs-mapping-{i}")
            for i in range(settings.local_concurrency)
        ]
        self.stream = StreamMapping(settings, stream_arn, index, self.stop_event, dlq_url)
        self.streams = [self.stream] + ([StreamMapping(settings, stream_arn, trigger, self.stop_event, dlq_url,
                                                       function="datalake-pipeline-trigger")] if trigger else [])
        self.workers = list(workers or [])
        self.schedules = [ScheduleMapping(settings, reconcile, self.stop_event, settings.reconcile_interval_s,
                                          "datalake-reconcile")] if reconcile and settings.reconcile_interval_s else []

    def start(self) -> None:
        for t in [*self.sqs, *self.streams, *self.schedules]:
            t.start()
        for w in self.workers:
            w.start()

    def stop(self, timeout: float = 5) -> None:
        self.stop_event.set()
        for w in self.workers:  # runs in flight finish (bounded by their own steps), queued ones are cancelled
            w.stop(timeout)
        for t in [*self.sqs, *self.streams, *self.schedules]:
            t.join(timeout)
            if t.is_alive():
                log.warning("a mapping did not stop in time", extra={"thread": t.name, "timeout_s": timeout})
