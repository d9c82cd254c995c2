"""Ordering, duplicates, versions, aggregates, reconcile and the DLQ against the real local endpoint."""

from __future__ import annotations

import json
import threading

import pytest

from catalog.store import CatalogStore, totals
from datalake_base import aws
from datalake.local.provision import provision
from ingestion.dlq import list_dead_letters, queue_url, redrive
from ingestion.events import ObjectEvent
from ingestion.reconcile import reconcile
from ingestion.service import Arrivals


@pytest.fixture
def lake(local_settings):
    provision(local_settings)
    return local_settings


@pytest.fixture
def store(lake):
    return CatalogStore(lake.catalog_table, aws.client("dynamodb", lake))


def make_arrivals(lake, store, **kw) -> Arrivals:
    opts = dict(max_object_bytes=lake.max_object_bytes, profile_byte_budget=lake.profile_byte_budget,
                profile_head_bytes=lake.profile_head_bytes) | kw
    return Arrivals(aws.client("s3", lake), store, **opts)


def ev(kind, bucket, key, seq=None, version=None, marker=False) -> ObjectEvent:
    name = "ObjectCreated:Put" if kind == "created" else ("ObjectRemoved:DeleteMarkerCreated" if marker else "ObjectRemoved:Delete")
    return ObjectEvent(kind=kind, bucket=bucket, key=key, event_name=name, event_time="2026-11-25T10:00:00.000Z",
                       source="sqs", sequencer=seq, version_id=version, delete_marker=marker)


def assert_aggregate_consistent(store, dataset):
    ds = store.get_dataset(dataset) or {}
    expected = totals(store.list_objects(dataset))
    assert {k: int(ds.get(k) or 0) for k in expected} == expected


def test_sequencer_drops_stale_events_without_touching_s3(lake, store, s3):
    b = lake.landing_bucket
    s3.put_object(Bucket=b, Key="jobs/s.csv", Body=b"x,y\n1,2\n")
    arr = make_arrivals(lake, store)
    assert arr.process(ev("created", b, "jobs/s.csv", seq="0055AED6DCD90281E6")).status == "ingested"
    # an older delete arrives late: dropped by sequencer
    assert arr.process(ev("removed", b, "jobs/s.csv", seq="0055AED6DCD90281E5")).status == "stale"
    # an equal sequencer (a duplicate delivery) is stale too
    assert arr.process(ev("created", b, "jobs/s.csv", seq="0055AED6DCD90281E6")).status == "stale"
    # shorter sequencers are right-padded before comparing
    assert arr.process(ev("created", b, "jobs/s.csv", seq="0055AED6DCD9")).status == "stale"
    assert store.get_object("jobs", b, "jobs/s.csv", None)["status"] == "ingested"


def test_stale_create_after_a_newer_overwrite_records_the_real_object(lake, store, s3):
    b = lake.landing_bucket
    s3.put_object(Bucket=b, Key="jobs/o.csv", Body=b"x,y\n1,2\n")
    s3.put_object(Bucket=b, Key="jobs/o.csv", Body=b"x,y,z\n1,2,3\n4,5,6\n")  # overwritten before any event is seen
    arr = make_arrivals(lake, store)
    first = arr.process(ev("created", b, "jobs/o.csv"))  # the first put's (stale) event
    second = arr.process(ev("created", b, "jobs/o.csv"))
    rec = store.get_object("jobs", b, "jobs/o.csv", None)
    assert (first.status, second.status) == ("ingested", "duplicate")
    assert rec["row_count"] == 2 and [c["name"] for c in rec["columns"]] == ["x", "y", "z"]
    ds = store.get_dataset("jobs")
    assert ds["file_count"] == 1 and ds["total_bytes"] == rec["size"]


def test_concurrent_duplicates_overwrites_and_deletes_keep_the_aggregate_exact(lake, store, s3):
    b = lake.landing_bucket
    keys = [f"jobs/c{i}.csv" for i in range(6)]
    for k in keys:
        s3.put_object(Bucket=b, Key=k, Body=b"x,y\n1,2\n")
    arr = make_arrivals(lake, store)
    # given every key's event delivered 4 times at once, by 8 workers
    events = [ev("created", b, k) for k in keys for _ in range(4)]
    errors = []

    def work(chunk):
        for e in chunk:
            try:
                arr.process(e)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(events[i::8],)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    assert store.get_dataset("jobs")["file_count"] == 6
    # when two are deleted and one overwritten, and those events race with duplicates
    s3.delete_object(Bucket=b, Key=keys[0])
    s3.delete_object(Bucket=b, Key=keys[1])
    s3.put_object(Bucket=b, Key=keys[2], Body=b"x,y\n1,2\n3,4\n5,6\n")
    events = [ev("removed", b, keys[0]), ev("removed", b, keys[1]), ev("created", b, keys[2])] * 3
    threads = [threading.Thread(target=work, args=(events[i::6],)) for i in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    # then the dataset counts exactly what the bucket holds
    assert not errors
    ds = store.get_dataset("jobs")
    assert ds["file_count"] == 4
    assert ds["total_bytes"] == sum(s3.head_object(Bucket=b, Key=k)["ContentLength"] for k in keys[2:])
    assert_aggregate_consistent(store, "jobs")


def test_versioned_bucket_records_every_version_and_delete_markers(lake, store, s3):
    b = "versioned-landing"
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=b, Key="jobs/v.csv", Body=b"x\n1\n")["VersionId"]
    v2 = s3.put_object(Bucket=b, Key="jobs/v.csv", Body=b"x\n1\n2\n")["VersionId"]
    arr = make_arrivals(lake, store)
    # events out of order: v2 first, then v1
    arr.process(ev("created", b, "jobs/v.csv", version=v2))
    arr.process(ev("created", b, "jobs/v.csv", version=v1))
    recs = {r["version_id"]: r for r in store.list_key_versions("jobs", b, "jobs/v.csv")}
    assert (recs[v1]["row_count"], recs[v1]["is_latest"]) == (1, False)
    assert (recs[v2]["row_count"], recs[v2]["is_latest"]) == (2, True)
    assert store.get_dataset("jobs")["file_count"] == 1
    # a delete creates a marker: recorded, and the key no longer counts
    marker = s3.delete_object(Bucket=b, Key="jobs/v.csv")["VersionId"]
    out = arr.process(ev("removed", b, "jobs/v.csv", version=marker, marker=True))
    recs = {r["version_id"]: r for r in store.list_key_versions("jobs", b, "jobs/v.csv")}
    assert out.status == "deleted" and recs[marker]["delete_marker"] and recs[marker]["status"] == "deleted"
    assert recs[v2]["is_latest"] is False and recs[v2]["status"] == "ingested"
    assert store.get_dataset("jobs")["file_count"] == 0
    # permanently deleting a version marks it deleted
    s3.delete_object(Bucket=b, Key="jobs/v.csv", VersionId=v1)
    arr.process(ev("removed", b, "jobs/v.csv", version=v1))
    assert store.get_object("jobs", b, "jobs/v.csv", v1)["status"] == "deleted"
    assert_aggregate_consistent(store, "jobs")


