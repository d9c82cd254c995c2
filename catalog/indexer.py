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
Op = tuple[str, str, dict[str, Any] | None]  # ("upsert", id, doc) or ("delete", id, None)


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


def _op(record: DynamoDBRecord) -> Op | None:
    """What one stream record does to the index (None: nothing, e.g. a schema-version item)."""
    ddb = record.dynamodb
    if record.event_name and record.event_name.name == "REMOVE":
        return ("delete", doc_id(ddb.old_image), None)
    image = ddb.new_image
    if image.get("kind") not in INDEXED_KINDS:
        # Schema-version items are not searchable on their own; and moto emits a keys-only INSERT
        # before an UpdateItem's real image.
        return None
    return ("upsert", doc_id(image), to_search_doc(image))


def _apply(record: DynamoDBRecord) -> None:
    op = _op(record)
    if op is None:
        return
    kind, key, doc = op
    if kind == "delete":
        _index().delete(key)
        return
    _index().upsert(key, doc)  # type: ignore[arg-type]
    _metrics.add_metric(name="DocsIndexed", unit=MetricUnit.Count, value=1)


def _whole_batch(event: dict[str, Any]) -> bool:
    """Apply every record in one index write (one commit instead of one per record). False when
    any record cannot be read or written: the caller then goes record by record, so only the bad
    ones are reported (every operation is idempotent, so repeating the good ones is harmless)."""
    try:
        ops = [op for raw in event.get("Records", []) if (op := _op(DynamoDBRecord(raw))) is not None]
        _index().apply(ops)
    except Exception:  # noqa: BLE001 - the per-record path reports it precisely
        log.warning("batch index write failed; retrying record by record", exc_info=True)
        return False
    upserts = sum(op[0] == "upsert" for op in ops)
    if upserts:
        _metrics.add_metric(name="DocsIndexed", unit=MetricUnit.Count, value=upserts)
    return True


@log.inject_lambda_context(clear_state=True)
@_metrics.log_metrics
@_tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if _whole_batch(event):
        return {"batchItemFailures": []}
    return process_partial_response(event=event, record_handler=_record, processor=_processor, context=context)
