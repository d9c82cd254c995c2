"""The Athena and Redshift Data APIs on the local endpoint run SQL on the local engines.

Driven with stock boto3 and awswrangler, as a user's own code would call AWS.
"""

from __future__ import annotations

import csv
import io
import time

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datalake_base import aws
from datalake_base.settings import reset_settings_cache
from tests.fixtures.aws import free_port

BUCKET, DB = "api-lake", "apidb"


@pytest.fixture(scope="module")
def endpoint():
    from datalake.local.endpoint import serve

    port = free_port()
    server = serve("127.0.0.1", port)
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture
def lake(endpoint, tmp_path, monkeypatch):
    for k, v in {"DATALAKE_MODE": "local", "DATALAKE_ENDPOINT_URL": endpoint, "DATALAKE_STATE_DIR": str(tmp_path),
                 "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    reset_settings_cache()
    aws.clear_clients()
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    clients = {s: session.client(s, endpoint_url=endpoint) for s in ("s3", "glue", "athena", "redshift-data")}
    s3, glue = clients["s3"], clients["glue"]
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
        glue.create_database(DatabaseInput={"Name": DB})
        glue.create_table(DatabaseName=DB, TableInput={
            "Name": "flights", "PartitionKeys": [{"Name": "month", "Type": "string"}],
            "Parameters": {"classification": "parquet"},
            "StorageDescriptor": {
                "Columns": [{"Name": "carrier", "Type": "string"}, {"Name": "delay", "Type": "bigint"},
                            {"Name": "dep", "Type": "timestamp"}],
                "Location": f"s3://{BUCKET}/flights/",
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}})
        for m in (1, 2):
            t = pa.table({"carrier": ["UA", "AA", "UA", None], "delay": pa.array([m, 2 * m, 3 * m, 5], pa.int64()),
                          "dep": pa.array([pd.Timestamp(f"2013-0{m}-01 10:00:00.250")] * 4, pa.timestamp("ms"))})
            buf = io.BytesIO()
            pq.write_table(t, buf)
            s3.put_object(Bucket=BUCKET, Key=f"flights/month={m}/f.parquet", Body=buf.getvalue())
        glue.batch_create_partition(DatabaseName=DB, TableName="flights", PartitionInputList=[
            {"Values": [str(m)], "StorageDescriptor": {"Location": f"s3://{BUCKET}/flights/month={m}/",
                                                     "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                                                     "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
                                                     "Columns": []}} for m in (1, 2)])
    yield clients
    reset_settings_cache()
    aws.clear_clients()


def _wait(athena, qid: str) -> dict:
    for _ in range(50):
        ex = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if ex["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return ex
        time.sleep(0.1)
    raise AssertionError("query did not finish")


SQL = "SELECT carrier, sum(delay) AS total, max(dep) AS last FROM flights WHERE month = '2' GROUP BY carrier ORDER BY carrier"


def test_boto3_athena_runs_the_query_and_writes_athenas_result_csv(lake):
    athena, s3 = lake["athena"], lake["s3"]
    qid = athena.start_query_execution(QueryString=SQL, QueryExecutionContext={"Database": DB},
                                       ResultConfiguration={"OutputLocation": f"s3://{BUCKET}/results/"})["QueryExecutionId"]
    ex = _wait(athena, qid)
    assert ex["Status"]["State"] == "SUCCEEDED"
    assert ex["ResultConfiguration"]["OutputLocation"] == f"s3://{BUCKET}/results/{qid}.csv"
    assert ex["Statistics"]["DataScannedInBytes"] > 0 and "EngineExecutionTimeInMillis" in ex["Statistics"]
    res = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]
    assert [c["Type"] for c in res["ResultSetMetadata"]["ColumnInfo"]] == ["varchar", "bigint", "timestamp"]
    values = [[d.get("VarCharValue") for d in r["Data"]] for r in res["Rows"]]
    assert values == [["carrier", "total", "last"], ["AA", "4", "2013-02-01 10:00:00.250"],
                      ["UA", "8", "2013-02-01 10:00:00.250"], [None, "5", "2013-02-01 10:00:00.250"]]
    body = s3.get_object(Bucket=BUCKET, Key=f"results/{qid}.csv")["Body"].read().decode()
    assert body.splitlines()[0] == '"carrier","total","last"' and body.splitlines()[3] == ',"5","2013-02-01 10:00:00.250"'
    assert list(csv.reader(io.StringIO(body)))[1] == ["AA", "4", "2013-02-01 10:00:00.250"]


def test_results_page_with_next_token(lake):
    athena = lake["athena"]
    qid = athena.start_query_execution(QueryString="SELECT x FROM UNNEST(sequence(1, 25)) AS t(x)",
                                       QueryExecutionContext={"Database": DB},
                                       ResultConfiguration={"OutputLocation": f"s3://{BUCKET}/results/"})["QueryExecutionId"]
    _wait(athena, qid)
    pages = list(athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid, PaginationConfig={"PageSize": 10}))
    rows = [r["Data"][0]["VarCharValue"] for p in pages for r in p["ResultSet"]["Rows"]]
    assert len(pages) == 3 and rows == ["x"] + [str(i) for i in range(1, 26)]


