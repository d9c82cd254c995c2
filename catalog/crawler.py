"""The local crawler: builds a dataset's Glue table and partitions from its catalogued files.

In AWS a Glue crawler does this from the bucket; locally the schema comes from the catalog records
(each captured at arrival by reading the file), merged the way a crawler merges compatible
folders: columns unioned in first-seen order, numeric types widened, conflicting types to string.

As a Glue crawler does, it also
* picks the CSV SerDe from the data: LazySimpleSerDe (typed columns) for unquoted files,
  OpenCSVSerde (every column string) when fields are quoted (``sample`` reads a file's first bytes);
* leaves a table it did not create alone unless the dataset's ``update_behavior`` is
  ``UPDATE_IN_DATABASE`` (then it keeps that table's partition key types and parameters); the
  default for foreign tables is ``LOG``: the difference is reported, the table untouched;
* versions the dataset's schema: a file whose columns differ from the dataset's (added, removed,
  retyped, renamed) gives a new version with a diff on the dataset record, a log event and a
  ``SchemaDrift`` entry; the dataset's ``schema_drift_policy`` decides: ``merge`` (default: the
  table gets the merged schema), ``log`` (table unchanged) or ``quarantine`` (the file is
  quarantined and left out of the table).
"""

from __future__ import annotations

import re
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

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
    serde: str = ""
    table_action: str = ""  # created | updated | left alone (LOG) | unchanged
    schema_version: int = 0
    schema_diff: dict[str, Any] = field(default_factory=dict)
    quarantined: list[str] = field(default_factory=list)


UpdateBehavior = Literal["UPDATE_IN_DATABASE", "LOG"]
DriftPolicy = Literal["merge", "log", "quarantine"]
_QUOTED = re.compile(rb'(^|[,;|\t])"', re.MULTILINE)


def looks_quoted(head: bytes, compression: str = "none") -> bool:
    """Whether a CSV's first bytes have a field that starts with a double quote."""
    if compression == "gzip" or head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
        except zlib.error:
            return False
    return bool(_QUOTED.search(head))


def schema_diff(old: list[dict[str, str]], new: list[dict[str, str]]) -> dict[str, Any]:
    """Added, removed, retyped and renamed columns (a rename: same position and type, new name)."""
    o, n = {c["name"]: c["type"] for c in old}, {c["name"]: c["type"] for c in new}
    added = [c for c in n if c not in o]
    removed = [c for c in o if c not in n]
    retyped = {c: {"from": o[c], "to": n[c]} for c in n if c in o and o[c] != n[c]}
    renamed = {}
    for i, c in enumerate(old):
        if c["name"] in removed and i < len(new) and new[i]["name"] in added and new[i]["type"] == c["type"]:
            renamed[c["name"]] = new[i]["name"]
    added = [c for c in added if c not in renamed.values()]
    removed = [c for c in removed if c not in renamed]
    return {k: v for k, v in (("added", added), ("removed", removed), ("retyped", retyped), ("renamed", renamed)) if v}


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


