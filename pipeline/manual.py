"""Manual runs (`datalake crawl/validate/load/run` locally): some of the pipeline's steps, now, in
this process, through the same task functions, the dataset's lease and a run record (trigger
``manual``). A failure is recorded exactly as the state machine's Catch would, then re-raised."""

from __future__ import annotations

import json
from typing import Any

from catalog import components as catalog_components
from catalog.exceptions import DatasetNotFound
from datalake_base.settings import Settings
from quality_rules.phases import PhaseClock
from pipeline import tasks
from pipeline.steps import PHASE_CLOCK
from pipeline.trigger import start_run

ORDER = ("crawl", "plan", "validate", "publish", "load")


def run_steps(settings: Settings, dataset: str, steps: tuple[str, ...], *, engine: str | None = None,
              full: bool = False, clock: PhaseClock | None = None) -> dict[str, Any]:
    """Run ``steps`` (in pipeline order) for ``dataset``; returns the final state (results per step,
    ``status``, ``summary``). Raises ``LeaseHeld`` when a run owns the dataset, and the step's error.
    ``clock`` times the validation phases (stage, flag and write, GE report, publish, catalog update)."""
    token = PHASE_CLOCK.set(clock) if clock is not None else None
    try:
        return _run_steps(settings, dataset, steps, engine=engine, full=full)
    finally:
        if token is not None:
            PHASE_CLOCK.reset(token)


def _run_steps(settings: Settings, dataset: str, steps: tuple[str, ...], *, engine: str | None,
               full: bool) -> dict[str, Any]:
    store = catalog_components.catalog_store(settings)
    if store.get_dataset(dataset) is None and not store.list_objects(dataset):
        raise DatasetNotFound(dataset)
    started: dict[str, Any] = {}
    state = start_run(settings, dataset, trigger="manual", full=full, engine=engine,
                      starter=lambda s: started.setdefault("id", f"manual:{s['run_id']}"))
    assert state is not None  # a manual start either starts or raises
    try:
        for step in (s for s in ORDER if s in steps):
            if step == "crawl":
                state["crawl"] = tasks.crawl_handler(state, strict=True)
            elif step == "plan":
                state["plan"] = tasks.plan_handler(state)
            elif step == "validate":
                if state["plan"]["action"] == "skip":
                    break
                state["validate"] = tasks.run_validate(state, "spark" if state["plan"]["engine"] == "spark" else "arrow")
            elif step == "publish":
                state["publish"] = tasks.publish_handler(state)
            elif step == "load":
                state["load"] = tasks.load_handler(state, strict=True)
    except Exception as exc:
        state["error"] = {"Error": type(exc).__name__,
                          "Cause": json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__})}
        tasks.fail_handler(state)
        raise
    return {**state, **tasks.finish_handler(state)}
