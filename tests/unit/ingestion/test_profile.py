"""Format by content, a cheap profile, and quarantine with a precise reason."""

from __future__ import annotations

import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion.exceptions import QuarantineError
from ingestion.profile import count_rows, profile_bytes, profile_parquet


def test_csv_dialect_header_and_types_are_detected():
    p = profile_bytes(b"id;name;price\n1;a;2.5\n2;b;3\n", complete=True)
    assert (p.format, p.delimiter, p.has_header, p.row_count) == ("csv", ";", True, 2)
    assert p.columns == [{"name": "id", "type": "bigint"}, {"name": "name", "type": "string"}, {"name": "price", "type": "double"}]


def test_headerless_csv_gets_positional_names():
    p = profile_bytes(b"1,2\n3,4\n", complete=True)
    assert p.has_header is False and [c["name"] for c in p.columns] == ["col_0", "col_1"]


@pytest.mark.parametrize("data, encoding", [
    ("a,b\nx,é\n".encode("utf-8"), "utf-8"), (b"\xef\xbb\xbfa,b\nx,y\n", "utf-8-sig"), ("a,b\nx,é\n".encode("utf-16"), "utf-16"),
])
def test_text_encodings(data, encoding):
    p = profile_bytes(data, complete=True)
    assert p.encoding == encoding and [c["name"] for c in p.columns] == ["a", "b"] and p.row_count == 1


def test_gzip_json_lines_are_detected_by_content():
    p = profile_bytes(gzip.compress(b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n'), complete=True)
    assert (p.format, p.compression, p.row_count) == ("jsonl", "gzip", 2)


def test_parquet_schema_and_row_count_come_from_the_footer():
    buf = io.BytesIO()
    pq.write_table(pa.table({"a": [1, 2, 3]}), buf)
    p = profile_parquet(io.BytesIO(buf.getvalue()))
    assert (p.format, p.row_count, p.columns) == ("parquet", 3, [{"name": "a", "type": "bigint"}])


def test_a_head_gives_the_schema_but_no_row_count():
    data = b"a,b\n" + b"1,x\n" * 1000
    p = profile_bytes(data[:1002], complete=False)
    assert p.row_count is None and [c["name"] for c in p.columns] == ["a", "b"]
    assert count_rows(io.BytesIO(data), p) == 1000


def test_streamed_count_checks_every_row_past_the_head():
    data = b"a,b\n" + b"1,x\n" * 50_000 + b"1,2,3\n"
    with pytest.raises(QuarantineError, match="ragged or malformed CSV"):
        count_rows(io.BytesIO(gzip.compress(data)), profile_bytes(gzip.compress(data[:512]), complete=False))


def test_streamed_count_of_json_lines_tolerates_type_drift():
    data = b'{"a": 1}\n' * 10_000 + b'{"a": "text"}\n'
    assert count_rows(io.BytesIO(data), profile_bytes(data[:100], complete=False)) == 10_001


@pytest.mark.parametrize("data, reason", [
    (b"", "empty object"),
    (b"a,b\n1,2\n3,4,5\n", "ragged or malformed CSV"),
    (gzip.compress(b"a,b\n1,2\n" * 100)[:-6], "truncated gzip"),
    (b"\x1f\x8b\x08\x00garbage-not-deflate", "corrupt gzip"),
    (b"caf\xe9,x\n1,2\n", "undecodable bytes"),
    (bytes(range(256)) * 4, "binary content"),
    (b"\x01\x02\x03\x04\x05\x06" * 100, "binary content"),
    (b'[{"a": 1}]\n', "JSON array"),
    (b'{"a": 1}\n{"a": \n', "malformed JSON lines"),
    (b"a,a\n1,2\n", "repeats column name"),
])
def test_bad_content_is_quarantined_with_a_precise_reason(data, reason):
    with pytest.raises(QuarantineError, match=reason):
        profile_bytes(data, complete=True)


def test_truncated_gzip_past_the_head_is_caught_by_the_streamed_count():
    data = gzip.compress(b"a,b\n" + b"1,x\n" * 50_000)
    with pytest.raises(QuarantineError, match="truncated gzip"):
        count_rows(io.BytesIO(data[:-50]), profile_bytes(data[:512], complete=False))


def test_corrupt_parquet():
    with pytest.raises(QuarantineError, match="corrupt Parquet"):
        profile_parquet(io.BytesIO(b"PAR1" + b"\x00" * 100 + b"PAR1"))