def crawl(dataset: str, *, store: CatalogStore, glue: GlueCatalog, landing_bucket: str,
          sample: Callable[[dict[str, Any]], bytes] | None = None,
          notify: Callable[[dict[str, Any]], None] | None = None) -> CrawlResult:
    records = [r for r in store.list_objects(dataset) if r.get("status") in CRAWLABLE and r["bucket"] == landing_bucket]
    if not records:
        raise DatasetNotFound(dataset)
    ds_record = store.get_dataset(dataset) or {}
    by_format = Counter(r["format"] for r in records)
    fmt, _ = by_format.most_common(1)[0]
    chosen = [r for r in records if r["format"] == fmt]
    skipped = [r["key"] for r in records if r["format"] != fmt]

    # schema versions: every file is compared with the dataset's current schema
    previous = ds_record.get("schema_columns")
    policy: DriftPolicy = ds_record.get("schema_drift_policy") or "merge"
    # files already compared carry the schema version they were seen under
    drifted = [r for r in chosen if previous is not None and "schema_version" not in r
               and (r.get("columns") or []) != previous]
    quarantined: list[str] = []
    if drifted and policy == "quarantine":
        for r in drifted:
            store.update_object(dataset, r["bucket"], r["key"], r.get("version_id"), {
                "status": "quarantined",
                "status_reason": f"schema drift: {schema_diff(previous, r.get('columns') or [])}; the dataset's "
                                 "schema_drift_policy is quarantine (set it to merge to accept the new schema)"})
            quarantined.append(r["key"])
        chosen = [r for r in chosen if r not in drifted]
        if not chosen:
            raise CatalogError(f"dataset {dataset!r}: every file drifted from its schema and was quarantined")
    keys = partition_keys(chosen)
    merged = merge_columns([r.get("columns") or [] for r in chosen])
    columns = previous if (policy == "log" and previous is not None) else merged
    clash = {c["name"] for c in columns} & set(keys)
    if clash:
        raise CatalogError(f"dataset {dataset!r}: columns {sorted(clash)} are also partition folders; rename one of them")
    versions = list(ds_record.get("schema_history") or [])
    diff = schema_diff(previous, merged) if previous is not None else {}
    last = versions[-1]["columns"] if versions else None
    if previous is None or drifted or (last is not None and merged != last):
        versions.append({"version": len(versions) + 1, "columns": merged, "diff": diff, "policy": policy,
                         "files": [r["key"] for r in drifted], "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        if previous is not None:
            _drift_event(dataset, versions[-1], notify)

    delimiters = Counter(r.get("delimiter") or "," for r in chosen)
    compressions = Counter(r.get("compression") or "none" for r in chosen)
    quoted = fmt == "csv" and sample is not None and any(
        looks_quoted(sample(r), r.get("compression") or "none") for r in chosen[:5])
    name = glue_identifier(dataset)
    location = f"s3://{landing_bucket}/{dataset}/"
    tinput = table_input(
        name, fmt, location, columns, keys,
        delimiter=delimiters.most_common(1)[0][0],
        header=all(r.get("has_header", True) for r in chosen),
        compression=compressions.most_common(1)[0][0],
        extra={"datalake:dataset": dataset, "datalake:kind": "raw"},
        quoted=quoted,
    )
    existing = glue.get_table(name)
    ours = existing is None or (existing.get("Parameters") or {}).get("datalake:kind") == "raw"
    behavior: UpdateBehavior = ds_record.get("update_behavior") or ("UPDATE_IN_DATABASE" if ours else "LOG")
    if existing is not None and not ours:
        # another tool's table: keep its partition key types and its parameters
        own_keys = {k["Name"]: k for k in existing.get("PartitionKeys") or []}
        tinput["PartitionKeys"] = [own_keys.get(k["Name"], k) for k in tinput["PartitionKeys"]]
        tinput["Parameters"] = {**tinput["Parameters"], **(existing.get("Parameters") or {})}
    if existing is not None and behavior == "LOG":
        action = "left alone (LOG)"
        table_diff = schema_diff([{"name": c["Name"], "type": c["Type"]} for c in
                                  (existing.get("StorageDescriptor") or {}).get("Columns") or []],
                                 [{"name": c["Name"], "type": c["Type"]} for c in tinput["StorageDescriptor"]["Columns"]])
        if table_diff:
            diff = {**diff, "table": table_diff}
    else:
        action = glue.upsert_table(tinput)
    added = 0
    if keys and action != "left alone (LOG)" or (keys and existing is not None and
                                                 [k["Name"] for k in existing.get("PartitionKeys") or []] == keys):
        parts: dict[tuple[str, ...], str] = {}
        for r in chosen:
            values = tuple(r["partitions"][k] for k in keys)
            folder = "/".join(f"{k}={v}" for k, v in zip(keys, values))
            parts[values] = f"{location}{folder}/"
        added = glue.add_partitions(name, [(list(v), loc) for v, loc in sorted(parts.items())])
    for r in chosen:
        if "schema_version" not in r:
            store.update_object(dataset, r["bucket"], r["key"], r.get("version_id"), {"schema_version": len(versions)})
    serde = tinput["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].rsplit(".", 1)[-1]
    store.update_dataset(dataset, {"glue_table": name, "columns": [{"name": c["Name"], "type": c["Type"]} for c in
                                                                   tinput["StorageDescriptor"]["Columns"]],
                                   "schema_columns": merged if policy != "log" or previous is None else previous,
                                   "schema_history": versions, "partition_keys": keys, "format": fmt, "serde": serde})
    return CrawlResult(dataset, [name], columns, keys, added, len(chosen), skipped, serde=serde, table_action=action,
                       schema_version=len(versions), schema_diff=diff, quarantined=quarantined)


def _drift_event(dataset: str, version: dict[str, Any], notify: Callable[[dict[str, Any]], None] | None) -> None:
    """The event (the log and the dataset record; ``notify``, e.g. an SNS topic, when given) and the metric."""
    from datalake_base.observability import logger, metrics

    event = {"event": "schema_drift", "dataset": dataset, "schema_version": version["version"],
             "diff": version["diff"], "files": version["files"], "policy": version["policy"]}
    logger().warning("schema drift", extra=event)
    if notify is not None:
        try:
            notify(event)
        except Exception as exc:  # the drift is recorded either way; a failed notification is only logged
            logger().error("schema drift notification failed", extra={"dataset": dataset, "error": str(exc)})
    try:
        from aws_lambda_powertools.metrics import MetricUnit

        metrics().add_metric(name="SchemaDrift", unit=MetricUnit.Count, value=1)
    except Exception:  # a metric must never fail a crawl
        pass
