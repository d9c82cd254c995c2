"""Input objects and how both engines read them, so the values each engine sees are identical.

* CSV: header row; every column read as STRING; an empty field is null whether quoted (``""``) or
  not (Spark's CSV reader cannot tell them apart, so pyarrow is told to do the same); RFC 4180 quoting (``""`` escapes a quote); quoted newlines
  allowed. pyarrow and Spark (``multiLine``, ``escape='"'``) are configured to agree on all of it.
* JSON lines: types inferred (pyarrow's inferred timestamps are read back as the original strings,
  as Spark does by default). Spark orders JSON columns alphabetically; pyarrow keeps first-seen order.
* Parquet: as stored.
* gzip: any format; the object is decompressed to a local staging copy when the engine needs it.
* Location: ``path`` is a local path or a URI (``s3://bucket/key``, ``file:///...``); Spark reads a
  URI itself, and the driver only streams a CSV's header line from it.

Lineage: ``source_key`` is the object's key, ``source_row`` the 0-based position of the data row
in the object (header excluded).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa

from quality_rules.exceptions import SourceReadError

Format = Literal["csv", "jsonl", "parquet"]
Compression = Literal["none", "gzip"]
LINEAGE_COLUMNS = ("source_key", "source_row")


@dataclass(frozen=True)
class SourceFile:
    key: str
    path: Path | str  # a local path, or a URI string (s3://, file://) that Spark reads directly
    format: Format
    compression: Compression
    ingest_date: str  # YYYY-MM-DD
    # the source's Hive partitions (``year=2013/month=1`` folders), in folder order: the split keeps
    # them as partition folders of its output, so accepted_/rejected_ tables have them as columns
    partitions: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.format not in ("csv", "jsonl", "parquet"):
            raise SourceReadError(f"source {self.key!r}: format {self.format!r} unsupported; use csv, jsonl or parquet")
        if self.compression not in ("none", "gzip"):
            raise SourceReadError(f"source {self.key!r}: compression {self.compression!r} unsupported; use none or gzip")
        if len(self.ingest_date) != 10 or self.ingest_date[4] != "-" or self.ingest_date[7] != "-":
            raise SourceReadError(f"source {self.key!r}: ingest_date {self.ingest_date!r} must be YYYY-MM-DD")

    @property
    def file_id(self) -> str:
        """Deterministic output file name stem: re-running the same key overwrites, never duplicates."""
        return hashlib.sha1(self.key.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict:
        out = {"key": self.key, "path": str(self.path), "format": self.format,
               "compression": self.compression, "ingest_date": self.ingest_date}
        if self.partitions:
            out["partitions"] = [list(p) for p in self.partitions]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "SourceFile":
        path = d["path"] if "://" in str(d["path"]) else Path(d["path"])
        return cls(key=d["key"], path=path, format=d.get("format", "csv"),
                   compression=d.get("compression", "none"), ingest_date=d["ingest_date"],
                   partitions=tuple((str(k), str(v)) for k, v in d.get("partitions") or ()))


def _open_bytes(src: SourceFile):
    if isinstance(src.path, str) and "://" in src.path:
        from quality_rules.storage import Store

        store = Store.at(src.path)
        # streamed, never copied to disk; compression=None: pyarrow would otherwise gunzip a '.gz' name itself
        raw = store.fs.open_input_stream(store.root, compression=None)
        return gzip.GzipFile(fileobj=raw, mode="rb") if src.compression == "gzip" else raw
    return gzip.open(src.path, "rb") if src.compression == "gzip" else open(src.path, "rb")


def csv_header(src: SourceFile) -> list[str]:
    with _open_bytes(src) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
        try:
            return next(csv.reader(text))
        except StopIteration:
            raise SourceReadError(f"source {src.key!r} ({src.path}) is empty: a CSV needs a header row") from None


def read_arrow(src: SourceFile) -> pa.Table:
    """Read one source (pandas engine) into Arrow, without lineage columns."""
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    try:
        if src.format == "csv":
            names = csv_header(src)
            with _open_bytes(src) as fh:
                return pcsv.read_csv(
                    fh,
                    read_options=pcsv.ReadOptions(encoding="utf8"),
                    parse_options=pcsv.ParseOptions(newlines_in_values=True, double_quote=True),
                    convert_options=pcsv.ConvertOptions(
                        column_types={n: pa.string() for n in names},
                        null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True,
                    ),
                )
        if src.format == "jsonl":
            with _open_bytes(src) as fh:
                data = fh.read()
            inferred = pjson.read_json(io.BytesIO(data))
            if not any(pa.types.is_timestamp(f.type) or pa.types.is_date(f.type) for f in inferred.schema):
                return inferred
            schema = pa.schema([
                pa.field(f.name, pa.string()) if (pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)) else f
                for f in inferred.schema
            ])
            return pjson.read_json(io.BytesIO(data), parse_options=pjson.ParseOptions(explicit_schema=schema))
        with _open_bytes(src) as fh:
            return pq.read_table(io.BytesIO(fh.read()) if src.compression == "gzip" or isinstance(src.path, str)
                                 else src.path)
    except SourceReadError:
        raise
    except Exception as exc:
        raise _read_error(src, exc) from exc


def with_lineage(table: pa.Table, key: str) -> pa.Table:
    import numpy as np
    import pyarrow.compute as pc

    n = table.num_rows
    keys = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([key], pa.string()))
    table = table.append_column("source_key", pc.cast(keys, pa.string()))
    return table.append_column("source_row", pa.array(np.arange(n, dtype=np.int64)))


def staged_path(src: SourceFile, staging_dir: Path) -> Path:
    """A local path Spark can read: gzip objects get a ``.gz`` suffix (Spark picks the codec by
    extension); gzip Parquet is decompressed (Parquet compresses internally). A URI is returned as is
    (Spark reads it on the cluster) when Spark can decode it without staging."""
    if src.compression == "none":
        return src.path
    if isinstance(src.path, str):
        if src.format != "parquet" and src.path.endswith(".gz"):
            return src.path
        raise SourceReadError(
            f"source {src.key!r} ({src.path}) is gzip {src.format} read in place: Spark picks the codec by the "
            "'.gz' suffix and cannot decompress gzip Parquet; give the object a .gz key (or store Parquet "
            "uncompressed, it compresses internally), or validate it with the in-process engine")
    staging_dir.mkdir(parents=True, exist_ok=True)
    if src.format == "parquet":
        out = staging_dir / f"{src.file_id}.parquet"
        with gzip.open(src.path, "rb") as fi, open(out, "wb") as fo:
            shutil.copyfileobj(fi, fo)
        return out
    if src.path.name.endswith(".gz"):
        return src.path
    out = staging_dir / f"{src.file_id}.{src.format}.gz"
    if not out.exists():
        try:
            out.symlink_to(src.path.resolve())
        except OSError:
            shutil.copyfile(src.path, out)
    return out


# ------------------------------------------------------------------ streaming (the Arrow engine)
BATCH_ROWS = 64 * 1024
_CSV_BLOCK_BYTES = 16 * 1024 * 1024


def _csv_options(src: SourceFile, columns: list[str] | None = None):
    import pyarrow.csv as pcsv

    names = csv_header(src)
    return (pcsv.ReadOptions(encoding="utf8", block_size=_CSV_BLOCK_BYTES),
            pcsv.ParseOptions(newlines_in_values=True, double_quote=True),
            pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, null_values=[""],
                                strings_can_be_null=True, quoted_strings_can_be_null=True,
                                include_columns=columns))


def _local_parquet(src: SourceFile, staging_dir: Path) -> Path:
    return staged_path(src, staging_dir)  # gzip Parquet is decompressed to a staged file, streamed


def arrow_schema(src: SourceFile, staging_dir: Path) -> pa.Schema:
    """The schema ``iter_batches`` will yield (without lineage), read as cheaply as the format allows.

    JSON lines infer types from the whole object, so their schema costs a full read.
    """
    import pyarrow.parquet as pq

    try:
        if src.format == "csv":
            return pa.schema([pa.field(n, pa.string()) for n in csv_header(src)])
        if src.format == "parquet":
            return pq.read_schema(_local_parquet(src, staging_dir))
    except SourceReadError:
        raise
    except Exception as exc:
        raise _read_error(src, exc) from exc
    return read_arrow(src).schema


def _read_error(src: SourceFile, exc: Exception) -> SourceReadError:
    return SourceReadError(
        f"cannot read source {src.key!r} ({src.path}) as {src.format}/{src.compression}: {exc}. "
        "Check the declared format and compression."
    )


def iter_batches(src: SourceFile, staging_dir: Path, *, batch_rows: int = BATCH_ROWS):
    """Record batches of one source in row order (no lineage). CSV and Parquet are streamed, so
    memory is bounded by the batch; JSON lines are read whole (type inference needs every line)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    try:
        if src.format == "csv":
            stream = pa.input_stream(str(src.path), compression="gzip" if src.compression == "gzip" else None)
            with pcsv.open_csv(stream, *_csv_options(src)) as reader:
                yield from reader
        elif src.format == "parquet":
            yield from pq.ParquetFile(_local_parquet(src, staging_dir)).iter_batches(batch_size=batch_rows)
        else:
            yield from read_arrow(src).to_batches(max_chunksize=batch_rows)
    except SourceReadError:
        raise
    except Exception as exc:
        raise _read_error(src, exc) from exc


def read_columns(src: SourceFile, staging_dir: Path, columns: list[str]) -> pa.Table:
    """Only ``columns`` of one source (a column the source lacks comes back all null)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    try:
        if src.format == "csv":
            header = csv_header(src)
            present = [c for c in columns if c in header] or header[:1]
            stream = pa.input_stream(str(src.path), compression="gzip" if src.compression == "gzip" else None)
            table = pcsv.read_csv(stream, *_csv_options(src, present))
        elif src.format == "parquet":
            pf = pq.ParquetFile(_local_parquet(src, staging_dir))
            present = [c for c in columns if c in pf.schema_arrow.names] or pf.schema_arrow.names[:1]
            table = pf.read(columns=present)
        else:
            table = read_arrow(src)
    except SourceReadError:
        raise
    except Exception as exc:
        raise _read_error(src, exc) from exc
    return pa.table({c: table.column(c) if c in table.column_names else pa.nulls(table.num_rows)
                     for c in columns})
