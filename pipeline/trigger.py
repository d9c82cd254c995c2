"""What starts a run: the catalog table's stream marks a dataset changed (debounce), and a due
dataset is started under its lease.

``stream_handler`` is the table stream's second consumer (next to the search indexer). Only
arrivals and deletes of object versions count: an object item whose ``rev`` moved (the ingestion
service bumps it on every catalogue write) or that was removed. The pipeline's own writes, the
``validated``/``loaded`` statuses, dataset, run, schema and pipeline items, do not, so a run never
triggers itself.

``start_handler`` is what the one-shot schedule invokes in AWS; locally the runtime's due poller
calls ``start_run`` with the local executor as the starter.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from catalog import components as catalog_components
from datalake_base import aws
from datalake_base.observability import logger
from datalake_base.settings import Settings, get_settings
from pipeline import components, schedule
from pipeline.exceptions import LeaseHeld, NotDue, PipelineError
from pipeline.runs import new_run_id

log = logger()
Starter = Callable[[dict[str, Any]], "str | None"]  # starts an execution for the state; returns its id


def changed_dataset(record: dict[str, Any]) -> str | None:
    """The dataset an arrival or delete of an object version touched, or None for any other write."""
    ddb = record.get("dynamodb") or {}
    new, old = ddb.get("NewImage") or {}, ddb.get("OldImage") or {}
    image = new or old
    if (image.get("kind") or {}).get("S") != "object":
        return None  # dataset/run/pipeline/schema items, and moto's keys-only first image of an update
    dataset = (image.get("dataset") or {}).get("S")
    if record.get("eventName") == "REMOVE":
        return dataset
    rev = lambda img: (img.get("rev") or {}).get("N")  # noqa: E731
    return dataset if rev(new) != rev(old) else None


def stream_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    settings = get_settings()
    if not settings.pipeline_auto:
        return {"batchItemFailures": []}
    by_dataset: dict[str, list[str]] = {}
    for r in event.get("Records", []):
        ds = changed_dataset(r)
        if ds:
            by_dataset.setdefault(ds, []).append(r["dynamodb"]["SequenceNumber"])
    failures: list[str] = []
    due = time.time() + settings.pipeline_debounce_s
    leases, wake = components.lease_store(settings), schedule.wakeups(settings)
    for ds, seqs in by_dataset.items():
        try:
            leases.mark_changed(ds, len(seqs), due)
            wake.at(ds, due)
        except Exception:  # one dataset's failure must not hold up the others
            log.exception("could not mark the dataset changed; the records are retried", extra={"dataset": ds})
            failures += seqs
    return {"batchItemFailures": [{"itemIdentifier": s} for s in failures]}


def rules_changed(settings: Settings, dataset: str) -> None:
    """New rules re-validate every partition: mark the dataset changed, as an arrival would (the
    rules table has no stream of its own). Rules for a dataset with no files yet wait for its files."""
    if settings.pipeline_auto and catalog_components.catalog_store(settings).get_dataset(dataset) is not None:
        due = time.time() + settings.pipeline_debounce_s
        components.lease_store(settings).mark_changed(dataset, 1, due)
        schedule.wakeups(settings).at(dataset, due)


def enabled(settings: Settings, dataset: str) -> bool:
    ds = catalog_components.catalog_store(settings).get_dataset(dataset) or {}
    return settings.pipeline_auto and ds.get("pipeline_enabled") is not False


def set_enabled(settings: Settings, dataset: str, on: bool) -> None:
    """The per-dataset switch; switching on starts a run soon (it plans what changed meanwhile)."""
    catalog_components.catalog_store(settings).update_dataset(dataset, {"pipeline_enabled": on})
    if on:
        components.lease_store(settings).set_due(dataset, time.time())
        schedule.wakeups(settings).at(dataset, time.time())


def start_run(settings: Settings, dataset: str, *, starter: Starter, trigger: str = "auto", full: bool = False,
              engine: str | None = None) -> dict[str, Any] | None:
    """Take the dataset's lease, create the run record and start the execution.

    Automatic starts return None when there is nothing due, the dataset is switched off, or a run
    holds the lease (it starts the follow-up itself). A manual start raises ``LeaseHeld`` then.
    """
    automatic = trigger != "manual"
    leases, runs = components.lease_store(settings), components.run_store(settings)
    if automatic and not enabled(settings, dataset):
        leases.cancel_due(dataset)
        log.info("pipeline switched off for the dataset; run not started", extra={"dataset": dataset})
        return None
    run_id = new_run_id()
    try:
        lease = leases.acquire(dataset, run_id, automatic=automatic)
    except NotDue:
        return None
    except LeaseHeld as held:
        if not automatic:
            raise
        schedule.wakeups(settings).at(dataset, float(held.expires_at or time.time()) + 1)
        return None
    if lease.taken_from:
        runs.finish(dataset, lease.taken_from, "failed", only_if_running=True,
                    summary="stopped without finishing (its lease expired: the process running it died)",
                    error={"step": "unknown", "reason": "lease expired without a heartbeat"})
        trigger = "recovery" if automatic else trigger
    runs.create(dataset, run_id, trigger)
    state = {"dataset": dataset, "run_id": run_id, "trigger": trigger, "owner": lease.owner,
             "full": full, "engine": engine}
    try:
        execution = starter(state)
    except Exception as exc:
        runs.finish(dataset, run_id, "failed", summary=f"could not start the execution: {exc}",
                    error={"step": "start", "reason": str(exc)})
        leases.release(dataset, lease.owner, automatic=automatic)
        raise
    if execution:
        runs.annotate(dataset, run_id, execution=execution)
    log.info("pipeline run started", extra={"dataset": dataset, "run_id": run_id, "trigger": trigger})
    return state


def step_functions_starter(settings: Settings) -> Starter:
    if not settings.state_machine_arn:
        raise PipelineError("DATALAKE_STATE_MACHINE_ARN is not set; deploy infra/template.yaml and set it to the "
                            "pipeline state machine's ARN")
    sfn = aws.client("stepfunctions", settings)

    def start(state: dict[str, Any]) -> str:
        name = f"{state['run_id']}"[:80]
        return sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=name,
                                   input=json.dumps(state))["executionArn"]

    return start


def start_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Target of the dataset's one-shot schedule (AWS): start its run if due."""
    settings = get_settings()
    state = start_run(settings, event["dataset"], starter=step_functions_starter(settings))
    return {"started": state is not None, "run_id": state["run_id"] if state else None}
