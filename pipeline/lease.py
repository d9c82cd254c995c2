"""The per-dataset pipeline item: debounce mark and lease, in the catalog table.

One item per dataset, ``pk=PIPELINE``, ``sk=DS#<dataset>`` (one partition, so the due poller is
one Query): ``kind=pipeline``, ``dataset``,
- ``changes`` (ADD 1 per arrival/delete the trigger saw) and ``due_at`` (epoch s: when a run
  should start; moved to now + debounce by every change, so it fires once the dataset is quiet);
- while a run holds the lease: ``owner`` (random token), ``lease_expires`` (epoch s, extended by
  each step's heartbeat), ``run_id``, ``acquired_at``, ``changes_at_start`` (``changes`` when the
  run started).

Every transition is one conditional UpdateItem, so two starters can never both own a dataset:
- acquire: lease free or expired (and, for automatic runs, ``due_at <= now``). An automatic run
  also sets ``due_at = now + lease`` so that, should it crash, the expired lease is picked up
  again (recovery) without any arrival;
- heartbeat: ``owner = token``; fails with ``LeaseLost`` when someone else took over;
- release: ``owner = token``. If ``changes`` did not move since the start, ``due_at`` goes too;
  if it moved (arrivals during the run), ``due_at`` stays, set by those arrivals: exactly one
  follow-up run starts once they are quiet.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from catalog.store import deserialize, serialize
from pipeline.exceptions import LeaseHeld, LeaseLost, NotDue

PK = "PIPELINE"
Clock = Callable[[], float]


def item_key(dataset: str) -> dict[str, str]:
    return {"pk": PK, "sk": f"DS#{dataset}"}


def _failed_condition(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _n(v: float | int) -> dict[str, str]:
    return {"N": repr(round(float(v), 3))}


@dataclass(frozen=True)
class Lease:
    dataset: str
    owner: str
    run_id: str
    expires_at: float
    taken_from: str | None = None  # run id of an expired holder this acquire replaced (it crashed)


class LeaseStore:
    def __init__(self, table: str, client: Any, lease_s: float, clock: Clock = time.time) -> None:
        self.table, self.client, self.lease_s, self.clock = table, client, lease_s, clock

    def _update(self, dataset: str, expr: str, values: dict[str, Any], condition: str | None = None,
                names: dict[str, str] | None = None, returns: str = "NONE") -> dict[str, Any]:
        kwargs: dict[str, Any] = {"TableName": self.table, "Key": serialize(item_key(dataset)),
                                  "UpdateExpression": expr, "ExpressionAttributeValues": values,
                                  "ReturnValues": returns}
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = names
        return self.client.update_item(**kwargs)

    def get(self, dataset: str) -> dict[str, Any] | None:
        resp = self.client.get_item(TableName=self.table, Key=serialize(item_key(dataset)), ConsistentRead=True)
        return deserialize(resp["Item"]) if "Item" in resp else None

    def mark_changed(self, dataset: str, changes: int, due_at: float) -> None:
        """Record ``changes`` arrivals/deletes and (re)set the debounce deadline."""
        self._update(dataset, "SET kind = :k, dataset = :ds, due_at = :due, last_change_at = :now ADD changes :n",
                     {":k": {"S": "pipeline"}, ":ds": {"S": dataset}, ":due": _n(due_at), ":now": _n(self.clock()),
                      ":n": {"N": str(changes)}})

    def set_due(self, dataset: str, due_at: float) -> None:
        self._update(dataset, "SET kind = :k, dataset = :ds, due_at = :due",
                     {":k": {"S": "pipeline"}, ":ds": {"S": dataset}, ":due": _n(due_at)})

    def cancel_due(self, dataset: str) -> None:
        self._update(dataset, "REMOVE due_at", {":k": {"S": "pipeline"}}, condition="kind = :k")

    def acquire(self, dataset: str, run_id: str, *, automatic: bool) -> Lease:
        """Take the dataset's lease for ``run_id``. Raises ``LeaseHeld`` (a live run owns it) or,
        for an automatic run, ``NotDue`` (nothing pending, or still within the debounce)."""
        now = self.clock()
        token = uuid.uuid4().hex
        sets = ["kind = :k", "dataset = :ds", "#o = :tok", "lease_expires = :exp", "run_id = :rid",
                "acquired_at = :now", "changes_at_start = if_not_exists(changes, :zero)"]
        values = {":k": {"S": "pipeline"}, ":ds": {"S": dataset}, ":tok": {"S": token},
                  ":exp": _n(now + self.lease_s), ":rid": {"S": run_id}, ":now": _n(now), ":zero": {"N": "0"}}
        cond = "(attribute_not_exists(#o) OR lease_expires < :now)"
        if automatic:
            sets.append("due_at = :recover")
            values[":recover"] = _n(now + self.lease_s)
            cond += " AND due_at <= :now"
        try:
            old = self._update(dataset, "SET " + ", ".join(sets), values, cond, {"#o": "owner"}, returns="ALL_OLD")
        except ClientError as exc:
            if not _failed_condition(exc):
                raise
            item = self.get(dataset) or {}
            if item.get("owner") and float(item.get("lease_expires") or 0) >= now:
                raise LeaseHeld(dataset, item.get("run_id"), item.get("lease_expires")) from None
            raise NotDue(f"dataset {dataset!r} has no change pending past its debounce") from None
        prev = deserialize(old.get("Attributes") or {})
        taken = prev.get("run_id") if prev.get("owner") else None
        return Lease(dataset, token, run_id, now + self.lease_s, taken_from=taken)

    def heartbeat(self, dataset: str, owner: str) -> float:
        """Extend the lease; raises ``LeaseLost`` when ``owner`` no longer holds it."""
        expires = self.clock() + self.lease_s
        try:
            self._update(dataset, "SET lease_expires = :exp", {":exp": _n(expires), ":tok": {"S": owner}},
                         "#o = :tok", {"#o": "owner"})
        except ClientError as exc:
            if _failed_condition(exc):
                raise LeaseLost(dataset, owner) from None
            raise
        return expires

    def release(self, dataset: str, owner: str, *, automatic: bool) -> float | None:
        """Give the lease up. Returns the due time of a follow-up run (changes arrived during the
        run), else None. Raises ``LeaseLost`` when ``owner`` no longer held it."""
        names = {"#o": "owner"}
        drop = "REMOVE #o, lease_expires, run_id, changes_at_start"
        if automatic:
            try:
                self._update(dataset, drop + ", due_at", {":tok": {"S": owner}},
                             "#o = :tok AND (attribute_not_exists(changes) OR changes = changes_at_start)", names)
                return None
            except ClientError as exc:
                if not _failed_condition(exc):
                    raise
        try:
            old = self._update(dataset, drop, {":tok": {"S": owner}}, "#o = :tok", names, returns="ALL_OLD")
        except ClientError as exc:
            if _failed_condition(exc):
                raise LeaseLost(dataset, owner) from None
            raise
        prev = deserialize(old.get("Attributes") or {})
        moved = int(prev.get("changes") or 0) != int(prev.get("changes_at_start") or 0)
        return float(prev["due_at"]) if prev.get("due_at") is not None and (moved or not automatic) else None

    def due(self, now: float | None = None) -> list[dict[str, Any]]:
        """Pipeline items whose debounce has passed and whose lease is free or expired."""
        now = self.clock() if now is None else now
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table, ConsistentRead=True, KeyConditionExpression="pk = :pk",
            FilterExpression="due_at <= :now AND (attribute_not_exists(#o) OR lease_expires < :now)",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":pk": {"S": PK}, ":now": _n(now)})
        return [deserialize(i) for p in pages for i in p["Items"]]

    def all(self) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table, ConsistentRead=True, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": PK}})
        return [deserialize(i) for p in pages for i in p["Items"]]
