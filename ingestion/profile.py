"""Detect an object's format by content and capture a cheap profile: schema, row count, CSV dialect.

Pure functions over bytes and streams; the caller decides how many bytes to fetch. The schema
comes from the object's head (``profile_bytes``); the exact row count of a text object comes from
``count_rows``, which streams the whole object in bounded memory and checks every row on the way.
Anything that is not readable data raises ``QuarantineError`` with a precise reason (the object
itself is never touched).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from ingestion.exceptions import QuarantineError

Format = Literal["csv", "jsonl", "parquet"]
Compression = Literal["none", "gzip"]

GZIP_MAGIC = b"\x1f\x8b"
# Decompressed text the head profile looks at; the rest of a gzip object is only streamed by count_rows.
HEAD_TEXT_LIMIT = 8 * 1024 * 1024
COUNT_CHUNK = 4 * 1024 * 1024
PARQUET_MAGIC = b"PAR1"


@dataclass
class Profile:
    format: Format
    compression: Compression
    columns: list[dict[str, str]]
    row_count: int | None
    encoding: str | None = None
    delimiter: str | None = None
    has_header: bool | None = None
    # Why row_count is None, when it is (over the byte budget, ...).
    row_count_note: str | None = None
    notes: list[str] = field(default_factory=list)


def arrow_type_name(t: pa.DataType) -> str:
    """Glue/Athena type name for an Arrow type."""
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_int32(t):
        return "int"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_float32(t):
        return "float"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{arrow_type_name(t.value_type)}>"
    if pa.types.is_struct(t):
        inner = ",".join(f"{f.name}:{arrow_type_name(f.type)}" for f in t)
        return f"struct<{inner}>"
    if pa.types.is_map(t):
        return f"map<{arrow_type_name(t.key_type)},{arrow_type_name(t.item_type)}>"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    return "string"


def schema_columns(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": f.name, "type": arrow_type_name(f.type)} for f in schema]


def profile_bytes(data: bytes, *, complete: bool, key: str = "") -> Profile:
    """Profile an object from its bytes.

    ``complete`` says whether ``data`` is the whole object (row count exact and every row parsed)
    or only its head (schema from the head, row count unknown).
    """
    if not data:
        raise QuarantineError("empty object (0 bytes): nothing to catalogue; upload the file again with content")
    if data[:4] == PARQUET_MAGIC:
        if not complete:
            raise QuarantineError("internal: profile Parquet with profile_parquet() over a seekable file")
        return profile_parquet(io.BytesIO(data))
    compression: Compression = "none"
    if data[:2] == GZIP_MAGIC:
        compression = "gzip"
        data, complete = _gunzip(data, complete)
        if not data:
            raise QuarantineError("gzip member decompresses to 0 bytes: nothing to catalogue")
    utf16 = data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    if not utf16 and _looks_binary(data[:65536]):
        raise QuarantineError(
            "binary content (NUL or control bytes in the first 64 KiB) that is not Parquet or gzip: "
            "upload CSV, JSON lines, Parquet or their gzip"
        )
    text, encoding = _decode(data, complete)
    first = text.lstrip("\ufeff \t\r\n")[:1]
    if first in ("{", "["):
        prof = _profile_jsonl(text, complete)
    else:
        prof = _profile_csv(text, complete)
    prof.compression = compression
    prof.encoding = encoding
    return prof


_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"


def _looks_binary(sample: bytes) -> bool:
    """NUL anywhere, or more than 1% control bytes: no CSV or JSON text looks like that."""
    if b"\x00" in sample:
        return True
    return len(sample.translate(None, _CONTROL)) < len(sample) * 0.99


def _gunzip(data: bytes, complete: bool) -> tuple[bytes, bool]:
    """Decompress a gzip head; the result is complete only if the whole member (trailer included) was there."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, HEAD_TEXT_LIMIT)
    except zlib.error as exc:
        raise QuarantineError(f"corrupt gzip stream: {exc}; upload an intact .gz file") from exc
    if d.unconsumed_tail:
        return out, False  # more text than the head profile reads; count_rows checks the rest
    if complete and not d.eof:
        raise QuarantineError("truncated gzip: the stream ends before the gzip trailer; upload the complete file")
    return out, complete and d.eof


