"""Lambda entry point for the catalog table's stream: keeps the search index equal to the catalog."""

from __future__ import annotations

import hashlib

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from catalog.search import SearchIndex, build_search_index
from catalog.store import from_dynamo
from datalake_base.observability import logger, metrics, tracer
from datalake_base.settings import get_settings

log = logger()
_metrics = metrics()
_tracer = tracer()
_processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)

DOC_FIELDS = (
    "kind", "dataset", "bucket", "key", "version_id", "format", "compression", "status", "status_reason",
    "columns", "size", "row_count", "arrival_time", "partitions", "tags", "metadata", "description", "owner",
    "validation", "file_count", "total_bytes", "last_arrival",
)


INDEXED_KINDS = ("object", "dataset")


# OpenSearch refuses document ids over 512 bytes; a long S3 key makes pk|sk longer than that.
DOC_ID_MAX_BYTES = 512


def doc_id(item: dict[str, Any]) -> str:
    plain = f"{item['pk']}|{item['sk']}"
    if len(plain.encode("utf-8")) <= DOC_ID_MAX_BYTES:
        return plain  # unchanged for every id that ever fitted
    return f"#sha256:{hashlib.sha256(plain.encode('utf-8')).hexdigest()}"


def to_search_doc(item: dict[str, Any]) -> dict[str, Any]:
    """The search document for a catalog item: its searchable fields, numbers as plain ints/floats."""
    plain = from_dynamo(item)
    return {k: plain[k] for k in DOC_FIELDS if k in plain}


@lru_cache(maxsize=1)
def _index() -> SearchIndex:
    index = build_search_index(get_settings())
    index.ensure()
    return index


def _record(record: DynamoDBRecord) -> None:
    try:
        _apply(record)
    except Exception:
        log.exception("indexing failed", extra={"sequence_number": record.dynamodb.sequence_number})
        raise


def _apply(record: DynamoDBRecord) -> None:
    ddb = record.dynamodb
    if record.event_name and record.event_name.name == "REMOVE":
        _index().delete(doc_id(ddb.old_image))
        return
    image = ddb.new_image
    if image.get("kind") not in INDEXED_KINDS:
        # Schema-version items are not searchable on their own; and moto emits a keys-only INSERT
        # before an UpdateItem's real image.
        return
    _index().upsert(doc_id(image), to_search_doc(image))
    _metrics.add_metric(name="DocsIndexed", unit=MetricUnit.Count, value=1)


@log.inject_lambda_context(clear_state=True)
@_metrics.log_metrics
@_tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=_record, processor=_processor, context=context)
