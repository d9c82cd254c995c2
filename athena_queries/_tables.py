"""Glue table -> pyarrow dataset over its S3 objects, opening only the partitions a query needs."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.json as pajson

from athena_queries.exceptions import TableNotFoundError, UnsupportedTableError
from athena_queries.glue_types import glue_schema

log = logging.getLogger(__name__)

TableFormat = Literal["parquet", "csv", "json", "orc"]
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


@dataclass
class Partition:
    values: list[str | None]
    location: str


@dataclass
class GlueTable:
    database: str
    name: str
    location: str
    format: TableFormat
    data_schema: pa.Schema
    partition_schema: pa.Schema
    serde_params: dict[str, str] = field(default_factory=dict)
    table_params: dict[str, str] = field(default_factory=dict)
    serde_library: str = ""

    @property
    def open_csv(self) -> bool:
        """OpenCSVSerde (quotes honoured, strict typing) rather than LazySimpleSerDe (quotes literal)."""
        return "opencsvserde" in self.serde_library.lower()

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(list(self.data_schema) + list(self.partition_schema))


@dataclass
class ScanInfo:
    """What one table reference of the last query read (for logs and tests)."""

    database: str
    table: str
    partitions_total: int
    partitions_selected: int
    files: list[str]
    bytes_scanned: int = 0  # Parquet/ORC: column chunks of the columns read; text formats: whole files


def scanned_bytes(dataset: ds.Dataset, table: GlueTable, columns: set[str] | None) -> int:
    """Bytes Athena would bill for reading ``columns`` (None: all) of the dataset's files.

    Columnar files: compressed size of those columns' chunks, from each file's footer (Athena reads
    only the columns a query needs); text formats: the whole file.
    """
    total = 0
    for frag in dataset.get_fragments():
        if table.format == "parquet":
            md = frag.metadata
            for rg in range(md.num_row_groups):
                group = md.row_group(rg)
                for c in range(group.num_columns):
                    col = group.column(c)
                    if columns is None or col.path_in_schema.split(".")[0].lower() in columns:
                        total += col.total_compressed_size
        else:
            total += frag.filesystem.get_file_info(frag.path).size or 0
    return total


def s3_path(uri: str) -> str:
    """``s3://bucket/key`` -> ``bucket/key`` (pyarrow S3FileSystem paths)."""
    for scheme in ("s3://", "s3a://", "s3n://"):
        if uri.startswith(scheme):
            return uri[len(scheme):].rstrip("/")
    return uri.rstrip("/")


def get_glue_table(glue: Any, database: str, name: str) -> GlueTable:
    try:
        t = glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException as err:
        raise TableNotFoundError(database, name, err.response["Error"].get("Message", "")) from err
    if t.get("TableType") == "VIRTUAL_VIEW":
        raise UnsupportedTableError(
            f"{database}.{name} is a view; the local engine reads only tables over S3 objects: "
            "query the view's base tables, or run with DATALAKE_QUERY_ENGINE=athena"
        )
    sd = t.get("StorageDescriptor") or {}
    location = sd.get("Location")
    if not location:
        raise UnsupportedTableError(
            f"{database}.{name} has no StorageDescriptor.Location; re-register it with `datalake crawl`"
        )
    serde = sd.get("SerdeInfo") or {}
    params = {**(sd.get("Parameters") or {}), **(t.get("Parameters") or {})}
    return GlueTable(
        database=database,
        name=name,
        location=location,
        format=_table_format(f"{database}.{name}", sd, serde, params),
        data_schema=glue_schema(sd.get("Columns") or []),
        partition_schema=glue_schema(t.get("PartitionKeys") or []),
        serde_params={k: str(v) for k, v in (serde.get("Parameters") or {}).items()},
        table_params={k: str(v) for k, v in params.items()},
        serde_library=str(serde.get("SerializationLibrary") or ""),
    )


