"""Trino semantics over partitioned Parquet in S3 (moto), with the Glue types a crawler would give.

Each case cites the Trino documentation for its expected value; the literal-only cases are in
tests/unit/query/test_trino_semantics.py.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from athena_queries.exceptions import QueryExecutionError

from .conftest import DATABASE, Lake

DOCS = "https://trino.io/docs/current"
COLS = [("dep_delay", "bigint"), ("distance", "int"), ("carrier", "string"), ("dep_time", "timestamp"),
        ("fare", "decimal(10,2)"), ("tags", "array<string>"), ("attrs", "map<string,int>")]
PARTS = [("year", "string"), ("month", "string")]


def _month(m: int) -> pa.Table:
    n = 4
    return pa.table({
        "dep_delay": pa.array([m * 10 + i - 2 for i in range(n)], pa.int64()),
        "distance": pa.array([100 * (i + 1) + m for i in range(n)], pa.int32()),
        "carrier": [["UA", "AA"][i % 2] for i in range(n)],
        "dep_time": pa.array([dt.datetime(2013, m, 1 + i, 10 + i, 30) for i in range(n)], pa.timestamp("ms")),
        "fare": pa.array([Decimal(f"{10 * (i + 1)}.{m:02d}") for i in range(n)], pa.decimal128(10, 2)),
        "tags": [["a", "b"][: 1 + i % 2] for i in range(n)],
        "attrs": pa.array([[("seats", 100 + i), ("gate", m)] for i in range(n)], pa.map_(pa.string(), pa.int32())),
    })


@pytest.fixture
def flights(lake: Lake, engine) -> dict[int, pa.Table]:
    lake.create_table("flights", COLS, prefix="flights", partition_keys=PARTS)
    months = {m: _month(m) for m in (1, 2, 3)}
    for m, t in months.items():
        lake.put_parquet(f"flights/year=2013/month={m}/part-0.parquet", t)
    lake.add_partitions("flights", "flights", [["2013", str(m)] for m in months], ["year", "month"])
    return months


def _q(engine, sql: str) -> list[tuple]:
    return engine.query(sql, database=DATABASE).rows


CASES = [
    # integer division of bigint/int columns truncates (math.html: "integer division performs truncation")
    ("SELECT dep_delay / 4 FROM flights WHERE month = '1' AND distance = 101", [(2,)], f"{DOCS}/functions/math.html"),
    ("SELECT sum(distance) / count(*) FROM flights WHERE month = '2'", [(252,)], f"{DOCS}/functions/math.html"),
    ("SELECT -dep_delay / 4 FROM flights WHERE month = '1' AND distance = 101", [(-2,)], f"{DOCS}/functions/math.html"),
    # decimal / integer stays decimal with the column's scale (decimal.html)
    ("SELECT fare / 3 FROM flights WHERE month = '1' AND distance = 101", [(Decimal("3.34"),)],
     f"{DOCS}/functions/decimal.html"),
    # timestamp(3) to varchar keeps milliseconds (language/types.html, timestamp(P))
    ("SELECT CAST(dep_time AS varchar) FROM flights WHERE month = '3' AND distance = 103",
     [("2013-03-01 10:30:00.000",)], f"{DOCS}/language/types.html"),
    # date_diff in whole units over a column (datetime.html)
    ("SELECT date_diff('day', dep_time, TIMESTAMP '2013-01-02 10:00') FROM flights WHERE month = '1' AND distance = 101",
     [(0,)], f"{DOCS}/functions/datetime.html"),
    # typeof names Trino types (conversion.html)
    ("SELECT typeof(dep_delay), typeof(distance), typeof(carrier), typeof(fare), typeof(tags) FROM flights "
     "WHERE month = '1' AND distance = 101", [("bigint", "integer", "varchar", "decimal(10,2)", "array(varchar)")],
     f"{DOCS}/functions/conversion.html"),
    # map columns: cardinality and UNNEST into key/value (map.html, select.html#unnest)
    ("SELECT cardinality(attrs) FROM flights WHERE month = '1' AND distance = 101", [(2,)], f"{DOCS}/functions/map.html"),
    ("SELECT k, v FROM flights CROSS JOIN UNNEST(attrs) AS t(k, v) WHERE month = '2' AND distance = 102 ORDER BY k",
     [("gate", 2), ("seats", 100)], f"{DOCS}/sql/select.html#unnest"),
    # sum of an integer column is a number (bigint), not a decimal string (aggregate.html)
    ("SELECT typeof(sum(dep_delay)) FROM flights", [("bigint",)], f"{DOCS}/functions/aggregate.html"),
]


@pytest.mark.parametrize(("sql", "expected", "doc"), CASES, ids=[c[0][7:50] for c in CASES])
def test_partitioned_data_answers_as_trino(engine, flights, sql, expected, doc):
    assert _q(engine, sql) == expected, f"{sql}: see {doc}"


def test_string_partition_key_against_an_integer_is_a_type_error_as_in_athena(engine, flights):
    # conversion.html: "Trino will not convert between character and numeric types"
    with pytest.raises(QueryExecutionError, match="Cannot apply operator: varchar = integer"):
        _q(engine, "SELECT count(*) FROM flights WHERE year = 2013")
    assert _q(engine, "SELECT count(*) FROM flights WHERE year = '2013'") == [(12,)]


def test_array_subscript_past_the_end_fails_on_column_data(engine, flights):
    # array.html: element_at returns NULL where "the subscript operator would fail"
    with pytest.raises(QueryExecutionError, match="Array subscript must be less than or equal to array length"):
        _q(engine, "SELECT tags[2] FROM flights WHERE month = '1'")
    assert sorted(_q(engine, "SELECT element_at(tags, 2) FROM flights WHERE month = '1'"), key=str) == [
        ("b",), ("b",), (None,), (None,)]


def test_describe_shows_glue_types(engine, flights):
    desc = engine.query("DESCRIBE flights", database=DATABASE)
    assert [r[1] for r in desc.rows] == [t for _, t in COLS] + ["string", "string"]
