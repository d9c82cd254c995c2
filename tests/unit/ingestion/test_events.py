"""Every envelope an arrival comes in unwraps to the same plain events, keys decoded exactly once."""

from __future__ import annotations

import pytest

from ingestion.events import decode_key, is_sqs_batch, parse_document, parse_sqs_body
from ingestion.exceptions import EventShapeError
from tests.events import load_event

DECODED = "jobs/ingest_date=2026-11-25/region=eu west/red flower + 100% café.csv"


def _sqs_events(name: str):
    event = load_event(name)
    assert is_sqs_batch(event)
    return [ev for rec in event["Records"] for ev in parse_sqs_body(rec["body"])]


@pytest.mark.parametrize("name", ["sqsS3Event", "sqsSnsS3Event", "sqsSnsRawS3Event"])
def test_sqs_wrapped_notifications_unwrap_to_the_decoded_key(name):
    # given an S3 notification inside SQS (directly, via SNS, or via SNS with raw delivery)
    # when the bodies are parsed
    events = _sqs_events(name)
    # then one created event comes out, its key decoded once, with the sequencer and request id
    assert len(events) == 1
    ev = events[0]
    assert (ev.kind, ev.bucket, ev.key) == ("created", "datalake-landing", DECODED)
    assert (ev.size, ev.etag, ev.sequencer, ev.request_id) == (1024, "d41d8cd98f00b204e9800998ecf8427e", "0055AED6DCD90281E5", "C3D13FE58DE4C810")


def test_direct_s3_put_and_delete():
    put = parse_document(load_event("s3Put"))[0]
    delete = parse_document(load_event("s3Delete"))[0]
    assert (put.kind, put.key, put.source) == ("created", DECODED, "s3")
    assert (delete.kind, delete.key, delete.size, delete.etag) == ("removed", DECODED, None, None)


def test_versioned_events_carry_version_ids_and_delete_markers():
    put = parse_document(load_event("s3PutVersioned"))[0]
    marker = parse_document(load_event("s3DeleteMarkerCreated"))[0]
    assert put.version_id == "096fKKXTRTtl3on89fVO.nfljtsv6qko" and not put.delete_marker
    assert marker.kind == "removed" and marker.delete_marker and marker.version_id == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"


@pytest.mark.parametrize("name", ["eventBridgeObjectCreated", "sqsEventBridgeObjectCreated"])
def test_eventbridge_object_created_direct_and_via_sqs(name):
    event = load_event(name)
    events = [e for r in event["Records"] for e in parse_sqs_body(r["body"])] if is_sqs_batch(event) else parse_document(event)
    ev = events[0]
    assert (ev.kind, ev.source, ev.key, ev.etag) == ("created", "eventbridge", DECODED, "b1946ac92492d2347c6235b4d2611184")
    assert ev.version_id == "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e" and ev.sequencer == "617f08299329d189"
    assert ev.via_sqs == is_sqs_batch(event)


@pytest.mark.parametrize("name", ["eventBridgeObjectDeleted", "sqsEventBridgeObjectDeleted"])
def test_eventbridge_object_deleted_direct_and_via_sqs(name):
    event = load_event(name)
    events = [e for r in event["Records"] for e in parse_sqs_body(r["body"])] if is_sqs_batch(event) else parse_document(event)
    assert [(e.kind, e.key, e.delete_marker) for e in events] == [("removed", "jobs/a.csv", True)]


def test_test_events_are_skipped_in_every_envelope():
    assert parse_document(load_event("s3TestEvent")) == []
    assert _sqs_events("sqsSnsTestEvent") == []
    assert parse_sqs_body(load_event("sqsS3Event")["Records"][1]["body"]) == []


def test_moto_events_without_sequencer_or_identity_parse_and_decode_slashes():
    ev = parse_document(load_event("s3MotoPut"))[0]
    assert ev.key == "jobs/dt=2026-11-25/deep/k=v/a b.csv" and ev.sequencer is None and ev.request_id is None


@pytest.mark.parametrize("raw, key", [
    ("a+b.csv", "a b.csv"), ("a%2Bb.csv", "a+b.csv"), ("100%25.csv", "100%.csv"), ("k%3Dv%2Fx.csv", "k=v/x.csv"),
    ("caf%C3%A9+%E2%82%AC.csv", "café €.csv"), ("%25252B", "%252B"),  # decoded once, never twice
])
def test_keys_decode_exactly_once(raw, key):
    assert decode_key(raw) == key


def test_malformed_bodies_raise_a_shape_error_naming_the_problem():
    bodies = [r["body"] for r in load_event("sqsMalformedBody")["Records"]]
    with pytest.raises(EventShapeError, match="not JSON"):
        parse_sqs_body(bodies[0])
    with pytest.raises(EventShapeError, match="unrecognised event shape"):
        parse_sqs_body(bodies[1])
