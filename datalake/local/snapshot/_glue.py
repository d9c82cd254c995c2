"""The Glue database's tables and partitions, saved as the TableInput / PartitionInput that
CreateTable and BatchCreatePartition take back (read-only fields such as CreateTime dropped)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from datalake.local.snapshot._format import Progress, SnapshotReader, SnapshotWriter
from datalake.local.snapshot.exceptions import SnapshotError

TABLE_INPUT = ("Name", "Description", "Owner", "Retention", "StorageDescriptor", "PartitionKeys", "ViewOriginalText",
               "ViewExpandedText", "TableType", "Parameters", "TargetTable")
PARTITION_INPUT = ("Values", "StorageDescriptor", "Parameters")
BATCH = 100


def export_database(glue: Any, database: str, w: SnapshotWriter, progress: Progress) -> dict[str, int]:
    tables = [t for page in glue.get_paginator("get_tables").paginate(DatabaseName=database) for t in page["TableList"]]
    partitions: list[dict[str, Any]] = []
    for i, t in enumerate(tables, 1):
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=t["Name"]):
            partitions += [{"table": t["Name"], "input": {k: p[k] for k in PARTITION_INPUT if k in p}}
                           for p in page["Partitions"]]
        progress(f"saving Glue database {database}", i, len(tables))
    w.jsonl(f"glue/{database}/tables.jsonl", ({k: t[k] for k in TABLE_INPUT if k in t} for t in tables))
    w.jsonl(f"glue/{database}/partitions.jsonl", partitions)
    return {"tables": len(tables), "partitions": len(partitions)}


def restore_database(glue: Any, database: str, r: SnapshotReader, progress: Progress) -> int:
    tables = list(r.jsonl(f"glue/{database}/tables.jsonl"))
    by_table: dict[str, list[dict[str, Any]]] = {}
    for p in r.jsonl(f"glue/{database}/partitions.jsonl"):
        by_table.setdefault(p["table"], []).append(p["input"])
    for i, t in enumerate(tables, 1):
        try:
            glue.create_table(DatabaseName=database, TableInput=t)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "AlreadyExistsException":
                raise
            glue.update_table(DatabaseName=database, TableInput=t)
        parts = by_table.get(t["Name"], [])
        for j in range(0, len(parts), BATCH):
            errors = glue.batch_create_partition(DatabaseName=database, TableName=t["Name"],
                                                 PartitionInputList=parts[j:j + BATCH]).get("Errors") or []
            if errors:
                raise SnapshotError(f"Glue refused {len(errors)} partition(s) of {database}.{t['Name']}: "
                                    f"{errors[0].get('ErrorDetail', {}).get('ErrorMessage', errors[0])}")
        progress(f"restoring Glue database {database}", i, len(tables))
    return len(tables)
