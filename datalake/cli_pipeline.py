"""CLI commands of the automatic pipeline: `datalake runs`, `datalake run`, `datalake pipeline on|off|status`."""

from __future__ import annotations

import json
import time
from typing import Any

import click


def _ctx():  # helpers of datalake.cli, imported late: that module imports this one at its end
    from datalake import cli

    s = cli._settings()
    cli._require_lake(s)
    return cli, s


def _duration(run: dict[str, Any]) -> str:
    from datetime import datetime

    try:
        a = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00"))
        b = datetime.fromisoformat(run["ended_at"].replace("Z", "+00:00"))
    except (KeyError, AttributeError, ValueError):
        return ""
    return f"{(b - a).total_seconds():.1f}s"


def print_runs(console: Any, runs: list[dict[str, Any]]) -> None:
    from rich.table import Table

    t = Table("dataset", "run", "trigger", "status", "started", "took", "steps", "summary / reason")
    for r in runs:
        steps = " ".join(f"{k}:{v.get('outcome')}" + (f"×{v['attempts']}" if int(v.get("attempts") or 1) > 1 else "")
                         for k, v in (r.get("steps") or {}).items())
        colour = {"succeeded": "green", "failed": "red"}.get(r.get("status"), "yellow")
        t.add_row(r["dataset"], r["run_id"], r.get("trigger", ""), f"[{colour}]{r.get('status')}[/]",
                  r.get("started_at", ""), _duration(r), steps, r.get("summary") or "")
    console.print(t)


@click.command("runs")
@click.argument("dataset", required=False)
@click.option("--limit", default=20, show_default=True, help="Runs per dataset, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print the run records as JSON.")
def runs(dataset: str | None, limit: int, as_json: bool) -> None:
    """Show pipeline runs (all datasets, or DATASET): trigger, status, each step's outcome, why a run failed."""
    from catalog import components as catalog_components
    from pipeline import components

    cli, s = _ctx()
    with cli._errors():
        names = [dataset] if dataset else [d["dataset"] for d in catalog_components.catalog_store(s).list_datasets()]
        store = components.run_store(s)
        items = [r for ds in names for r in store.list(ds, limit)]
    items.sort(key=lambda r: r["run_id"], reverse=True)
    if as_json:
        click.echo(json.dumps([{k: v for k, v in r.items() if k not in ("pk", "sk")} for r in items], indent=2,
                              default=str))
        return
    if not items:
        cli.console.print("no pipeline runs yet" + (f" for {dataset}" if dataset else ""))
        return
    print_runs(cli.console, items)


@click.command("run")
@click.argument("dataset")
@click.option("--full", is_flag=True, help="Re-validate every partition, not only those whose files or rules changed.")
@click.option("--engine", type=click.Choice(["auto", "spark", "pandas"]), default="auto", show_default=True)
def run(dataset: str, full: bool, engine: str) -> None:
    """Run DATASET's whole pipeline now (crawl, plan, validate, publish, load), as the automatic trigger
    would: locally with the state machine executor in this process; in AWS by starting the state machine."""
    from pipeline import components
    from pipeline.trigger import start_run, step_functions_starter

    cli, s = _ctx()
    eng = None if engine == "auto" else engine
    with cli._errors():
        if s.mode == "aws":
            state = start_run(s, dataset, trigger="manual", full=full, engine=eng, starter=step_functions_starter(s))
            cli.console.print(f"started run {state['run_id']} of {dataset}; follow it with `datalake runs {dataset}`")
            return
        from datalake.local.pipeline import local_state_machine

        machine = local_state_machine(s)
        with cli.console.status(f"running the pipeline of {dataset}..."):
            state = start_run(s, dataset, trigger="manual", full=full, engine=eng,
                              starter=lambda st: machine.run(st, f"local:{st['run_id']}").execution_id)
        record = components.run_store(s).get(dataset, state["run_id"])
    colour = "green" if record["status"] == "succeeded" else "red"
    cli.console.print(f"run {record['run_id']} of {dataset}: [{colour}]{record['status']}[/] in {_duration(record)}: "
                      f"{record.get('summary') or ''}")
    if record["status"] != "succeeded":
        raise SystemExit(1)


@click.group("pipeline")
def pipeline_group() -> None:
    """Automatic runs: switch them off or on per dataset, and see what is pending or running."""


@pipeline_group.command("off")
@click.argument("dataset")
def pipeline_off(dataset: str) -> None:
    """Stop automatic runs of DATASET (arrivals are still catalogued; manual commands still work)."""
    from pipeline.trigger import set_enabled

    cli, s = _ctx()
    with cli._errors():
        set_enabled(s, dataset, False)
    cli.console.print(f"automatic runs of {dataset} are off; `datalake pipeline on {dataset}` resumes them")


@pipeline_group.command("on")
@click.argument("dataset")
def pipeline_on(dataset: str) -> None:
    """Resume automatic runs of DATASET; a run starts shortly to catch up with what changed."""
    from pipeline.trigger import set_enabled

    cli, s = _ctx()
    with cli._errors():
        set_enabled(s, dataset, True)
    cli.console.print(f"automatic runs of {dataset} are on" + ("" if s.pipeline_auto else
                      " for this dataset, but DATALAKE_PIPELINE_AUTO is off globally"))


@pipeline_group.command("status")
def pipeline_status() -> None:
    """Per dataset: changes seen, when a run is due, which run holds the lease."""
    from rich.table import Table

    from catalog import components as catalog_components
    from pipeline import components

    cli, s = _ctx()
    with cli._errors():
        items = components.lease_store(s).all()
        off = {d["dataset"] for d in catalog_components.catalog_store(s).list_datasets()
               if d.get("pipeline_enabled") is False}
    now = time.time()
    cli.console.print(f"automatic runs: {'on' if s.pipeline_auto else 'off (DATALAKE_PIPELINE_AUTO)'}; "
                      f"debounce {s.pipeline_debounce_s:g}s; lease {s.pipeline_lease_s}s")
    t = Table("dataset", "switch", "changes", "due in", "running")
    for i in items:
        due = i.get("due_at")
        held = i.get("owner") and float(i.get("lease_expires") or 0) >= now
        t.add_row(i["dataset"], "off" if i["dataset"] in off else "on", str(i.get("changes", 0)),
                  "" if due is None else f"{float(due) - now:.1f}s", str(i.get("run_id")) if held else "")
    cli.console.print(t)


def register(main: click.Group) -> None:
    for cmd in (runs, run, pipeline_group):
        main.add_command(cmd)
