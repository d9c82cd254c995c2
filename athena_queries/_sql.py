"""Athena (Trino) SQL handling: the read-only guard and the Athena -> DuckDB fixes sqlglot lacks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from athena_queries.exceptions import ReadOnlyQueryError, SqlParseError, UnsupportedFunctionError

StatementKind = Literal["select", "show", "describe"]

_SHOW = re.compile(r"^\s*SHOW\s+(?P<rest>.*?)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
_READ_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)


@dataclass(frozen=True)
class Statement:
    kind: StatementKind
    sql: str
    tree: exp.Expression | None = None  # select/describe
    show: str | None = None  # the text after SHOW


def _strip_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", " ", sql).strip()


def parse_read_only(sql: str) -> Statement:
    """Parse one Athena statement and refuse anything but SELECT/WITH/SHOW/DESCRIBE."""
    text = _strip_comments(sql)
    if not text:
        raise SqlParseError("empty SQL: pass one SELECT, WITH, SHOW or DESCRIBE statement")
    m = _SHOW.match(text)
    if m:
        return Statement("show", sql, show=m.group("rest"))
    try:
        trees = [t for t in sqlglot.parse(text, read="athena") if t is not None]
    except ParseError as err:
        raise SqlParseError(f"cannot parse the SQL as Athena SQL: {err}; check the syntax") from err
    if len(trees) != 1:
        raise SqlParseError(f"expected exactly one statement, got {len(trees)}: run them one at a time")
    tree = trees[0]
    if isinstance(tree, exp.Describe):
        return Statement("describe", sql, tree=tree)
    if isinstance(tree, _READ_ROOTS) and not _writes(tree):
        return Statement("select", sql, tree=tree)
    verb = (tree.key if not isinstance(tree, exp.Command) else str(tree.this)).upper()
    raise ReadOnlyQueryError(
        f"{verb} statements are not allowed here (got: {text[:80]!r}); only SELECT, WITH, SHOW and "
        "DESCRIBE run through the query engine. Tables are created by `datalake crawl`/`datalake "
        "validate` and loaded by the warehouse loader."
    )


def _writes(tree: exp.Expression) -> bool:
    return any(isinstance(n, (exp.Insert, exp.Delete, exp.Update, exp.Create, exp.Drop, exp.Alter, exp.Merge))
               for n in tree.walk())


# --- Athena -> DuckDB fixes ---------------------------------------------------------------------

_DATE_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}

# Joda/Java DateTimeFormatter letters (Athena's format_datetime/parse_datetime) -> strftime.
_JODA = [
    ("yyyy", "%Y"), ("YYYY", "%Y"), ("yy", "%y"), ("MMMM", "%B"), ("MMM", "%b"), ("MM", "%m"),
    ("M", "%-m"), ("dd", "%d"), ("d", "%-d"), ("HH", "%H"), ("H", "%-H"), ("hh", "%I"), ("h", "%-I"),
    ("mm", "%M"), ("m", "%-M"), ("ss", "%S"), ("s", "%-S"), ("SSSSSS", "%f"), ("SSS", "%g"),
    ("EEEE", "%A"), ("EEE", "%a"), ("a", "%p"), ("ZZ", "%z"), ("Z", "%z"), ("DDD", "%j"), ("z", "%Z"),
]


def joda_to_strftime(pattern: str) -> str:
    """Translate a Joda-Time pattern; raise UnsupportedFunctionError for letters without a match."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            end = pattern.find("'", i + 1)
            if end == -1:
                raise UnsupportedFunctionError("format_datetime", f"unterminated quote in pattern {pattern!r}")
            literal = pattern[i + 1 : end] or "'"
            out.append(literal.replace("%", "%%"))
            i = end + 1
            continue
        if ch.isalpha():
            run = len(pattern) - i - len(pattern[i:].lstrip(ch))
            token = pattern[i : i + run]
            for joda, strf in _JODA:
                if token == joda:
                    out.append(strf)
                    break
            else:
                raise UnsupportedFunctionError(
                    "format_datetime", f"pattern letters {token!r} in {pattern!r} have no strftime equivalent"
                )
            i += run
            continue
        out.append("%%" if ch == "%" else ch)
        i += 1
    return "".join(out)


def _is_date(node: exp.Expression, date_columns: set[str]) -> bool:
    if isinstance(node, exp.CurrentDate):
        return True
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return node.to.is_type(exp.DataType.Type.DATE)
    if isinstance(node, (exp.DateAdd, exp.DateSub)):
        return _is_date(node.this, date_columns) and str(node.unit and node.unit.name).upper() in _DATE_UNITS
    if isinstance(node, (exp.StrToDate, exp.DateStrToDate, exp.TsOrDsToDate, exp.Date)):
        return True
    if isinstance(node, exp.Column):
        return node.name.lower() in date_columns
    if isinstance(node, exp.Paren):
        return _is_date(node.this, date_columns)
    return False


def athena_fixes(tree: exp.Expression, *, date_columns: set[str]) -> exp.Expression:
    """Rewrite the Athena AST so the DuckDB translation keeps Athena's results.

    * ``date_add(unit, n, <date>)`` with a day-or-coarser unit returns DATE in Athena; DuckDB's
      ``date + INTERVAL`` is a TIMESTAMP, so the result is cast back to DATE.
    * ``format_datetime``/``parse_datetime`` take Joda patterns: translated to strftime/strptime
      when the pattern is a literal; otherwise an UnsupportedFunctionError.
    """

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, (exp.DateAdd, exp.DateSub)) and not isinstance(node.parent, (exp.DateAdd, exp.DateSub)):
            unit = str(node.unit.name if node.unit else "DAY").upper()
            if unit in _DATE_UNITS and _is_date(node.this, date_columns):
                return exp.Cast(this=node.copy(), to=exp.DataType.build("DATE"))
        parse_node = getattr(exp, "ParseDatetime", None)
        if parse_node is not None and isinstance(node, parse_node):
            fmt = node.args.get("format")
            if not (isinstance(fmt, exp.Literal) and fmt.is_string):
                raise UnsupportedFunctionError("parse_datetime", "only a literal Joda pattern can be translated")
            return exp.Anonymous(
                this="strptime", expressions=[node.this.copy(), exp.Literal.string(joda_to_strftime(fmt.this))]
            )
        if isinstance(node, exp.Anonymous):
            name = str(node.this).lower()
            if name in ("format_datetime", "parse_datetime"):
                args = node.expressions
                if len(args) != 2 or not (isinstance(args[1], exp.Literal) and args[1].is_string):
                    raise UnsupportedFunctionError(name, "only a literal Joda pattern can be translated")
                fmt = exp.Literal.string(joda_to_strftime(args[1].this))
                target = "strftime" if name == "format_datetime" else "strptime"
                return exp.Anonymous(this=target, expressions=[args[0].copy(), fmt])
        return node

    return tree.transform(fix, copy=True)


def to_duckdb(tree: exp.Expression) -> str:
    return tree.sql(dialect="duckdb")


_MISSING_FN = re.compile(r"(?:Scalar|Aggregate|Table) Function with name \"?(\w+)\"? does not exist", re.IGNORECASE)


def missing_function(message: str) -> str | None:
    m = _MISSING_FN.search(message)
    return m.group(1) if m else None
