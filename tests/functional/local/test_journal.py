"""The endpoint's write-ahead journal: what was acknowledged comes back by replay, in a real endpoint."""

from __future__ import annotations

import io

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig

from datalake.local import journal
from datalake.local.endpoint import serve
from tests.fixtures.aws import free_port


@pytest.fixture
def endpoint(tmp_path):
    port = free_port()
    server = serve("127.0.0.1", port, tmp_path / "journal.log")
    url = f"http://127.0.0.1:{port}"
    requests.post(f"{url}/moto-api/reset", timeout=10)
    yield url, tmp_path / "journal.log"
    server.shutdown()


def _clients(url):
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="l", aws_secret_access_key="l")
    return boto3.client("s3", **kw), boto3.client("dynamodb", **kw), boto3.client("glue", **kw)


def _state(s3, ddb, glue):
    objects = {}
    for b in s3.list_buckets()["Buckets"]:
        for o in s3.list_objects_v2(Bucket=b["Name"]).get("Contents", []):
            got = s3.get_object(Bucket=b["Name"], Key=o["Key"])
            objects[(b["Name"], o["Key"])] = (got["Body"].read(), got.get("Metadata"), got["ContentType"])
    items = sorted(str(sorted(i.items())) for t in ddb.list_tables()["TableNames"] for i in ddb.scan(TableName=t)["Items"])
    tables = sorted(t["Name"] for d in glue.get_databases()["DatabaseList"]
                    for t in glue.get_tables(DatabaseName=d["Name"])["TableList"])
    return objects, items, tables


def test_every_acknowledged_write_comes_back_by_replay_and_reads_are_not_journaled(endpoint):
    url, path = endpoint
    s3, ddb, glue = _clients(url)
    journal.control(url, "on")
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="a b+c.csv", Body=b"x,y\n1,2\n", Metadata={"owner": "hr"}, ContentType="text/csv")
    s3.put_object(Bucket="bkt", Key="gone.csv", Body=b"1")
    s3.delete_object(Bucket="bkt", Key="gone.csv")
    big = bytes(range(256)) * 40_000  # 10 MB: a multipart upload in 5 MB parts
    s3.upload_fileobj(io.BytesIO(big), "bkt", "big.bin", ExtraArgs={"Metadata": {"k": "v"}},
                      Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024))
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    ddb.update_item(TableName="t", Key={"pk": {"S": "a"}}, UpdateExpression="ADD n :one",
                    ExpressionAttributeValues={":one": {"N": "1"}})
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):  # refused: not acknowledged as a write
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
    ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})
    glue.create_database(DatabaseInput={"Name": "d"})
    glue.create_table(DatabaseName="d", TableInput={"Name": "tbl"})
    before = _state(s3, ddb, glue)
    kinds = [(e.method, e.headers.get("x-amz-target", "")) for e in journal.read_entries(path)]
    assert ("POST", "DynamoDB_20120810.GetItem") not in kinds and not any(m in ("GET", "HEAD") for m, _ in kinds)
    assert sum(m == "PUT" for m, t in kinds if not t) == 4  # bucket, two puts, the multipart object as one put

    # the endpoint's memory is lost (what kill -9 does); the journal is replayed into the empty one
    journal.control(url, "off")
    requests.post(f"{url}/moto-api/reset", timeout=10)
    assert _state(s3, ddb, glue) != before
    sent = journal.replay(url, path)

    assert sent == len(kinds)
    after = _state(s3, ddb, glue)
    assert after == before
    assert after[0][("bkt", "big.bin")][0] == big


def test_a_torn_last_record_is_ignored_and_the_next_append_follows_the_last_whole_one(endpoint):
    url, path = endpoint
    s3, _, _ = _clients(url)
    journal.control(url, "on")
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="k1", Body=b"1")
    journal.control(url, "off")
    whole = path.stat().st_size
    with open(path, "ab") as f:  # a crash in the middle of an append
        f.write(journal.encode(journal.Entry("PUT", "/bkt/k2", {}, b"22"))[:-1])
    assert journal.pending(path) == 2

    journal.control(url, "on")
    s3.put_object(Bucket="bkt", Key="k3", Body=b"3")
    journal.control(url, "off")

    assert path.stat().st_size > whole
    assert [e.path for e in journal.read_entries(path)] == ["/bkt", "/bkt/k1", "/bkt/k3"]


def test_a_snapshot_mark_skips_the_records_it_already_holds(endpoint):
    url, path = endpoint
    s3, ddb, _ = _clients(url)
    journal.control(url, "on")
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    add = dict(TableName="t", Key={"pk": {"S": "c"}}, UpdateExpression="ADD n :one",
               ExpressionAttributeValues={":one": {"N": "1"}})
    ddb.update_item(**add)
    mark = journal.control(url, "mark")  # a snapshot taken here holds n = 1
    ddb.update_item(**add)
    journal.control(url, "off")
    requests.post(f"{url}/moto-api/reset", timeout=10)
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.update_item(**add)  # the snapshot's state

    assert journal.replay(url, path, covered={"id": mark["id"], "records": mark["records"]}) == 1
    assert ddb.get_item(TableName="t", Key={"pk": {"S": "c"}})["Item"]["n"] == {"N": "2"}  # not 3: nothing twice


@pytest.mark.parametrize("policy", ["always", "os"])
def test_a_synced_record_is_readable_by_another_process_view_of_the_file(tmp_path, policy):
    # what kill -9 leaves behind is the file as the kernel has it: both policies hand the record over before the ack
    j = journal.Journal(tmp_path / "j.log", fsync=policy)
    j.start()
    seq = j.append(journal.Entry("PUT", "/bkt/k", {"content-type": "text/csv"}, b"a,b\n"))
    j.sync(seq)
    assert [(e.path, e.body) for e in journal.read_entries(tmp_path / "j.log")] == [("/bkt/k", b"a,b\n")]
    assert j.mark() == {"id": journal.journal_id(tmp_path / "j.log"), "records": 1}


def test_truncating_up_to_a_mark_keeps_the_records_written_after_it(tmp_path):
    j = journal.Journal(tmp_path / "j.log")
    j.start()
    for i in range(3):
        j.sync(j.append(journal.Entry("PUT", f"/bkt/k{i}", {}, b"x")))
    mark = j.mark()
    j.sync(j.append(journal.Entry("PUT", "/bkt/late", {}, b"y")))  # acknowledged while the snapshot was taken

    j.truncate(mark["records"])
    j.sync(j.append(journal.Entry("PUT", "/bkt/after", {}, b"z")))

    assert [e.path for e in journal.read_entries(tmp_path / "j.log")] == ["/bkt/late", "/bkt/after"]
    assert journal.journal_id(tmp_path / "j.log") != mark["id"]  # a new journal: a replay sends all of it
