"""DynamoDB adapter for the catalog: the source of truth (item design in docs/arrivals.md).

Items
- object version: pk=``DS#<dataset>``, sk=``OBJ#<bucket>#<key>#<version|null>``; ``rev`` counts its writes.
  A key too long for DynamoDB's 1,024-byte sort key (S3 keys reach 1,024 bytes) is hashed:
  sk=``OBJ#<bucket>!<sha256 of key>#<version|null>`` (see ``object_sk_prefix``); the full key is
  always the ``key`` attribute, which is what every reader uses.
- dataset:        pk=``DS#<dataset>``, sk=``#DATASET``
- schema version: pk=``DS#<dataset>``, sk=``SCHEMA#<digest>`` (columns, first seen)

Queries by dataset are one partition. The dataset item's counters (``file_count``,
``total_bytes``, ``quarantined_count``) are the sum of ``contribution()`` over its object items.
That invariant holds under concurrent, duplicated and reordered arrivals because every change of
an object item's contribution is written in one transaction with the matching ``ADD`` on the
dataset item, and the object write is conditional on the ``rev`` it was computed from
(optimistic concurrency: a lost race is re-read and recomputed, never double-counted). Against
the local endpoint, whose transactions are costly, the two are separate calls, and inside
``deferred_counts`` (an arrivals batch) the ``ADD`` of the whole batch is one call per dataset;
drift left by a crash in between is repaired by ``correct_aggregate`` (`datalake reconcile`, run
after every unclean stop).
``agg_rev`` on the dataset item counts those transactions, so ``correct_aggregate`` can take a
consistent snapshot and repair drift without racing arrivals.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from catalog.exceptions import CatalogError, StaleEvent

_SER = TypeSerializer()
_DESER = TypeDeserializer()

DATASET_SK = "#DATASET"
# Statuses of an object version that still holds data in the bucket.
LIVE = frozenset({"received", "ingested", "quarantined", "validated", "loaded"})
# Statuses of an item that describes an object still in the bucket: LIVE, plus ``ignored`` (folder
# markers: catalogued so every object has a record, but not data, so not counted in the dataset).
PRESENT = LIVE | {"ignored"}
COUNTERS = ("file_count", "total_bytes", "quarantined_count")


class WriteConflict(CatalogError):
    """The object item changed since it was read (another arrival won the race); re-read and retry."""


def contribution(record: Mapping[str, Any] | None) -> dict[str, int]:
    """What one object-version item adds to its dataset's counters: current, live versions only."""
    if not record or record.get("status") not in LIVE or record.get("is_latest") is False:
        return dict.fromkeys(COUNTERS, 0)
    return {"file_count": 1, "total_bytes": int(record.get("size") or 0),
            "quarantined_count": int(record.get("status") == "quarantined")}


def totals(records: Iterator[Mapping[str, Any]] | list[Mapping[str, Any]]) -> dict[str, int]:
    out = dict.fromkeys(COUNTERS, 0)
    for r in records:
        for k, v in contribution(r).items():
            out[k] += v
    return out


# DynamoDB's sort-key limit is 1,024 bytes; room is kept for the version id (S3's are 32 characters).
SK_MAX_BYTES = 1024
VERSION_ROOM = 128


def object_sk_prefix(bucket: str, key: str) -> str:
    """The sort-key prefix shared by every version of one key.

    Readable (``OBJ#<bucket>#<key>#``) whenever it fits, so every item written before long keys
    were supported keeps its sort key: no migration. A longer key gets ``OBJ#<bucket>!<sha256>#``:
    bucket names never contain ``!`` or ``#``, so the two forms cannot collide, and both sort under
    ``OBJ#`` (dataset listings are unchanged).
    """
    readable = f"OBJ#{bucket}#{key}#"
    if len(readable.encode("utf-8")) + VERSION_ROOM <= SK_MAX_BYTES:
        return readable
    return f"OBJ#{bucket}!{hashlib.sha256(key.encode('utf-8')).hexdigest()}#"


def object_keys(dataset: str, bucket: str, key: str, version_id: str | None) -> dict[str, str]:
    return {"pk": f"DS#{dataset}", "sk": f"{object_sk_prefix(bucket, key)}{version_id or 'null'}"}


