"""Arrivals against the real local endpoint: the catalog ends equal to the bucket."""

from __future__ import annotations

import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog import components as catalog_components
from ingestion import components
from datalake.local.provision import provision
from ingestion.events import ObjectEvent


@pytest.fixture
def lake(local_settings):
    provision(local_settings)
    return local_settings


def created(bucket: str, key: str) -> ObjectEvent:
    return ObjectEvent(kind="created", bucket=bucket, key=key, event_name="ObjectCreated:Put",
                       event_time="2026-11-25T10:00:00.000Z", source="sqs")


def removed(bucket: str, key: str) -> ObjectEvent:
    return ObjectEvent(kind="removed", bucket=bucket, key=key, event_name="ObjectRemoved:Delete",
                       event_time="2026-11-25T10:00:01.000Z", source="sqs")


def test_csv_arrival_is_catalogued_with_schema_row_count_and_partitions(lake, s3):
    key = "jobs/ingest_date=2026-11-25/part 1.csv"
    s3.put_object(Bucket=lake.landing_bucket, Key=key, Body=b"id,name,salary\n1,a,10.5\n2,b,11\n", Metadata={"owner": "hr"})
    s3.put_object_tagging(Bucket=lake.landing_bucket, Key=key, Tagging={"TagSet": [{"Key": "pii", "Value": "no"}]})

    outcome = components.arrivals(lake).process(created(lake.landing_bucket, key))

    assert outcome.status == "ingested"
    rec = catalog_components.catalog_store(lake).get_object("jobs", lake.landing_bucket, key, None)
    assert rec["status"] == "ingested" and rec["format"] == "csv" and rec["row_count"] == 2
    assert [c["name"] for c in rec["columns"]] == ["id", "name", "salary"]
    assert rec["partitions"] == {"ingest_date": "2026-11-25"}
    assert rec["metadata"] == {"owner": "hr"} and rec["tags"] == {"pii": "no"}
    ds = catalog_components.catalog_store(lake).get_dataset("jobs")
    assert ds["file_count"] == 1 and ds["total_bytes"] == rec["size"]


def test_parquet_and_gzip_json_are_detected_by_content_not_extension(lake, s3):
    buf = io.BytesIO()
    pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}), buf)
    s3.put_object(Bucket=lake.landing_bucket, Key="events/data.bin", Body=buf.getvalue())
    s3.put_object(Bucket=lake.landing_bucket, Key="events/log.txt", Body=gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    arrivals = components.arrivals(lake)

    arrivals.process(created(lake.landing_bucket, "events/data.bin"))
    arrivals.process(created(lake.landing_bucket, "events/log.txt"))

    store = catalog_components.catalog_store(lake)
    pq_rec = store.get_object("events", lake.landing_bucket, "events/data.bin", None)
    js_rec = store.get_object("events", lake.landing_bucket, "events/log.txt", None)
    assert (pq_rec["format"], pq_rec["row_count"]) == ("parquet", 3)
    assert (js_rec["format"], js_rec["compression"], js_rec["row_count"]) == ("jsonl", "gzip", 2)


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"", "empty object"),
        (b"a,b\n1,2\n3,4,5\n", "ragged or malformed CSV"),
        (gzip.compress(b"a,b\n1,2\n" * 100)[:-6], "truncated gzip"),
        (b"PAR1\x00\x01garbage", "corrupt Parquet"),
        (b"caf\xe9,x\n1,2\n", "undecodable bytes"),
        (bytes(range(256)) * 4, "binary content"),
    ],
)
def test_bad_files_are_quarantined_with_a_reason_and_kept(lake, s3, body, reason):
    s3.put_object(Bucket=lake.landing_bucket, Key="bad/file.csv", Body=body)

    outcome = components.arrivals(lake).process(created(lake.landing_bucket, "bad/file.csv"))

    assert outcome.status == "quarantined"
    rec = catalog_components.catalog_store(lake).get_object("bad", lake.landing_bucket, "bad/file.csv", None)
    assert rec["status"] == "quarantined" and reason in rec["status_reason"]
    assert s3.get_object(Bucket=lake.landing_bucket, Key="bad/file.csv")["Body"].read() == body


def test_duplicate_events_make_one_record_and_count_once(lake, s3):
    s3.put_object(Bucket=lake.landing_bucket, Key="jobs/a.csv", Body=b"x,y\n1,2\n")
    arrivals = components.arrivals(lake)

    first = arrivals.process(created(lake.landing_bucket, "jobs/a.csv"))
    second = arrivals.process(created(lake.landing_bucket, "jobs/a.csv"))

    assert (first.status, second.status) == ("ingested", "duplicate")
    assert catalog_components.catalog_store(lake).get_dataset("jobs")["file_count"] == 1


def test_delete_arriving_before_its_create_ends_deleted(lake, s3):
    s3.put_object(Bucket=lake.landing_bucket, Key="jobs/gone.csv", Body=b"x,y\n1,2\n")
    s3.delete_object(Bucket=lake.landing_bucket, Key="jobs/gone.csv")
    arrivals = components.arrivals(lake)

    arrivals.process(removed(lake.landing_bucket, "jobs/gone.csv"))
    late_create = arrivals.process(created(lake.landing_bucket, "jobs/gone.csv"))

    assert late_create.status in ("deleted", "duplicate")
    rec = catalog_components.catalog_store(lake).get_object("jobs", lake.landing_bucket, "jobs/gone.csv", None)
    assert rec["status"] == "deleted"


def test_stale_delete_after_a_newer_create_keeps_the_object(lake, s3):
    s3.put_object(Bucket=lake.landing_bucket, Key="jobs/back.csv", Body=b"x,y\n1,2\n")
    arrivals = components.arrivals(lake)

    arrivals.process(removed(lake.landing_bucket, "jobs/back.csv"))  # an old delete, delivered late

    rec = catalog_components.catalog_store(lake).get_object("jobs", lake.landing_bucket, "jobs/back.csv", None)
    assert rec["status"] == "ingested"


def test_scheduled_reconcile_catalogues_an_object_whose_event_was_lost(lake, s3):
    from datalake.local.context import LocalContext
    from ingestion import reconcile

    s3.put_object(Bucket=lake.landing_bucket, Key="jobs/lost.csv", Body=b"x,y\n1,2\n")  # its event never arrives

    result = reconcile.handler({"detail-type": "Scheduled Event", "source": "aws.events"}, LocalContext("reconcile"))

    assert result["fixes"] >= 1
    rec = catalog_components.catalog_store(lake).get_object("jobs", lake.landing_bucket, "jobs/lost.csv", None)
    assert rec["status"] == "ingested"
