"""RedshiftWarehouse against stubbed redshift-data and S3 clients (botocore Stubber): exact SQL and manifest."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest
from botocore.stub import Stubber

from warehouse import LoadError, RedshiftWarehouse, StatementError, WarehouseConfigError
from warehouse.redshift import LEDGER_DDL

ROLE = "arn:aws:iam::123456789012:role/datalake-copy"

TARGET = {"Database": "dev", "WorkgroupName": "wg-lake"}
A, B = "s3://lake/accepted/dataset=jobs/ingest_date=2024-01-01/a.parquet", "s3://lake/accepted/dataset=jobs/ingest_date=2024-01-02/b.parquet"
COLUMNS = [("uniq_id", "varchar(64)"), ("salary", "BIGINT")]
LEDGER_SELECT = "SELECT file_uri FROM datalake_meta.load_ledger WHERE schema_name = :schema AND table_name = :table"


@pytest.fixture
def clients():
    rsd = boto3.client("redshift-data", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(rsd) as rs_stub, Stubber(s3) as s3_stub:
        yield rsd, s3, rs_stub, s3_stub
        rs_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()


def _warehouse(rsd, s3) -> RedshiftWarehouse:
    return RedshiftWarehouse(rsd, workgroup="wg-lake", database="dev", iam_role_arn=ROLE, s3_client=s3,
                             manifest_prefix="s3://lake/_manifests/redshift/", sleep=lambda _s: None)


def _finished(stub, op: str, params: dict, sid: str, **describe) -> None:
    stub.add_response(op, {"Id": sid}, params)
    stub.add_response("describe_statement", {"Id": sid, "Status": "FINISHED", **describe}, {"Id": sid})


def _ledger_read(stub, already: list[str]) -> None:
    _finished(stub, "batch_execute_statement", {**TARGET, "Sqls": LEDGER_DDL}, "ddl")
    _finished(stub, "execute_statement", {
        **TARGET, "Sql": LEDGER_SELECT,
        "Parameters": [{"name": "schema", "value": "dq"}, {"name": "table", "value": "accepted"}],
    }, "ledger", HasResultSet=True)
    stub.add_response("get_statement_result", {
        "Records": [[{"stringValue": u}] for u in already], "ColumnMetadata": [{"name": "file_uri"}],
    }, {"Id": "ledger"})


def test_copy_writes_manifest_and_runs_one_transaction_with_exact_copy_sql(clients):
    rsd, s3, rs_stub, s3_stub = clients
    # given A already loaded and B new (1234 bytes)
    _ledger_read(rs_stub, [A])
    s3_stub.add_response("head_object", {"ContentLength": 1234},
                         {"Bucket": "lake", "Key": B.split("lake/", 1)[1]})
    load_id = hashlib.sha256(json.dumps(["dq.accepted", [[B, 1234]]]).encode()).hexdigest()[:16]
    manifest_key = f"_manifests/redshift/dq.accepted/{load_id}.manifest"
    manifest = {"entries": [{"url": B, "mandatory": True, "meta": {"content_length": 1234}}]}
    s3_stub.add_response("put_object", {}, {
        "Bucket": "lake", "Key": manifest_key, "ContentType": "application/json",
        "Body": json.dumps(manifest, indent=2, sort_keys=True).encode(),
    })
    expected_sqls = [
        'CREATE SCHEMA IF NOT EXISTS "dq"',
        'CREATE TABLE IF NOT EXISTS "dq"."accepted" ("uniq_id" VARCHAR(64), "salary" BIGINT)',
        f"COPY \"dq\".\"accepted\" FROM 's3://lake/{manifest_key}' IAM_ROLE '{ROLE}' FORMAT AS PARQUET MANIFEST",
        "INSERT INTO datalake_meta.load_ledger (schema_name, table_name, file_uri, content_length, load_id) "
        f"VALUES ('dq', 'accepted', '{B}', 1234, '{load_id}')",
        "SELECT pg_last_copy_count()",
    ]
    rs_stub.add_response("batch_execute_statement", {"Id": "copy"}, {**TARGET, "Sqls": expected_sqls})
    rs_stub.add_response("describe_statement", {"Id": "copy", "Status": "STARTED"}, {"Id": "copy"})
    rs_stub.add_response("describe_statement", {
        "Id": "copy", "Status": "FINISHED",
        "SubStatements": [{"Id": f"copy:{i}", "Status": "FINISHED"} for i in range(1, 6)],
    }, {"Id": "copy"})
    rs_stub.add_response("get_statement_result", {"Records": [[{"longValue": 42}]]}, {"Id": "copy:5"})
    # when loading A and B
    result = _warehouse(rsd, s3).copy_parquet(schema="dq", table="accepted", s3_uris=[A, B], columns=COLUMNS)
    # then only B was copied, through the manifest, and COPY's own row count is reported
    assert (result.table, result.rows_loaded, result.files, result.skipped_files) == ("dq.accepted", 42, 1, [A])


def test_all_files_already_loaded_issues_no_copy(clients):
    rsd, s3, rs_stub, _ = clients
    _ledger_read(rs_stub, [A, B])
    result = _warehouse(rsd, s3).copy_parquet(schema="dq", table="accepted", s3_uris=[A, B], columns=COLUMNS)
    assert (result.rows_loaded, result.files, result.skipped_files) == (0, 0, [A, B])


def test_failed_copy_reports_sys_load_error_detail(clients):
    rsd, s3, rs_stub, s3_stub = clients
    _ledger_read(rs_stub, [])
    s3_stub.add_response("head_object", {"ContentLength": 10}, {"Bucket": "lake", "Key": A.split("lake/", 1)[1]})
    s3_stub.add_response("put_object", {})
    rs_stub.add_response("batch_execute_statement", {"Id": "copy"})
    rs_stub.add_response("describe_statement", {
        "Id": "copy", "Status": "FAILED", "Error": "ERROR: Spectrum Scan Error. incompatible Parquet schema"},
        {"Id": "copy"})
    rs_stub.add_response("execute_statement", {"Id": "errs"})
    rs_stub.add_response("describe_statement", {"Id": "errs", "Status": "FINISHED", "HasResultSet": True})
    rs_stub.add_response("get_statement_result", {"Records": [[
        {"longValue": 7}, {"stringValue": "2024-01-01 00:00:00"}, {"stringValue": A}, {"longValue": 0},
        {"stringValue": "salary"}, {"stringValue": "int4"}, {"longValue": 15007},
        {"stringValue": "incompatible Parquet schema"},
    ]]})
    with pytest.raises(LoadError, match="Spectrum Scan Error") as err:
        _warehouse(rsd, s3).copy_parquet(schema="dq", table="accepted", s3_uris=[A], columns=COLUMNS)
    assert err.value.file == A and err.value.column == "salary"
    assert err.value.details[0]["error_code"] == 15007


def test_query_pages_through_statement_results(clients):
    rsd, s3, rs_stub, _ = clients
    _finished(rs_stub, "execute_statement", {**TARGET, "Sql": "SELECT id, name FROM t"}, "q", HasResultSet=True)
    meta = [{"name": "id"}, {"name": "name"}]
    rs_stub.add_response("get_statement_result", {"Records": [[{"longValue": 1}, {"stringValue": "a"}]],
                                                  "ColumnMetadata": meta, "NextToken": "n"}, {"Id": "q"})
    rs_stub.add_response("get_statement_result", {"Records": [[{"longValue": 2}, {"isNull": True}]],
                                                  "ColumnMetadata": meta}, {"Id": "q", "NextToken": "n"})
    result = _warehouse(rsd, s3).query("SELECT id, name FROM t")
    assert (result.columns, result.rows) == (["id", "name"], [(1, "a"), (2, None)])


def test_configuration_errors_name_the_setting():
    with pytest.raises(WarehouseConfigError, match="exactly one of workgroup"):
        RedshiftWarehouse(object(), database="dev", iam_role_arn=ROLE, s3_client=object(), manifest_prefix="s3://b/m")
    with pytest.raises(WarehouseConfigError, match="DATALAKE_REDSHIFT_COPY_ROLE_ARN"):
        RedshiftWarehouse(object(), workgroup="wg", database="dev", iam_role_arn="", s3_client=object(),
                          manifest_prefix="s3://b/m")


def test_replace_key_copies_into_staging_then_merges_in_the_same_batch(clients):
    sqls = _warehouse(*clients[:2]).copy_statements(
        "dq", "jobs", [("source_key", "VARCHAR(1024)"), ("n", "BIGINT")],
        "s3://lake/m.manifest", [("s3://lake/a.parquet", 10)], "load1", replace_key="source_key")
    text = "\n".join(sqls)
    assert 'CREATE TEMP TABLE "stage_jobs" (LIKE "dq"."jobs")' in text
    assert text.index('COPY "stage_jobs"') < text.index('DELETE FROM "dq"."jobs" USING "stage_jobs"')
    assert 'INSERT INTO "dq"."jobs" SELECT * FROM "stage_jobs"' in text


def test_prune_keeps_listed_keys_through_a_temp_table_with_escaped_literals(clients):
    sqls = _warehouse(*clients[:2]).prune_statements("dq", "jobs", "source_key", ["a.csv", "it's.csv"])
    assert sqls[0].startswith("CREATE TEMP TABLE keep_keys")
    assert "('it''s.csv')" in sqls[1]
    assert sqls[-1] == ('DELETE FROM "dq"."jobs" WHERE "source_key" IS NULL OR "source_key" NOT IN '
                        "(SELECT k FROM keep_keys)")


def test_external_schema_maps_the_glue_database_through_spectrum_once(clients):
    rsd, s3, rs_stub, _ = clients
    sql = ("CREATE EXTERNAL SCHEMA IF NOT EXISTS \"dq_rejected\" FROM DATA CATALOG DATABASE 'datalake' "
           f"IAM_ROLE '{ROLE}'")
    _finished(rs_stub, "execute_statement", {**TARGET, "Sql": sql}, "ext")
    _warehouse(rsd, s3).ensure_external_schema(schema="dq_rejected", glue_database="datalake")


def test_external_schema_refuses_a_database_name_that_is_not_an_identifier(clients):
    with pytest.raises(WarehouseConfigError, match="DATALAKE_GLUE_DATABASE"):
        _warehouse(*clients[:2]).external_schema_statement("dq_rejected", "lake'; DROP TABLE x; --")


def test_a_failed_external_schema_statement_raises_with_redshift_s_reason(clients):
    rsd, s3, rs_stub, _ = clients
    rs_stub.add_response("execute_statement", {"Id": "ext"})
    rs_stub.add_response("describe_statement", {"Id": "ext", "Status": "FAILED",
                                                "Error": "ERROR: Not authorized to get credentials of role"}, {"Id": "ext"})
    with pytest.raises(StatementError, match="Not authorized"):
        _warehouse(rsd, s3).ensure_external_schema(schema="dq_rejected", glue_database="datalake")
