"""DynamoDB adapter for the catalog: the source of truth (item design in docs/architecture.md).

Items
- object version: pk=``DS#<dataset>``, sk=``OBJ#<bucket>#<key>#<version|null>``
- dataset:        pk=``DS#<dataset>``, sk=``#DATASET``

Queries by dataset are one partition; the dataset item is updated with atomic ``ADD`` so
concurrent arrivals keep its counts right.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from catalog.exceptions import StaleEvent

_SER = TypeSerializer()
_DESER = TypeDeserializer()

DATASET_SK = "#DATASET"


def object_keys(dataset: str, bucket: str, key: str, version_id: str | None) -> dict[str, str]:
    return {"pk": f"DS#{dataset}", "sk": f"OBJ#{bucket}#{key}#{version_id or 'null'}"}


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


class CatalogStore:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table = table_name
        self.client = client

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

    # --- paging ----------------------------------------------------------------------------------
    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, ConsistentRead=True, **kwargs):
            yield from page["Items"]

    def _scan(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table, **kwargs):
            yield from page["Items"]
