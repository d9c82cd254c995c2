"""The local crawler: builds a dataset's Glue table and partitions from its catalogued files.

In AWS a Glue crawler does this from the bucket; locally the schema comes from the catalog records
(each captured at arrival by reading the file), merged the way a crawler merges compatible
folders: columns unioned in first-seen order, numeric types widened, conflicting types to string.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from catalog.exceptions import CatalogError, DatasetNotFound
from catalog.glue import GlueCatalog, table_input
from catalog.naming import glue_identifier
from catalog.store import CatalogStore

_NUMERIC_RANK = {"int": 0, "bigint": 1, "float": 2, "double": 3}
CRAWLABLE = ("ingested", "validated", "loaded")


@dataclass
class CrawlResult:
    dataset: str
    tables: list[str]
    columns: list[dict[str, str]]
    partition_keys: list[str]
    partitions_added: int
    files: int
    skipped: list[str] = field(default_factory=list)


def merge_type(a: str, b: str) -> str:
    if a == b:
        return a
    if a in _NUMERIC_RANK and b in _NUMERIC_RANK:
        return max(a, b, key=_NUMERIC_RANK.__getitem__)
    return "string"


def merge_columns(schemas: list[list[dict[str, str]]]) -> list[dict[str, str]]:
    merged: dict[str, str] = {}
    for cols in schemas:
        for c in cols:
            merged[c["name"]] = merge_type(merged[c["name"]], c["type"]) if c["name"] in merged else c["type"]
    return [{"name": n, "type": t} for n, t in merged.items()]


def partition_keys(records: list[dict[str, Any]]) -> list[str]:
    """Partition keys shared by every file, in folder order; a dataset mixing layouts has none."""
    layouts = {tuple((r.get("partitions") or {}).keys()) for r in records}
    return list(layouts.pop()) if len(layouts) == 1 else []


def crawl(dataset: str, *, store: CatalogStore, glue: GlueCatalog, landing_bucket: str) -> CrawlResult:
    records = [r for r in store.list_objects(dataset) if r.get("status") in CRAWLABLE and r["bucket"] == landing_bucket]
    if not records:
        raise DatasetNotFound(dataset)
    by_format = Counter(r["format"] for r in records)
    fmt, _ = by_format.most_common(1)[0]
    chosen = [r for r in records if r["format"] == fmt]
    skipped = [r["key"] for r in records if r["format"] != fmt]
    keys = partition_keys(chosen)
    columns = merge_columns([r.get("columns") or [] for r in chosen])
    clash = {c["name"] for c in columns} & set(keys)
    if clash:
        raise CatalogError(f"dataset {dataset!r}: columns {sorted(clash)} are also partition folders; rename one of them")
    delimiters = Counter(r.get("delimiter") or "," for r in chosen)
    compressions = Counter(r.get("compression") or "none" for r in chosen)
    name = glue_identifier(dataset)
    location = f"s3://{landing_bucket}/{dataset}/"
    glue.upsert_table(
        table_input(
            name, fmt, location, columns, keys,
            delimiter=delimiters.most_common(1)[0][0],
            header=all(r.get("has_header", True) for r in chosen),
            compression=compressions.most_common(1)[0][0],
            extra={"datalake:dataset": dataset, "datalake:kind": "raw"},
        )
    )
    added = 0
    if keys:
        parts: dict[tuple[str, ...], str] = {}
        for r in chosen:
            values = tuple(r["partitions"][k] for k in keys)
            folder = "/".join(f"{k}={v}" for k, v in zip(keys, values))
            parts[values] = f"{location}{folder}/"
        added = glue.add_partitions(name, [(list(v), loc) for v, loc in sorted(parts.items())])
    store.update_dataset(dataset, {"glue_table": name, "columns": columns, "partition_keys": keys, "format": fmt})
    return CrawlResult(dataset, [name], columns, keys, added, len(chosen), skipped)
