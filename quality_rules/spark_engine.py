"""Row flags as Spark Column expressions (no Python UDFs), same semantics as ``pandas_engine``.

Regexes are translated from Python ``re`` to Java (``semantics.java_regex``) so Spark flags the
rows GE-on-pandas flags. ``expect_column_values_to_be_unique`` uses a window count;
``..._match_strftime_format`` evaluates Python ``strptime`` once per *distinct* value on the
driver and joins the verdicts back (broadcast); anything else is identified by GE itself
(pandas, on the collected row id + column) and joined back — never skipped.

Also here: reading a source into Spark with exact lineage (``source_key``, ``source_row``).
"""

from __future__ import annotations

from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from quality_rules.model import Check
from quality_rules.semantics import NATIVE, java_regex, length_bounds
from quality_rules.sources import SourceFile, csv_header, staged_path

_NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")


def read_source(spark: Any, src: SourceFile, staging_dir: Path) -> Any:
    """One source as a DataFrame with ``source_key`` and an exact, deterministic ``source_row``.

    ``source_row``: ``monotonically_increasing_id`` is (partition index << 33) + position within
    the partition, and a single file's partitions are ordered by byte offset. When the file is
    read as several partitions, per-partition counts are collected and turned into offsets, so
    the result equals the row's 0-based position in the object. CSV is read with ``multiLine``
    (quoted newlines), which makes it one partition per file anyway.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    path = str(staged_path(src, staging_dir))
    if src.format == "csv":
        schema = StructType([StructField(n, StringType(), True) for n in csv_header(src)])
        df = (spark.read.schema(schema)
              .options(header=True, multiLine=True, escape='"', quote='"', mode="PERMISSIVE", encoding="UTF-8")
              .csv(path))
    elif src.format == "jsonl":
        df = spark.read.json(path)
    else:
        df = spark.read.parquet(path)
    df = df.withColumn("__mid", F.monotonically_increasing_id())
    nparts = df.rdd.getNumPartitions()
    local = F.col("__mid").bitwiseAND(F.lit((1 << 33) - 1))
    if nparts <= 1:
        row = local
    else:
        counts = dict(df.groupBy((F.col("__mid") / F.lit(1 << 33)).cast("long").alias("p")).count().collect())
        offsets, acc = [], 0
        for p in range(max(counts) + 1 if counts else 0):
            offsets += [F.lit(p), F.lit(acc)]
            acc += counts.get(p, 0)
        row = local + F.create_map(*offsets)[F.shiftright(F.col("__mid"), 33)] if offsets else local
    return (df.withColumn("source_key", F.lit(src.key))
              .withColumn("source_row", row.cast("long"))
              .drop("__mid"))


def _dtype(df: Any, column: str) -> str:
    return dict(df.dtypes)[column]


def flag_column(df: Any, check: Check) -> Any | None:
    """A never-null boolean Column 'row failed', or None when another strategy is needed."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    name, kw = check.name, check.rule.row_kwargs
    if name not in NATIVE or name == "expect_column_values_to_match_strftime_format":
        return None
    c = F.col(f"`{check.column}`")
    nn = c.isNotNull()
    dtype = _dtype(df, check.column)

    def domain(bad: Any) -> Any:  # nulls are outside the domain of column-map expectations
        return F.coalesce(nn & bad, F.lit(False))

    as_str = c if dtype == "string" else c.cast("string")
    if name == "expect_column_values_to_not_be_null":
        return c.isNull()
    if name == "expect_column_values_to_be_null":
        return nn
    if name in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"):
        vs = kw.get("value_set")
        if vs is None:
            return F.lit(False)
        # pandas' isin never coerces types ("1" is not 1); Spark's isin would: compare like pandas.
        same_type = [v for v in vs if (isinstance(v, str) == (dtype == "string")) and not isinstance(v, bool)]
        if dtype not in ("string", *_NUMERIC) or (dtype != "string" and any(isinstance(v, bool) for v in vs)):
            return None
        member = c.isin(same_type) if same_type else F.lit(False)
        return domain(~member if name.endswith("to_be_in_set") else member)
    if name == "expect_column_values_to_match_regex":
        return domain(~as_str.rlike(java_regex(kw["regex"])))
    if name == "expect_column_values_to_not_match_regex":
        return domain(as_str.rlike(java_regex(kw["regex"])))
    if name == "expect_column_values_to_match_regex_list":
        if kw.get("match_on", "any") == "any":
            return domain(~_any_match(as_str, list(kw["regex_list"])))
        return domain(~reduce(lambda a, b: a & b, [as_str.rlike(java_regex(r)) for r in kw["regex_list"]]))
    if name == "expect_column_values_to_not_match_regex_list":
        return domain(_any_match(as_str, list(kw["regex_list"])))
    if name in ("expect_column_value_lengths_to_be_between", "expect_column_value_lengths_to_equal"):
        if dtype not in ("string", *_NUMERIC[:4]):
            return None  # str(float)/str(date) differ between Python and Spark
        n = F.length(as_str)
        if name.endswith("to_equal"):
            return domain(n != F.lit(kw["value"]))
        return domain(~_between(n, *length_bounds(kw)))
    if name == "expect_column_values_to_be_between":
        lo, hi, smin, smax = length_bounds(kw)
        numeric_bounds = all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in (lo, hi) if b is not None)
        if dtype not in ("bigint", "double") or not numeric_bounds:
            return None
        return domain(~_between(c, lo, hi, smin, smax))
    if name == "expect_column_values_to_be_unique":
        return domain(F.count(F.lit(1)).over(Window.partitionBy(c)) > 1)
    return None


