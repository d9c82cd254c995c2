"""Lambda entry point for object arrivals: direct S3, SQS (with partial batch failures), SNS, EventBridge.

Thin on purpose: unwrap the envelope (``ingestion.events``), hand each object event to
``Arrivals.process`` and report what happened as logs and EMF metrics. A record that fails
(unknown shape, AWS error, a race lost too often) is reported in ``batchItemFailures`` so only it
is retried and, after the queue's ``maxReceiveCount``, dead-lettered. Quarantine is not a failure.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ingestion import components
from datalake_base.observability import logger, metrics, tracer
from datalake_base.settings import get_settings
from ingestion.events import ObjectEvent, is_sqs_batch, parse_document, parse_sqs_body
from ingestion.service import Outcome

log = logger()
_metrics = metrics()
_tracer = tracer()

_METRIC = {"ingested": "FilesIngested", "quarantined": "FilesQuarantined", "deleted": "FilesDeleted",
           "duplicate": "DuplicateEvents", "stale": "StaleEvents"}
_KEYS = ("bucket", "key", "version_id", "s3_request_id", "event_name", "correlation_id")


def _lag_ms(event_time: str) -> float | None:
    try:
        t = datetime.fromisoformat(event_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (datetime.now(timezone.utc) - t).total_seconds() * 1000


@_tracer.capture_method
def process_event(ev: ObjectEvent) -> Outcome:
    # Thread-safe keys: the local runtime runs several pollers in one process.
    log.thread_safe_append_keys(bucket=ev.bucket, key=ev.key, version_id=ev.version_id, s3_request_id=ev.request_id,
                                event_name=ev.event_name, correlation_id=ev.correlation_id)
    _tracer.put_annotation(key="object", value=ev.correlation_id)
    started = time.monotonic()
    try:
        outcome = components.cached_arrivals().process(ev)
        _metrics.add_metric(name=_METRIC[outcome.status], unit=MetricUnit.Count, value=1)
        _metrics.add_metric(name="IngestLatency", unit=MetricUnit.Milliseconds, value=(time.monotonic() - started) * 1000)
        lag = _lag_ms(ev.event_time)
        if lag is not None and outcome.status in ("ingested", "quarantined"):
            _metrics.add_metric(name="ArrivalToCatalogLatency", unit=MetricUnit.Milliseconds, value=max(0.0, lag))
        log.info("object processed", extra={"status": outcome.status, "dataset": outcome.dataset, "reason": outcome.reason})
        return outcome
    except Exception:
        _metrics.add_metric(name="ArrivalFailures", unit=MetricUnit.Count, value=1)
        log.exception("object event failed; it will be retried")
        raise
    finally:
        log.thread_safe_remove_keys(list(_KEYS))


def _sqs_record(record: SQSRecord) -> list[str]:
    events = parse_sqs_body(record.body)
    if not events:
        log.info("no object events in message (s3:TestEvent or an ignored event type); skipped",
                 extra={"message_id": record.message_id})
    statuses = []
    for ev in events:
        try:
            statuses.append(process_event(ev).status)
        except Exception as exc:
            receives = int(record.attributes.approximate_receive_count or 1)
            if receives >= get_settings().max_receive_count:
                _record_failure(ev, exc, receives)
            raise
    return statuses


def _record_failure(ev: ObjectEvent, exc: Exception, receives: int) -> None:
    """Last delivery before the DLQ: leave the object a record that says what happened."""
    reason = (f"handler crashed on all {receives} deliveries ({type(exc).__name__}: {str(exc)[:300]}); the message "
              "is in the dead-letter queue: fix the cause, then `datalake dlq redrive` or `datalake reconcile`")
    try:
        components.cached_arrivals().record_failure(ev.bucket, ev.key, ev.version_id, reason)
    except Exception:
        log.exception("could not record the failure in the catalog; reconcile will find the object uncatalogued")


@log.inject_lambda_context(clear_state=True)
@_metrics.log_metrics
@_tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with components.cached_arrivals().batch():
        if is_sqs_batch(event):
            # A processor per invocation: it holds the batch's state, and the local runtime invokes concurrently.
            processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
            return process_partial_response(event=event, record_handler=_sqs_record, processor=processor, context=context)
        events = parse_document(event)
        if not events:
            log.info("no object events (s3:TestEvent or an ignored event type); skipped")
        return {"processed": [process_event(ev).status for ev in events]}