def test_big_text_is_profiled_from_a_head_and_counted_within_the_budget(lake, store, s3):
    b = lake.landing_bucket
    body = b"id,name\n" + b"".join(b"%d,name-%d\n" % (i, i) for i in range(60_000))  # ~1 MB
    s3.put_object(Bucket=b, Key="big/within.csv", Body=body)
    s3.put_object(Bucket=b, Key="big/over.csv", Body=body)
    counted = make_arrivals(lake, store, profile_head_bytes=64 * 1024, profile_byte_budget=4 * 1024 * 1024)
    capped = make_arrivals(lake, store, profile_head_bytes=64 * 1024, profile_byte_budget=128 * 1024)
    counted.process(ev("created", b, "big/within.csv"))
    capped.process(ev("created", b, "big/over.csv"))
    within = store.get_object("big", b, "big/within.csv", None)
    over = store.get_object("big", b, "big/over.csv", None)
    assert within["row_count"] == 60_000 and within["status"] == "ingested"
    assert over.get("row_count") is None and "over the 131072-byte row-count budget" in over["row_count_note"]
    assert [c["name"] for c in over["columns"]] == ["id", "name"]


def test_over_the_size_limit_is_quarantined_and_kept(lake, store, s3):
    b = lake.landing_bucket
    s3.put_object(Bucket=b, Key="big/huge.csv", Body=b"a,b\n" + b"1,2\n" * 1000)
    out = make_arrivals(lake, store, max_object_bytes=1000).process(ev("created", b, "big/huge.csv"))
    assert out.status == "quarantined" and "over the 1000-byte limit" in out.reason
    assert s3.head_object(Bucket=b, Key="big/huge.csv")["ContentLength"] == 4004
    assert store.get_dataset("big")["quarantined_count"] == 1


def test_reconcile_repairs_drift_and_is_idempotent(lake, store, s3):
    b = lake.landing_bucket
    arr = make_arrivals(lake, store)
    for k in ("sales/a.csv", "sales/b.csv", "sales/c.csv"):
        s3.put_object(Bucket=b, Key=k, Body=b"x,y\n1,2\n")
    arr.process(ev("created", b, "sales/a.csv"))
    arr.process(ev("created", b, "sales/b.csv"))
    # drift: c's event was lost, b was deleted silently, a was overwritten silently, counters tampered
    s3.delete_object(Bucket=b, Key="sales/b.csv")
    s3.put_object(Bucket=b, Key="sales/a.csv", Body=b"x,y\n1,2\n3,4\n")
    store.client.update_item(TableName=store.table, Key={"pk": {"S": "DS#sales"}, "sk": {"S": "#DATASET"}},
                             UpdateExpression="SET file_count = :n", ExpressionAttributeValues={":n": {"N": "42"}})
    report = reconcile(arr, store, b, "sales")
    fixed = {(f.key, f.action) for f in report.fixes}
    assert {("sales/a.csv", "ingested"), ("sales/b.csv", "deleted"), ("sales/c.csv", "ingested")} <= fixed
    assert any(f.action == "aggregate" for f in report.fixes)
    assert store.get_dataset("sales")["file_count"] == 2
    assert_aggregate_consistent(store, "sales")
    assert reconcile(arr, store, b, "sales").fixes == []


def test_dlq_list_and_redrive(lake, sqs):
    dlq = queue_url(sqs, lake.arrivals_dlq)
    main = queue_url(sqs, lake.arrivals_queue)
    sqs.send_message(QueueUrl=dlq, MessageBody="{not json")
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "eventTime": "",
                     "s3": {"bucket": {"name": lake.landing_bucket}, "object": {"key": "jobs/a+b.csv"}}}]}))
    letters = list_dead_letters(sqs, dlq)
    assert len(letters) == 2
    assert any(d.objects == [f"s3://{lake.landing_bucket}/jobs/a b.csv"] for d in letters)
    assert any(d.error and "not JSON" in d.error for d in letters)
    assert len(list_dead_letters(sqs, dlq)) == 2  # listing leaves them in place
    assert redrive(sqs, dlq, main) == 2
    assert list_dead_letters(sqs, dlq) == []
    got = sqs.receive_message(QueueUrl=main, MaxNumberOfMessages=10).get("Messages", [])
    assert len([m for m in got if "s3:TestEvent" not in m["Body"]]) == 2  # provisioning sent a test event too