def _decode(data: bytes, complete: bool) -> tuple[str, str]:
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if not complete:
            data = data[: len(data) - len(data) % 2]
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise QuarantineError(
                f"undecodable bytes: UTF-16 byte-order mark but invalid UTF-16 at byte {exc.start}; "
                "re-encode the file as UTF-8"
            ) from exc
    encoding = "utf-8"
    if data.startswith(codecs.BOM_UTF8):
        data, encoding = data[3:], "utf-8-sig"
    try:
        return data.decode("utf-8"), encoding
    except UnicodeDecodeError as exc:
        # A head cut mid-character is fine; anything earlier is not UTF-8.
        if not complete and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8"), encoding
        raise QuarantineError(
            f"undecodable bytes: not UTF-8 at byte {exc.start} ({data[exc.start:exc.start + 4]!r}); "
            "re-encode the file as UTF-8"
        ) from exc


def _complete_lines(text: str, complete: bool) -> str:
    if complete:
        return text
    cut = text.rfind("\n")
    return text[: cut + 1] if cut >= 0 else text


def _profile_csv(text: str, complete: bool) -> Profile:
    body = _complete_lines(text, complete)
    sample = body[:65536]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    lines = [ln for ln in sample.splitlines() if ln.strip()]
    if not lines:
        raise QuarantineError("no data lines: the object holds only whitespace")
    header = next(csv.reader([lines[0]], delimiter=delimiter))
    has_header = _looks_like_header(header, lines[1:20], delimiter)
    if not has_header:
        header = [f"col_{i}" for i in range(len(header))]
    dup = {h for h in header if header.count(h) > 1}
    if dup:
        raise QuarantineError(f"CSV header repeats column name(s) {sorted(dup)}: rename them so each column is unique")
    try:
        table = pacsv.read_csv(
            io.BytesIO(body.encode("utf-8")),
            read_options=pacsv.ReadOptions(
                column_names=header, skip_rows=1 if has_header else 0, block_size=1 << 22
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        )
    except pa.ArrowInvalid as exc:
        msg = str(exc).splitlines()[0]
        raise QuarantineError(f"ragged or malformed CSV: {msg}; every row needs {len(header)} fields") from exc
    return Profile(
        format="csv",
        compression="none",
        columns=schema_columns(table.schema),
        row_count=table.num_rows if complete else None,
        delimiter=delimiter,
        has_header=has_header,
    )


def _looks_like_header(first: list[str], rest: list[str], delimiter: str) -> bool:
    """A header row is all non-empty, non-numeric and distinct; data rows usually are not."""
    if not first or any(not c.strip() for c in first):
        return False
    if any(_is_number(c) for c in first):
        return False
    if len(set(first)) != len(first):
        return True  # duplicates are reported by the caller as a header problem
    if not rest:
        return True
    rows = list(csv.reader(rest, delimiter=delimiter))
    # If every row equals the first in shape but the first never repeats, treat it as a header.
    return all(r != first for r in rows)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _profile_jsonl(text: str, complete: bool) -> Profile:
    body = _complete_lines(text, complete)
    stripped = body.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        raise QuarantineError("a JSON array, not JSON lines: write one JSON object per line")
    try:
        table = pajson.read_json(io.BytesIO(body.encode("utf-8")), read_options=pajson.ReadOptions(block_size=1 << 22))
    except pa.ArrowInvalid as exc:
        raise QuarantineError(f"malformed JSON lines: {str(exc).splitlines()[0]}") from exc
    return Profile(
        format="jsonl",
        compression="none",
        columns=schema_columns(table.schema),
        row_count=table.num_rows if complete else None,
    )


def profile_parquet(f: BinaryIO) -> Profile:
    """Schema and row count from a Parquet footer; ``f`` is any seekable file (ranged GETs included)."""
    f.seek(-4, io.SEEK_END)
    if f.read(4) != PARQUET_MAGIC:
        raise QuarantineError("corrupt Parquet: the file does not end with the PAR1 footer magic (truncated upload?)")
    f.seek(0)
    try:
        pf = pq.ParquetFile(f)
        return Profile(format="parquet", compression="none", columns=schema_columns(pf.schema_arrow),
                       row_count=pf.metadata.num_rows)
    except (pa.ArrowInvalid, OSError) as exc:
        raise QuarantineError(f"corrupt Parquet: {str(exc).splitlines()[0]}") from exc


def count_rows(raw: BinaryIO, prof: Profile) -> int:
    """Exact row count of a CSV / JSON-lines object read as a stream, in bounded memory.

    Every row is parsed on the way, so a ragged row, bad bytes or a truncated gzip anywhere in the
    object (not only in its head) quarantines it. ``prof`` is the head profile (dialect, header).
    """
    src: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if prof.compression == "gzip" else raw  # type: ignore[assignment]
    if prof.encoding == "utf-16":
        src = codecs.EncodedFile(src, data_encoding="utf-8", file_encoding="utf-16")  # type: ignore[assignment]
    try:
        return _count_csv(src, prof) if prof.format == "csv" else _count_jsonl(src)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise _gzip_error(exc) from exc
    except (pa.ArrowInvalid, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "Compressed file ended" in msg or "gzip" in msg.lower() or "end-of-stream" in msg:
            raise _gzip_error(exc) from exc
        if "UTF8" in msg or "UTF-8" in msg or "decode" in msg:
            raise QuarantineError(f"undecodable bytes past the head of the object: {msg}; re-encode the file as UTF-8") from exc
        if prof.format == "csv":
            n = len(prof.columns)
            raise QuarantineError(f"ragged or malformed CSV: {msg}; every row needs {n} fields") from exc
        raise QuarantineError(f"malformed JSON lines: {msg}") from exc


def _gzip_error(exc: BaseException) -> QuarantineError:
    if isinstance(exc, EOFError) or "ended" in str(exc):
        return QuarantineError("truncated gzip: the stream ends before the gzip trailer; upload the complete file")
    return QuarantineError(f"corrupt gzip stream: {exc}; upload an intact .gz file")


def _count_csv(src: BinaryIO, prof: Profile) -> int:
    names = [c["name"] for c in prof.columns]
    reader = pacsv.open_csv(
        pa.PythonFile(src, mode="r"),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if prof.has_header else 0, block_size=COUNT_CHUNK),
        parse_options=pacsv.ParseOptions(delimiter=prof.delimiter or ",", newlines_in_values=True),
        # Strings only: counting must not fail on a value the head's type inference did not foresee.
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
    )
    return sum(batch.num_rows for batch in reader)


def _count_jsonl(src: BinaryIO) -> int:
    # Chunks cut at newlines and parsed independently: types may drift between chunks without error.
    rows, pending = 0, b""
    while chunk := src.read(COUNT_CHUNK):
        pending += chunk
        cut = pending.rfind(b"\n")
        if cut >= 0:
            rows += _json_rows(pending[: cut + 1])
            pending = pending[cut + 1 :]
    if pending.strip():
        rows += _json_rows(pending)
    return rows


def _json_rows(data: bytes) -> int:
    if not data.strip():
        return 0
    # No fields kept: every line is still parsed (malformed JSON fails) but types cannot clash.
    return pajson.read_json(
        io.BytesIO(data),
        read_options=pajson.ReadOptions(block_size=COUNT_CHUNK),
        parse_options=pajson.ParseOptions(explicit_schema=pa.schema([]), unexpected_field_behavior="ignore"),
    ).num_rows
