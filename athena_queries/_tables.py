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
    sp, tp = table.serde_params, table.table_params
    delimiter = sp.get("separatorChar") or sp.get("field.delim") or ("\t" if tp.get("classification") == "tsv" else ",")
    quote = sp.get("quoteChar", '"')
    escape = sp.get("escapeChar") or sp.get("escape.delim") or False
    skip = int(tp.get("skip.header.line.count", "0") or 0)
    return ds.CsvFileFormat(
        # Athena maps delimited text by position: the Glue columns name the fields, in order.
        read_options=pacsv.ReadOptions(column_names=table.data_schema.names, skip_rows=skip),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=quote or False, escape_char=escape),
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in table.data_schema}, strings_can_be_null=False
        ),
    )


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
        paths, schema=table.schema, format=file_format(table), filesystem=target_fs, partitions=exprs
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
