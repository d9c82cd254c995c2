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
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from ingestion.exceptions import NeedMoreBytes, QuarantineError

Format = Literal["csv", "jsonl", "parquet"]
Compression = Literal["none", "gzip"]

GZIP_MAGIC = b"\x1f\x8b"
# Decompressed text the head profile looks at; the rest of a gzip object is only streamed by count_rows.
HEAD_TEXT_LIMIT = 8 * 1024 * 1024
COUNT_CHUNK = 4 * 1024 * 1024
PARQUET_MAGIC = b"PAR1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
# Deepest JSON nesting (and nested Parquet type) accepted. Arrow's JSON reader recurses once per
# level (100,000 levels overflow its C stack: a segfault), and so does the type walk below; Glue
# and Athena types this deep are unusable anyway.
MAX_NESTING = 64
# A CSV header or first JSON line is looked for in at most this much text; past it the object is
# read in larger heads by the caller (``NeedMoreBytes``).
SNIFF_BYTES = 65536
# Wider CSVs are profiled and counted with Python's csv module instead of Arrow (see _profile_wide_csv).
WIDE_CSV_COLUMNS = 2000
WIDE_SAMPLE_ROWS = 100


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


def arrow_type_name(t: pa.DataType, depth: int = 0) -> str:
    """Glue/Athena type name for an Arrow type."""
    if depth > MAX_NESTING:
        raise QuarantineError(
            f"schema nested deeper than {MAX_NESTING} levels: Glue and Athena cannot use it; flatten the structure"
        )
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
        return f"array<{arrow_type_name(t.value_type, depth + 1)}>"
    if pa.types.is_struct(t):
        inner = ",".join(f"{f.name}:{arrow_type_name(f.type, depth + 1)}" for f in t)
        return f"struct<{inner}>"
    if pa.types.is_map(t):
        return f"map<{arrow_type_name(t.key_type, depth + 1)},{arrow_type_name(t.item_type, depth + 1)}>"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    return "string"


