"""The state machine's Task handlers (``pipeline/statemachine.asl.json``): one Lambda each in AWS,
the same functions under the local executor.

Each takes and returns the run's JSON state: input ``{dataset, run_id, trigger, owner, full?,
engine?}``, and each Task adds its result under its own key (``$.crawl``, ``$.plan``, ...). Every
step heartbeats the dataset's lease first (a run that lost it stops), and records its start, end,
outcome, counts, attempts and error on the run item. Errors are raised, so the state machine's
Retry (bounded backoff) and Catch (→ ``fail_handler``) apply.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from catalog import components as catalog_components
from catalog.exceptions import DatasetNotFound
from catalog.naming import glue_identifier
from datalake_base.observability import logger
from datalake_base.settings import Settings, get_settings
from pipeline import components, schedule
from pipeline.exceptions import LeaseLost
from pipeline.runs import STEPS, now_iso
from pipeline.steps import (crawl_dataset, glue_catalog, load_dataset, plan_run, publish_run, save_plan,
                            validate_run)

log = logger()
State = dict[str, Any]
NAMESPACE = "DataLake"


def reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


@contextmanager
def _heartbeats(settings: Settings, dataset: str, owner: str) -> Iterator[None]:
    """Keep the lease while a step works (every third of the lease period): a long step (a large
    split, a slow COPY) must not let its lease expire and a recovery run start beside it. A lost
    lease is only logged here; the next step's heartbeat stops the run with ``LeaseLost``."""
    leases, stop = components.lease_store(settings), threading.Event()

    def beat() -> None:
        while not stop.wait(max(1.0, settings.pipeline_lease_s / 3)):
            try:
                leases.heartbeat(dataset, owner)
            except Exception as exc:  # noqa: BLE001 - reported, never raised into the step
                log.warning("lease heartbeat failed", extra={"dataset": dataset, "error": reason(exc)})

    thread = threading.Thread(target=beat, name=f"lease-{dataset}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def _step(name: str, event: State, work: Callable[[Settings], dict[str, Any]]) -> dict[str, Any]:
    settings = get_settings()
    ds, rid = event["dataset"], event["run_id"]
    components.lease_store(settings).heartbeat(ds, event["owner"])
    runs = components.run_store(settings)
    attempt = runs.step_started(ds, rid, name)
    log.info("pipeline step started", extra={"dataset": ds, "run_id": rid, "step": name, "attempt": attempt})
    try:
        with _heartbeats(settings, ds, event["owner"]):
            result = work(settings)
    except Exception as exc:
        runs.step_ended(ds, rid, name, outcome="error", error=reason(exc))
        log.warning("pipeline step failed", extra={"dataset": ds, "run_id": rid, "step": name, "error": reason(exc)})
        raise
    runs.step_ended(ds, rid, name, counts=result)
    return result


# --- Task handlers ---------------------------------------------------------------------------------------
def crawl_handler(event: State, context: Any = None, *, strict: bool = False) -> dict[str, Any]:
    def work(s: Settings) -> dict[str, Any]:
        try:
            r = crawl_dataset(s, event["dataset"])
        except DatasetNotFound:  # every file deleted or quarantined: nothing to crawl, plan may still drop
            if strict:
                raise
            return {"files": 0, "tables": [], "partitions_added": 0}
        return {"files": r.files, "tables": r.tables, "columns": len(r.columns), "partition_keys": r.partition_keys,
                "partitions_added": r.partitions_added, "skipped": len(r.skipped), "table_action": r.table_action,
                "serde": r.serde, "schema_version": r.schema_version, "schema_diff": r.schema_diff,
                "quarantined": len(r.quarantined), "quarantined_keys": r.quarantined[:5]}

    return _step("crawl", event, work)


def plan_handler(event: State, context: Any = None) -> dict[str, Any]:
    def work(s: Settings) -> dict[str, Any]:
        try:
            plan = plan_run(s, event["dataset"], full=bool(event.get("full")), engine=event.get("engine"))
        except DatasetNotFound:  # every file quarantined or deleted, and nothing published before
            return {"action": "skip", "reason": "no files to validate (none catalogued as ingested)"}
        return save_plan(s, event["dataset"], event["run_id"], plan)

    return _step("plan", event, work)


def run_validate(event: State, engine: str = "arrow") -> dict[str, Any]:
    """The validate step in this process (``arrow``: the in-process Lambda; ``spark``: a manual local run)."""
    return _step("validate", event, lambda s: validate_run(s, event["dataset"], event["run_id"], event["plan"],
                                                           engine=engine))


def validate_handler(event: State, context: Any = None) -> dict[str, Any]:
    return run_validate(event, "arrow")


def per_rule_failures(per_rule: list[dict[str, Any]]) -> dict[str, int]:
    """Failed rows per reject message for the run record (rules sharing a message are summed), so the
    run history keeps every run's per-rule failures, not only the last run's on the dataset item."""
    out: dict[str, int] = {}
    for p in per_rule:
        out[p["reject_msg"]] = out.get(p["reject_msg"], 0) + int(p.get("failed_rows") or 0)
    return out


def publish_handler(event: State, context: Any = None) -> dict[str, Any]:
    def work(s: Settings) -> dict[str, Any]:
        r = publish_run(s, event["dataset"], event["run_id"])
        o = r.outcome.to_dict() if r.outcome else {}
        counts = {"partitions": len(r.dates), "dropped": len(r.dropped), "tables": r.tables,
                  **{k: o[k] for k in ("rows_in", "accepted", "rejected", "engine") if k in o}}
        if "per_rule" in o:
            counts["per_rule"] = per_rule_failures(o["per_rule"])
        runs = components.run_store(s)
        if "validate" not in (runs.get(event["dataset"], event["run_id"]).get("steps") or {}):
            # Validated by the Glue job: no handler of ours recorded the step, so record it from its outcome.
            runs.step_ended(event["dataset"], event["run_id"], "validate", counts=counts)
        return counts

    return _step("publish", event, work)


def load_handler(event: State, context: Any = None, *, strict: bool = False) -> dict[str, Any]:
    def work(s: Settings) -> dict[str, Any]:
        if not strict and glue_catalog(s).get_table(f"accepted_{glue_identifier(event['dataset'])}") is None:
            return {"rows_loaded": 0, "files": 0, "note": "no accepted rows published yet"}
        r = load_dataset(s, event["dataset"])
        return {"rows_loaded": r.rows_loaded, "files": r.files, "table": r.table}

    return _step("load", event, work)


def _summary(event: State) -> str:
    parts = []
    if "crawl" in event:
        parts.append(f"crawled {event['crawl'].get('files', 0)} file(s)")
    plan = event.get("plan") or {}
    if plan.get("action") == "skip":
        parts.append(plan.get("reason") or "nothing to validate")
    if "publish" in event:
        pub = event["publish"]
        parts.append(f"validated {pub.get('partitions', 0)} partition(s): {pub.get('accepted', 0)} accepted, "
                     f"{pub.get('rejected', 0)} rejected" + (f", dropped {pub['dropped']}" if pub.get("dropped") else ""))
    if "load" in event:
        parts.append(f"loaded {event['load'].get('rows_loaded', 0)} row(s)")
    return "; ".join(parts) or "nothing to do"


def _end(settings: Settings, event: State, status: str, summary: str, error: dict[str, Any] | None = None) -> None:
    ds, rid = event["dataset"], event["run_id"]
    components.run_store(settings).finish(ds, rid, status, summary=summary, error=error)
    catalog_components.catalog_store(settings).update_dataset(ds, {"pipeline_last_run": {
        "run_id": rid, "status": status, "summary": summary, "trigger": event.get("trigger"), "ended_at": now_iso()}})
    try:
        due = components.lease_store(settings).release(ds, event["owner"], automatic=event.get("trigger") != "manual")
    except LeaseLost:
        log.warning("the run's lease was already taken over", extra={"dataset": ds, "run_id": rid})
        return
    if due is not None:  # arrivals during the run: exactly one follow-up, once they are quiet
        schedule.wakeups(settings).at(ds, due)


def finish_handler(event: State, context: Any = None) -> State:
    settings = get_settings()
    summary = _summary(event)
    _end(settings, event, "succeeded", summary)
    log.info("pipeline run succeeded", extra={"dataset": event["dataset"], "run_id": event["run_id"], "summary": summary})
    return {"dataset": event["dataset"], "run_id": event["run_id"], "status": "succeeded", "summary": summary}


def cause_message(cause: Any) -> str:
    """The human part of a Catch's ``Cause``: a Lambda error's errorMessage, a Glue run's ErrorMessage."""
    if not isinstance(cause, str):
        return str(cause or "unknown error")
    try:
        body = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(body, dict):
        msg = body.get("errorMessage") or body.get("ErrorMessage")
        if msg:
            kind = body.get("errorType")
            return f"{kind}: {msg}" if kind and not str(msg).startswith(kind) else str(msg)
    return cause


def failed_step(run: dict[str, Any], state: State) -> str:
    """The step that failed: the last one the run record shows unfinished or in error, else the first
    whose result is missing from the state (a Glue job run records nothing itself)."""
    steps = run.get("steps") or {}
    bad = [(v.get("started_at") or "", k) for k, v in steps.items() if v.get("outcome") in ("error", "running")]
    if bad:
        return max(bad)[1]
    return next((s for s in STEPS if s not in state), "finish")


def fail_handler(event: State, context: Any = None) -> State:
    settings = get_settings()
    ds, rid = event["dataset"], event["run_id"]
    err = event.get("error") or {}
    why = cause_message(err.get("Cause"))
    runs = components.run_store(settings)
    step = failed_step(runs.get(ds, rid), event)
    if ((runs.get(ds, rid).get("steps") or {}).get(step) or {}).get("outcome") != "error":
        runs.step_ended(ds, rid, step, outcome="error", error=why)
    summary = f"{step} failed: {why}"
    _end(settings, event, "failed", summary, {"step": step, "reason": why, "error": err.get("Error")})
    with single_metric(name="PipelineRunsFailed", unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=settings.service_name)
    log.error("pipeline run failed", extra={"dataset": ds, "run_id": rid, "step": step, "reason": why})
    return {"dataset": ds, "run_id": rid, "status": "failed", "step": step, "reason": why}