def _table_format(qualified: str, sd: dict, serde: dict, params: dict) -> TableFormat:
    lib = (serde.get("SerializationLibrary") or "").lower()
    inp = (sd.get("InputFormat") or "").lower()
    cls = str(params.get("classification", "")).lower()
    if "parquet" in lib or "parquet" in inp or cls == "parquet":
        return "parquet"
    if "orc" in lib or "orc" in inp or cls == "orc":
        return "orc"
    if "json" in lib or cls == "json":
        return "json"
    if "opencsv" in lib or "lazysimple" in lib or cls in ("csv", "tsv") or "textinputformat" in inp:
        return "csv"
    raise UnsupportedTableError(
        f"{qualified}: cannot tell the file format (SerDe {lib or '-'}, InputFormat {inp or '-'}, "
        f"classification {cls or '-'}); the local engine reads Parquet, ORC, CSV/TSV and JSON lines. "
        "Set Parameters.classification on the table"
    )


def list_partitions(glue: Any, table: GlueTable, fs: pafs.FileSystem) -> list[Partition]:
    """Registered partitions, else Hive ``k=v`` folders found under the table location."""
    parts: list[Partition] = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=table.database, TableName=table.name):
        for p in page.get("Partitions", []):
            loc = (p.get("StorageDescriptor") or {}).get("Location")
            if loc:
                parts.append(Partition([None if v == HIVE_NULL else v for v in p["Values"]], loc))
    if parts:
        return parts
    keys = table.partition_schema.names
    found: dict[tuple, str] = {}
    base = s3_path(table.location)
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True)):
        if info.type != pafs.FileType.File:
            continue
        segments = info.path[len(base):].strip("/").split("/")[:-1]
        if len(segments) < len(keys):
            continue
        values: list[str | None] = []
        for key, seg in zip(keys, segments):
            k, sep, v = seg.partition("=")
            if not sep or k.lower() != key:
                break
            v = unquote(v)
            values.append(None if v == HIVE_NULL else v)
        else:
            loc = "s3://" + base + "/" + "/".join(segments[: len(keys)])
            found.setdefault(tuple(values), loc)
    return [Partition(list(v), loc) for v, loc in sorted(found.items(), key=lambda kv: kv[1])]


def prune(partitions: list[Partition], schema: pa.Schema, predicates: list[str]) -> list[Partition]:
    """Keep the partitions whose values satisfy every predicate (DuckDB SQL over partition columns).

    A predicate the engine cannot evaluate over the partition values is skipped (no pruning for it):
    the full query still applies every filter, so pruning only ever saves reads.
    """
    if not predicates or not partitions:
        return partitions
    cols = {name: pa.array([p.values[i] for p in partitions], pa.string()) for i, name in enumerate(schema.names)}
    typed = {}
    for f in schema:
        try:
            typed[f.name] = cols[f.name].cast(f.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            log.warning("partition values of %s do not cast to %s; not pruning on it", f.name, f.type)
            return partitions
    typed["__idx"] = pa.array(range(len(partitions)), pa.int64())
    con = duckdb.connect()
    try:
        con.register("__parts", pa.table(typed))
        keep = set(range(len(partitions)))
        for pred in predicates:
            try:
                rows = con.sql(f"SELECT __idx FROM __parts WHERE {pred}").fetchall()
            except duckdb.Error as err:
                log.debug("partition predicate %s not evaluable (%s); not pruning on it", pred, err)
                continue
            keep &= {r[0] for r in rows}
        return [p for i, p in enumerate(partitions) if i in keep]
    finally:
        con.close()


def list_files(fs: pafs.FileSystem, location: str) -> list[pafs.FileInfo]:
    """Data files under a location, skipping Hadoop/Spark markers (``_SUCCESS``, ``.crc``, ``$folder$``)."""
    out = []
    for info in fs.get_file_info(pafs.FileSelector(s3_path(location), recursive=True, allow_not_found=True)):
        base = info.base_name
        if info.type != pafs.FileType.File or base.startswith(("_", ".")) or base.endswith("$folder$"):
            continue
        if info.size == 0:
            continue
        out.append(info)
    return sorted(out, key=lambda i: i.path)


def file_format(table: GlueTable) -> ds.FileFormat:
    if table.format == "parquet":
        return ds.ParquetFileFormat()
    if table.format == "orc":
        return ds.OrcFileFormat()
    if table.format == "json":
        return ds.JsonFileFormat(
            parse_options=pajson.ParseOptions(explicit_schema=table.data_schema, unexpected_field_behavior="ignore")
        )
    skip = int(table.table_params.get("skip.header.line.count", "0") or 0)
    if not table.open_csv:
        # LazySimpleSerDe: a line is split on the delimiter, quotes mean nothing, missing trailing
        # fields are NULL and extra ones ignored; pyarrow's CSV parser would refuse such lines, so
        # each line is read whole and split in apply_serde.
        return ds.CsvFileFormat(
            read_options=pacsv.ReadOptions(column_names=[_LINE], skip_rows=skip),
            # a control character that is not the table's delimiter stands in for "no delimiter"
            parse_options=pacsv.ParseOptions(delimiter="\x1e" if _delimiter(table) != "\x1e" else "\x1f",
                                             quote_char=False, escape_char=False),
            convert_options=pacsv.ConvertOptions(column_types={_LINE: pa.string()}, strings_can_be_null=False),
        )
    sp = table.serde_params
    return ds.CsvFileFormat(
        # Athena maps delimited text by position: the Glue columns name the fields, in order. Every
        # field is read as text and typed afterwards with the SerDe's own rules (apply_serde).
        read_options=pacsv.ReadOptions(column_names=table.data_schema.names, skip_rows=skip),
        parse_options=pacsv.ParseOptions(delimiter=_delimiter(table), quote_char=sp.get("quoteChar", '"') or False,
                                         escape_char=sp.get("escapeChar") or False),
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: pa.string() for f in table.data_schema}, strings_can_be_null=False
        ),
    )


