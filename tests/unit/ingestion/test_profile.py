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


def _depth(v) -> int:
    """Oracle: nesting depth of a parsed JSON value, as Python's json module sees it."""
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    return 0


@pytest.mark.parametrize("line", [
    '{"a": 1}', '{"a": {"b": [1, [2, {"c": 3}]]}}', '{"s": "[[[{{{", "t": "\\"[[", "u": "\\\\"}',
    '{"s": "\\\\\\"{{{", "l": [[[[]]]]}', '[]', '{"a": "}}}]]]", "b": [{"c": [{}]}]}',
])
def test_nesting_depth_ignores_brackets_inside_strings(line):
    import json

    from ingestion.profile import json_nesting

    assert json_nesting((line + "\n").encode()) == _depth(json.loads(line))


def test_each_line_is_measured_on_its_own_so_a_broken_line_hides_nothing():
    from ingestion.profile import json_nesting

    assert json_nesting(b'{"a": "unterminated\n' + b"[" * 70 + b"]" * 70 + b"\n") == 70


def test_json_nested_too_deep_is_quarantined_before_arrow_sees_it():
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n"
    with pytest.raises(QuarantineError, match="nested 100000 levels deep"):
        profile_bytes(deep, complete=True)
    ok = b'{"a": 1}\n' * 1000
    with pytest.raises(QuarantineError, match="nested 1000 levels deep"):
        count_rows(io.BytesIO(ok + deep[:5000] + b"1" + b"}" * 1000 + b"\n"), profile_bytes(ok[:100], complete=False))


def test_a_head_without_a_complete_first_line_asks_for_more():
    from ingestion.exceptions import NeedMoreBytes

    data = b'{"a": "' + b"x" * 4096 + b'"}\n'
    with pytest.raises(NeedMoreBytes):
        profile_bytes(data[:1024], complete=False)
    assert profile_bytes(data, complete=True).row_count == 1


def test_every_gzip_member_is_read_and_counted():
    data = gzip.compress(b"a,b\n" + b"1,2\n" * 50) + gzip.compress(b"1,2\n" * 50)
    assert profile_bytes(data, complete=True).row_count == 100
    big = gzip.compress(b"a,b\n" + b"1,2\n" * 50) + gzip.compress(b"1,2\n" * 100_000)
    assert count_rows(io.BytesIO(big), profile_bytes(big[:200], complete=False)) == 100_050


def test_a_nul_byte_anywhere_is_binary_content():
    data = b"a,b\n" + b"1,2\n" * 20_000 + b"3,\x00\n"
    with pytest.raises(QuarantineError, match="NUL byte at text offset 80006"):
        profile_bytes(data, complete=True)
    with pytest.raises(QuarantineError, match="NUL byte at text offset 80006"):
        count_rows(io.BytesIO(data), profile_bytes(data[:1000], complete=False))


def test_a_csv_header_wider_than_the_sniffer_sample_is_read_whole():
    cols = 50_000
    data = (",".join(f"c{i}" for i in range(cols)) + "\n" + ",".join(["1"] * cols) + "\n").encode()
    p = profile_bytes(data, complete=True)
    assert (len(p.columns), p.columns[-1], p.row_count) == (cols, {"name": "c49999", "type": "bigint"}, 1)
    ragged = data + b"1,2\n"
    with pytest.raises(QuarantineError, match="Expected 50000 columns, got 2"):
        count_rows(io.BytesIO(ragged), profile_bytes(ragged[: len(data) - 10], complete=False))


def test_a_gzip_inflating_past_the_text_budget_stops_counting():
    from ingestion.profile import TextBudgetExceeded

    bomb = gzip.compress(b"a,b\n" + b"1,2\n" * 2_000_000)
    with pytest.raises(TextBudgetExceeded):
        count_rows(io.BytesIO(bomb), profile_bytes(bomb[:100], complete=False), max_text_bytes=1_000_000)
