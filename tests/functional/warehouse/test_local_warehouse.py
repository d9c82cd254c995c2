"""LocalWarehouse loads Parquet from the moto S3 endpoint with Redshift COPY's semantics."""

from __future__ import annotations

import datetime as dt
import decimal
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from athena_queries import s3_filesystem
from warehouse import (
    BadValueError,
    ColumnCountMismatchError,
    IncompatibleSchemaError,
    LocalWarehouse,
    LoadError,
    build_warehouse,
    WarehouseError,
    redshift_type,
)

BUCKET = "wh-lake"
COLUMNS = [("uniq_id", "VARCHAR(16)"), ("salary", "BIGINT"), ("posted", "DATE"), ("score", "DOUBLE PRECISION")]


@pytest.fixture
def put(local_settings, s3):
    s3.create_bucket(Bucket=BUCKET)

    def _put(key: str, table: pa.Table) -> str:
        buf = io.BytesIO()
        pq.write_table(table, buf)
        s3.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())
        return f"s3://{BUCKET}/{key}"

    return _put


@pytest.fixture
def wh(local_settings, tmp_path) -> LocalWarehouse:
    return LocalWarehouse(tmp_path / "wh.duckdb", lambda: s3_filesystem(local_settings))


def _rows(n: int, start: int = 0, **override) -> pa.Table:
    data = {
        "uniq_id": [f"id{i}" for i in range(start, start + n)],
        "salary": pa.array([1000 * i for i in range(start, start + n)], pa.int64()),
        "posted": [dt.date(2024, 1, 1 + i % 28) for i in range(start, start + n)],
        "score": [i / 2 for i in range(start, start + n)],
    }
    data.update(override)
    return pa.table(data)


def test_copy_maps_columns_by_position_not_by_name(wh, put):
    # given a file whose column names differ from the table's, in the table's order
    renamed = _rows(3).rename_columns(["a", "b", "c", "d"])
    uri = put("accepted/x.parquet", renamed)
    # when loaded
    result = wh.copy_parquet(schema="dq", table="accepted", s3_uris=[uri], columns=COLUMNS)
    # then values land by position
    assert (result.table, result.rows_loaded, result.files) == ("dq.accepted", 3, 1)
    got = wh.query("SELECT uniq_id, salary, posted, score FROM dq.accepted ORDER BY salary").rows
    assert got == [("id0", 0, dt.date(2024, 1, 1), 0.0), ("id1", 1000, dt.date(2024, 1, 2), 0.5),
                   ("id2", 2000, dt.date(2024, 1, 3), 1.0)]


def test_column_count_mismatch_fails_whole_load_and_rolls_back(wh, put):
    good = put("accepted/good.parquet", _rows(2))
    wh.copy_parquet(schema="dq", table="accepted", s3_uris=[good], columns=COLUMNS)
    # given one good new file and one with an extra column
    good2 = put("accepted/good2.parquet", _rows(2, start=10))
    extra = put("accepted/extra.parquet", _rows(2, start=20).append_column("x", pa.array([1, 2])))
    # when both are loaded together
    with pytest.raises(ColumnCountMismatchError, match="Spectrum Scan Error") as err:
        wh.copy_parquet(schema="dq", table="accepted", s3_uris=[good2, extra], columns=COLUMNS)
    # then nothing of the batch was loaded, the error names the file and was recorded
    assert "5 column(s)" in str(err.value) and extra in str(err.value)
    assert wh.query("SELECT count(*) FROM dq.accepted").rows == [(2,)]
    errors = wh.query("SELECT file_name, error_code, error_message FROM sys_load_error_detail").rows
    assert errors[0][0] == extra and errors[0][1] == 15007 and "Spectrum Scan Error" in errors[0][2]
    # and the good file is not marked loaded: a corrected retry loads it
    result = wh.copy_parquet(schema="dq", table="accepted", s3_uris=[good2], columns=COLUMNS)
    assert result.rows_loaded == 2


def test_one_value_too_long_fails_the_whole_load(wh, put):
    ok = put("a/ok.parquet", _rows(3))
    bad = put("a/bad.parquet", _rows(3, uniq_id=["short", "x" * 17, "y"]))
    with pytest.raises(BadValueError, match="String length exceeds DDL length") as err:
        wh.copy_parquet(schema="dq", table="accepted", s3_uris=[ok, bad], columns=COLUMNS)
    assert err.value.column == "uniq_id" and err.value.details[0]["line_number"] == 2
    # the table was created inside the failed transaction, so it does not exist either
    assert wh.query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'accepted'").rows == [(0,)]


def test_int64_into_integer_column_is_an_incompatible_parquet_schema(wh, put):
    uri = put("a/f.parquet", _rows(1))
    cols = [("uniq_id", "VARCHAR(16)"), ("salary", "INTEGER"), ("posted", "DATE"), ("score", "DOUBLE PRECISION")]
    with pytest.raises(IncompatibleSchemaError, match="incompatible Parquet schema for column 'salary'"):
        wh.copy_parquet(schema="dq", table="t", s3_uris=[uri], columns=cols)


