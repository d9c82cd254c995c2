"""Export and restore through the AWS APIs, against the functional tests' moto endpoint."""

from __future__ import annotations

import json

import pytest
import requests

from datalake_base import aws
from datalake.local import snapshot
from datalake.local.provision import provision


def _reset(settings) -> None:
    requests.post(f"{settings.endpoint_url}/moto-api/reset", timeout=10)
    aws.clear_clients()
    provision(settings)


@pytest.fixture
def lake(local_settings):
    provision(local_settings)
    return local_settings


def test_versions_markers_multipart_items_partitions_and_messages_round_trip(lake):
    s = lake
    s3, ddb, glue, sqs = (aws.client(n, s) for n in ("s3", "dynamodb", "glue", "sqs"))
    # given a versioned lake bucket with two versions and a delete marker, and a multipart landing object
    s3.put_bucket_versioning(Bucket=s.lake_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=s.lake_bucket, Key="v/a.txt", Body=b"one")
    s3.put_object(Bucket=s.lake_bucket, Key="v/a.txt", Body=b"two", Metadata={"rev": "2"})
    s3.put_object(Bucket=s.lake_bucket, Key="v/gone.txt", Body=b"x")
    s3.delete_object(Bucket=s.lake_bucket, Key="v/gone.txt")
    up = s3.create_multipart_upload(Bucket=s.landing_bucket, Key="big/blob.bin")["UploadId"]
    chunks = [b"a" * (8 * 1024 * 1024), b"b" * 1000]
    parts = [{"PartNumber": i, "ETag": s3.upload_part(Bucket=s.landing_bucket, Key="big/blob.bin", UploadId=up,
                                                        PartNumber=i, Body=c)["ETag"]} for i, c in enumerate(chunks, 1)]
    s3.complete_multipart_upload(Bucket=s.landing_bucket, Key="big/blob.bin", UploadId=up, MultipartUpload={"Parts": parts})
    etag = s3.head_object(Bucket=s.landing_bucket, Key="big/blob.bin")["ETag"]
    assert etag.endswith('-2"')
    # and typed items (a binary and a set), a partitioned Glue table, a dead letter and a waiting message
    ddb.put_item(TableName=s.rules_table, Item={"id": {"S": "r1"}, "raw": {"B": b"\x00\xff"}, "tags": {"SS": ["a", "b"]},
                                                 "n": {"N": "1.5"}, "m": {"M": {"l": {"L": [{"B": b"\x01"}]}}}})
    glue.create_table(DatabaseName=s.glue_database, TableInput={
        "Name": "t", "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}], "Location": "s3://x/t/"}})
    glue.batch_create_partition(DatabaseName=s.glue_database, TableName="t", PartitionInputList=[
        {"Values": [d], "StorageDescriptor": {"Location": f"s3://x/t/dt={d}/"}} for d in ("2026-01-01", "2026-01-02")])
    dlq = sqs.get_queue_url(QueueName=s.arrivals_dlq)["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody='{"dead": 1}',
                     MessageAttributes={"why": {"DataType": "String", "StringValue": "poison"}})
    q = sqs.get_queue_url(QueueName=s.arrivals_queue)["QueueUrl"]
    sqs.purge_queue(QueueUrl=q)  # drop the s3:TestEvent from provisioning
    sqs.send_message(QueueUrl=q, MessageBody='{"waiting": 1}')

    # when the lake is saved, the endpoint emptied and re-provisioned, and the snapshot restored
    steps: list[str] = []
    manifest = snapshot.export_lake(s, lambda step, done, total: steps.append(step))
    assert manifest["counts"]["queues"] == {s.arrivals_queue: 1, s.arrivals_dlq: 1}
    assert any(st.startswith("saving s3://") for st in steps)
    _reset(s)
    s3, ddb, glue, sqs = (aws.client(n, s) for n in ("s3", "dynamodb", "glue", "sqs"))
    snapshot.restore_lake(s)

    # then everything is back, ETags included, and nothing was announced to the arrivals queue
    assert s3.get_bucket_versioning(Bucket=s.lake_bucket)["Status"] == "Enabled"
    a = s3.get_object(Bucket=s.lake_bucket, Key="v/a.txt")
    assert a["Body"].read() == b"two" and a["Metadata"] == {"rev": "2"}
    versions = s3.list_object_versions(Bucket=s.lake_bucket, Prefix="v/")
    assert sorted(v["Key"] for v in versions["Versions"]) == ["v/a.txt", "v/a.txt", "v/gone.txt"]
    assert [m["Key"] for m in versions["DeleteMarkers"]] == ["v/gone.txt"]
    assert s3.head_object(Bucket=s.landing_bucket, Key="big/blob.bin")["ETag"] == etag
    item = ddb.get_item(TableName=s.rules_table, Key={"id": {"S": "r1"}})["Item"]
    assert item["raw"] == {"B": b"\x00\xff"} and item["m"]["M"]["l"]["L"] == [{"B": b"\x01"}]
    assert set(item["tags"]["SS"]) == {"a", "b"} and item["n"] == {"N": "1.5"}
    assert len(glue.get_partitions(DatabaseName=s.glue_database, TableName="t")["Partitions"]) == 2
    notif = s3.get_bucket_notification_configuration(Bucket=s.landing_bucket)
    assert notif["QueueConfigurations"], "the landing bucket's notifications are back on"
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10).get("Messages", [])]
    assert [b for b in bodies if "TestEvent" not in b] == ['{"waiting": 1}']
    dead = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"][0]
    assert dead["Body"] == '{"dead": 1}' and dead["MessageAttributes"]["why"]["StringValue"] == "poison"


def test_a_failed_export_changes_nothing_on_disk_and_gives_messages_back(lake, monkeypatch):
    s = lake
    sqs = aws.client("sqs", s)
    q = sqs.get_queue_url(QueueName=s.arrivals_queue)["QueueUrl"]
    sqs.purge_queue(QueueUrl=q)
    sqs.send_message(QueueUrl=q, MessageBody='{"waiting": 1}')
    snapshot.export_lake(s)
    before = (s.state_path / "snapshot" / "manifest.json").read_text()

    from datalake.local.snapshot import _sqs

    def broken_save(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(_sqs, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        snapshot.export_lake(s)
    assert (s.state_path / "snapshot" / "manifest.json").read_text() == before
    assert not list(s.state_path.glob("snapshot.tmp-*"))
    assert sqs.receive_message(QueueUrl=q)["Messages"][0]["Body"] == '{"waiting": 1}'


def test_restore_refuses_a_snapshot_taken_with_other_names(lake, monkeypatch):
    s = lake
    snapshot.export_lake(s)
    path = s.state_path / "snapshot" / "manifest.json"
    m = json.loads(path.read_text())
    m["names"]["landing_bucket"] = "someone-elses-landing"
    path.write_text(json.dumps(m))
    with pytest.raises(snapshot.SnapshotError, match="someone-elses-landing"):
        snapshot.restore_lake(s)