def any_regex(regexes: list[str]) -> str | None:
    """One Python pattern that a search finds exactly when one of ``regexes`` is found, or None.

    ``(?:r1)|(?:r2)``: a search succeeds iff some alternative matches at some position. Only for
    patterns without groups (numbered back-references would shift, names could clash) and that
    still compile joined (inline global flags such as ``(?i)`` must stay at the start).
    """
    import re

    try:
        if any(re.compile(r).groups for r in regexes):
            return None
        joined = "|".join(f"(?:{r})" for r in regexes)
        re.compile(joined)
    except re.error:
        return None
    return joined


def _any_match(as_str: Any, regexes: list[str]) -> Any:
    """Search for any of ``regexes`` with one ``rlike`` (one Java regex pass per row, not one per pattern)."""
    joined = any_regex(regexes) if len(regexes) > 1 else None
    if joined is not None:
        return as_str.rlike(java_regex(joined))
    return reduce(lambda a, b: a | b, [as_str.rlike(java_regex(r)) for r in regexes])


def _between(x: Any, lo: Any, hi: Any, smin: bool, smax: bool) -> Any:
    from pyspark.sql import functions as F

    ok = F.lit(True)
    if lo is not None:
        ok = ok & ((x > F.lit(lo)) if smin else (x >= F.lit(lo)))
    if hi is not None:
        ok = ok & ((x < F.lit(hi)) if smax else (x <= F.lit(hi)))
    return ok


def add_flags(df: Any, checks: list[Check], names: list[str], row_id: str) -> Any:
    """Add one boolean column per check (``names[i]``); ``row_id`` is a unique long column."""
    from pyspark.sql import functions as F

    from quality_rules.exceptions import RuleDefinitionError

    missing = sorted({c.column for c in checks} - set(df.columns))
    if missing:
        raise RuleDefinitionError(
            f"rules name columns {missing} which the data does not have (columns: {df.columns}); "
            "fix column_name in those rule items"
        )
    fallback: list[tuple[Check, str]] = []
    strftime: list[tuple[Check, str]] = []
    for check, col in zip(checks, names):
        expr = flag_column(df, check)
        if expr is not None:
            df = df.withColumn(col, expr)
        elif check.name == "expect_column_values_to_match_strftime_format" and _dtype(df, check.column) == "string":
            strftime.append((check, col))
        else:
            fallback.append((check, col))
    spark = df.sparkSession
    for check, col in strftime:
        from quality_rules.pandas_engine import _strptime_ok

        distinct = df.select(F.col(f"`{check.column}`").alias("v")).where(F.col("v").isNotNull()).distinct().toPandas()
        bad = distinct["v"][_strptime_ok(check.rule.row_kwargs["strftime_format"])(distinct["v"])].tolist()
        bad_df = spark.createDataFrame([(v,) for v in bad], "v string").withColumn(col, F.lit(True))
        df = (df.join(F.broadcast(bad_df), df[f"`{check.column}`"].eqNullSafe(bad_df["v"]), "left").drop("v")
                .withColumn(col, F.coalesce(F.col(col), F.lit(False))))
    if fallback:
        from quality_rules.oracle import ge_unexpected_positions

        cols = sorted({c.column for c, _ in fallback})
        pdf = df.select(row_id, *[F.col(f"`{c}`") for c in cols]).toPandas()
        positions = ge_unexpected_positions(pdf, [c for c, _ in fallback])
        ids = pdf[row_id].to_numpy()
        for check, col in fallback:
            bad_ids = [int(i) for i in np.asarray(ids)[positions[check.rule_id]]]
            bad_df = spark.createDataFrame([(i,) for i in bad_ids], f"{row_id} long").withColumn(col, F.lit(True))
            df = (df.join(F.broadcast(bad_df) if len(bad_ids) < 1_000_000 else bad_df, row_id, "left")
                    .withColumn(col, F.coalesce(F.col(col), F.lit(False))))
    return df
