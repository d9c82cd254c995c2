"""Pure pieces of the loader: manifest JSON, Redshift type mapping, Parquet compatibility (no AWS)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from warehouse import InvalidIdentifierError, build_manifest, manifest_json, redshift_type
from warehouse.types import check_identifier, duckdb_type, parquet_compatible


def test_manifest_lists_every_file_as_mandatory_with_content_length():
    manifest = build_manifest([("s3://b/k1.parquet", 10), ("s3://b/k2.parquet", 20)])
    assert manifest == {"entries": [
        {"url": "s3://b/k1.parquet", "mandatory": True, "meta": {"content_length": 10}},
        {"url": "s3://b/k2.parquet", "mandatory": True, "meta": {"content_length": 20}},
    ]}
    assert json.loads(manifest_json([("s3://b/k1.parquet", 10)])) == {"entries": manifest["entries"][:1]}


@pytest.mark.parametrize(("entry", "fix"), [(("b/k", 1), "s3://"), (("s3://b/k", 0), "re-write")])
def test_manifest_refuses_bad_entries(entry, fix):
    with pytest.raises(ValueError, match=fix):
        build_manifest([entry])


@pytest.mark.parametrize(("source", "expected"), [
    ("string", "VARCHAR(65535)"), ("varchar(20)", "VARCHAR(20)"), ("char(2)", "CHAR(2)"), ("bigint", "BIGINT"),
    ("int", "INTEGER"), ("tinyint", "SMALLINT"), ("double", "DOUBLE PRECISION"), ("float", "REAL"),
    ("boolean", "BOOLEAN"), ("date", "DATE"), ("timestamp", "TIMESTAMP"), ("decimal(12,2)", "DECIMAL(12,2)"),
    ("array<string>", "SUPER"), ("binary", "VARBYTE"),
    (pa.int64(), "BIGINT"), (pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ"), (pa.dictionary(pa.int32(), pa.string()), "VARCHAR(65535)"),
])
def test_redshift_type_mapping(source, expected):
    assert redshift_type(source) == expected


@pytest.mark.parametrize(("arrow", "rtype", "ok"), [
    (pa.int64(), "INTEGER", False), (pa.int64(), "BIGINT", True), (pa.int32(), "BIGINT", True),
    (pa.string(), "INTEGER", False), (pa.float64(), "REAL", False), (pa.float32(), "DOUBLE PRECISION", True),
    (pa.decimal128(10, 2), "DECIMAL(12,2)", True), (pa.decimal128(10, 3), "DECIMAL(12,2)", False),
    (pa.null(), "DATE", True), (pa.list_(pa.string()), "SUPER", False),
])
def test_parquet_compatibility_is_strict_like_copy(arrow, rtype, ok):
    assert parquet_compatible(arrow, rtype) is ok


def test_duckdb_types_and_identifiers():
    assert duckdb_type("varchar(10)") == "VARCHAR" and duckdb_type("numeric(5,1)") == "DECIMAL(5,1)"
    assert check_identifier("table", "Accepted_2024") == "accepted_2024"
    with pytest.raises(InvalidIdentifierError, match="not a plain identifier"):
        check_identifier("table", 'x"; drop table y; --')
