"""An SQS batch of arrivals writes each dataset's counters once (CatalogStore.deferred_counts).

Against the local endpoint an arrival was three writes (the object item, then its dataset's
counters, under a lock); the counters are now folded per batch. The invariant stays: the dataset
item's counters equal the sum over its object items, including when part of the batch fails.
"""

from __future__ import annotations

import copy
import json
from urllib.parse import quote_plus

import pytest

from catalog import components as catalog_components
from catalog.store import totals
from datalake.local.context import LocalContext
from datalake.local.provision import provision
from ingestion import components, handler
from tests.events import load_event


@pytest.fixture
def lake(local_settings):
    provision(local_settings)
    components.cached_arrivals.cache_clear()
    yield local_settings
    components.cached_arrivals.cache_clear()


def sqs_batch(bucket: str, keys: list[str]) -> dict:
    """The SQS event Lambda builds from notifications of ``keys`` (the fixture's shape, one message per key)."""
    template = load_event("sqsS3Event")["Records"][0]
    records = []
    for i, key in enumerate(keys):
        rec = copy.deepcopy(template)
        body = json.loads(rec["body"])
        body["Records"][0]["s3"]["bucket"]["name"] = bucket
        body["Records"][0]["s3"]["object"]["key"] = quote_plus(key, safe="/")
        del body["Records"][0]["s3"]["object"]["sequencer"]
        rec["body"], rec["messageId"] = json.dumps(body), f"00000000-0000-4000-8000-{i:012d}"
        records.append(rec)
    return {"Records": records}


@pytest.fixture
def dataset_writes(lake):
    """UpdateItem calls on dataset items, by dataset."""
    seen: dict[str, int] = {}

    def count(params, **_):
        pk = params.get("Key", {}).get("pk", {}).get("S", "")
        if pk.startswith("DS#") and params["Key"]["sk"]["S"] == "#DATASET":
            seen[pk[3:]] = seen.get(pk[3:], 0) + 1

    components.cached_arrivals().store.client.meta.events.register("provide-client-params.dynamodb.UpdateItem", count)
    return seen


def test_a_batch_writes_each_dataset_s_counters_once_and_they_equal_its_items(lake, s3, dataset_writes):
    keys = [f"sales/part-{i}.csv" for i in range(6)] + [f"clicks/day={i}/c.json" for i in range(4)]
    for i, key in enumerate(keys):
        body = b"id,amount\n" + b"%d,%d\n" % (i, i) * (i + 1) if key.endswith(".csv") else b'{"a": 1}\n' * (i + 1)
        s3.put_object(Bucket=lake.landing_bucket, Key=key, Body=body)

    resp = handler.handler(sqs_batch(lake.landing_bucket, keys), LocalContext("datalake-ingest"))

    assert resp["batchItemFailures"] == []
    assert dataset_writes == {"sales": 1, "clicks": 1}
    store = catalog_components.catalog_store(lake)
    for name, n in (("sales", 6), ("clicks", 4)):
        ds = store.get_dataset(name)
        items = store.list_objects(name)
        assert ds["file_count"] == n == len(items)
        assert {k: ds[k] for k in ("file_count", "total_bytes", "quarantined_count")} == totals(items)
        assert len(ds["schema_versions"]) == 1 and ds["last_arrival"]


def test_objects_of_a_partly_failed_batch_are_counted_and_a_retry_counts_nothing_twice(lake, s3, dataset_writes):
    keys = ["sales/a.csv", "sales/b.csv", "sales/c.csv"]
    for key in keys:
        s3.put_object(Bucket=lake.landing_bucket, Key=key, Body=b"id\n1\n")
    event = sqs_batch(lake.landing_bucket, keys)
    broken = sqs_batch("no-such-bucket", ["sales/x.csv"])["Records"][0]
    broken["messageId"] = "broken"
    event["Records"].insert(1, broken)

    resp = handler.handler(event, LocalContext("datalake-ingest"))
    assert [f["itemIdentifier"] for f in resp["batchItemFailures"]] == ["broken"]
    retry = handler.handler(event, LocalContext("datalake-ingest"))  # at-least-once: the whole batch again
    assert [f["itemIdentifier"] for f in retry["batchItemFailures"]] == ["broken"]

    store = catalog_components.catalog_store(lake)
    ds, items = store.get_dataset("sales"), store.list_objects("sales")
    assert ds["file_count"] == 3 == len(items)
    assert {k: ds[k] for k in ("file_count", "total_bytes", "quarantined_count")} == totals(items)
