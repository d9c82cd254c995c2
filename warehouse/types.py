"""Redshift column types: from Glue/Arrow types, to DuckDB types, and Parquet compatibility."""

from __future__ import annotations

import re

import pyarrow as pa

from warehouse.exceptions import InvalidIdentifierError

DEFAULT_VARCHAR = 65535  # Redshift's maximum; validated text can be long (job descriptions).

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,126}$")


def check_identifier(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _IDENT.match(name):
        raise InvalidIdentifierError(
            f"{kind} name {name!r} is not a plain identifier: use letters, digits, _ or $, starting "
            "with a letter or _, at most 127 characters"
        )
    return name.lower()


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def redshift_type(glue_or_arrow_type: str | pa.DataType, *, varchar_length: int = DEFAULT_VARCHAR) -> str:
    """The Redshift column type for a Glue type string (``decimal(10,2)``) or an Arrow type."""
    if isinstance(glue_or_arrow_type, str):
        from athena_queries.glue_types import glue_to_arrow

        text = glue_or_arrow_type.strip().lower()
        m = re.fullmatch(r"(varchar|char)\s*\(\s*(\d+)\s*\)", text)
        if m:
            return f"{m.group(1).upper()}({m.group(2)})"
        t = glue_to_arrow(text)
    else:
        t = glue_or_arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "SMALLINT"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "INTEGER"
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "BIGINT"
    if pa.types.is_uint64(t):
        return "DECIMAL(20,0)"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "REAL"
    if pa.types.is_float64(t):
        return "DOUBLE PRECISION"
    if pa.types.is_decimal(t):
        return f"DECIMAL({min(t.precision, 38)},{t.scale})"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return f"VARCHAR({varchar_length})"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_time(t):
        return "TIME"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "VARBYTE"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t) or pa.types.is_map(t):
        return "SUPER"
    if pa.types.is_null(t):
        return f"VARCHAR({varchar_length})"
    raise InvalidIdentifierError(f"no Redshift type for {t}; cast the column to a primitive type first")


_RS = re.compile(r"^\s*([A-Za-z ]+?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")
_ALIASES = {
    "INT": "INTEGER", "INT4": "INTEGER", "INT2": "SMALLINT", "INT8": "BIGINT", "FLOAT4": "REAL",
    "FLOAT8": "DOUBLE PRECISION", "FLOAT": "DOUBLE PRECISION", "DOUBLE": "DOUBLE PRECISION",
    "NUMERIC": "DECIMAL", "BOOL": "BOOLEAN", "TEXT": "VARCHAR", "CHARACTER VARYING": "VARCHAR",
    "CHARACTER": "CHAR", "NCHAR": "CHAR", "NVARCHAR": "VARCHAR", "BPCHAR": "CHAR",
    "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP", "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
    "VARBINARY": "VARBYTE", "BINARY VARYING": "VARBYTE",
}


def parse_redshift_type(type_: str) -> tuple[str, int | None, int | None]:
    """``'varchar(20)'`` -> ``('VARCHAR', 20, None)``; raises InvalidIdentifierError if unknown."""
    m = _RS.match(type_ or "")
    if not m:
        raise InvalidIdentifierError(f"cannot read Redshift type {type_!r}; use e.g. VARCHAR(256), BIGINT, DECIMAL(12,2)")
    base = re.sub(r"\s+", " ", m.group(1).upper())
    base = _ALIASES.get(base, base)
    if base not in _DUCK:
        raise InvalidIdentifierError(f"unsupported Redshift type {type_!r}; supported: {', '.join(sorted(_DUCK))}")
    p = int(m.group(2)) if m.group(2) else None
    s = int(m.group(3)) if m.group(3) else None
    if base == "VARCHAR" and p is None:
        p = 256  # Redshift's default VARCHAR length
    if base == "CHAR" and p is None:
        p = 1
    if base == "DECIMAL" and p is None:
        p, s = 18, 0  # Redshift's default
    return base, p, s


_DUCK = {
    "SMALLINT": "SMALLINT", "INTEGER": "INTEGER", "BIGINT": "BIGINT", "REAL": "FLOAT",
    "DOUBLE PRECISION": "DOUBLE", "DECIMAL": "DECIMAL", "BOOLEAN": "BOOLEAN", "VARCHAR": "VARCHAR",
    "CHAR": "VARCHAR", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP", "TIMESTAMPTZ": "TIMESTAMPTZ",
    "TIME": "TIME", "VARBYTE": "BLOB", "SUPER": "JSON",
}


def duckdb_type(type_: str) -> str:
    base, p, s = parse_redshift_type(type_)
    if base == "DECIMAL":
        return f"DECIMAL({p},{s or 0})"
    if base == "SUPER":
        return "VARCHAR"
    return _DUCK[base]


def parquet_compatible(arrow_type: pa.DataType, type_: str) -> bool:
    """Whether COPY FORMAT AS PARQUET accepts this Parquet column for this table column.

    Redshift is strict: a Parquet int64 does not load into INTEGER ("incompatible Parquet schema"),
    text does not load into numbers, and nested types need SERIALIZETOJSON (not used here).
    Widening within a family (int32 -> BIGINT, float -> DOUBLE) is accepted.
    """
    base, p, s = parse_redshift_type(type_)
    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_null(t):
        return True
    ints = {"SMALLINT": 16, "INTEGER": 32, "BIGINT": 64}
    if pa.types.is_integer(t):
        bits = t.bit_width + (1 if pa.types.is_unsigned_integer(t) else 0)
        if base in ints:
            return bits <= ints[base]
        return base == "DECIMAL" and (s or 0) == 0 and len(str(2 ** bits)) <= (p or 18)
    if pa.types.is_floating(t):
        return base == "DOUBLE PRECISION" or (base == "REAL" and t.bit_width <= 32)
    if pa.types.is_decimal(t):
        return base == "DECIMAL" and t.scale == (s or 0) and t.precision <= (p or 18)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return base in ("VARCHAR", "CHAR")
    if pa.types.is_boolean(t):
        return base == "BOOLEAN"
    if pa.types.is_date(t):
        return base == "DATE"
    if pa.types.is_timestamp(t):
        return base in ("TIMESTAMP", "TIMESTAMPTZ")
    if pa.types.is_time(t):
        return base == "TIME"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return base == "VARBYTE"
    return False


def copy_target(schema: str, table: str, columns: list[tuple[str, str]]) -> tuple[str, str, list[tuple[str, str]]]:
    """Validated, lower-cased schema, table and columns of a COPY; raises before any work is done."""
    schema, table = check_identifier("schema", schema), check_identifier("table", table)
    cols = [(check_identifier("column", c), t) for c, t in columns]
    for _, t in cols:
        parse_redshift_type(t)
    return schema, table, cols
