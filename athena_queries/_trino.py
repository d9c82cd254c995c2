"""Trino (Athena engine v3) semantics on top of the DuckDB translation.

sqlglot translates Athena SQL to DuckDB syntax, but several operators mean something else in
DuckDB: ``5 / 2`` is 2.5 (Trino: 2), ``date_diff`` counts boundaries crossed (Trino: whole
units), ``regexp_extract`` gives '' on no match (Trino: NULL), ``ARRAY[1][2]`` is NULL (Trino: an
error)... Most fixes need the operands' types, so the query is qualified and type-annotated by
sqlglot against the Glue schemas first (``annotate``), then rewritten bottom-up (``rewrite``) into
DuckDB expressions and the macros ``install`` defines on the connection.

Known limit: a ``timestamp with time zone`` is carried as its wall-clock time in its own zone
(so ``hour()``, ``format_datetime`` and ``CAST(... AS varchar)`` see what Trino shows), not as
an instant plus a zone name; the zone name itself is not printed. See docs/query_and_warehouse.md.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pyarrow as pa
from sqlglot import exp

from athena_queries.exceptions import QueryExecutionError

log = logging.getLogger(__name__)
T = exp.DataType.Type

_INTEGER = {T.TINYINT: 3, T.SMALLINT: 5, T.INT: 10, T.BIGINT: 19}
_STRING = {T.VARCHAR, T.CHAR, T.TEXT, T.NVARCHAR, T.NCHAR}
_NUMERIC = set(_INTEGER) | {T.DECIMAL, T.DOUBLE, T.FLOAT}
_CMP = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_CMP_TEXT = {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}

# DuckDB macros: the Trino behaviour of one operator each. error() is only reached per row.
_MACROS = [
    # integer division truncates toward zero (DuckDB's // does) and fails on zero
    "CREATE OR REPLACE MACRO trino_idiv(a, b) AS CASE WHEN b = 0 THEN error('Division by zero') ELSE a // b END",
    "CREATE OR REPLACE MACRO trino_ddiv(a, b) AS "
    "CASE WHEN b = 0 THEN error('Division by zero') ELSE CAST(a AS DOUBLE) / CAST(b AS DOUBLE) END",
    "CREATE OR REPLACE MACRO trino_array_at(a, i) AS CASE "
    "WHEN i = 0 THEN error('SQL array indices start at 1') "
    "WHEN i < 0 THEN error('Array subscript is negative: ' || i) "
    "WHEN i > len(a) THEN error('Array subscript must be less than or equal to array length: ' || i || ' > ' || len(a)) "
    "ELSE a[i] END",
    "CREATE OR REPLACE MACRO trino_map_at(m, k) AS CASE "
    "WHEN m IS NOT NULL AND NOT map_contains(m, k) THEN error('Key not present in map: ' || k) ELSE m[k] END",
    # slice(x, start, length); DuckDB's list_slice takes (start, end)
    "CREATE OR REPLACE MACRO trino_slice(a, s, n) AS CASE "
    "WHEN s = 0 THEN error('SQL array indices start at 1') "
    "WHEN s > 0 THEN list_slice(a, s, s + n - 1) "
    "ELSE list_slice(a, len(a) + s + 1, least(len(a), len(a) + s + n)) END",
    # array_distinct keeps the first occurrence of each value, in order
    "CREATE OR REPLACE MACRO trino_array_distinct(a) AS list_filter(a, lambda e, i: list_position(a, e) = i)",
    "CREATE OR REPLACE MACRO trino_regexp_extract(s, p, g) AS "
    "CASE WHEN regexp_matches(s, p) THEN regexp_extract(s, p, g) END",
]

_DUCK_TO_TRINO = {
    "BOOLEAN": "boolean", "TINYINT": "tinyint", "SMALLINT": "smallint", "INTEGER": "integer", "BIGINT": "bigint",
    "HUGEINT": "decimal(38,0)", "FLOAT": "real", "DOUBLE": "double", "VARCHAR": "varchar", "DATE": "date",
    "TIMESTAMP": "timestamp(3)", "TIMESTAMP_MS": "timestamp(3)", "TIMESTAMP_NS": "timestamp(9)",
    "TIMESTAMP WITH TIME ZONE": "timestamp(3) with time zone", "TIME": "time(3)", "BLOB": "varbinary",
    "INTERVAL": "interval day to second", "UUID": "uuid", '"NULL"': "unknown", "NULL": "unknown",
}


def trino_type_name(duck: str) -> str:
    """DuckDB's ``typeof`` text -> Trino's (``INTEGER[]`` -> ``array(integer)``, ...)."""
    d = duck.strip()
    if d.endswith("[]"):
        return f"array({trino_type_name(d[:-2])})"
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", d)
    if m:
        return f"decimal({m.group(1)},{m.group(2)})"
    if d.startswith("MAP(") and d.endswith(")"):
        k, v = _split_top(d[4:-1])
        return f"map({trino_type_name(k)}, {trino_type_name(v)})"
    if d.startswith("STRUCT(") and d.endswith(")"):
        fields = []
        for part in _split_top(d[7:-1]):
            name, _, typ = part.strip().partition(" ")
            fields.append(f"{name.strip(chr(34))} {trino_type_name(typ)}")
        return f"row({', '.join(fields)})"
    return _DUCK_TO_TRINO.get(d, d.lower())


def _split_top(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch in "(["
        depth -= ch in ")]"
        cur += ch
    out.append(cur.strip())
    return out


def install(con: Any) -> None:
    """Session settings and macros the rewritten SQL relies on."""
    con.execute("SET TimeZone = 'UTC'")  # Athena's session time zone
    for sql in _MACROS:
        con.execute(sql)
    con.create_function("trino_typeof", trino_type_name, ["VARCHAR"], "VARCHAR", side_effects=False)


# --- types -----------------------------------------------------------------------------------------
def hive_type(t: pa.DataType) -> str:
    """The Glue/Hive type name of an Arrow type (what Athena's DESCRIBE prints)."""
    if pa.types.is_int8(t):
        return "tinyint"
    if pa.types.is_int16(t):
        return "smallint"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_float32(t):
        return "float"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{hive_type(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{hive_type(t.key_type)},{hive_type(t.item_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{hive_type(f.type)}" for f in t) + ">"
    return str(t)


def _trino_name(dt: exp.DataType | None, node: exp.Expression | None = None) -> str:
    if dt is None:
        return "unknown"
    if isinstance(node, exp.Literal) and node.is_string:
        return f"varchar({len(node.this)})"
    names = {T.INT: "integer", T.BIGINT: "bigint", T.SMALLINT: "smallint", T.TINYINT: "tinyint",
             T.DOUBLE: "double", T.FLOAT: "real", T.BOOLEAN: "boolean", T.DATE: "date"}
    if dt.this in names:
        return names[dt.this]
    if dt.this in _STRING:
        return "varchar"
    return dt.sql("trino").lower()


def annotate(tree: exp.Expression, schemas: dict[tuple[str, str], pa.Schema], database: str) -> exp.Expression:
    """Qualify and type-annotate ``tree`` against the Glue schemas; the tree unchanged on failure.

    Unnamed top-level columns are named ``_col0``, ``_col1``... first, as Athena names them.
    """
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    tree = tree.copy()
    from sqlglot.expressions.builders import apply_index_offset

    for b in list(tree.find_all(exp.Bracket)):
        if len(b.expressions) == 1:
            # the subscript as written: sqlglot shifted it to 0-based if it guessed an array at parse time
            b.meta["trino_index"] = apply_index_offset(b.this.copy(), [b.expressions[0].copy()], 1, dialect="athena")[0]
    if isinstance(tree, exp.Select):
        for i, sel in enumerate(tree.expressions):
            if not isinstance(sel, (exp.Alias, exp.Column, exp.Star)):
                sel.replace(exp.alias_(sel.copy(), f"_col{i}"))
    mapping: dict[str, dict[str, dict[str, str]]] = {}
    for (db, name), schema in schemas.items():
        mapping.setdefault(db, {})[name] = {f.name: hive_type(f.type) for f in schema}
    try:
        qualified = qualify(tree.copy(), schema=mapping, db=database, dialect="athena",
                            validate_qualify_columns=False, quote_identifiers=False, expand_stars=False,
                            identify=False)
        return annotate_types(qualified, schema=mapping, dialect="athena")
    except Exception as exc:  # typing is an improvement, never a new failure
        log.debug("type annotation skipped: %s", exc)
        return tree


# --- checks --------------------------------------------------------------------------------------
def check_types(tree: exp.Expression) -> None:
    """Refuse comparisons Trino refuses: it never converts between character and numeric types."""
    for node in tree.walk():
        pairs: list[tuple[exp.Expression, exp.Expression, str]] = []
        if isinstance(node, _CMP):
            pairs.append((node.this, node.expression, _CMP_TEXT[type(node)]))
        elif isinstance(node, exp.In) and node.expressions:
            pairs += [(node.this, e, "IN") for e in node.expressions]
        elif isinstance(node, exp.Between):
            pairs += [(node.this, node.args["low"], "BETWEEN"), (node.this, node.args["high"], "BETWEEN")]
        for left, right, op in pairs:
            lt, rt = left.type, right.type
            if lt is None or rt is None:
                continue
            if (lt.this in _STRING and rt.this in _NUMERIC) or (lt.this in _NUMERIC and rt.this in _STRING):
                raise QueryExecutionError(
                    f"TYPE_MISMATCH: Cannot apply operator: {_trino_name(lt, left)} {op} {_trino_name(rt, right)} "
                    f"(in {node.sql('athena')!r}). Trino does not convert between character and numeric types: "
                    f"compare with a literal of the column's type (e.g. '2013' for a string partition key) or CAST.",
                    athena_sql=tree.sql("athena"), engine_sql="")


# --- rewrites ------------------------------------------------------------------------------------
def _fn(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _literal_decimal(text: str) -> tuple[int, int] | None:
    text = text.strip().lstrip("+-")
    if not re.fullmatch(r"\d*\.?\d*", text) or text in ("", "."):
        return None
    whole, _, frac = text.partition(".")
    return max(len(whole) + len(frac), 1), len(frac)


def _decimal_of(node: exp.Expression) -> tuple[int, int] | None:
    """(precision, scale) of a decimal or integer operand, as Trino types it."""
    if (isinstance(node, exp.Cast) and node.to.this == T.DECIMAL and not node.to.expressions
            and isinstance(node.this, exp.Literal) and node.this.is_string):
        return _literal_decimal(node.this.this)  # DECIMAL '1.00' is decimal(3,2)
    if isinstance(node, exp.Literal) and not node.is_string:
        if "." in node.this:
            return _literal_decimal(node.this)
    t = node.type
    if t is None:
        return None
    if t.this in _INTEGER:
        return _INTEGER[t.this], 0
    if t.this == T.DECIMAL:
        params = [p.this for p in t.expressions]
        try:
            p = int(params[0].this if hasattr(params[0], "this") else params[0]) if params else 38
            s = int(params[1].this if hasattr(params[1], "this") else params[1]) if len(params) > 1 else 0
        except (TypeError, ValueError):
            return 38, 0
        return p, s
    return None


def _is(node: exp.Expression, *types: Any) -> bool:
    return node.type is not None and node.type.this in types


def _is_decimalish(node: exp.Expression) -> bool:
    if isinstance(node, exp.Literal) and not node.is_string and "." in node.this and "e" not in node.this.lower():
        return True
    return _is(node, T.DECIMAL)


_REPL = re.compile(r"\\(.)|\$(\d+)|\$\{(\w+)\}")


def java_replacement(text: str) -> str:
    """Trino/Java ``$1`` replacement syntax -> RE2's ``\\1`` (``\\$`` is a literal dollar)."""
    def sub(m: re.Match) -> str:
        if m.group(1) is not None:
            return "\\\\" if m.group(1) == "\\" else m.group(1)
        if m.group(2) is not None:
            return "\\" + m.group(2)
        raise QueryExecutionError(f"named group ${{{m.group(3)}}} in regexp_replace replacement is not supported "
                                  "locally; use a numbered group ($1)", athena_sql=text, engine_sql="")
    return _REPL.sub(sub, text)


# a trailing UTC offset or zone name after the time of an ISO-8601 / Trino timestamp literal
_ZONE_SUFFIX = r"^(.*\d\d:\d\d(?::\d\d(?:\.\d+)?)?)\s*(?:Z|[+-]\d\d(?::?\d\d)?|UTC|[A-Za-z_]+/[A-Za-z_]+)$"


def _wall_clock(text_expr: exp.Expression) -> exp.Expression:
    """An ISO-8601 string's local date-time, its offset dropped (the zone's wall clock)."""
    text = exp.Cast(this=text_expr, to=exp.DataType.build("VARCHAR"))
    stripped = _fn("regexp_replace", text, exp.Literal.string(_ZONE_SUFFIX), exp.Literal.string("\\1"))
    return exp.Cast(this=_fn("replace", stripped, exp.Literal.string("T"), exp.Literal.string(" ")),
                    to=exp.DataType.build("TIMESTAMP"))


def _rewrite_node(node: exp.Expression) -> exp.Expression | None:
    """The DuckDB expression with Trino's meaning for ``node``; None to keep it."""
    if isinstance(node, exp.Div):
        a, b = node.this, node.expression
        if _is(a, *_INTEGER) and _is(b, *_INTEGER):
            return _fn("trino_idiv", a, b)
        if _is_decimalish(a) or _is_decimalish(b):
            da, db = _decimal_of(a), _decimal_of(b)
            if da and db:
                (xp, xs), (_yp, ys) = da, db
                # Trino's DecimalOperators: the divisor's scale extends the precision
                p = min(38, xp + ys + max(0, ys - xs))
                s = max(xs, ys)
                p = max(p, s, 1)
                return exp.Cast(this=_fn("trino_ddiv", a, b), to=exp.DataType.build(f"DECIMAL({p}, {s})"))
        return None
    if isinstance(node, exp.Bracket) and not node.args.get("safe") and len(node.expressions) == 1:
        idx = node.meta.get("trino_index") or node.expressions[0]
        if _is(node.this, T.ARRAY):
            return _fn("trino_array_at", node.this, idx)
        if _is(node.this, T.MAP):
            return _fn("trino_map_at", node.this, idx)
        return None
    if isinstance(node, exp.ArraySize) and _is(node.this, T.MAP):
        return _fn("cardinality", node.this)
    if isinstance(node, exp.DateDiff):
        unit = (node.unit.name if node.unit else "DAY").lower()
        # DuckDB's date_sub counts whole units elapsed, as Trino's date_diff does
        return _fn("date_sub", exp.Literal.string(unit), node.expression, node.this)
    if isinstance(node, exp.RegexpExtract):
        group = node.args.get("group") or exp.Literal.number(0)
        return _fn("trino_regexp_extract", node.this, node.expression, group)
    if isinstance(node, exp.RegexpReplace):
        repl = node.args.get("replacement")
        if isinstance(repl, exp.Literal) and repl.is_string and ("$" in repl.this or "\\" in repl.this):
            new = node.copy()
            new.set("replacement", exp.Literal.string(java_replacement(repl.this)))
            return new
        return None
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return _rewrite_cast(node)
    if isinstance(node, exp.Sum) and _is(node.this, *_INTEGER):
        return exp.Cast(this=node.copy(), to=exp.DataType.build("BIGINT"))  # DuckDB: HUGEINT
    if isinstance(node, exp.Typeof):
        arg = node.this
        if isinstance(arg, exp.Literal) and arg.is_string:
            return exp.Literal.string(f"varchar({len(arg.this)})")
        return _fn("trino_typeof", _fn("typeof", arg))
    if isinstance(node, exp.ArrayDistinct):
        return _fn("trino_array_distinct", node.this)
    if isinstance(node, exp.ArraySlice) and len([a for a in (node.args.get("start"), node.args.get("end")) if a]) == 2:
        return _fn("trino_slice", node.this, node.args["start"], node.args["end"])
    if isinstance(node, exp.Format) and isinstance(node.this, exp.Literal):
        return _fn("printf", node.this, *node.expressions)  # Java Formatter ~ printf; DuckDB's format is fmt
    if isinstance(node, exp.FromISO8601Timestamp):
        new = _wall_clock(node.this)
        new.meta["trino_instant"] = exp.Cast(this=node.this, to=exp.DataType.build("TIMESTAMPTZ"))
        return new
    if isinstance(node, exp.AtTimeZone):
        instant = node.this.meta.get("trino_instant") or exp.Cast(this=node.this, to=exp.DataType.build("TIMESTAMPTZ"))
        new = _fn("timezone", node.args["zone"], instant)
        new.meta["trino_instant"] = instant
        return new
    return None


def _rewrite_cast(node: exp.Cast) -> exp.Expression | None:
    to, src = node.to, node.this
    safe = isinstance(node, exp.TryCast)
    if to.this in _INTEGER and src.type is not None and src.type.this in _STRING:
        # Trino parses only whole numbers ('12.5' fails); DuckDB would round to 13
        ok = _fn("regexp_full_match", src, exp.Literal.string(r"\s*[+-]?[0-9]+\s*"))
        plain = exp.TryCast(this=src, to=to) if safe else exp.Cast(this=src, to=to)
        fallback: exp.Expression = exp.Null() if safe else _fn(
            "error", exp.DPipe(this=exp.DPipe(this=exp.Literal.string("Cannot cast '"), expression=src),
                               expression=exp.Literal.string(f"' to {to.sql('trino').upper()}")))
        return exp.Case(ifs=[exp.If(this=exp.Or(this=exp.Is(this=src, expression=exp.Null()), expression=ok),
                                    true=plain)], default=fallback)
    if to.this in _STRING and src.type is not None:
        if src.type.this in (T.TIMESTAMP, T.TIMESTAMPNTZ, T.DATETIME) or src.meta.get("trino_instant") is not None:
            # Athena timestamps are timestamp(3): always three fractional digits
            return _fn("strftime", src, exp.Literal.string("%Y-%m-%d %H:%M:%S.%g"))
    if to.this == T.TIMESTAMPTZ and isinstance(src, exp.Literal) and src.is_string:
        new = _wall_clock(src)
        new.meta["trino_instant"] = node.copy()
        return new
    return None


def _unnest_map(node: exp.Unnest) -> exp.Expression | None:
    """``UNNEST(map) AS t(k, v)`` -> a lateral subquery of key and value columns."""
    if len(node.expressions) != 1 or not _is(node.expressions[0], T.MAP):
        return None
    m = node.expressions[0]
    alias = node.args.get("alias")
    cols = [c.name for c in alias.columns] if alias and alias.columns else ["key", "value"]
    if len(cols) != 2:
        return None
    sub = exp.select(exp.alias_(_fn("unnest", _fn("map_keys", m.copy())), cols[0]),
                     exp.alias_(_fn("unnest", _fn("map_values", m.copy())), cols[1]))
    return exp.Subquery(this=sub, alias=exp.TableAlias(this=exp.to_identifier(alias.name if alias and alias.name else "u"),
                                                        columns=[exp.to_identifier(c) for c in cols]))


def rewrite(tree: exp.Expression) -> exp.Expression:
    """Apply Trino's semantics bottom-up (children first, so a parent sees rewritten children)."""
    nodes = list(tree.walk())
    root = tree
    for node in reversed(nodes):
        new = _unnest_map(node) if isinstance(node, exp.Unnest) else _rewrite_node(node)
        if new is None:
            continue
        if node.type is not None and new.type is None:
            new.type = node.type
        if node is root:
            root = new
        else:
            node.replace(new)
    return root
