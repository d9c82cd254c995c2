"""Athena SQL -> DuckDB: date functions, Joda patterns, the read-only guard (no AWS needed)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from athena_queries import (
    LocalAthena,
    NamedQueryError,
    ReadOnlyQueryError,
    SqlParseError,
    UnsupportedFunctionError,
    load_named_query,
)
from athena_queries._sql import joda_to_strftime
from athena_queries.glue_types import glue_to_arrow


@pytest.fixture
def engine() -> LocalAthena:
    # SELECTs without FROM never touch Glue or S3.
    return LocalAthena(glue_client=None, s3_filesystem=lambda: pytest.fail("no S3 expected"))


def _one(engine: LocalAthena, sql: str):
    return engine.query(sql, database="db").rows[0]


def test_date_add_days_on_a_date_stays_a_date(engine):
    (value,) = _one(engine, "SELECT date_add('day', 3, DATE '2024-02-27')")
    assert value == dt.date(2024, 3, 1) and type(value) is dt.date


def test_date_add_on_current_date_is_a_date_relative_to_today(engine):
    value, today = _one(engine, "SELECT date_add('day', -1, current_date), current_date")
    assert type(value) is dt.date and value == today - dt.timedelta(days=1)


def test_date_add_month_clamps_to_month_end_like_athena(engine):
    assert _one(engine, "SELECT date_add('month', 1, DATE '2024-01-31')") == (dt.date(2024, 2, 29),)


def test_date_add_hours_on_a_timestamp_stays_a_timestamp(engine):
    assert _one(engine, "SELECT date_add('hour', 2, TIMESTAMP '2024-01-01 23:00:00')") == (dt.datetime(2024, 1, 2, 1),)


def test_date_diff_and_date_trunc(engine):
    row = _one(engine, "SELECT date_diff('day', DATE '2024-01-01', DATE '2024-03-01'), "
                       "date_trunc('month', DATE '2024-03-17'), day_of_week(DATE '2024-03-17')")
    assert row[0] == 60 and row[1] in (dt.date(2024, 3, 1), dt.datetime(2024, 3, 1)) and row[2] == 7


def test_format_datetime_joda_pattern_is_translated(engine):
    row = _one(engine, "SELECT format_datetime(TIMESTAMP '2024-03-05 07:08:09', 'yyyy-MM-dd''T''HH:mm:ss'), "
                       "date_format(TIMESTAMP '2024-03-05 07:08:09', '%Y/%m/%d')")
    assert row == ("2024-03-05T07:08:09", "2024/03/05")


def test_parse_datetime_joda_pattern_is_translated(engine):
    assert _one(engine, "SELECT parse_datetime('05/03/2024 10', 'dd/MM/yyyy HH')") == (dt.datetime(2024, 3, 5, 10),)


def test_format_datetime_with_untranslatable_pattern_is_a_clear_error(engine):
    with pytest.raises(UnsupportedFunctionError, match="format_datetime.*'ww'"):
        engine.query("SELECT format_datetime(current_timestamp, 'ww')", database="db")


def test_format_datetime_with_a_computed_pattern_is_unsupported(engine):
    with pytest.raises(UnsupportedFunctionError, match="literal Joda pattern"):
        engine.query("SELECT format_datetime(current_timestamp, concat('yy', 'yy'))", database="db")


def test_unknown_function_names_the_function_and_the_way_out(engine):
    with pytest.raises(UnsupportedFunctionError, match=r"no_such_fn\(\).*DATALAKE_QUERY_ENGINE=athena"):
        engine.query("SELECT no_such_fn(1)", database="db")


def test_unnest_with_ordinality_free_cross_join(engine):
    rows = engine.query("SELECT r FROM (SELECT ARRAY['a', 'b'] AS xs) t CROSS JOIN UNNEST(xs) AS u(r) ORDER BY r",
                        database="db").rows
    assert rows == [("a",), ("b",)]


def test_result_converts_to_pandas_and_arrow(engine):
    result = engine.query("SELECT 1 AS a, 'x' AS b", database="db")
    assert result.to_pandas().to_dict("records") == [{"a": 1, "b": "x"}]
    assert result.to_arrow().column_names == ["a", "b"]


@pytest.mark.parametrize("sql", [
    "UPDATE t SET a = 1", "DROP DATABASE db", "CREATE EXTERNAL TABLE x (a int) LOCATION 's3://b/'",
    "EXPLAIN SELECT 1", "WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a",
])
def test_statements_other_than_reads_are_rejected(engine, sql):
    with pytest.raises(ReadOnlyQueryError):
        engine.query(sql, database="db")


def test_multiple_statements_are_refused(engine):
    with pytest.raises(SqlParseError, match="exactly one statement"):
        engine.query("SELECT 1; SELECT 2", database="db")


def test_joda_to_strftime_handles_quotes_and_literals():
    assert joda_to_strftime("yyyy-MM-dd HH:mm:ss.SSS") == "%Y-%m-%d %H:%M:%S.%g"
    assert joda_to_strftime("EEE, d MMM yy 'at' h a") == "%a, %-d %b %y at %-I %p"
    assert joda_to_strftime("100%") == "100%%"


@pytest.mark.parametrize(("glue", "arrow"), [
    ("string", pa.string()), ("varchar(10)", pa.string()), ("bigint", pa.int64()), ("int", pa.int32()),
    ("decimal(12,2)", pa.decimal128(12, 2)), ("array<string>", pa.list_(pa.string())),
    ("map<string,int>", pa.map_(pa.string(), pa.int32())),
    ("struct<a:int,b:array<double>>", pa.struct([("a", pa.int32()), ("b", pa.list_(pa.float64()))])),
    ("timestamp", pa.timestamp("us")), ("date", pa.date32()),
])
def test_glue_types_map_to_arrow(glue, arrow):
    assert glue_to_arrow(glue) == arrow


def test_named_query_quotes_identifiers_and_values():
    sql = load_named_query("rejected_by_reason", database="Lake_DB", dataset="job-reqs 2")
    assert 'FROM "lake_db"."rejected_job_reqs_2"' in sql and "'job-reqs 2'  " in sql
    override = load_named_query("rejected_by_reason", database="db", dataset="d", rejected_table="dq_rejected")
    assert 'FROM "db"."dq_rejected"' in override


@pytest.mark.parametrize("params", [
    {"database": "db; DROP TABLE x", "dataset": "d"},
    {"database": "db", "dataset": "x' OR '1'='1"},
    {"database": "db", "dataset": "d", "rejected_table": "a.b"},
])
def test_named_query_refuses_unsafe_parameters(params):
    with pytest.raises(NamedQueryError, match="not"):
        load_named_query("rejected_by_reason", **params)


def test_unknown_or_underspecified_named_query():
    with pytest.raises(NamedQueryError, match="choose one of"):
        load_named_query("../etc/passwd")
    with pytest.raises(NamedQueryError, match="needs parameter"):
        load_named_query("accepted_vs_rejected", database="db")