_LINE = "__line"


def _delimiter(table: GlueTable) -> str:
    sp, tp = table.serde_params, table.table_params
    return sp.get("separatorChar") or sp.get("field.delim") or ("\t" if tp.get("classification") == "tsv" else ",")


def read_schema(table: GlueTable) -> pa.Schema:
    """The schema files are scanned with: text formats read every data column as a string first."""
    if table.format != "csv":
        return table.schema
    text = [pa.field(f.name, pa.string()) for f in table.data_schema] if table.open_csv else [pa.field(_LINE, pa.string())]
    return pa.schema(text + list(table.partition_schema))


def _lazy_cast(col: pa.ChunkedArray, typ: pa.DataType) -> pa.ChunkedArray:
    """LazySimpleSerDe: a field that does not parse as the column's type (empty included) is NULL."""
    import pyarrow.compute as pc

    blank = pc.equal(pc.utf8_trim_whitespace(col), "")
    text = pc.if_else(blank, pa.scalar(None, pa.string()), col)
    try:
        return pc.cast(text, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = []
        for v in text.to_pylist():
            try:
                out.append(None if v is None else pa.scalar(v.strip(), pa.string()).cast(typ).as_py())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                out.append(None)
        return pa.chunked_array([pa.array(out, typ)])


def _open_csv_cast(col: pa.ChunkedArray, typ: pa.DataType, name: str, index: int, qualified: str) -> pa.ChunkedArray:
    """OpenCSVSerde: fields are strings; a non-string column must parse or the query fails, as in Athena
    (empty numeric fields fail; TIMESTAMP only as UNIX milliseconds; DATE as days or yyyy-MM-dd)."""
    import pyarrow.compute as pc

    from athena_queries.exceptions import QueryError

    def bad(value: str) -> QueryError:
        return QueryError(
            f"HIVE_BAD_DATA: Error parsing field value '{value}' for field {index}: {qualified}.{name} is declared "
            f"{typ} but its SerDe is OpenCSVSerde, which reads only strings it can convert (no empty numeric "
            "fields, timestamps as UNIX milliseconds). Declare the column string, or use LazySimpleSerDe.")

    if pa.types.is_timestamp(typ):
        values = col.to_pylist()
        for v in values:
            if not v.isdigit():
                raise bad(v)
        return pa.chunked_array([pa.array([int(v) for v in values], pa.int64()).cast(pa.timestamp("ms")).cast(typ)])
    if pa.types.is_date(typ):
        out = []
        for v in col.to_pylist():
            try:
                out.append(pa.scalar(int(v), pa.int32()).cast(pa.date32()).as_py() if v.isdigit()
                           else pa.scalar(v, pa.string()).cast(pa.date32()).as_py())
            except (ValueError, pa.ArrowInvalid):
                raise bad(v) from None
        return pa.chunked_array([pa.array(out, pa.date32())])
    try:
        return pc.cast(col, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        for v in col.to_pylist():
            try:
                pa.scalar(v, pa.string()).cast(typ)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise bad(v) from None
        raise


def apply_serde(data: pa.Table, table: GlueTable) -> pa.Table:
    """Type a text table's string columns by the Glue schema with its SerDe's rules."""
    if table.format != "csv":
        return data
    import pyarrow.compute as pc

    qualified = f"{table.database}.{table.name}"
    fields = None
    if not table.open_csv:
        n = len(table.data_schema)
        # pad so every line has at least n fields (missing trailing fields read as empty)
        padded = pc.binary_join_element_wise(data.column(_LINE), _delimiter(table) * n, "")
        fields = pc.split_pattern(padded, _delimiter(table))
    cols = []
    for i, f in enumerate(table.data_schema):
        col = data.column(f.name) if fields is None else pc.list_element(fields, i)
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            cols.append(col)
        elif table.open_csv:
            cols.append(_open_csv_cast(col, f.type, f.name, i, qualified))
        else:
            cols.append(_lazy_cast(col, f.type))
    parts = [data.column(f.name) for f in table.partition_schema]
    return pa.Table.from_arrays(cols + parts, schema=table.schema)


def build_dataset(
    table: GlueTable,
    partitions: list[Partition] | None,
    fs: pafs.FileSystem,
    cache_dir: Path | None = None,
) -> tuple[ds.Dataset, list[str]]:
    """A dataset over the table's files; partition columns come from the partition values."""
    paths: list[str] = []
    exprs: list[ds.Expression] = []
    infos: list[pafs.FileInfo] = []
    if partitions is None:
        for info in list_files(fs, table.location):
            infos.append(info)
            exprs.append(ds.scalar(True))
    else:
        for part in partitions:
            expr = ds.scalar(True)
            for f, raw in zip(table.partition_schema, part.values):
                value = pa.scalar(raw, pa.string()).cast(f.type) if raw is not None else pa.scalar(None, f.type)
                term = ds.field(f.name).is_null() if raw is None else ds.field(f.name) == value
                expr = expr & term
            for info in list_files(fs, part.location):
                infos.append(info)
                exprs.append(expr)
    uris = ["s3://" + i.path for i in infos]
    target_fs: pafs.FileSystem = fs
    if cache_dir is not None:
        paths = [_cached(fs, i, cache_dir) for i in infos]
        target_fs = pafs.LocalFileSystem()
    else:
        paths = [i.path for i in infos]
    dataset = ds.FileSystemDataset.from_paths(
        paths, schema=read_schema(table), format=file_format(table), filesystem=target_fs, partitions=exprs
    )
    return dataset, uris


def _cached(fs: pafs.FileSystem, info: pafs.FileInfo, cache_dir: Path) -> str:
    """Local copy of an S3 object, keyed by path, size and mtime so a changed object is re-read."""
    stamp = f"{info.path}|{info.size}|{info.mtime_ns}"
    suffix = "".join(Path(info.base_name).suffixes[-2:])
    target = cache_dir / (hashlib.sha256(stamp.encode()).hexdigest()[:32] + suffix)
    if not target.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        with fs.open_input_stream(info.path) as src, open(tmp, "wb") as dst:
            while chunk := src.read(8 * 1024 * 1024):
                dst.write(chunk)
        tmp.replace(target)
    return str(target)