def test_a_failing_query_is_failed_with_the_engines_reason(lake):
    athena = lake["athena"]
    qid = athena.start_query_execution(QueryString="SELECT count(*) FROM flights WHERE month = 2",
                                       QueryExecutionContext={"Database": DB},
                                       ResultConfiguration={"OutputLocation": f"s3://{BUCKET}/results/"})["QueryExecutionId"]
    ex = _wait(athena, qid)
    assert ex["Status"]["State"] == "FAILED" and "Cannot apply operator: varchar = integer" in ex["Status"]["StateChangeReason"]
    with pytest.raises(athena.exceptions.InvalidRequestException):
        athena.get_query_results(QueryExecutionId=qid)


@pytest.mark.parametrize("ctas", [False, True])
def test_awswrangler_read_sql_query_gets_the_local_answer(lake, endpoint, ctas):
    import awswrangler as wr

    saved = (wr.config.athena_endpoint_url, wr.config.s3_endpoint_url, wr.config.glue_endpoint_url)
    wr.config.athena_endpoint_url = wr.config.s3_endpoint_url = wr.config.glue_endpoint_url = endpoint
    try:
        session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
        df = wr.athena.read_sql_query(SQL, database=DB, ctas_approach=ctas, s3_output=f"s3://{BUCKET}/wr/",
                                      boto3_session=session)
    finally:
        wr.config.athena_endpoint_url, wr.config.s3_endpoint_url, wr.config.glue_endpoint_url = saved
    assert df["carrier"].tolist()[:2] == ["AA", "UA"] and pd.isna(df["carrier"].tolist()[2])
    assert df["total"].tolist() == [4, 8, 5]
    assert pd.Timestamp(df["last"].iloc[0]) == pd.Timestamp("2013-02-01 10:00:00.250")


def test_redshift_data_api_runs_sql_on_the_local_warehouse(lake):
    rd = lake["redshift-data"]
    sid = rd.execute_statement(WorkgroupName="local", Database="dev",
                               Sql="SELECT 7 / 2 AS q, 'x' AS s, NULL AS n, 2.5::float8 AS f")["Id"]
    desc = rd.describe_statement(Id=sid)
    assert desc["Status"] == "FINISHED" and desc["HasResultSet"] and desc["ResultRows"] == 1
    res = rd.get_statement_result(Id=sid)
    assert [c["name"] for c in res["ColumnMetadata"]] == ["q", "s", "n", "f"]
    assert res["Records"][0][0] == {"longValue": 3}  # Redshift integer division
    assert res["Records"][0][1] == {"stringValue": "x"} and res["Records"][0][2] == {"isNull": True}
    assert res["Records"][0][3] == {"doubleValue": 2.5}
    bad = rd.execute_statement(WorkgroupName="local", Database="dev", Sql="SELECT * FROM no_such_table")["Id"]
    assert rd.describe_statement(Id=bad)["Status"] == "FAILED" and "no_such_table" in rd.describe_statement(Id=bad)["Error"]


def test_datalake_query_goes_through_the_athena_api_with_the_same_answer_and_statistics(lake):
    from athena_queries.api_client import run_query_via_api
    from athena_queries.engine import run_query
    from datalake_base.settings import get_settings

    s = get_settings().model_copy(update={"glue_database": DB, "lake_bucket": BUCKET})
    via_api, direct = run_query_via_api(s, SQL), run_query(s, SQL)
    assert via_api.engine == "athena-api" and via_api.columns == direct.columns and via_api.rows == direct.rows
    a, d = via_api.statistics, direct.statistics
    assert (a.data_scanned_bytes, a.files_opened, a.partitions_total, a.partitions_pruned) == (
        d.data_scanned_bytes, d.files_opened, d.partitions_total, d.partitions_pruned) == (a.data_scanned_bytes, 1, 2, 1)


def test_without_the_local_engine_the_api_client_says_so(local_settings):
    # a plain moto server accepts StartQueryExecution but runs nothing: the CLI falls back to the engine
    from athena_queries.api_client import EndpointRunsNoSql, run_query_via_api

    with pytest.raises(EndpointRunsNoSql):
        run_query_via_api(local_settings, "SELECT 1")


def test_warehouse_query_goes_through_the_data_api_locally(lake):
    from warehouse.data_api import query_via_data_api

    res = query_via_data_api(lake["redshift-data"], "SELECT 9 / 4 AS q, 'a' AS s", database="dev",
                             workgroup="local", require_local_engine=True)
    assert (res.columns, res.rows) == (["q", "s"], [(2, "a")])
