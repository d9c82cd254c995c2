"""The stream indexer: catalog items in, search documents out, through the real handler."""

from __future__ import annotations

from typing import Any

import pytest

from catalog import indexer
from catalog.search.embedded import TantivySearchIndex
from catalog.store import serialize
from datalake.local.context import LocalContext


def _record(seq: int, name: str, new: dict[str, Any] | None = None, old: dict[str, Any] | None = None) -> dict:
    ddb: dict[str, Any] = {"SequenceNumber": str(seq), "StreamViewType": "NEW_AND_OLD_IMAGES", "SizeBytes": 100,
                           "Keys": serialize({k: (new or old)[k] for k in ("pk", "sk")})}
    if new:
        ddb["NewImage"] = serialize(new)
    if old:
        ddb["OldImage"] = serialize(old)
    return {"eventID": str(seq), "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": ddb, "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"}


OBJ = {"pk": "DS#jobs", "sk": "OBJ#landing#jobs/a.csv#null", "kind": "object", "dataset": "jobs", "bucket": "landing",
       "key": "jobs/a.csv", "status": "ingested", "columns": [{"name": "organization", "type": "string"}],
       "arrival_time": "2026-11-25T10:00:00Z", "size": 10}
SCHEMA = {"pk": "DS#jobs", "sk": "SCHEMA#abc", "kind": "schema", "dataset": "jobs"}
KEYS_ONLY = {"pk": "DS#jobs", "sk": "#DATASET"}


@pytest.fixture
def index(tmp_path, monkeypatch):
    idx = TantivySearchIndex(tmp_path / "search")
    idx.ensure()
    monkeypatch.setattr(indexer, "_index", lambda: idx)
    return idx


def test_objects_are_indexed_and_other_items_are_skipped_without_failing_the_batch(index):
    event = {"Records": [_record(1, "INSERT", OBJ), _record(2, "INSERT", SCHEMA), _record(3, "INSERT", KEYS_ONLY)]}

    resp = indexer.handler(event, LocalContext("datalake-indexer"))

    assert resp == {"batchItemFailures": []}
    assert index.count() == 1 and index.search("organiz")[0].doc["key"] == "jobs/a.csv"


def test_remove_deletes_the_document(index):
    indexer.handler({"Records": [_record(1, "INSERT", OBJ)]}, LocalContext("datalake-indexer"))

    indexer.handler({"Records": [_record(2, "REMOVE", old=OBJ)]}, LocalContext("datalake-indexer"))

    assert index.count() == 0


def test_a_bad_record_is_reported_alone(index):
    bad = {**OBJ, "sk": "OBJ#landing#jobs/b.csv#null", "status": 42}
    event = {"Records": [_record(1, "INSERT", OBJ), _record(2, "INSERT", bad)]}

    resp = indexer.handler(event, LocalContext("datalake-indexer"))

    assert resp == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert index.count() == 1


def test_a_batch_is_written_in_one_commit_in_record_order(index, monkeypatch):
    writes = []
    original = index._writer

    def counting_writer():
        writes.append(1)
        return original()

    monkeypatch.setattr(index, "_writer", counting_writer)
    second = {**OBJ, "sk": "OBJ#landing#jobs/b.csv#null", "key": "jobs/b.csv"}
    moved = {**OBJ, "status": "validated"}
    event = {"Records": [_record(1, "INSERT", OBJ), _record(2, "INSERT", second), _record(3, "MODIFY", moved, OBJ),
                         _record(4, "REMOVE", old=second), _record(5, "INSERT", SCHEMA)]}

    resp = indexer.handler(event, LocalContext("datalake-indexer"))

    assert resp == {"batchItemFailures": []} and len(writes) == 1
    assert [h.doc["key"] for h in index.search("jobs")] == ["jobs/a.csv"]
    assert index.search("jobs")[0].doc["status"] == "validated"
