"""Lambda entry point for object arrivals: direct S3, SQS (with partial batch failures), EventBridge."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from datalake import components
from datalake.observability import logger, metrics, tracer
from ingestion.events import ObjectEvent, is_sqs_batch, parse_document, parse_sqs_body
from ingestion.service import Outcome

log = logger()
_metrics = metrics()
_tracer = tracer()
_processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

_METRIC = {"ingested": "FilesIngested", "quarantined": "FilesQuarantined", "deleted": "FilesDeleted",
           "duplicate": "DuplicateEvents", "stale": "StaleEvents"}


def process_event(ev: ObjectEvent) -> Outcome:
    log.append_keys(bucket=ev.bucket, key=ev.key, s3_request_id=ev.request_id, correlation_id=f"{ev.bucket}/{ev.key}")
    started = time.monotonic()
    outcome = components.cached_arrivals().process(ev)
    _metrics.add_metric(name=_METRIC[outcome.status], unit=MetricUnit.Count, value=1)
    _metrics.add_metric(name="IngestLatency", unit=MetricUnit.Milliseconds, value=(time.monotonic() - started) * 1000)
    log.info("object processed", extra={"status": outcome.status, "dataset": outcome.dataset, "reason": outcome.reason})
    log.remove_keys(["bucket", "key", "s3_request_id", "correlation_id"])
    return outcome


def _sqs_record(record: SQSRecord) -> list[str]:
    return [process_event(ev).status for ev in parse_sqs_body(record.body)]


@log.inject_lambda_context(clear_state=True)
@_metrics.log_metrics
@_tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if is_sqs_batch(event):
        return process_partial_response(event=event, record_handler=_sqs_record, processor=_processor, context=context)
    events = parse_document(event)
    if not events:
        log.info("no object events (s3:TestEvent or an ignored event type); skipped")
    return {"processed": [process_event(ev).status for ev in events]}
