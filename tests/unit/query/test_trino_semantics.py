"""The local Athena engine answers as Trino (Athena engine v3) does, literal by literal.

Every case cites the Trino documentation page its expected value comes from (most are the
documented examples themselves); ``Err`` cases must fail as Trino fails, not answer.
Cases over partitioned data live in tests/functional/query/test_trino_partitioned.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest

from athena_queries import LocalAthena

DOCS = "https://trino.io/docs/current"
MATH = f"{DOCS}/functions/math.html"
DEC = f"{DOCS}/functions/decimal.html"
DT = f"{DOCS}/functions/datetime.html"
RE = f"{DOCS}/functions/regexp.html"
CONV = f"{DOCS}/functions/conversion.html"
ARR = f"{DOCS}/functions/array.html"
MAP = f"{DOCS}/functions/map.html"
STR = f"{DOCS}/functions/string.html"
COND = f"{DOCS}/functions/conditional.html"
CMP = f"{DOCS}/functions/comparison.html"
AGG = f"{DOCS}/functions/aggregate.html"
SEL = f"{DOCS}/sql/select.html#unnest"
TYPES = f"{DOCS}/language/types.html"


@dataclass(frozen=True)
class Err:
    """The query must fail with a message containing ``text``."""

    text: str


@dataclass(frozen=True)
class Rows:
    """The whole result, row by row."""

    rows: list[tuple]


CASES: list[tuple[str, object, str]] = [
    # --- arithmetic: integer division truncates, division by zero fails ----------------------
    ("SELECT 5 / 2", 2, MATH),
    ("SELECT -5 / 2", -2, MATH),
    ("SELECT 7 / -2", -3, MATH),
    ("SELECT 9 / 3", 3, MATH),
    ("SELECT CAST(10 AS bigint) / 4", 2, MATH),
    ("SELECT typeof(5 / 2)", "integer", MATH),
    ("SELECT 1 / 0", Err("Division by zero"), MATH),
    ("SELECT 7 % 3", 1, MATH),
    ("SELECT mod(-7, 3)", -1, MATH),
    ("SELECT 5e0 / 2", 2.5, MATH),
    ("SELECT round(2.5e0)", 3.0, MATH),
    ("SELECT round(-2.5e0)", -3.0, MATH),
    ("SELECT round(1.2345e0, 2)", 1.23, MATH),
    ("SELECT truncate(-1.7e0)", -1.0, MATH),
    ("SELECT sign(-5)", -1, MATH),
    ("SELECT power(2, 10)", 1024.0, MATH),
    ("SELECT abs(-3)", 3, MATH),
    # --- decimal arithmetic: decimal result, scale max(xs, ys), zero divisor fails ---------------
    ("SELECT 5.0 / 2", Decimal("2.5"), DEC),
    ("SELECT 7 / 2.0", Decimal("3.5"), DEC),
    ("SELECT DECIMAL '1.00' / DECIMAL '3'", Decimal("0.33"), DEC),
    ("SELECT CAST(10 AS decimal(10,2)) / CAST(4 AS decimal(10,2))", Decimal("2.50"), DEC),
    ("SELECT CAST(1 AS decimal(10,2)) / CAST(3 AS decimal(10,2))", Decimal("0.33"), DEC),
    ("SELECT 1.0 / 0", Err("Division by zero"), DEC),
    # --- date_diff counts whole units; date arithmetic ------------------------------------------
    ("SELECT date_diff('second', TIMESTAMP '2020-03-01 00:00:00', TIMESTAMP '2020-03-02 00:00:00')", 86400, DT),
    ("SELECT date_diff('hour', TIMESTAMP '2020-03-01 00:00:00 UTC', TIMESTAMP '2020-03-02 00:00:00 UTC')", 24, DT),
    ("SELECT date_diff('day', DATE '2020-03-01', DATE '2020-03-02')", 1, DT),
    ("SELECT date_diff('day', TIMESTAMP '2024-01-01 23:00', TIMESTAMP '2024-01-02 01:00')", 0, DT),
    ("SELECT date_diff('hour', TIMESTAMP '2024-01-01 10:30', TIMESTAMP '2024-01-01 12:29')", 1, DT),
    ("SELECT date_diff('minute', TIMESTAMP '2024-01-01 10:05', TIMESTAMP '2024-01-01 10:00')", -5, DT),
    ("SELECT date_diff('year', DATE '2020-06-01', DATE '2021-05-31')", 0, DT),
    ("SELECT date_diff('week', DATE '2024-01-01', DATE '2024-01-14')", 1, DT),
    ("SELECT date_add('second', 86, TIMESTAMP '2020-03-01 00:00:00')", dt.datetime(2020, 3, 1, 0, 1, 26), DT),
    ("SELECT date_add('hour', 9, TIMESTAMP '2020-03-01 00:00:00')", dt.datetime(2020, 3, 1, 9), DT),
    ("SELECT date_add('day', -1, TIMESTAMP '2020-03-01 00:00:00')", dt.datetime(2020, 2, 29), DT),
    ("SELECT timestamp '2012-10-31 01:00' + interval '1' month", dt.datetime(2012, 11, 30, 1), DT),
    ("SELECT timestamp '2012-10-31 01:00' - interval '1' month", dt.datetime(2012, 9, 30, 1), DT),
    ("SELECT timestamp '2012-08-08 01:00' + interval '29' hour", dt.datetime(2012, 8, 9, 6), DT),
    ("SELECT date_trunc('month', TIMESTAMP '2022-10-20 05:10:00')", dt.datetime(2022, 10, 1), DT),
    ("SELECT date_trunc('year', TIMESTAMP '2022-10-20 05:10:00')", dt.datetime(2022, 1, 1), DT),
    ("SELECT date_trunc('day', TIMESTAMP '2022-10-20 05:10:00')", dt.datetime(2022, 10, 20), DT),
    ("SELECT last_day_of_month(DATE '2024-02-10')", dt.date(2024, 2, 29), DT),
    ("SELECT day_of_week(DATE '2024-03-05')", 2, DT),
    ("SELECT day_of_year(DATE '2024-03-05')", 65, DT),
    ("SELECT quarter(DATE '2024-05-01')", 2, DT),
    ("SELECT to_unixtime(TIMESTAMP '1970-01-02 00:00:00')", 86400.0, DT),
    ("SELECT format_datetime(TIMESTAMP '2024-01-02 03:04:05', 'yyyy-MM-dd HH:mm')", "2024-01-02 03:04", DT),
    ("SELECT date_format(TIMESTAMP '2024-01-02 03:04:05', '%Y/%m/%d')", "2024/01/02", DT),
    # --- time zones: AT TIME ZONE converts from UTC (the session zone); zoned values keep their clock
    ("SELECT TIMESTAMP '2012-10-31 01:00 UTC' AT TIME ZONE 'America/Los_Angeles'", dt.datetime(2012, 10, 30, 18), DT),
    ("SELECT hour(TIMESTAMP '2012-10-31 01:00 UTC' AT TIME ZONE 'America/Los_Angeles')", 18, DT),
    ("SELECT hour(from_iso8601_timestamp('2020-05-11T11:15:05.055+01:00'))", 11, DT),
    ("SELECT minute(from_iso8601_timestamp('2020-05-11T11:15:05.055+01:00'))", 15, DT),
    ("SELECT hour(from_iso8601_timestamp('2024-01-01T10:00:00+05:00'))", 10, DT),
    ("SELECT from_iso8601_timestamp('2024-01-01T10:00:00+05:00') AT TIME ZONE 'UTC'", dt.datetime(2024, 1, 1, 5), DT),
    ("SELECT from_iso8601_timestamp('2020-05-11')", dt.datetime(2020, 5, 11), DT),
    ("SELECT from_iso8601_timestamp('2020-05-11T11:15:05')", dt.datetime(2020, 5, 11, 11, 15, 5), DT),
    # --- CAST to varchar: timestamps keep milliseconds ---------------------------------------------
    ("SELECT CAST(TIMESTAMP '2024-01-02 03:04:05.120' AS varchar)", "2024-01-02 03:04:05.120", TYPES),
    ("SELECT CAST(DATE '2024-01-02' AS varchar)", "2024-01-02", TYPES),
    # --- regular expressions: no match is NULL; $g back-references ----------------------------------
    (r"SELECT regexp_extract('1a 2b 14m', '\d+')", "1", RE),
    (r"SELECT regexp_extract('1a 2b 14m', '(\d+)([a-z]+)', 2)", "a", RE),
    ("SELECT regexp_extract('abc', 'x(.)')", None, RE),
    ("SELECT regexp_extract('abc', 'x(.)', 1)", None, RE),
    (r"SELECT regexp_extract_all('1a 2b 14m', '\d+')", ["1", "2", "14"], RE),
    (r"SELECT regexp_extract_all('1a 2b 14m', '(\d+)([a-z]+)', 2)", ["a", "b", "m"], RE),
    (r"SELECT regexp_like('1a 2b 14m', '\d+b')", True, RE),
    (r"SELECT regexp_replace('1a 2b 14m', '\d+[ab] ')", "14m", RE),
    (r"SELECT regexp_replace('1a 2b 14m', '(\d+)([ab]) ', '3c$2 ')", "3ca 3cb 14m", RE),
    (r"SELECT regexp_replace('abc', '(b)', '[$1$1]')", "a[bb]c", RE),
    (r"SELECT regexp_replace('abc', '(b)', '\$1')", "a$1c", RE),
    (r"SELECT regexp_count('1a 2b 14m', '\s*[a-z]+\s*')", 3, RE),
    (r"SELECT regexp_split('1a 2b 14m', '\s*[a-z]+\s*')", ["1", "2", "14", ""], RE),
    # --- conversion: no implicit varchar <-> number; try_cast is NULL where cast fails ---------------
    ("SELECT try_cast('12.5' AS integer)", None, CONV),
    ("SELECT try_cast('12' AS integer)", 12, CONV),
    ("SELECT try_cast('abc' AS integer)", None, CONV),
    ("SELECT try_cast('-7' AS bigint)", -7, CONV),
    ("SELECT CAST('12.5' AS integer)", Err("Cannot cast '12.5'"), CONV),
    ("SELECT CAST('12.5' AS double)", 12.5, CONV),
    ("SELECT try_cast('12.5' AS decimal(4,1))", Decimal("12.5"), CONV),
    ("SELECT 'a' = 1", Err("Cannot apply operator: varchar(1) = integer"), CONV),
    ("SELECT 1 IN ('1', '2')", Err("Cannot apply operator"), CONV),
    ("SELECT '5' BETWEEN 1 AND 10", Err("Cannot apply operator"), CONV),
    ("SELECT typeof(123)", "integer", CONV),
    ("SELECT typeof('cat')", "varchar(3)", CONV),
    ("SELECT typeof(cos(2) + 1.5)", "double", CONV),
    ("SELECT typeof(CAST(1 AS bigint))", "bigint", TYPES),
    ("SELECT typeof(DATE '2024-01-01')", "date", TYPES),
    ("SELECT typeof(true)", "boolean", TYPES),
    ("SELECT typeof(1e0)", "double", TYPES),
    ("SELECT typeof(ARRAY[1, 2])", "array(integer)", TYPES),
    ("SELECT format('%03d', 8)", "008", CONV),
    ("SELECT format('%.5f', pi())", "3.14159", CONV),
    # --- arrays: the subscript fails out of range, element_at is NULL --------------------------------
    ("SELECT ARRAY[1, 2, 3][2]", 2, ARR),
    ("SELECT ARRAY[1, 2][3]", Err("Array subscript must be less than or equal to array length: 3 > 2"), ARR),
    ("SELECT ARRAY[1, 2][0]", Err("SQL array indices start at 1"), ARR),
    ("SELECT element_at(ARRAY[1, 2], 3)", None, ARR),
    ("SELECT element_at(ARRAY[1, 2, 3], -1)", 3, ARR),
    ("SELECT cardinality(ARRAY[1, 2, 3])", 3, ARR),
    ("SELECT contains(ARRAY[1, 2], 2)", True, ARR),
    ("SELECT array_position(ARRAY[5, 6, 7], 6)", 2, ARR),
    ("SELECT array_join(ARRAY['a', 'b'], ',')", "a,b", ARR),
    ("SELECT array_max(ARRAY[1, 5, 3])", 5, ARR),
    ("SELECT array_sort(ARRAY[3, 1, 2])", [1, 2, 3], ARR),
    ("SELECT array_distinct(ARRAY[1, 1, 2])", [1, 2], ARR),
    ("SELECT slice(ARRAY[1, 2, 3, 4], 2, 2)", [2, 3], ARR),
    ("SELECT sequence(1, 3)", [1, 2, 3], ARR),
    ("SELECT ARRAY[1] || ARRAY[2]", [1, 2], ARR),
    ("SELECT filter(ARRAY[5, -6, NULL, 7], x -> x > 0)", [5, 7], ARR),
    ("SELECT transform(ARRAY[5, 6], x -> x + 1)", [6, 7], ARR),
    ("SELECT flatten(ARRAY[ARRAY[1], ARRAY[2, 3]])", [1, 2, 3], ARR),
    ("SELECT reduce(ARRAY[5, 20, 50], 0, (s, x) -> s + x, s -> s)", 75, ARR),
    # --- maps: cardinality, subscript of a missing key fails, UNNEST gives key and value ------------
    ("SELECT cardinality(MAP(ARRAY['a', 'b'], ARRAY[1, 2]))", 2, MAP),
    ("SELECT MAP(ARRAY['a'], ARRAY[1])['a']", 1, MAP),
    ("SELECT MAP(ARRAY[1, 3], ARRAY[2, 4])[3]", 4, MAP),
    ("SELECT MAP(ARRAY['a'], ARRAY[1])['z']", Err("Key not present in map"), MAP),
    ("SELECT element_at(MAP(ARRAY['a'], ARRAY[1]), 'z')", None, MAP),
    ("SELECT map_keys(MAP(ARRAY['a', 'b'], ARRAY[1, 2]))", ["a", "b"], MAP),
    ("SELECT map_values(MAP(ARRAY['a', 'b'], ARRAY[1, 2]))", [1, 2], MAP),
    ("SELECT k, v FROM UNNEST(MAP(ARRAY['a', 'b'], ARRAY[1, 2])) AS t(k, v)", Rows([("a", 1), ("b", 2)]), SEL),
    ("SELECT x FROM UNNEST(ARRAY[1, 2, 3]) AS t(x)", Rows([(1,), (2,), (3,)]), SEL),
    # --- strings, conditionals, comparisons, aggregates ---------------------------------------------
    ("SELECT length('hello')", 5, STR),
    ("SELECT substr('hello', 2, 3)", "ell", STR),
    ("SELECT strpos('hello', 'l')", 3, STR),
    ("SELECT split('a,b,c', ',')", ["a", "b", "c"], STR),
    ("SELECT lpad('7', 3, '0')", "007", STR),
    ("SELECT reverse('abc')", "cba", STR),
    ("SELECT starts_with('hello', 'he')", True, STR),
    ("SELECT split_part('a,b,c', ',', 2)", "b", STR),
    ("SELECT coalesce(NULL, 2)", 2, COND),
    ("SELECT nullif(1, 1)", None, COND),
    ("SELECT if(1 > 2, 'a', 'b')", "b", COND),
    ("SELECT greatest(1, 5, 3)", 5, CMP),
    ("SELECT NULL = NULL", None, CMP),
    ("SELECT 2 BETWEEN 1 AND 3", True, CMP),
    ("SELECT count(*), avg(x), sum(x) FROM (VALUES 1, 2, 3) AS t(x)", Rows([(3, 2.0, 6)]), AGG),
]


@pytest.fixture(scope="module")
def engine() -> LocalAthena:
    return LocalAthena(glue_client=None, s3_filesystem=lambda: pytest.fail("literal queries read no S3"))


def test_the_suite_is_large_and_every_case_cites_trino_docs():
    assert len(CASES) >= 80
    assert all(url.startswith("https://trino.io/docs/") for _, _, url in CASES)
    assert len({sql for sql, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("sql", "expected", "doc"), CASES, ids=[c[0][7:60] for c in CASES])
def test_local_engine_answers_as_trino_documents(engine, sql, expected, doc):
    if isinstance(expected, Err):
        with pytest.raises(Exception, match=None) as exc:
            engine.query(sql, database="lakedb")
        assert expected.text in str(exc.value), f"{sql}: see {doc}"
        return
    result = engine.query(sql, database="lakedb")
    if isinstance(expected, Rows):
        assert sorted(result.rows) == sorted(expected.rows), f"{sql}: see {doc}"
        return
    assert len(result.rows) == 1 and len(result.rows[0]) == 1
    got = result.rows[0][0]
    assert got == expected and type(got) is type(expected), f"{sql} gave {got!r}, Trino {expected!r}: see {doc}"


def test_unnamed_columns_are_named_like_athena(engine):
    assert engine.query("SELECT 1, 'a' AS b, 2", database="lakedb").columns == ["_col0", "b", "_col2"]
