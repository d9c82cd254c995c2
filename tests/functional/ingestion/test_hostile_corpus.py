"""Hostile files against the real endpoint, parsed in real worker processes: every one ends with a
record whose status and reason say what it is, and nothing stops the arrivals that follow."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from catalog import components as catalog_components
from catalog.naming import dataset_for_key
from datalake.local.provision import provision
from ingestion import components
from ingestion.events import ObjectEvent
from ingestion.exceptions import QuarantineError
from ingestion.objects import ObjectReader
from ingestion.reconcile import reconcile
from ingestion.sandbox import Sandbox
from tests.fixtures.hostile import LONG_KEY, corpus

BUDGET = 8 * 1024 * 1024  # small, so the gzip bomb's text overruns it


@pytest.fixture
def lake(local_settings):
    provision(local_settings)
    return local_settings.model_copy(update={"profile_byte_budget": BUDGET})


def created(bucket: str, key: str) -> ObjectEvent:
    return ObjectEvent(kind="created", bucket=bucket, key=key, event_name="ObjectCreated:Put",
                       event_time="2026-11-25T10:00:00.000Z", source="sqs")


def test_every_hostile_file_ends_with_the_expected_status_and_reason(lake, s3):
    cases = corpus()
    assert len(cases) >= 35
    arrivals = components.arrivals(lake)
    store = catalog_components.catalog_store(lake)
    for c in cases:
        s3.put_object(Bucket=lake.landing_bucket, Key=c.key, Body=c.body)

    wrong = []
    for c in cases:
        outcome = arrivals.process(created(lake.landing_bucket, c.key))
        rec = store.get_object(dataset_for_key(c.key), lake.landing_bucket, c.key, None) or {}
        ok = (outcome.status == rec.get("status") == c.status and rec.get("key") == c.key
              and (c.reason is None or c.reason in (rec.get("status_reason") or ""))
              and (c.rows is None or rec.get("row_count") == c.rows))
        if not ok:
            wrong.append((c.name, outcome.status, rec.get("status"), rec.get("status_reason"), rec.get("row_count")))
    assert not wrong, wrong

    bomb = store.get_object("hostile", lake.landing_bucket, "hostile/bomb.csv.gz", None)
    assert bomb.get("row_count") is None and "inflates to more than" in bomb["row_count_note"]
    wide = store.get_object("hostile", lake.landing_bucket, "hostile/wide50k.csv", None)
    assert wide["column_count"] == 50_000 and wide["columns_truncated"] is True
    assert [c["name"] for c in wide["columns"]] == [f"c{i}" for i in range(2000)]  # the first 2,000: items hold 400 KB
    # Folder markers have a record but are not files of the dataset.
    ds = store.get_dataset("hostile")
    in_hostile = [c for c in cases if dataset_for_key(c.key) == "hostile"]
    assert ds["file_count"] == sum(c.status != "ignored" for c in in_hostile)
    assert ds["quarantined_count"] == sum(c.status == "quarantined" for c in in_hostile)
    # The pipeline kept going, and a second pass of reconcile finds nothing to repair.
    fixes = reconcile(arrivals, store, lake.landing_bucket).fixes
    assert fixes == [], fixes


def test_a_key_of_1010_bytes_is_catalogued_listed_and_reconciled(lake, s3):
    s3.put_object(Bucket=lake.landing_bucket, Key=LONG_KEY, Body=b"a,b\n1,2\n")
    store = catalog_components.catalog_store(lake)

    report = reconcile(components.arrivals(lake), store, lake.landing_bucket)

    assert [f.action for f in report.fixes if f.key == LONG_KEY] == ["ingested"]
    rec = store.get_object("long", lake.landing_bucket, LONG_KEY, None)
    assert rec["key"] == LONG_KEY and len(rec["sk"].encode()) < 1024
    assert [r["key"] for r in store.list_key_versions("long", lake.landing_bucket, LONG_KEY)] == [LONG_KEY]
    assert [r["key"] for r in store.list_objects("long")] == [LONG_KEY]


def test_old_short_sort_keys_are_unchanged_so_old_records_stay_readable():
    from catalog.store import object_keys

    assert object_keys("jobs", "landing", "jobs/a.csv", None)["sk"] == "OBJ#landing#jobs/a.csv#null"
    long_sk = object_keys("long", "landing", LONG_KEY, "v1")["sk"]
    assert long_sk.startswith("OBJ#landing!") and long_sk.endswith("#v1")


def test_reconcile_reports_an_object_it_cannot_repair_and_goes_on(lake, s3, monkeypatch):
    for k in ("jobs/a.csv", "jobs/b.csv", "jobs/c.csv"):
        s3.put_object(Bucket=lake.landing_bucket, Key=k, Body=b"x,y\n1,2\n")
    arrivals = components.arrivals(lake)
    real = arrivals.profiler

    def buggy(obs):  # a handler bug that hits one object only
        if obs.key == "jobs/b.csv":
            raise RecursionError("maximum recursion depth exceeded")
        return real(obs)

    arrivals.profiler = buggy
    store = catalog_components.catalog_store(lake)

    report = reconcile(arrivals, store, lake.landing_bucket)

    assert {(f.key, f.action) for f in report.fixes if f.key} == {
        ("jobs/a.csv", "ingested"), ("jobs/b.csv", "failed"), ("jobs/c.csv", "ingested")}
    rec = store.get_object("jobs", lake.landing_bucket, "jobs/b.csv", None)
    assert rec["status"] == "quarantined" and rec["handler_failed"] and "RecursionError" in rec["status_reason"]
    assert store.get_dataset("jobs")["file_count"] == 3
    # Once the bug is gone, the next reconcile catalogues it properly.
    arrivals.profiler = real
    again = reconcile(arrivals, store, lake.landing_bucket)
    assert [(f.key, f.action) for f in again.fixes if f.key] == [("jobs/b.csv", "ingested")]
    assert "handler_failed" not in store.get_object("jobs", lake.landing_bucket, "jobs/b.csv", None)


def test_a_redelivered_event_for_an_unchanged_object_rewritten_with_a_new_last_modified_is_a_duplicate(lake, s3):
    s3.put_object(Bucket=lake.landing_bucket, Key="jobs/a.csv", Body=b"x,y\n1,2\n")
    arrivals = components.arrivals(lake)
    assert arrivals.process(created(lake.landing_bucket, "jobs/a.csv")).status == "ingested"
    before = s3.head_object(Bucket=lake.landing_bucket, Key="jobs/a.csv")["LastModified"]
    import time

    time.sleep(1.1)  # what a restore does: the same bytes put again, a new LastModified
    s3.put_object(Bucket=lake.landing_bucket, Key="jobs/a.csv", Body=b"x,y\n1,2\n")
    assert s3.head_object(Bucket=lake.landing_bucket, Key="jobs/a.csv")["LastModified"] != before

    assert arrivals.process(created(lake.landing_bucket, "jobs/a.csv")).status == "duplicate"


def _sandbox(lake, **kw) -> Sandbox:
    params = dict(endpoint_url=lake.effective_endpoint, region=lake.region, mode=lake.mode, budget=BUDGET,
                  max_object_bytes=lake.max_object_bytes, timeout_s=20, memory_mb=1024)
    return Sandbox(**{**params, **kw})


def _observe(lake, s3, key: str, body: bytes):
    s3.put_object(Bucket=lake.landing_bucket, Key=key, Body=body)
    return ObjectReader(s3).observe(lake.landing_bucket, key, None, 1024 * 1024)


def test_a_parser_that_segfaults_is_contained_and_the_file_quarantined(lake, s3):
    # With the nesting pre-check lifted, 100,000 levels really segfault libarrow, in the worker.
    obs = _observe(lake, s3, "deep/x.jsonl", b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n")
    sandbox = _sandbox(lake, max_nesting=10_000_000, memory_mb=1031)

    with pytest.raises(QuarantineError, match=r"the parser crashed \(signal SIGSEGV\)"):
        sandbox(obs)
    ok = _observe(lake, s3, "deep/ok.csv", b"a,b\n1,2\n")
    assert sandbox(ok).row_count == 1  # the next file is parsed as usual


def test_a_worker_killed_from_outside_is_replaced_and_the_parse_retried(lake, s3):
    obs = _observe(lake, s3, "big/a.csv", b"a,b\n" + b"1,2\n" * 2_000_000)  # 16 MB: streamed, takes a while
    sandbox = _sandbox(lake, memory_mb=1033, budget=64 * 1024 * 1024)
    sandbox(_observe(lake, s3, "big/warm.csv", b"a\n1\n"))  # start a worker
    from ingestion import sandbox as sb

    victim = sb._IDLE[1033][0]
    threading.Timer(0.3, lambda: os.kill(victim.proc.pid, signal.SIGKILL)).start()

    assert sandbox(obs).row_count == 2_000_000


def test_a_parse_over_the_memory_limit_or_the_timeout_is_quarantined(lake, s3):
    obs = _observe(lake, s3, "mem/a.jsonl", b'{"a": "' + b"x" * (40 * 1024 * 1024) + b'"}\n')
    # a 40 MB value needs well over 48 MiB to parse (the bytes, then the decoded column)
    with pytest.raises(QuarantineError, match="more than 48 MiB of memory"):
        _sandbox(lake, memory_mb=48, budget=64 * 1024 * 1024)(obs)
    slow = _observe(lake, s3, "slow/a.csv", b"a,b\n" + b"1,2\n" * 2_000_000)
    with pytest.raises(QuarantineError, match="longer than 0.05 s"):
        _sandbox(lake, timeout_s=0.05, budget=64 * 1024 * 1024)(slow)


def test_a_handler_that_keeps_crashing_leaves_a_record_when_its_message_is_dead_lettered(local_settings, s3, sqs):
    """The real handler under the real SQS mapping: retried, dead-lettered, and the object has a record."""
    from datalake.local.runtime import SqsMapping
    from ingestion import handler

    ids = provision(local_settings)
    arrivals = components.cached_arrivals()
    real = arrivals.profiler

    def buggy(obs):
        if obs.key == "jobs/boom.csv":
            raise RecursionError("maximum recursion depth exceeded while calling a Python object")
        return real(obs)

    arrivals.profiler = buggy
    s3.put_object(Bucket=local_settings.landing_bucket, Key="jobs/boom.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=local_settings.landing_bucket, Key="jobs/fine.csv", Body=b"a,b\n1,2\n")
    mapping = SqsMapping(local_settings, ids["queue_url"], handler.handler, threading.Event(), "test-mapping")
    dlq = sqs.get_queue_url(QueueName=local_settings.arrivals_dlq)["QueueUrl"]
    store = catalog_components.catalog_store(local_settings)

    import time

    deadline = time.monotonic() + 30
    dead: list = []
    while not dead and time.monotonic() < deadline:
        mapping.poll_once()
        dead = sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0).get("Messages", [])

    assert dead and "boom.csv" in dead[0]["Body"]
    rec = store.get_object("jobs", local_settings.landing_bucket, "jobs/boom.csv", None)
    assert rec["status"] == "quarantined" and rec["handler_failed"]
    assert rec["status_reason"].startswith("handler crashed on all 3 deliveries (RecursionError")
    assert store.get_object("jobs", local_settings.landing_bucket, "jobs/fine.csv", None)["status"] == "ingested"
