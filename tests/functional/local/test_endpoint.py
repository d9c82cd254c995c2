"""The local endpoint's changes to moto and werkzeug (datalake.local.endpoint): same answers, cheaper.

Each test drives the real endpoint (``endpoint.serve``, the server the lake runs) over HTTP with
stock boto3, and compares against moto's own implementation or the API's documented behaviour.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import boto3
import pytest
import urllib3.connection
from botocore.exceptions import ClientError

from datalake.local import endpoint
from tests.fixtures.aws import free_port


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    port = free_port()
    server = endpoint.serve("127.0.0.1", port)
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def _client(service: str, url: str) -> object:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many TCP connections boto3 opens."""
    seen = {"n": 0}
    original = urllib3.connection.HTTPConnection.connect

    def counting(self: object) -> None:
        seen["n"] += 1
        original(self)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", counting)
    return seen


def test_one_connection_serves_every_call_of_a_client(url: str, connects: dict[str, int]) -> None:
    s3, ddb = _client("s3", url), _client("dynamodb", url)
    s3.create_bucket(Bucket="keepalive")
    ddb.create_table(TableName="keepalive", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    before = connects["n"]
    for i in range(20):
        s3.put_object(Bucket="keepalive", Key=f"k{i}", Body=b"x" * i)
        assert s3.get_object(Bucket="keepalive", Key=f"k{i}")["Body"].read() == b"x" * i
        ddb.put_item(TableName="keepalive", Item={"pk": {"S": f"p{i}"}})
        with pytest.raises(ClientError):  # an error answer keeps the connection too
            ddb.put_item(TableName="keepalive", Item={"pk": {"S": f"p{i}"}}, ConditionExpression="attribute_not_exists(pk)")
    assert connects["n"] - before <= 2  # one per client, 80 calls


def test_metadata_names_with_underscores_survive(url: str) -> None:
    s3 = _client("s3", url)
    s3.create_bucket(Bucket="meta")
    s3.put_object(Bucket="meta", Key="k", Body=b"1", Metadata={"source_system": "crm", "owner-team": "sales"})
    assert s3.head_object(Bucket="meta", Key="k")["Metadata"] == {"source_system": "crm", "owner-team": "sales"}


def _raw(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> http.client.HTTPResponse:
    conn.request(method, path, body=body, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/s3/aws4_request", **headers})
    resp = conn.getresponse()
    resp.read()
    return resp


def test_a_chunked_upload_closes_its_connection_and_a_sized_one_keeps_it(url: str) -> None:
    _client("s3", url).create_bucket(Bucket="chunks")
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    sized = _raw(conn, "PUT", "/chunks/a", b"abc", {"Content-Length": "3"})
    assert sized.status == 200 and sized.getheader("Connection") != "close"
    unread = _raw(conn, "PUT", "/chunks/b", b"defg", {"Content-Length": "4"})  # same socket, next request parsed
    assert unread.status == 200
    conn.putrequest("PUT", "/chunks/c")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Authorization", "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/s3/aws4_request")
    conn.endheaders()
    conn.send(b"3\r\nxyz\r\n0\r\n\r\n")
    chunked = conn.getresponse()
    chunked.read()
    assert chunked.status == 200 and chunked.getheader("Connection") == "close"
    s3 = _client("s3", url)
    assert [s3.get_object(Bucket="chunks", Key=k)["Body"].read() for k in "abc"] == [b"abc", b"defg", b"xyz"]


def test_queue_attributes_are_moto_s_own(url: str) -> None:
    from moto.sqs.models import sqs_backends

    sqs = _client("sqs", url)
    dlq = sqs.create_queue(QueueName="attrs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    main = sqs.create_queue(QueueName="attrs", Attributes={
        "VisibilityTimeout": "7", "DelaySeconds": "0",
        "RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "3"}}'})["QueueUrl"]
    fifo = sqs.create_queue(QueueName="attrs.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    for i in range(5):
        sqs.send_message(QueueUrl=main, MessageBody=f"m{i}")
    sqs.receive_message(QueueUrl=main, MaxNumberOfMessages=2)
    sqs.send_message(QueueUrl=fifo, MessageBody="f", MessageGroupId="g")
    moto_attributes = endpoint.MOTO_ORIGINALS["Queue.attributes"].fget
    for name in ("attrs", "attrs.fifo", "attrs-dlq"):
        queue = sqs_backends["123456789012"]["us-east-1"].queues[name]
        assert dict(queue.attributes) == moto_attributes(queue)
    answered = sqs.get_queue_attributes(QueueUrl=main, AttributeNames=["All"])["Attributes"]
    assert (answered["ApproximateNumberOfMessages"], answered["ApproximateNumberOfMessagesNotVisible"]) == ("3", "2")
    assert answered["VisibilityTimeout"] == "7" and json.loads(answered["RedrivePolicy"])["maxReceiveCount"] == 3


def test_delayed_and_in_flight_messages_stay_hidden(url: str) -> None:
    sqs = _client("sqs", url)
    q = sqs.create_queue(QueueName="hidden")["QueueUrl"]
    sqs.send_message(QueueUrl=q, MessageBody="later", DelaySeconds=2)
    sqs.send_message(QueueUrl=q, MessageBody="now")
    got = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, VisibilityTimeout=30)["Messages"]
    assert [m["Body"] for m in got] == ["now"]
    assert "Messages" not in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10)
    time.sleep(2.2)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10)["Messages"]] == ["later"]


def test_stream_records_carry_the_written_images_in_order(url: str) -> None:
    ddb, streams = _client("dynamodb", url), _client("dynamodbstreams", url)
    arn = ddb.create_table(
        TableName="streamed", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    item = {"pk": {"S": "a"}, "n": {"N": "1.5"}, "cols": {"L": [{"M": {"name": {"S": "id"}, "ok": {"BOOL": True}}}]},
            "tags": {"SS": ["x", "y"]}, "gone": {"NULL": True}}
    ddb.put_item(TableName="streamed", Item=item)
    ddb.update_item(TableName="streamed", Key={"pk": {"S": "a"}}, UpdateExpression="SET n = :n",
                    ExpressionAttributeValues={":n": {"N": "2"}})
    ddb.delete_item(TableName="streamed", Key={"pk": {"S": "a"}})
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = streams.get_records(ShardIterator=it, Limit=100)
    records = got["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert records[0]["dynamodb"]["NewImage"] == item
    assert records[1]["dynamodb"]["OldImage"] == item and records[1]["dynamodb"]["NewImage"]["n"] == {"N": "2"}
    assert records[2]["dynamodb"]["OldImage"]["n"] == {"N": "2"} and "NewImage" not in records[2]["dynamodb"]
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    created = records[0]["dynamodb"]["ApproximateCreationDateTime"]
    assert isinstance(created, datetime) and abs(created - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert streams.get_records(ShardIterator=got["NextShardIterator"])["Records"] == []


def test_an_item_over_400_kb_is_refused_and_one_under_is_kept(url: str) -> None:
    ddb = _client("dynamodb", url)
    ddb.create_table(TableName="sizes", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    big = {"pk": {"S": "big"}, **{f"a{i}": {"S": "x" * 50_000} for i in range(9)}}
    with pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
        ddb.put_item(TableName="sizes", Item=big)
    ok = {"pk": {"S": "ok"}, **{f"a{i}": {"S": "x" * 40_000} for i in range(9)}}
    ddb.put_item(TableName="sizes", Item=ok)
    assert ddb.get_item(TableName="sizes", Key={"pk": {"S": "ok"}})["Item"] == ok
    assert "Item" not in ddb.get_item(TableName="sizes", Key={"pk": {"S": "big"}})
