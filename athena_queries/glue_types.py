"""Hive/Glue column type strings (``decimal(10,2)``, ``array<struct<a:int>>``) as Arrow types."""

from __future__ import annotations

import re

import pyarrow as pa

from athena_queries.exceptions import UnsupportedTableError

_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "real": pa.float32(),
    "double": pa.float64(),
    "date": pa.date32(),
    # Microseconds: DuckDB's native precision; Glue's timestamp carries no unit.
    "timestamp": pa.timestamp("us"),
    "binary": pa.binary(),
    "decimal": pa.decimal128(10, 0),  # Hive's default precision/scale
}

_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|`[^`]+`|\d+|[<>(),:])")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = [m.group(1) for m in _TOKEN.finditer(text)]
        if "".join(self.tokens) != re.sub(r"\s+", "", text):
            self._fail("unexpected characters")
        self.pos = 0

    def _fail(self, why: str) -> None:
        raise UnsupportedTableError(
            f"cannot read Glue column type {self.text!r} ({why}); use a Hive type such as "
            "string, bigint, double, decimal(p,s), date, timestamp, array<T>, map<K,V>, struct<a:T>"
        )

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            self._fail(f"expected {expected or 'a token'} at position {self.pos}")
        self.pos += 1
        return tok  # type: ignore[return-value]

    def parse(self) -> pa.DataType:
        t = self.type_()
        if self.peek() is not None:
            self._fail("trailing text")
        return t

    def type_(self) -> pa.DataType:
        name = self.take().lower()
        if name == "array":
            self.take("<")
            inner = self.type_()
            self.take(">")
            return pa.list_(inner)
        if name == "map":
            self.take("<")
            key = self.type_()
            self.take(",")
            value = self.type_()
            self.take(">")
            return pa.map_(key, value)
        if name == "struct":
            self.take("<")
            fields = []
            while True:
                fname = self.take().strip("`")
                self.take(":")
                fields.append(pa.field(fname, self.type_()))
                if self.peek() == ",":
                    self.take(",")
                    continue
                break
            self.take(">")
            return pa.struct(fields)
        if name in ("varchar", "char"):
            if self.peek() == "(":
                self.take("(")
                self.take()
                self.take(")")
            return pa.string()
        if name == "decimal" and self.peek() == "(":
            self.take("(")
            precision = int(self.take())
            scale = 0
            if self.peek() == ",":
                self.take(",")
                scale = int(self.take())
            self.take(")")
            return pa.decimal128(precision, scale)
        if name in _PRIMITIVES:
            return _PRIMITIVES[name]
        self._fail(f"unknown type {name!r}")
        raise AssertionError  # unreachable


def glue_to_arrow(type_string: str) -> pa.DataType:
    """Arrow type of a Glue/Hive column type string; raises UnsupportedTableError if unknown."""
    return _Parser(type_string.strip()).parse()


def glue_schema(columns: list[dict]) -> pa.Schema:
    """Arrow schema of Glue ``Columns``/``PartitionKeys`` entries (``{"Name", "Type"}``)."""
    return pa.schema([pa.field(c["Name"].lower(), glue_to_arrow(c.get("Type", "string"))) for c in columns])