def schema_columns(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": f.name, "type": arrow_type_name(f.type)} for f in schema]


def profile_bytes(data: bytes, *, complete: bool, key: str = "", text_limit: int = HEAD_TEXT_LIMIT) -> Profile:
    """Profile an object from its bytes.

    ``complete`` says whether ``data`` is the whole object (row count exact and every row parsed)
    or only its head (schema from the head, row count unknown). Raises ``NeedMoreBytes`` when a
    head holds no complete first line (a CSV header or JSON line longer than the head): the caller
    reads a longer head, within its budget. ``text_limit`` bounds the text a gzip head inflates to.
    """
    if not data:
        raise QuarantineError("empty object (0 bytes): nothing to catalogue; upload the file again with content")
    if data[:4] == PARQUET_MAGIC:
        if not complete:
            raise QuarantineError("internal: profile Parquet with profile_parquet() over a seekable file")
        return profile_parquet(io.BytesIO(data))
    if data[:4] in ZIP_MAGICS:
        raise QuarantineError(
            "a zip archive (PK header), whatever its name says: zip is not read; unzip it and upload the files, "
            "or compress them with gzip"
        )
    compression: Compression = "none"
    if data[:2] == GZIP_MAGIC:
        compression = "gzip"
        data, complete = _gunzip(data, complete, text_limit)
        if not data:
            raise QuarantineError("gzip member decompresses to 0 bytes: nothing to catalogue")
    utf16 = data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    if not utf16:
        _check_binary(data)
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


def _nul_error(offset: int) -> QuarantineError:
    return QuarantineError(
        f"binary content: NUL byte at text offset {offset}; CSV and JSON text never hold NUL (a binary file, "
        "or UTF-16 without a byte-order mark?): upload CSV, JSON lines, Parquet or their gzip, UTF-8 encoded"
    )


def _check_binary(data: bytes) -> None:
    """NUL anywhere (memchr over the whole head: cheap), or more than 1% control bytes in the first 64 KiB."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _nul_error(nul)
    sample = data[:65536]
    if len(sample.translate(None, _CONTROL)) < len(sample) * 0.99:
        raise QuarantineError(
            "binary content (more than 1% control bytes in the first 64 KiB) that is not Parquet or gzip: "
            "upload CSV, JSON lines, Parquet or their gzip"
        )


def _gunzip(data: bytes, complete: bool, limit: int = HEAD_TEXT_LIMIT) -> tuple[bytes, bool]:
    """Decompress a gzip head, every member of it (``cat a.gz b.gz`` is one valid gzip file).

    The result is complete only if every member, trailer included, was there and the text fits ``limit``.
    """
    out: list[bytes] = []
    total, rest, member = 0, data, 0
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out.append(d.decompress(rest, limit - total))
        except zlib.error as exc:
            where = f" in member {member + 1}" if member else ""
            raise QuarantineError(f"corrupt gzip stream{where}: {exc}; upload an intact .gz file") from exc
        total += len(out[-1])
        if d.unconsumed_tail or total >= limit:
            return b"".join(out), False  # more text than the head profile reads; count_rows checks the rest
        if not d.eof:
            if complete:
                raise QuarantineError("truncated gzip: the stream ends before the gzip trailer; upload the complete file")
            return b"".join(out), False
        rest, member = d.unused_data, member + 1
        if not rest.strip(b"\x00"):  # zero padding after the last member is allowed (gzip(1) skips it)
            return b"".join(out), complete
        if rest[:2] != GZIP_MAGIC:
            raise QuarantineError(
                f"corrupt gzip: {len(rest)} bytes of trailing data after gzip member {member} that are not another "
                "gzip member; upload an intact .gz file"
            )


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


def _complete_lines(text: str, complete: bool, what: str) -> str:
    """The head cut after its last line break; a head with no complete line asks for a longer one."""
    if complete:
        return text
    cut = max(text.rfind("\n"), text.rfind("\r"))
    if cut < 0 or not text[: cut + 1].strip("\ufeff \t\r\n"):
        raise NeedMoreBytes(what, len(text))
    return text[: cut + 1]


def _first_line_end(text: str) -> int:
    """Index just past the first non-blank line (any of \\n, \\r\\n, \\r ends a line), or len(text)."""
    lead = len(text) - len(text.lstrip("\ufeff \t\r\n"))
    ends = [i for i in (text.find("\n", lead), text.find("\r", lead)) if i >= 0]
    return min(ends) + 1 if ends else len(text)


def _guess_delimiter(header: str) -> str:
    """For a header wider than the sniffer's sample: the most frequent candidate in it."""
    counts = {d: header.count(d) for d in ",;\t|"}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _profile_csv(text: str, complete: bool) -> Profile:
    body = _complete_lines(text, complete, "CSV header line")
    header_end = _first_line_end(body)
    # The sample always holds the whole header, however wide (50,000 columns is ~400 KB).
    sample = body[: max(SNIFF_BYTES, header_end)]
    if header_end > SNIFF_BYTES:
        delimiter = _guess_delimiter(body[:header_end])  # csv.Sniffer is quadratic on such lines
    else:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    lines = [ln for ln in sample.splitlines()[:21] if ln.strip()]
    if not lines:
        raise QuarantineError("no data lines: the object holds only whitespace")
    header = next(csv.reader([lines[0]], delimiter=delimiter))
    has_header = _looks_like_header(header, lines[1:20], delimiter)
    if not has_header:
        header = [f"col_{i}" for i in range(len(header))]
    dup = {h for h, n in Counter(header).items() if n > 1}
    if dup:
        raise QuarantineError(f"CSV header repeats column name(s) {sorted(dup)}: rename them so each column is unique")
    if len(header) > WIDE_CSV_COLUMNS:
        return _profile_wide_csv(body, header, delimiter, has_header, complete)
    try:
        table = pacsv.read_csv(
            io.BytesIO(body.encode("utf-8")),
            read_options=pacsv.ReadOptions(
                column_names=header, skip_rows=1 if has_header else 0, block_size=max(1 << 22, header_end * 2)
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


def _profile_wide_csv(body: str, header: list[str], delimiter: str, has_header: bool, complete: bool) -> Profile:
    """A CSV too wide for Arrow's per-column machinery (about 10 KB per column: 50,000 columns of one
    row took 600 MB): types inferred from the first rows, every row checked and counted by ``csv``."""
    rows = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    if has_header:
        next(rows, None)
    n, sample = _check_rows(rows, len(header), keep=WIDE_SAMPLE_ROWS)
    types = [_infer_type([r[i] for r in sample]) for i in range(len(header))]
    return Profile(format="csv", compression="none", columns=[{"name": h, "type": t} for h, t in zip(header, types)],
                   row_count=n if complete else None, delimiter=delimiter, has_header=has_header)


def _check_rows(rows: Iterator[list[str]], width: int, keep: int = 0, start: int = 0) -> tuple[int, list[list[str]]]:
    n, sample = 0, []
    try:
        for row in rows:
            if not row:
                continue  # a blank line, as Arrow skips them
            n += 1
            if len(row) != width:
                raise QuarantineError(
                    f"ragged or malformed CSV: Expected {width} columns, got {len(row)} in data row {start + n}; "
                    f"every row needs {width} fields"
                )
            if len(sample) < keep:
                sample.append(row)
    except csv.Error as exc:
        raise QuarantineError(f"ragged or malformed CSV: {exc} (after data row {start + n})") from exc
    return n, sample


def _infer_type(values: list[str]) -> str:
    present = [v for v in values if v != ""]
    if not present:
        return "string"
    if all(v.lower() in ("true", "false") for v in present):
        return "boolean"
    try:
        for v in present:
            int(v)
        return "bigint"
    except ValueError:
        pass
    try:
        for v in present:
            float(v)
        return "double"
    except ValueError:
        return "string"


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


def json_nesting(data: bytes) -> int:
    """Deepest ``{``/``[`` nesting of any line of JSON-lines ``data``, brackets inside strings ignored.

    Vectorised (about 25 ms per MB) so it can run before any recursive parser sees the bytes.
    Each line is measured on its own: JSON strings hold no raw line breaks, so a broken line
    cannot hide the depth of the next one.
    """
    if b"\\" in data:  # escaped backslashes and quotes are not string delimiters
        data = data.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    a = np.frombuffer(data, dtype=np.uint8)
    nl = a == 10
    starts = np.concatenate(([0], np.flatnonzero(nl) + 1))
    line = np.cumsum(nl)
    quotes = np.cumsum(a == 34, dtype=np.int64)
    inside = ((quotes - np.concatenate(([0], quotes))[starts][line]) & 1).astype(bool)
    step = (a == 123).view(np.int8) + (a == 91).view(np.int8) - (a == 125).view(np.int8) - (a == 93).view(np.int8)
    step[inside] = 0
    level = np.cumsum(step, dtype=np.int64)
    return int((level - np.concatenate(([0], level))[starts][line]).max())


def check_nesting(data: bytes) -> None:
    """Quarantine JSON nested deeper than ``MAX_NESTING``, before a recursive parser sees it."""
    if data.count(b"{") + data.count(b"[") <= MAX_NESTING:
        return  # too few brackets to be that deep: skip the scan
    depth = json_nesting(data)
    if depth > MAX_NESTING:
        raise QuarantineError(
            f"JSON nested {depth} levels deep, over the limit of {MAX_NESTING}: parsing it could crash the parser "
            "(and Glue/Athena cannot use such types); flatten the structure"
        )


def _profile_jsonl(text: str, complete: bool) -> Profile:
    body = _complete_lines(text, complete, "first JSON line")
    stripped = body.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        raise QuarantineError("a JSON array, not JSON lines: write one JSON object per line")
    data = body.encode("utf-8")
    check_nesting(data)
    try:
        # One block can hold the longest line (Arrow fails on a line that straddles two blocks).
        table = pajson.read_json(io.BytesIO(data), read_options=pajson.ReadOptions(block_size=max(1 << 22, len(data) + 1)))
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


class TextBudgetExceeded(Exception):
    """The object's text is longer than the byte budget (a gzip that inflates past it); the count is unknown."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes of text")
        self.limit = limit


class _TextGuard(io.RawIOBase):
    """The decoded text stream, checked as it is read: no NUL byte, at most ``limit`` bytes."""

    def __init__(self, src: BinaryIO, limit: int | None) -> None:
        self.src, self.limit, self.pos = src, limit, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        chunk = self.src.read(n if n is not None and n >= 0 else COUNT_CHUNK)
        nul = chunk.find(b"\x00")
        if nul >= 0:
            raise _nul_error(self.pos + nul)
        self.pos += len(chunk)
        if self.limit is not None and self.pos > self.limit:
            raise TextBudgetExceeded(self.limit)
        return chunk

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def count_rows(raw: BinaryIO, prof: Profile, *, max_text_bytes: int | None = None) -> int:
    """Exact row count of a CSV / JSON-lines object read as a stream, in bounded memory.

    Every row is parsed on the way, so a ragged row, bad bytes (NUL included), JSON nested too
    deep or a truncated gzip anywhere in the object (not only in its head) quarantines it.
    ``prof`` is the head profile (dialect, header). A gzip inflating to more than
    ``max_text_bytes`` (a gzip bomb, or just a big file) raises ``TextBudgetExceeded``.
    """
    src: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if prof.compression == "gzip" else raw  # type: ignore[assignment]
    if prof.encoding == "utf-16":
        src = codecs.EncodedFile(src, data_encoding="utf-8", file_encoding="utf-16")  # type: ignore[assignment]
    src = _TextGuard(src, max_text_bytes)  # type: ignore[assignment]
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
    if len(names) > WIDE_CSV_COLUMNS:
        text = io.TextIOWrapper(src, encoding="utf-8", newline="")  # type: ignore[arg-type]
        rows = csv.reader(text, delimiter=prof.delimiter or ",")
        if prof.has_header:
            next(rows, None)
        return _check_rows(rows, len(names))[0]
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
    check_nesting(data)
    # No fields kept: every line is still parsed (malformed JSON fails) but types cannot clash.
    return pajson.read_json(
        io.BytesIO(data),
        read_options=pajson.ReadOptions(block_size=max(COUNT_CHUNK, len(data) + 1)),
        parse_options=pajson.ParseOptions(explicit_schema=pa.schema([]), unexpected_field_behavior="ignore"),
    ).num_rows
