"""The handler's batch contract and the local runtime's retry delays, without AWS."""

from __future__ import annotations

import contextlib

import pytest

from datalake.local.context import LocalContext
from datalake.local.runtime import retry_delay
from ingestion import handler
from ingestion.service import Outcome
from tests.events import load_event


@pytest.fixture
def processed(monkeypatch):
    seen = []

    class FakeArrivals:
        def batch(self):
            return contextlib.nullcontext()

        def process(self, ev):
            if "boom" in ev.key:
                raise RuntimeError("S3 throttled")
            seen.append(ev)
            return Outcome("ingested", ev.bucket, ev.key, "jobs")

    monkeypatch.setattr(handler.components, "cached_arrivals", lambda: FakeArrivals())
    return seen


def test_bad_records_are_reported_as_batch_item_failures_and_the_rest_processed(processed):
    # given a batch with a good notification, a test event and two malformed bodies
    event = load_event("sqsS3Event")
    event["Records"] += load_event("sqsMalformedBody")["Records"]
    # when the handler runs
    resp = handler.handler(event, LocalContext("datalake-ingest"))
    # then only the malformed ones are failures, and the good one was processed
    assert sorted(f["itemIdentifier"] for f in resp["batchItemFailures"]) == [
        "a1b2c3d4-0000-4000-8000-000000000006", "a1b2c3d4-0000-4000-8000-000000000007"]
    assert len(processed) == 1


def test_a_failing_object_fails_only_its_message(processed):
    event = load_event("sqsSnsRawS3Event")
    bad = load_event("sqsEventBridgeObjectCreated")["Records"][0]
    bad["body"] = bad["body"].replace("red+flower", "boom")
    event["Records"].append(bad)
    resp = handler.handler(event, LocalContext("datalake-ingest"))
    assert [f["itemIdentifier"] for f in resp["batchItemFailures"]] == [bad["messageId"]]


def test_direct_and_eventbridge_invocations(processed):
    assert handler.handler(load_event("s3Put"), LocalContext("f")) == {"processed": ["ingested"]}
    assert handler.handler(load_event("eventBridgeObjectCreated"), LocalContext("f")) == {"processed": ["ingested"]}
    assert handler.handler(load_event("s3TestEvent"), LocalContext("f")) == {"processed": []}


@pytest.mark.parametrize("receives, base, vt, expected", [(1, 1.0, 30, 1), (3, 1.0, 30, 4), (10, 1.0, 30, 30), (2, 0.2, 30, 1)])
def test_retry_delay_backs_off_within_the_visibility_timeout(receives, base, vt, expected):
    assert retry_delay({"Attributes": {"ApproximateReceiveCount": str(receives)}}, base, vt) == expected


def test_schedule_mapping_invokes_its_handler_with_an_eventbridge_scheduled_event():
    import threading

    from datalake.local.runtime import ScheduleMapping
    from datalake_base.settings import Settings

    seen: list[dict] = []
    stop = threading.Event()
    mapping = ScheduleMapping(Settings(), lambda ev, ctx: seen.append(ev) or stop.set(), stop, 0.05, "datalake-reconcile")
    mapping.start()
    mapping.join(5)

    assert seen and seen[0]["detail-type"] == "Scheduled Event" and seen[0]["source"] == "aws.events"
    assert seen[0]["resources"][0].endswith(":rule/datalake-reconcile")