def test_reloading_the_same_files_does_not_duplicate_rows(wh, put):
    a = put("a/1.parquet", _rows(2))
    b = put("a/2.parquet", _rows(3, start=5))
    first = wh.copy_parquet(schema="dq", table="accepted", s3_uris=[a], columns=COLUMNS)
    again = wh.copy_parquet(schema="dq", table="accepted", s3_uris=[a, b, b], columns=COLUMNS)
    assert (first.rows_loaded, again.rows_loaded, again.files, again.skipped_files) == (2, 3, 1, [a])
    noop = wh.copy_parquet(schema="dq", table="accepted", s3_uris=[a, b], columns=COLUMNS)
    assert (noop.rows_loaded, noop.files) == (0, 0)
    assert wh.query("SELECT count(*) FROM dq.accepted").rows == [(5,)]
    # the ledger is per table: the same file may load into another table
    other = wh.copy_parquet(schema="dq", table="accepted_copy", s3_uris=[a], columns=COLUMNS)
    assert other.rows_loaded == 2


def test_created_table_uses_redshift_compatible_types(wh, put):
    table = pa.table({
        "flag": [True], "small": pa.array([1], pa.int16()), "n": pa.array([1], pa.int32()),
        "amount": pa.array([decimal.Decimal("12.34")], pa.decimal128(10, 2)), "ratio": pa.array([0.5], pa.float32()),
        "at": pa.array([dt.datetime(2024, 1, 1, 12)], pa.timestamp("us")), "tags": ["a"],
    })
    uri = put("t/typed.parquet", table)
    cols = [(f.name, redshift_type(f.type)) for f in table.schema]
    assert [t for _, t in cols] == ["BOOLEAN", "SMALLINT", "INTEGER", "DECIMAL(10,2)", "REAL", "TIMESTAMP",
                                    "VARCHAR(65535)"]
    wh.copy_parquet(schema="dq", table="typed", s3_uris=[uri], columns=cols)
    types = wh.query("SELECT data_type FROM information_schema.columns WHERE table_name = 'typed' "
                     "ORDER BY ordinal_position").rows
    assert [t[0] for t in types] == ["BOOLEAN", "SMALLINT", "INTEGER", "DECIMAL(10,2)", "FLOAT", "TIMESTAMP",
                                     "VARCHAR"]
    assert wh.query("SELECT amount, at FROM dq.typed").rows == [(decimal.Decimal("12.34"), dt.datetime(2024, 1, 1, 12))]


def test_missing_file_fails_like_a_mandatory_manifest_entry(wh, put):
    ok = put("a/ok.parquet", _rows(1))
    with pytest.raises(LoadError, match="cannot read s3://wh-lake/a/missing.parquet"):
        wh.copy_parquet(schema="dq", table="accepted", s3_uris=[ok, f"s3://{BUCKET}/a/missing.parquet"], columns=COLUMNS)


def test_build_warehouse_local_keeps_the_duckdb_file_in_the_state_dir(local_settings, put):
    wh = build_warehouse(local_settings)
    assert isinstance(wh, LocalWarehouse) and wh.path == local_settings.state_path / "warehouse.duckdb"
    uri = put("a/one.parquet", _rows(1))
    assert wh.copy_parquet(schema="dq", table="accepted", s3_uris=[uri], columns=COLUMNS).rows_loaded == 1
    assert wh.path.exists()


def test_reload_with_a_replace_key_replaces_that_keys_rows_instead_of_duplicating(wh, put):
    # given rows for ids 0..4 loaded from one run's file
    wh.copy_parquet(schema="dq", table="t", s3_uris=[put("run=1/a.parquet", _rows(5))], columns=COLUMNS,
                    replace_key="uniq_id")
    # when a later run re-publishes ids 3..6 under a new file name
    result = wh.copy_parquet(schema="dq", table="t", s3_uris=[put("run=2/a.parquet", _rows(4, start=3))],
                             columns=COLUMNS, replace_key="uniq_id")
    # then ids 3 and 4 are replaced, not duplicated
    assert result.rows_loaded == 4
    rows = wh.query("SELECT uniq_id, count(*) FROM dq.t GROUP BY uniq_id ORDER BY uniq_id").rows
    assert rows == [(f"id{i}", 1) for i in range(7)]


def test_rows_of_sources_no_longer_kept_are_deleted(wh, put):
    cols = [("source_key", "VARCHAR(64)"), ("n", "BIGINT")]
    table = pa.table({"source_key": ["a", "a", "b"], "n": pa.array([1, 2, 3], pa.int64())})
    wh.copy_parquet(schema="dq", table="t", s3_uris=[put("x.parquet", table)], columns=cols)

    deleted = wh.delete_missing(schema="dq", table="t", key_column="source_key", keep=["a"])

    assert deleted == 1
    assert wh.query("SELECT source_key, count(*) FROM dq.t GROUP BY 1").rows == [("a", 2)]
    assert wh.delete_missing(schema="dq", table="absent", key_column="source_key", keep=[]) == 0


def test_queries_divide_integers_as_redshift_does(wh):
    # Redshift: integer / integer truncates toward zero; numeric division keeps the fraction
    res = wh.query("SELECT 7 / 2 AS a, -7 / 2 AS b, 7 / 2.0 AS c, CAST(9 AS BIGINT) / 4 AS d")
    assert res.rows[0][:2] == (3, -3) and float(res.rows[0][2]) == 3.5 and res.rows[0][3] == 2


def test_division_by_zero_fails_as_in_redshift(wh):
    with pytest.raises(WarehouseError, match="[Dd]ivision by zero"):
        wh.query("SELECT 1 / 0")
