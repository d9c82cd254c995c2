"""Through the live local runtime: real notifications, real queue, bounded retries, DLQ, quarantine."""

from __future__ import annotations


import pytest

from catalog.store import CatalogStore
from datalake_base import aws
from datalake.local import lifecycle
from ingestion.dlq import list_dead_letters, queue_url
from tests.fixtures.lake import lake_environment, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_lake(tmp_path):
    with lake_environment(tmp_path / "state", DATALAKE_VISIBILITY_TIMEOUT="2", DATALAKE_LOCAL_RETRY_BACKOFF="1",
                          DATALAKE_MAX_RECEIVE_COUNT="2") as settings:
        lifecycle.up(settings, timeout=90)
        yield settings


def test_drops_are_catalogued_quarantined_and_poison_messages_dead_lettered(live_lake):
    s = live_lake
    s3, sqs = aws.client("s3", s), aws.client("sqs", s)
    store = CatalogStore(s.catalog_table, aws.client("dynamodb", s))
    good, bad = "e2e/dt=2026-11-25/ok file+1.csv", "e2e/dt=2026-11-25/garbage.csv"
    # given a good CSV, binary garbage, and a message no S3 envelope matches
    s3.put_object(Bucket=s.landing_bucket, Key=good, Body=b"id,name\n1,a\n2,b\n")
    s3.put_object(Bucket=s.landing_bucket, Key=bad, Body=bytes(range(256)) * 8)
    poison = sqs.send_message(QueueUrl=queue_url(sqs, s.arrivals_queue), MessageBody='{"hello": "not an S3 event"}')

    # then the runtime catalogues the good file and quarantines the garbage, keeping it untouched
    def both():
        recs = {r["key"]: r for r in store.list_objects("e2e")}
        return recs if {good, bad} <= set(recs) else None

    recs = wait_for(both)
    assert recs[good]["status"] == "ingested" and recs[good]["row_count"] == 2
    assert recs[good]["partitions"] == {"dt": "2026-11-25"}
    assert recs[bad]["status"] == "quarantined" and "binary content" in recs[bad]["status_reason"]
    assert s3.get_object(Bucket=s.landing_bucket, Key=bad)["Body"].read() == bytes(range(256)) * 8
    assert store.get_dataset("e2e")["file_count"] == 2

    # and the poison message is retried a bounded number of times, then moved to the DLQ
    dlq = queue_url(sqs, s.arrivals_dlq)
    letters = wait_for(lambda: [d for d in list_dead_letters(sqs, dlq) if d.message_id == poison["MessageId"]], timeout=40)
    assert letters[0].receive_count >= s.max_receive_count
    assert "unrecognised event shape" in (letters[0].error or "")
