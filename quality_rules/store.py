"""Rules table adapter (DynamoDB, injected boto3 low-level client).

Item design (hash key ``id`` (S), nothing else):

* Live rule items, exactly the reference model at the top level
  (``id``, ``dataset_name``, ``column_name``, ``rules``), so tooling written for the reference
  solution reads and writes them unchanged.
* ``__ruleset__#<dataset>#v<N>`` – an immutable snapshot of version N: ``ruleset_dataset``,
  ``ruleset_version``, ``ruleset_json`` (the full ``RuleSet.to_dict()``), ``digest``, ``created_at``.
  Snapshot attributes deliberately avoid ``dataset_name`` so a reference-style scan never mistakes
  them for rules.
* ``__ruleset__#<dataset>#head`` – ``ruleset_version`` = the current N.

Every ``put_items``/``delete`` writes the live items, the new snapshot and the head in one
``TransactWriteItems`` with optimistic concurrency (head must still be at N-1), so history is
complete and two writers cannot both claim version N. Rules written directly into the table by
other tools (no head) are read as version 0.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from quality_rules.exceptions import QualityRulesError, RuleDefinitionError, RuleSetNotFoundError
from quality_rules.model import RuleItem, RuleSet, parse_items

if TYPE_CHECKING:
    from datalake_base.settings import Settings

_PREFIX = "__ruleset__#"
_ser = TypeSerializer()
_de = TypeDeserializer()


def _to_ddb(value: dict[str, Any]) -> dict[str, Any]:
    plain = json.loads(json.dumps(value), parse_float=Decimal)
    return {k: _ser.serialize(v) for k, v in plain.items()}


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, set):
        return sorted(_plain(x) for x in v)
    return v


def _from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_de.deserialize(v)) for k, v in item.items()}


def ensure_table(client: Any, name: str) -> None:
    """Create the rules table if missing (PAY_PER_REQUEST, SSE on); idempotent, waits until ACTIVE."""
    try:
        client.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            SSESpecification={"Enabled": True},
        )
    except client.exceptions.ResourceInUseException:
        pass
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


class RulesStore:
    """Versioned rule sets in one DynamoDB table. See the module docstring for the item design."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self.client = client

    # --- reads ------------------------------------------------------------------------------
    def _get_item(self, key: str) -> dict[str, Any] | None:
        resp = self.client.get_item(TableName=self.table_name, Key={"id": {"S": key}}, ConsistentRead=True)
        return _from_ddb(resp["Item"]) if "Item" in resp else None

    def _scan(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
        while True:
            resp = self.client.scan(**kwargs)
            out.extend(_from_ddb(i) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _head_version(self, dataset: str) -> int:
        head = self._get_item(f"{_PREFIX}{dataset}#head")
        return int(head["ruleset_version"]) if head else 0

    def _live_items(self, dataset: str) -> list[dict[str, Any]]:
        items = [i for i in self._scan() if not str(i["id"]).startswith(_PREFIX) and i.get("dataset_name") == dataset]
        return sorted(items, key=lambda i: i["id"])

    def get(self, dataset: str, version: int | None = None) -> RuleSet:
        """The rule set of ``dataset`` at ``version`` (default: current)."""
        current = self._head_version(dataset)
        if version is None:
            version = current
        if version == 0 and current == 0:
            # Rules written by other tools straight into the table: unversioned, ordered by id.
            items = self._live_items(dataset)
            if not items:
                raise RuleSetNotFoundError(
                    f"no rules stored for dataset {dataset!r} in table {self.table_name!r}; "
                    "add some with RulesStore.put_items or `datalake rules put`"
                )
            return RuleSet.from_items(dataset, items, version=0)
        snap = self._get_item(f"{_PREFIX}{dataset}#v{version}")
        if snap is None:
            raise RuleSetNotFoundError(
                f"dataset {dataset!r} has no rule-set version {version} (current version is {current}); "
                f"pick a version between 1 and {current}"
            )
        return RuleSet.from_dict(json.loads(snap["ruleset_json"]))

    def history(self, dataset: str) -> list[RuleSet]:
        return [self.get(dataset, v) for v in range(1, self._head_version(dataset) + 1)]

    def list_datasets(self) -> list[str]:
        names: set[str] = set()
        for i in self._scan():
            if str(i["id"]).startswith(_PREFIX):
                if "ruleset_dataset" in i:
                    names.add(i["ruleset_dataset"])
            elif "dataset_name" in i:
                names.add(i["dataset_name"])
        return sorted(names)

    # --- writes -----------------------------------------------------------------------------
    def _current_for_write(self, dataset: str) -> tuple[int, list[RuleItem]]:
        current = self._head_version(dataset)
        if current == 0:
            return 0, parse_items(self._live_items(dataset))
        return current, list(self.get(dataset, current).items)

    def _commit(self, dataset: str, base_version: int, items: list[RuleItem], ops: list[dict[str, Any]]) -> RuleSet:
        new = RuleSet.from_items(dataset, items, version=base_version + 1)
        snapshot = {
            "id": f"{_PREFIX}{dataset}#v{new.version}",
            "ruleset_dataset": dataset,
            "ruleset_version": new.version,
            "ruleset_json": json.dumps(new.to_dict(), ensure_ascii=False),
            "digest": new.digest,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        head_key = {"id": {"S": f"{_PREFIX}{dataset}#head"}}
        head_update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": head_key,
            "UpdateExpression": "SET ruleset_version = :new, ruleset_dataset = :ds",
            "ExpressionAttributeValues": {":new": {"N": str(new.version)}, ":ds": {"S": dataset}},
        }
        if base_version == 0:
            head_update["ConditionExpression"] = "attribute_not_exists(id)"
        else:
            head_update["ConditionExpression"] = "ruleset_version = :old"
            head_update["ExpressionAttributeValues"][":old"] = {"N": str(base_version)}
        tx = [
            *ops,
            {"Put": {"TableName": self.table_name, "Item": _to_ddb(snapshot),
                     "ConditionExpression": "attribute_not_exists(id)"}},
            {"Update": head_update},
        ]
        if len(tx) > 100:
            raise QualityRulesError(
                f"{len(tx) - 2} rule items in one write exceed DynamoDB's 100-item transaction limit; "
                "split the write into smaller batches"
            )
        try:
            self.client.transact_write_items(TransactItems=tx)
        except self.client.exceptions.TransactionCanceledException as exc:
            raise QualityRulesError(
                f"concurrent rules update for dataset {dataset!r} (expected version {base_version}); "
                "re-read the rules and retry"
            ) from exc
        return new

    def put_items(self, items: list[dict[str, Any] | RuleItem]) -> RuleSet:
        """Insert or replace rule items of one dataset; returns the new rule-set version."""
        parsed = parse_items(items)
        if not parsed:
            raise RuleDefinitionError("put_items got an empty list; pass at least one rule item")
        datasets = {i.dataset_name for i in parsed}
        if len(datasets) != 1:
            raise RuleDefinitionError(
                f"put_items got items for several datasets {sorted(datasets)}; call it once per dataset"
            )
        dataset = datasets.pop()
        base, current = self._current_for_write(dataset)
        by_id = {i.id: i for i in parsed}
        merged = [by_id.pop(i.id) if i.id in by_id else i for i in current]  # replace in place
        merged += [i for i in parsed if i.id in by_id]  # new ids keep their given order
        ops = [{"Put": {"TableName": self.table_name, "Item": _to_ddb(i.to_item())}} for i in parsed]
        return self._commit(dataset, base, merged, ops)

    def delete(self, rule_id: str) -> RuleSet:
        """Delete one rule item by id; returns the dataset's new rule-set version."""
        live = self._get_item(rule_id)
        if live is None or "dataset_name" not in live:
            raise RuleSetNotFoundError(f"no rule item with id {rule_id!r} in table {self.table_name!r}")
        dataset = live["dataset_name"]
        base, current = self._current_for_write(dataset)
        remaining = [i for i in current if i.id != rule_id]
        ops = [{"Delete": {"TableName": self.table_name, "Key": {"id": {"S": rule_id}}}}]
        return self._commit(dataset, base, remaining, ops)


def rules_store(settings: Settings) -> RulesStore:
    """The rules table's store, built from settings."""
    from datalake_base import aws

    return RulesStore(settings.rules_table, aws.client("dynamodb", settings))
