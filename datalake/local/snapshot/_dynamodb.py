"""Tables: every item through Scan, saved as DynamoDB's typed JSON (binary values in base64), and
put back with BatchWriteItem. Restoring the catalog table emits one INSERT stream record per item;
the indexer upserts each one, so the search index converges on the catalog whatever it held."""

from __future__ import annotations

import time
from typing import Any

from datalake.local.snapshot._format import Progress, SnapshotReader, SnapshotWriter, b64, unb64
from datalake.local.snapshot.exceptions import SnapshotError

BATCH = 25


def _encode(value: dict[str, Any]) -> dict[str, Any]:
    (t, v), = value.items()
    if t == "B":
        return {"B": b64(v)}
    if t == "BS":
        return {"BS": [b64(x) for x in v]}
    if t == "M":
        return {"M": {k: _encode(x) for k, x in v.items()}}
    if t == "L":
        return {"L": [_encode(x) for x in v]}
    return value


def _decode(value: dict[str, Any]) -> dict[str, Any]:
    (t, v), = value.items()
    if t == "B":
        return {"B": unb64(v)}
    if t == "BS":
        return {"BS": [unb64(x) for x in v]}
    if t == "M":
        return {"M": {k: _decode(x) for k, x in v.items()}}
    if t == "L":
        return {"L": [_decode(x) for x in v]}
    return value


def export_table(ddb: Any, table: str, w: SnapshotWriter, progress: Progress) -> int:
    total = ddb.describe_table(TableName=table)["Table"].get("ItemCount", 0)

    def items():  # noqa: ANN202
        n = 0
        for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page.get("Items", []):
                n += 1
                progress(f"saving table {table}", n, max(n, total))
                yield {k: _encode(v) for k, v in item.items()}

    return w.jsonl(f"dynamodb/{table}.jsonl", items())


def restore_table(ddb: Any, table: str, r: SnapshotReader, progress: Progress) -> int:
    rel = f"dynamodb/{table}.jsonl"
    total = r.manifest["files"].get(rel, {}).get("records", 0)
    batch: list[dict[str, Any]] = []
    n = 0
    for row in r.jsonl(rel):
        batch.append({"PutRequest": {"Item": {k: _decode(v) for k, v in row.items()}}})
        if len(batch) == BATCH:
            _write(ddb, table, batch)
            n += len(batch)
            batch = []
            progress(f"restoring table {table}", n, total)
    if batch:
        _write(ddb, table, batch)
        n += len(batch)
        progress(f"restoring table {table}", n, total)
    return n


def _write(ddb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    pending = {table: requests}
    for attempt in range(8):
        pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if not pending:
            return
        time.sleep(min(2.0, 0.05 * 2**attempt))
    raise SnapshotError(f"DynamoDB left {len(pending.get(table, []))} item(s) of {table} unprocessed after retries")
