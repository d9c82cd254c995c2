"""Run records: one catalog item per pipeline run (item design in docs/architecture.md).

``pk=DS#<dataset>``, ``sk=RUN#<run_id>``; run ids start with a UTC timestamp, so a dataset's runs
sort by start time and the latest are one Query (newest first). Attributes: ``kind=run``,
``dataset``, ``run_id``, ``trigger`` (``auto`` | ``manual`` | ``recovery``), ``status`` (``running``
| ``succeeded`` | ``failed``), ``started_at``, ``ended_at``, ``summary``, ``error`` {step, reason},
``execution`` (the Step Functions execution or local executor id), and ``steps``: a map from step
name (crawl, plan, validate, publish, load) to {started_at, ended_at, outcome (running | ok |
error), error, counts, attempts}.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from catalog.store import _SER, CatalogStore, deserialize, serialize, to_dynamo
from pipeline.exceptions import RunNotFound

STEPS = ("crawl", "plan", "validate", "publish", "load")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")[:-4] + "-" + uuid.uuid4().hex[:6]


def run_key(dataset: str, run_id: str) -> dict[str, str]:
    return {"pk": f"DS#{dataset}", "sk": f"RUN#{run_id}"}


class RunStore:
    def __init__(self, table: str, client: Any) -> None:
        self.table, self.client = table, client

    def create(self, dataset: str, run_id: str, trigger: str, **extra: Any) -> dict[str, Any]:
        item = {**run_key(dataset, run_id), "kind": "run", "dataset": dataset, "run_id": run_id, "trigger": trigger,
                "status": "running", "started_at": now_iso(), "steps": {}, **extra}
        self.client.put_item(TableName=self.table, Item=serialize(item), ConditionExpression="attribute_not_exists(pk)")
        return item

    def get(self, dataset: str, run_id: str) -> dict[str, Any]:
        resp = self.client.get_item(TableName=self.table, Key=serialize(run_key(dataset, run_id)), ConsistentRead=True)
        if "Item" not in resp:
            raise RunNotFound(dataset, run_id)
        return deserialize(resp["Item"])

    def list(self, dataset: str, limit: int = 20) -> list[dict[str, Any]]:
        return CatalogStore(self.table, self.client).list_runs(dataset, limit)

    def _set(self, dataset: str, run_id: str, sets: dict[str, Any], names: dict[str, str] | None = None,
             condition: str = "attribute_exists(pk)") -> None:
        values = {f":v{i}": _SER.serialize(to_dynamo(v)) for i, v in enumerate(sets.values())}
        expr = ", ".join(f"{path} = :v{i}" for i, path in enumerate(sets))
        kwargs: dict[str, Any] = {"TableName": self.table, "Key": serialize(run_key(dataset, run_id)),
                                  "UpdateExpression": f"SET {expr}", "ExpressionAttributeValues": values,
                                  "ConditionExpression": condition}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            self.client.update_item(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise RunNotFound(dataset, run_id) from None
            raise

    def annotate(self, dataset: str, run_id: str, **attrs: Any) -> None:
        self._set(dataset, run_id, attrs)

    def step_started(self, dataset: str, run_id: str, step: str) -> int:
        """Record an attempt of ``step``; returns its attempt number (retries count up)."""
        prev = (self.get(dataset, run_id).get("steps") or {}).get(step) or {}
        attempts = int(prev.get("attempts") or 0) + 1
        self._set(dataset, run_id, {"steps.#s": {"started_at": prev.get("started_at") or now_iso(),
                                                  "outcome": "running", "attempts": attempts}}, {"#s": step})
        return attempts

    def step_ended(self, dataset: str, run_id: str, step: str, *, outcome: str = "ok",
                   counts: dict[str, Any] | None = None, error: str | None = None) -> None:
        prev = (self.get(dataset, run_id).get("steps") or {}).get(step) or {}
        body = {**prev, "ended_at": now_iso(), "outcome": outcome, "counts": counts or None, "error": error}
        body.setdefault("started_at", body["ended_at"])
        body.setdefault("attempts", 1)
        self._set(dataset, run_id, {"steps.#s": body}, {"#s": step})

    def finish(self, dataset: str, run_id: str, status: str, *, summary: str | None = None,
               error: dict[str, Any] | None = None, only_if_running: bool = False) -> bool:
        """End the run; with ``only_if_running`` a run that already ended is left alone (returns False)."""
        sets = {"#st": status, "ended_at": now_iso(), "summary": summary, "#err": error}
        cond = "attribute_exists(pk)" + (" AND #st = :running" if only_if_running else "")
        values_extra = {":running": "running"} if only_if_running else {}
        try:
            self._set_with(dataset, run_id, sets, {"#st": "status", "#err": "error"}, cond, values_extra)
        except RunNotFound:
            if only_if_running:
                return False
            raise
        return True

    def _set_with(self, dataset: str, run_id: str, sets: dict[str, Any], names: dict[str, str], condition: str,
                  extra_values: dict[str, Any]) -> None:
        keep = {k: v for k, v in sets.items() if v is not None}
        drop = [k for k, v in sets.items() if v is None]
        values = {f":v{i}": _SER.serialize(to_dynamo(v)) for i, v in enumerate(keep.values())}
        values.update({k: _SER.serialize(v) for k, v in extra_values.items()})
        expr = "SET " + ", ".join(f"{p} = :v{i}" for i, p in enumerate(keep))
        if drop:
            expr += " REMOVE " + ", ".join(drop)
        try:
            self.client.update_item(TableName=self.table, Key=serialize(run_key(dataset, run_id)),
                                    UpdateExpression=expr, ExpressionAttributeValues=values,
                                    ExpressionAttributeNames={k: v for k, v in names.items() if k in expr or k in condition},
                                    ConditionExpression=condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise RunNotFound(dataset, run_id) from None
            raise