def to_dynamo(value: Any) -> Any:
    """Floats become Decimal (DynamoDB rejects float); None values are dropped from maps."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [from_dynamo(v) for v in value]
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(v) for k, v in to_dynamo(item).items()}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return from_dynamo({k: _DESER.deserialize(v) for k, v in item.items()})


_DEFERRED = threading.local()  # the open ``deferred_counts`` block of this thread, if any


class _PendingCounts:
    """Counter deltas, schema digests and the latest arrival per dataset, not yet written."""

    def __init__(self) -> None:
        self.by_dataset: dict[str, tuple[dict[str, int], set[str], str | None]] = {}

    def add(self, dataset: str, delta: Mapping[str, int], digest: str | None, arrival_time: str | None) -> None:
        counts, digests, latest = self.by_dataset.setdefault(dataset, (dict.fromkeys(COUNTERS, 0), set(), None))
        for k in COUNTERS:
            counts[k] += int(delta.get(k, 0))
        if digest:
            digests.add(digest)
        if arrival_time and (latest is None or arrival_time > latest):
            latest = arrival_time
        self.by_dataset[dataset] = (counts, digests, latest)


def _emulated(client: Any) -> bool:
    url = str(getattr(getattr(client, "meta", None), "endpoint_url", "") or "")
    return bool(url) and not url.rstrip("/").endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))


class CatalogStore:
    def __init__(self, table_name: str, client: Any, *, transactions: bool | None = None) -> None:
        self.table = table_name
        self.client = client
        # Whether a commit is one TransactWriteItems (DynamoDB) or two writes (any other endpoint: the
        # local one's TransactWriteItems deep-copies the whole table per call, quadratic as the catalog
        # grows). The local endpoint makes each single write atomic (datalake.local.endpoint), so the two
        # need no lock: a conditional put loses or wins on its own, and counter ADDs commute.
        self._transactions = not _emulated(client) if transactions is None else transactions

    # --- objects -------------------------------------------------------------------------------
    def get_object(self, dataset: str, bucket: str, key: str, version_id: str | None) -> dict[str, Any] | None:
        resp = self.client.get_item(
            TableName=self.table, Key=serialize(object_keys(dataset, bucket, key, version_id)), ConsistentRead=True
        )
        return deserialize(resp["Item"]) if "Item" in resp else None

    def put_object(self, record: Mapping[str, Any], *, sequencer_sort: str | None) -> None:
        """Write an object-version record unless a newer event (by sequencer) already wrote it.

        Raises ``StaleEvent`` when the stored sequencer is newer or equal.
        """
        item = dict(record)
        item.update(object_keys(record["dataset"], record["bucket"], record["key"], record.get("version_id")))
        item["kind"] = "object"
        kwargs: dict[str, Any] = {}
        if sequencer_sort:
            item["sequencer_sort"] = sequencer_sort
            kwargs = {
                "ConditionExpression": "attribute_not_exists(pk) OR attribute_not_exists(sequencer_sort) OR sequencer_sort < :seq",
                "ExpressionAttributeValues": {":seq": {"S": sequencer_sort}},
            }
        try:
            self.client.put_item(TableName=self.table, Item=serialize(item), **kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StaleEvent(f"stale event for s3://{record['bucket']}/{record['key']} ({sequencer_sort})") from exc
            raise

    def commit(
        self,
        record: Mapping[str, Any],
        previous: Mapping[str, Any] | None,
        *,
        sequencer_sort: str | None = None,
        arrival_time: str | None = None,
    ) -> dict[str, int]:
        """Replace ``previous`` (None: no item yet) by ``record``, and fold the change into the dataset item.

        One transaction: the object put, conditional on the item still being ``previous`` (same
        ``rev``) and, with a sequencer, on no newer event having been written; and the dataset
        update adding ``contribution(record) - contribution(previous)``. Raises ``WriteConflict``
        when the condition fails (the caller re-reads and decides: stale, duplicate or retry).
        Returns the counter deltas applied.
        """
        dataset = record["dataset"]
        item = dict(record)
        item.update(object_keys(dataset, record["bucket"], record["key"], record.get("version_id")))
        item["kind"] = "object"
        prev_rev = int(previous.get("rev") or 0) if previous else None
        item["rev"] = (prev_rev or 0) + 1
        values: dict[str, Any] = {}
        if previous is None:
            cond = "attribute_not_exists(pk)"
        elif previous.get("rev") is None:  # written before revs existed
            cond = "attribute_not_exists(rev)"
        else:
            cond, values[":rev"] = "rev = :rev", {"N": str(prev_rev)}
        if sequencer_sort:
            item["sequencer_sort"] = sequencer_sort
            cond += " AND (attribute_not_exists(sequencer_sort) OR sequencer_sort < :seq)"
            values[":seq"] = {"S": sequencer_sort}
        put: dict[str, Any] = {"TableName": self.table, "Item": serialize(item), "ConditionExpression": cond}
        if values:
            put["ExpressionAttributeValues"] = values
        before, after = contribution(previous), contribution(record)
        delta = {k: after[k] - before[k] for k in COUNTERS}
        digest = record.get("schema_digest") if record.get("status") in LIVE else None
        if not any(delta.values()) and not digest and not arrival_time:
            self._guarded(lambda: self.client.put_item(**put), record)
            return delta
        pending = getattr(_DEFERRED, "counts", None)
        if not self._transactions and pending is not None:
            # Inside ``deferred_counts``: the put now, the counters with the rest of the batch.
            self._guarded(lambda: self.client.put_item(**put), record)
            pending.add(dataset, delta, digest, arrival_time)
            return delta
        update = self._dataset_update(dataset, delta, schema_digests=[digest] if digest else [],
                                      arrival_time=arrival_time)
        if self._transactions:
            self._guarded(lambda: self.client.transact_write_items(TransactItems=[{"Put": put}, {"Update": update}]), record)
        else:
            # Two writes (see __init__); a crash between them leaves drift that `datalake reconcile` repairs.
            def put_then_count() -> None:
                self.client.put_item(**put)
                self.client.update_item(**update)

            self._guarded(put_then_count, record)
        return delta

    @contextmanager
    def deferred_counts(self) -> Iterator[None]:
        """Fold the counter updates of every ``commit`` in the block into one UpdateItem per dataset.

        Against the local endpoint, where a commit is already two calls (the put, then the counters),
        this saves one of an arrival's three writes; the dataset items are updated when the block
        ends, even if it raised (the puts that happened are counted). A crash inside the block leaves
        drift that `datalake reconcile` repairs, as a crash between the two calls always could.
        Against DynamoDB each commit stays one exact transaction and this does nothing.
        """
        if self._transactions or getattr(_DEFERRED, "counts", None) is not None:
            yield
            return
        pending = _DEFERRED.counts = _PendingCounts()
        try:
            yield
        finally:
            _DEFERRED.counts = None
            for dataset, (delta, digests, arrival_time) in pending.by_dataset.items():
                if any(delta.values()) or digests or arrival_time:
                    update = self._dataset_update(dataset, delta, schema_digests=sorted(digests), arrival_time=arrival_time)
                    self.client.update_item(**update)

    def _dataset_update(self, dataset: str, delta: Mapping[str, int], *, schema_digests: Collection[str] = (),
                        arrival_time: str | None = None, condition_rev: int | None = None) -> dict[str, Any]:
        sets = ["kind = :kind", "dataset = :ds"]
        adds = ["agg_rev :one"] + [f"{k} :{k}" for k in COUNTERS]
        values: dict[str, Any] = {":kind": {"S": "dataset"}, ":ds": {"S": dataset}, ":one": {"N": "1"},
                                  **{f":{k}": {"N": str(int(delta.get(k, 0)))} for k in COUNTERS}}
        if arrival_time:
            sets.append("last_arrival = :t")
            values[":t"] = {"S": arrival_time}
        if schema_digests:
            adds.append("schema_versions :sv")
            values[":sv"] = {"SS": list(schema_digests)}
        update: dict[str, Any] = {
            "TableName": self.table, "Key": serialize({"pk": f"DS#{dataset}", "sk": DATASET_SK}),
            "UpdateExpression": f"SET {', '.join(sets)} ADD {', '.join(adds)}", "ExpressionAttributeValues": values,
        }
        if condition_rev is not None:
            update["ConditionExpression"] = "attribute_not_exists(agg_rev) AND :zero = :rev OR agg_rev = :rev"
            values[":rev"], values[":zero"] = {"N": str(condition_rev)}, {"N": "0"}
        return update

    def _guarded(self, call: Any, record: Mapping[str, Any]) -> None:
        try:
            call()
        except ClientError as exc:
            err = exc.response.get("Error", {}).get("Code")
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if err == "ConditionalCheckFailedException" or "ConditionalCheckFailed" in reasons:
                raise WriteConflict(
                    f"s3://{record['bucket']}/{record['key']} (version {record.get('version_id') or 'null'}) changed "
                    "since it was read; re-read it and retry"
                ) from exc
            raise

    def put_schema_version(self, dataset: str, digest: str, columns: list[dict[str, str]], seen_at: str) -> bool:
        """Record a schema version the first time it is seen; False if it was known already."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=serialize({"pk": f"DS#{dataset}", "sk": f"SCHEMA#{digest}", "kind": "schema", "dataset": dataset,
                                "schema_digest": digest, "columns": columns, "first_seen": seen_at}),
                ConditionExpression="attribute_not_exists(pk)",
            )
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise

    def list_schema_versions(self, dataset: str) -> list[dict[str, Any]]:
        return [deserialize(i) for i in self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
            ExpressionAttributeValues={":pk": {"S": f"DS#{dataset}"}, ":s": {"S": "SCHEMA#"}},
        )]

    def list_key_versions(self, dataset: str, bucket: str, key: str) -> list[dict[str, Any]]:
        """Every version item of exactly one key."""
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": f"DS#{dataset}"}, ":p": {"S": object_sk_prefix(bucket, key)}},
        )
        return [r for r in (deserialize(i) for i in items) if r.get("key") == key and r.get("bucket") == bucket]

    def correct_aggregate(self, dataset: str, *, attempts: int = 5) -> dict[str, int] | None:
        """Make the dataset's counters equal the sum over its object items; returns the correction, or None.

        Safe while arrivals run: the snapshot counts only if ``agg_rev`` did not move while the
        items were read, and the correction is conditional on it still not having moved.
        """
        for _ in range(attempts):
            before = self.get_dataset(dataset) or {}
            rev = int(before.get("agg_rev") or 0)
            records = self.list_objects(dataset)
            if int((self.get_dataset(dataset) or {}).get("agg_rev") or 0) != rev:
                continue
            expected = totals(records)
            delta = {k: expected[k] - int(before.get(k) or 0) for k in COUNTERS}
            digests = {r["schema_digest"] for r in records if r.get("schema_digest") and r.get("status") in LIVE}
            missing = digests - set(before.get("schema_versions") or [])
            arrivals = [r["arrival_time"] for r in records if r.get("arrival_time") and r.get("status") in LIVE]
            latest = max(arrivals) if arrivals else None
            stale_last = latest is not None and (before.get("last_arrival") or "") < latest
            if not any(delta.values()) and not missing and not stale_last and (before or not records):
                return None
            update = self._dataset_update(dataset, delta, arrival_time=latest if stale_last else None, condition_rev=rev)
            if missing:
                update["UpdateExpression"] += ", schema_versions :sv"
                update["ExpressionAttributeValues"][":sv"] = {"SS": sorted(missing)}
            try:
                self._guarded(lambda: self.client.update_item(**update), {"bucket": "-", "key": f"dataset {dataset}"})
            except WriteConflict:
                continue
            return {k: v for k, v in delta.items() if v} | ({"schema_versions_added": len(missing)} if missing else {}) | (
                {"last_arrival": latest} if stale_last else {})
        raise WriteConflict(f"dataset {dataset!r} kept changing during {attempts} reconcile attempts; run it again")

    def update_object(self, dataset: str, bucket: str, key: str, version_id: str | None, changes: Mapping[str, Any]) -> None:
        self._set(object_keys(dataset, bucket, key, version_id), changes, condition="attribute_exists(pk)")

    def list_objects(self, dataset: str, *, status: str | None = None) -> list[dict[str, Any]]:
        items = [
            deserialize(i)
            for i in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :obj)",
                ExpressionAttributeValues={":pk": {"S": f"DS#{dataset}"}, ":obj": {"S": "OBJ#"}},
            )
        ]
        return [i for i in items if status is None or i.get("status") == status]

    # --- datasets ------------------------------------------------------------------------------
    def get_dataset(self, dataset: str) -> dict[str, Any] | None:
        resp = self.client.get_item(
            TableName=self.table, Key=serialize({"pk": f"DS#{dataset}", "sk": DATASET_SK}), ConsistentRead=True
        )
        return deserialize(resp["Item"]) if "Item" in resp else None

    def record_arrival(
        self, dataset: str, *, files_delta: int, bytes_delta: int, arrival_time: str, schema_digest: str | None
    ) -> None:
        """Atomically fold one file's arrival (or removal, with negative deltas) into the dataset item."""
        update = "SET kind = :kind, dataset = :ds, last_arrival = :t ADD file_count :f, total_bytes :b"
        values: dict[str, Any] = {
            ":kind": {"S": "dataset"},
            ":ds": {"S": dataset},
            ":t": {"S": arrival_time},
            ":f": {"N": str(files_delta)},
            ":b": {"N": str(bytes_delta)},
        }
        if schema_digest:
            update += ", schema_versions :sv"
            values[":sv"] = {"SS": [schema_digest]}
        self.client.update_item(
            TableName=self.table,
            Key=serialize({"pk": f"DS#{dataset}", "sk": DATASET_SK}),
            UpdateExpression=update,
            ExpressionAttributeValues=values,
        )

    def update_dataset(self, dataset: str, changes: Mapping[str, Any]) -> None:
        self._set({"pk": f"DS#{dataset}", "sk": DATASET_SK}, {"kind": "dataset", "dataset": dataset, **changes})

    def list_datasets(self) -> list[dict[str, Any]]:
        items = self._scan(
            FilterExpression="sk = :sk", ExpressionAttributeValues={":sk": {"S": DATASET_SK}}
        )
        return sorted((deserialize(i) for i in items), key=lambda d: d["dataset"])

    def _set(self, keys: Mapping[str, str], changes: Mapping[str, Any], condition: str | None = None) -> None:
        names = {f"#f{i}": k for i, k in enumerate(changes)}
        values = {f":v{i}": _SER.serialize(to_dynamo(v)) for i, v in enumerate(changes.values())}
        sets = ", ".join(f"#f{i} = :v{i}" for i in range(len(changes)))
        extra = {"ConditionExpression": condition} if condition else {}
        self.client.update_item(
            TableName=self.table,
            Key=serialize(keys),
            UpdateExpression=f"SET {sets}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            **extra,
        )

    # --- pipeline runs (written by the pipeline stage; item design in docs/architecture.md) -----------
    def list_runs(self, dataset: str, limit: int = 20) -> list[dict[str, Any]]:
        """The dataset's latest pipeline runs, newest first (run ids start with their UTC start time)."""
        resp = self.client.query(TableName=self.table, ConsistentRead=True, ScanIndexForward=False, Limit=limit,
                                 KeyConditionExpression="pk = :pk AND begins_with(sk, :r)",
                                 ExpressionAttributeValues={":pk": {"S": f"DS#{dataset}"}, ":r": {"S": "RUN#"}})
        return [deserialize(i) for i in resp["Items"]]
    def scan_items(self, kinds: tuple[str, ...] = ("object", "dataset")) -> Iterator[dict[str, Any]]:
        """Every catalog item of the given kinds, page by page (a full table scan)."""
        names = {f":k{i}": {"S": k} for i, k in enumerate(kinds)}
        for item in self._scan(FilterExpression=f"#kind IN ({', '.join(names)})",
                               ExpressionAttributeNames={"#kind": "kind"}, ExpressionAttributeValues=names):
            yield deserialize(item)

    def estimated_count(self) -> int | None:
        """DynamoDB's item count (refreshed about every six hours in AWS): for progress bars only."""
        n = self.client.describe_table(TableName=self.table)["Table"].get("ItemCount")
        return int(n) if n else None

    # --- paging ----------------------------------------------------------------------------------
    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, ConsistentRead=True, **kwargs):
            yield from page["Items"]

    def _scan(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table, **kwargs):
            yield from page["Items"]
