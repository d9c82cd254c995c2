"""`datalake`: run the lake locally, and browse, validate, load and query it (locally or in AWS)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from datalake.exceptions import DataLakeError, NotRunning

if TYPE_CHECKING:  # pydantic-settings costs ~0.3 s to import: `--help` never needs it
    from datalake_base.settings import Settings

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _settings() -> Settings:
    from datalake_base.settings import get_settings

    try:
        return get_settings()
    except ValueError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from exc


def _require_lake(settings: Settings) -> None:
    """Commands that talk to AWS APIs need the local lake up, unless an endpoint/AWS mode is configured."""
    from datalake.local import lifecycle

    if settings.mode == "local" and not settings.endpoint_url and not lifecycle.status(settings).running:
        raise click.ClickException(str(NotRunning()))


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except click.ClickException:
        raise
    except (DataLakeError, LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:  # anything from an area's exceptions.py has a message meant for users
        mod = type(exc).__module__
        if mod.endswith("exceptions") or mod.startswith(("catalog", "quality_rules", "athena_queries", "warehouse", "ingestion")):
            raise click.ClickException(str(exc)) from exc
        raise


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """A data lake on AWS, or on this machine.

    \b
    Local mode (default): `datalake up` starts a local AWS endpoint and the runtime that
    catalogues every file dropped into the landing bucket. Then:
      aws --endpoint-url http://127.0.0.1:4599 s3 cp jobs.csv s3://datalake-landing/jobs/
      datalake search jobs        datalake crawl jobs
      datalake rules put rules.json   datalake validate jobs
      datalake load jobs          datalake query "SELECT count(*) FROM accepted_jobs"
    `datalake demo` does all of it on bundled sample data.
    AWS mode: DATALAKE_MODE=aws (see README); the same commands use the real services.
    """


# --- local lake lifecycle ------------------------------------------------------------------------
@contextmanager
def _lake_progress(start: str) -> Iterator[Any]:
    """A spinner that turns into a progress bar while the daemon restores or saves the lake."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=True)
    task = bar.add_task(start, total=None)

    def report(p: dict[str, Any]) -> None:
        if "step" in p:
            bar.update(task, description=p["step"], completed=p.get("done", 0), total=p.get("total") or None)

    with bar:
        yield report


@contextmanager
def _phase_progress() -> Iterator[Any]:
    """One line per phase of a run: a spinner while it runs, then its seconds (phases may overlap)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from quality_rules.phases import PhaseClock

    bar = Progress(SpinnerColumn(finished_text="[green]✓[/]"), TextColumn("{task.description}"),
                   TextColumn("[dim]{task.fields[detail]}"), TimeElapsedColumn(), console=console)
    tasks: dict[str, Any] = {}
    current: list[str] = []

    def on_phase(name: str, event: str, seconds: float, detail: str) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name.replace("_", " "), total=1, detail=detail)
        if event == "start":
            current.append(name)
            bar.update(tasks[name], detail=detail)
        else:
            bar.update(tasks[name], completed=1, detail=f"{seconds:.2f}s {detail}".strip())
            if name in current:
                current.remove(name)

    def message(m: str) -> None:  # the pipeline's per-file messages, under the running phase
        if current:
            bar.update(tasks[current[-1]], detail=m)

    with bar:
        yield PhaseClock(on_phase), message


@main.command()
def up() -> None:
    """Start the local lake (endpoint + runtime) in the background and provision it.

    A lake saved by `datalake down` is restored first (objects, catalog, rules, Glue tables,
    queued messages); nothing is ingested twice.
    """
    from datalake.local import lifecycle, snapshot

    s = _settings()
    with _errors(), _lake_progress("starting the local lake...") as report:
        st = lifecycle.up(s, progress=report)
    console.print(f"[green]local lake running[/] (pid {st.pid}) at [bold]{st.endpoint}[/]")
    done = lifecycle.read_progress(s.state_path) or {}
    if done.get("restored"):
        console.print(f"  restored the lake saved {done.get('created_at')}: {done['restored']}")
    elif not snapshot.exists(s):
        console.print("  started empty (no saved lake in the state directory)")
    console.print(f"  landing bucket: s3://{s.landing_bucket}   lake bucket: s3://{s.lake_bucket}")
    console.print(f"  try: aws --endpoint-url {st.endpoint} s3 cp FILE s3://{s.landing_bucket}/<dataset>/")
    console.print(f"  or:  export AWS_ENDPOINT_URL={st.endpoint} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION={s.region}")


@main.command()
@click.option("--discard", is_flag=True,
              help="Stop without saving, and delete the saved lake: the next `datalake up` starts empty.")
def down(discard: bool) -> None:
    """Stop the local lake, saving it (buckets, catalog, rules, Glue tables, queued messages) to the
    state directory; `datalake up` restores it."""
    from datalake.local import lifecycle, snapshot

    s = _settings()
    with _errors(), _lake_progress("discarding the local lake..." if discard else "saving the local lake...") as report:
        stopped = lifecycle.down(s, discard=discard, progress=report)
    if discard:
        console.print(("local lake stopped; " if stopped else "local lake was not running; ")
                      + "its state is discarded and `datalake up` starts empty")
        return
    if not stopped:
        console.print("local lake was not running")
        return
    done = lifecycle.read_progress(s.state_path) or {}
    console.print(f"local lake stopped and saved to {snapshot.snapshot_dir(s.state_path)}: {done.get('saved', '')}")
    for w in done.get("warnings") or []:
        console.print(f"[yellow]warning:[/] {w}")
    console.print("  `datalake up` restores it; `datalake down --discard` drops it")


def _print_snapshot(s: Settings) -> None:
    from datalake.local import snapshot

    m = snapshot.info(s)
    if m is None:
        console.print("saved lake: none (`datalake up` starts empty)")
    elif "error" in m:
        console.print(f"saved lake: [red]unreadable[/] ({m['error']}); `datalake down --discard` drops it")
    else:
        console.print(f"saved lake: {snapshot.snapshot_dir(s.state_path)} from {m.get('created_at')}: {snapshot.describe(m)} "
                      "(restored by `datalake up`, replaced by the next `datalake down`)")


@main.command()
def status() -> None:
    """Show whether the local lake runs, its endpoint, whether a saved lake waits, and its datasets."""
    from catalog import components as catalog_components
    from datalake.local import lifecycle

    s = _settings()
    st = lifecycle.status(s)
    if s.mode == "local" and not st.running and (not s.endpoint_url or _is_own_endpoint(s)):
        console.print("local lake: [red]not running[/] (start it with `datalake up`)")
        if st.stray_endpoint_pid:
            console.print(f"[yellow]an endpoint left by a daemon that died (pid {st.stray_endpoint_pid}) still holds the "
                          "lake in memory[/]: `datalake up` saves and restarts it, `datalake down` saves and stops it")
        _print_snapshot(s)
        sys.exit(1)
    if st.running:
        console.print(f"local lake: [green]running[/] pid {st.pid}, endpoint {st.endpoint}, up {st.uptime_s:.0f}s")
        _print_snapshot(s)
    with _errors():
        _print_queues(s)
        _print_datasets(catalog_components.catalog_store(s).list_datasets())


def _is_own_endpoint(s: Settings) -> bool:
    """True when the configured endpoint is the local lake's own (the README has users export it as
    AWS_ENDPOINT_URL), so "cannot connect" there just means the lake is not running."""
    from urllib.parse import urlsplit

    want, got = urlsplit(s.local_endpoint), urlsplit(s.endpoint_url or "")
    loopback = {"127.0.0.1", "localhost", "::1", s.local_host}
    return got.port == want.port and (got.hostname or "") in loopback


def _print_queues(s: Settings) -> None:
    """Arrivals waiting or in flight, and dead letters: what an operator checks first."""
    from datalake_base import aws
    from ingestion.dlq import queue_url

    sqs = aws.client("sqs", s)
    depth = {}
    for name in (s.arrivals_queue, s.arrivals_dlq, s.indexer_dlq):
        attrs = sqs.get_queue_attributes(QueueUrl=queue_url(sqs, name), AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        depth[name] = sum(int(v) for v in attrs.values())
    dead = depth[s.arrivals_dlq] + depth[s.indexer_dlq]
    colour = "red" if dead else "green"
    console.print(f"arrivals queued or in flight: {depth[s.arrivals_queue]}; "
                  f"[{colour}]dead letters: {depth[s.arrivals_dlq]} arrivals, {depth[s.indexer_dlq]} index[/]"
                  + (" (see `datalake dlq list`)" if dead else ""))


def _print_datasets(datasets: list[dict[str, Any]]) -> None:
    t = Table("dataset", "files", "bytes", "last arrival", "accepted", "rejected", "last run")
    for d in datasets:
        v, last = d.get("validation") or {}, d.get("pipeline_last_run") or {}
        colour = {"succeeded": "green", "failed": "red"}.get(last.get("status"), "white")
        t.add_row(d["dataset"], str(d.get("file_count", 0)), str(d.get("total_bytes", 0)), str(d.get("last_arrival", "")),
                  str(v.get("accepted", "")), str(v.get("rejected", "")),
                  f"[{colour}]{last['status']}[/] {last.get('ended_at', '')}" if last else "")
    console.print(t)


# --- catalog ---------------------------------------------------------------------------------------
@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the dataset records as JSON.")
def datasets(as_json: bool) -> None:
    """List the catalogued datasets: files, bytes, last arrival, last validation counts."""
    from catalog import components as catalog_components

    s = _settings()
    _require_lake(s)
    with _errors():
        items = catalog_components.catalog_store(s).list_datasets()
    if as_json:
        click.echo(json.dumps(items, indent=2, default=str))
    else:
        _print_datasets(items)


@main.command()
@click.argument("dataset")
@click.option("--json", "as_json", is_flag=True, help="Print the raw catalog records as JSON.")
def show(dataset: str, as_json: bool) -> None:
    """Show a dataset's catalog record and its files' records."""
    from catalog import components as catalog_components

    s = _settings()
    _require_lake(s)
    with _errors():
        store = catalog_components.catalog_store(s)
        ds, objs = store.get_dataset(dataset), store.list_objects(dataset)
        if ds is None and not objs:
            from catalog.exceptions import DatasetNotFound

            raise DatasetNotFound(dataset)
    if as_json:
        click.echo(json.dumps({"dataset": ds, "objects": objs}, indent=2, default=str))
        return
    console.print_json(json.dumps({k: v for k, v in (ds or {}).items() if k not in ("pk", "sk")}, default=str))
    t = Table("key", "status", "format", "rows", "reason")
    for o in objs:
        t.add_row(o["key"], o["status"], str(o.get("format", "")), str(o.get("row_count", "")), o.get("status_reason") or "")
    console.print(t)


@main.command()
@click.argument("text", required=False, default="")
@click.option("--dataset", help="Only this dataset.")
@click.option("--status", help="Only records with this status (ingested, quarantined, ...).")
@click.option("--filter", "-f", "filters", multiple=True, metavar="FIELD=VALUE",
              help="Filter on format, owner, tag (key=value), partition_key, quality or kind; repeatable.")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def search(text: str, dataset: str | None, status: str | None, filters: tuple[str, ...], limit: int,
           as_json: bool) -> None:
    """Find datasets and files: names first, then columns, tags/descriptions, keys; typos forgiven."""
    from catalog.search import build_search_index

    s = _settings()
    wanted: dict[str, list[str]] = {}
    for f in filters:
        field, eq, value = f.partition("=")
        if not eq:
            raise click.BadParameter(f"{f!r} is not FIELD=VALUE (e.g. -f format=csv)", param_hint="--filter")
        wanted.setdefault(field, []).append(value)
    for field, value in (("dataset", dataset), ("status", status)):
        if value:
            wanted.setdefault(field, []).append(value)
    with _errors():
        page = build_search_index(s).query(text, filters=wanted, limit=limit, facets=["kind", "format", "status"])
    if as_json:
        click.echo(json.dumps([{"id": h.id, "score": h.score, "doc": h.doc} for h in page.hits], default=str, indent=2))
        return
    if not page.hits:
        console.print(f"no matches for {text!r}")
        return
    t = Table("kind", "dataset", "key", "status", "columns", "score")
    for h in page.hits:
        d = h.doc
        cols = ", ".join(c["name"] for c in d.get("columns") or [])
        t.add_row(d.get("kind", ""), d.get("dataset", ""), d.get("key", ""), d.get("status", ""),
                  cols[:60] + ("..." if len(cols) > 60 else ""), f"{h.score:g}")
    console.print(t)
    facets = "; ".join(f"{f}: " + ", ".join(f"{v} {n}" for v, n in counts.items()) for f, counts in page.facets.items() if counts)
    console.print(f"{len(page.hits)} of {page.total} match(es). {facets}")


@main.command()
@click.option("--batch", default=1000, show_default=True, help="Documents per index write.")
def reindex(batch: int) -> None:
    """Rebuild the search index from the catalog table (switch backends, recover a lost index)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from catalog import components as catalog_components
    from catalog.reindex import reindex as rebuild
    from catalog.search import SchemaMismatchError, build_search_index

    s = _settings()
    _require_lake(s)
    index = build_search_index(s)
    with _errors():
        try:
            index.ensure()
        except SchemaMismatchError as exc:
            path = getattr(index, "path", None)
            if path is None:  # OpenSearch: the mapping is changed by naming a new index
                raise
            import shutil

            err.print(f"{exc}\nrebuilding {path} from scratch")
            shutil.rmtree(path)
            index = build_search_index(s)
        bar = Progress(TextColumn("indexing catalog"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=console, transient=False)
        with bar:
            task = bar.add_task("reindex", total=None)
            result = rebuild(catalog_components.catalog_store(s), index, batch=batch,
                             on_progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"indexed {result.indexed} document(s) into the {s.search_backend} search index")
    if result.failed:
        for i, reason in list(result.failed.items())[:10]:
            err.print(f"not indexed: {i}: {reason}")
        raise click.ClickException(f"{len(result.failed)} document(s) could not be indexed (listed above)")


@main.command()
@click.argument("dataset")
def crawl(dataset: str) -> None:
    """Infer DATASET's schema from its files and register its Glue table and partitions."""
    from pipeline.manual import run_steps

    s = _settings()
    _require_lake(s)
    with _errors():  # the pipeline's crawl step, under the dataset's lease, recorded as a manual run
        r = run_steps(s, dataset, ("crawl",))["crawl"]
    console.print(f"table [bold]{s.glue_database}.{r['tables'][0]}[/] ({r['table_action']}, {r['serde'] or '-'}): "
                  f"{r['columns']} columns from {r['files']} file(s); partition keys {r['partition_keys'] or '-'}; "
                  f"{r['partitions_added']} partition(s) added; schema version {r['schema_version']}")
    if r["schema_diff"]:
        console.print(f"[yellow]schema change:[/] {json.dumps(r['schema_diff'])}")
    if r["quarantined"]:
        console.print(f"[red]quarantined {r['quarantined']} drifted file(s):[/] {', '.join(r['quarantined_keys'])}")
    if r["skipped"]:
        console.print(f"[yellow]skipped {r['skipped']} file(s) of another format[/]")


# --- warehouse -----------------------------------------------------------------------------------------
@main.group()
def warehouse() -> None:
    """The warehouse (Redshift, or its local stand-in) that `datalake load` fills."""


@warehouse.command("query")
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def warehouse_query(sql: str, fmt: str) -> None:
    """Run Redshift SQL on the warehouse (e.g. SELECT sum(x) FROM dq_accepted.<dataset>)."""
    s = _settings()
    _require_lake(s)
    with _errors():
        res = _run_warehouse_sql(s, sql)
    _print_result(res.columns, res.rows, fmt)


def _run_warehouse_sql(s: Any, sql: str) -> Any:
    """Locally, through the endpoint's Redshift Data API (as a user's own code would); directly on the
    warehouse when the endpoint runs no SQL; in AWS, the configured warehouse (Data API too)."""
    if s.mode == "local" and s.warehouse == "local":
        from datalake_base import aws
        from warehouse.data_api import EndpointRunsNoSql, query_via_data_api

        try:
            return query_via_data_api(aws.client("redshift-data", s), sql, database=s.redshift_database,
                                      workgroup=s.redshift_workgroup or "local", require_local_engine=True)
        except EndpointRunsNoSql:
            pass
    from warehouse import build_warehouse

    return build_warehouse(s).query(sql)


# --- rules ---------------------------------------------------------------------------------------------
@main.group()
def rules() -> None:
    """Manage quality rules (the reference data model, stored in the DynamoDB rules table)."""


@rules.command("put")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def rules_put(file: Path) -> None:
    """Store the rules in FILE (a JSON list of rule items, or one item); bumps the rule-set version."""
    from quality_rules.store import rules_store

    s = _settings()
    _require_lake(s)
    with _errors():
        data = json.loads(file.read_text())
        items = data if isinstance(data, list) else [data]
        store = rules_store(s)
        by_ds: dict[str, list[dict[str, Any]]] = {}
        for it in items:
            by_ds.setdefault(it.get("dataset_name", ""), []).append(it)
        for ds, its in by_ds.items():
            rs = store.put_items(its)
            console.print(f"dataset [bold]{ds}[/]: {len(its)} rule item(s) stored; rule set version {rs.version}")
            from pipeline.trigger import rules_changed

            rules_changed(s, ds)  # new rules re-validate the dataset: an automatic run after the debounce


@rules.command("list")
@click.argument("dataset")
def rules_list(dataset: str) -> None:
    """Print DATASET's current rule set as JSON."""
    from quality_rules.store import rules_store

    s = _settings()
    _require_lake(s)
    with _errors():
        click.echo(json.dumps(rules_store(s).get(dataset).to_dict(), indent=2, default=str))


@rules.command("delete")
@click.argument("rule_id")
def rules_delete(rule_id: str) -> None:
    """Delete one rule item by id; bumps the rule-set version."""
    from quality_rules.store import rules_store

    s = _settings()
    _require_lake(s)
    with _errors():
        rs = rules_store(s).delete(rule_id)
    console.print(f"deleted {rule_id}; rule set version {rs.version}")


# --- validate, load, query ------------------------------------------------------------------------------
@main.command()
@click.argument("dataset")
@click.option("--engine", type=click.Choice(["auto", "spark", "arrow", "pandas"]), default=None,
              help="Validation engine (default: DATALAKE_VALIDATION_ENGINE, 'auto' picks arrow, in-process, for small "
                   "inputs; 'pandas' is the old name of arrow).")
@click.option("--full", is_flag=True, help="Re-validate every partition, not only those whose files or rules changed.")
def validate(dataset: str, engine: str | None, full: bool) -> None:
    """Split DATASET's rows into accepted and rejected Parquet by its rules (Great Expectations semantics).

    Only ingest-date partitions whose files or rules changed since their last run are validated.
    With DATALAKE_MODE=aws this starts the deployed pipeline (crawl to load) and follows it.
    """
    from pipeline.manual import run_steps
    from pipeline.steps import read_outcome

    s = _settings()
    if s.mode == "aws":
        return _run_remote(s, dataset, "validate", full=full, engine=None if engine in (None, "auto") else engine)
    _require_lake(s)
    # plan, validate, publish: the pipeline's steps, under its lease, each phase shown as it runs
    with _errors(), _phase_progress() as (clock, _message):
        state = run_steps(s, dataset, ("plan", "validate", "publish"), engine=None if engine in (None, "auto") else engine,
                          full=full, clock=clock)
        doc = read_outcome(s, dataset, state["run_id"]) if "publish" in state else None
    if state["plan"]["action"] == "skip":
        if state["plan"].get("no_rules"):
            raise click.ClickException(state["plan"]["reason"])
        reason = state["plan"]["reason"]
        console.print(f"{dataset}: {reason}" + (" (use --full to re-run)" if "up to date" in reason else ""))
        return
    if doc and doc["dropped"]:
        console.print(f"dropped partition(s) {', '.join(doc['dropped'])}: all their files were removed")
    if not doc or doc["outcome"] is None:
        return
    console.print(f"partition(s) validated: {', '.join(doc['dates'])} (run {state['run_id']})")
    _print_outcome(doc["outcome"])
    console.print(f"tables: {', '.join(f'{s.glue_database}.{t}' for t in state['publish']['tables'])}; "
                  f"{len(doc['outcome']['files'])} file(s) published")
    inside = doc["outcome"]["duration_s"]  # the engine and GE's report
    console.print("phases: " + ", ".join(f"{k.replace('_', ' ')} {v:.2f}s" for k, v in clock.to_dict().items())
                  + f"; wall {clock.wall_s:.2f}s, of which {clock.wall_s - inside:.2f}s "
                  f"({(clock.wall_s - inside) / clock.wall_s if clock.wall_s else 0:.0%}) outside the engine and GE's report")


def _run_remote(s: Settings, dataset: str, requested: str, *, full: bool = False, engine: str | None = None) -> None:
    """AWS mode: start the deployed state machine and show its steps as they happen; nothing runs here."""
    from pipeline.remote import StepEvent, remote_pipeline

    with _errors():
        pipeline = remote_pipeline(s)
        arn, run_id = pipeline.start(dataset, requested, full=full, engine=engine)  # type: ignore[arg-type]
        console.print(f"run {run_id} started: {arn}")
        with console.status(f"{dataset}: starting...") as st:
            def show(e: StepEvent) -> None:
                if e.kind == "entered":
                    st.update(f"{dataset}: {e.state}...")
                elif e.kind == "succeeded":
                    console.print(f"  [green]done[/] {e.state}")
                else:
                    console.print(f"  [red]failed[/] {e.state}: {e.detail}")

            result = pipeline.follow(arn, show)
    if not result.succeeded:
        raise click.ClickException(f"run {run_id} {result.status}: {result.error or ''} {result.cause or ''}".strip()
                                   + f" (`datalake runs {dataset}` shows the step and reason)")
    console.print(f"run {run_id} [green]succeeded[/]: {', '.join(result.steps)}")
    if result.output:
        console.print_json(json.dumps(result.output, default=str))


def _print_outcome(o: dict[str, Any]) -> None:
    console.print(f"run {o['run_id']} ({o['engine']}): {o['rows_in']} rows -> [green]{o['accepted']} accepted[/], "
                  f"[red]{o['rejected']} rejected[/]")
    t = Table("rule", "severity", "failed rows", "Great Expectations")
    oracle = o.get("oracle_unexpected") or {}
    notes = []
    for p in o["per_rule"]:
        ge = str(oracle.get(p["rule_id"], "-"))
        if p.get("status") == "errored":
            ge = "[red]errored[/]"
            notes.append(f"{p['reject_msg']}: NOT checked, Great Expectations could not evaluate it: {p['error']}")
        elif p.get("ge_agrees") is False:
            ge = f"[yellow]{ge} (differs *)[/]"
            notes.append(f"{p['reject_msg']}: ours {p['failed_rows']}, GE {p.get('ge_unexpected')}. {p['ge_note']}")
        t.add_row(p["reject_msg"], p.get("severity", "reject"), str(p["failed_rows"]), ge)
    console.print(t)
    for n in notes:
        console.print(f"[yellow]* {n}[/]", soft_wrap=True)


@main.command()
@click.argument("dataset")
def load(dataset: str) -> None:
    """COPY DATASET's accepted rows into the warehouse table dq_accepted.<dataset>.

    With DATALAKE_MODE=aws this starts the deployed pipeline (crawl to load) and follows it.
    """
    from pipeline.manual import run_steps

    s = _settings()
    if s.mode == "aws":
        return _run_remote(s, dataset, "load")
    _require_lake(s)
    with _errors(), console.status("loading..."):  # the pipeline's load step, under the dataset's lease
        r = run_steps(s, dataset, ("load",))["load"]
    console.print(f"loaded {r['rows_loaded']} row(s) from {r['files']} file(s) into {r['table']}")


@main.command()
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--stats", is_flag=True, help="Also print data scanned, files opened, partitions pruned and time.")
def query(sql: str, fmt: str, stats: bool) -> None:
    """Run Athena SQL over the Glue tables (accepted_<ds>, rejected_<ds>, raw <ds>)."""
    s = _settings()
    _require_lake(s)
    with _errors():
        res = _run_athena_sql(s, sql)
    st = res.statistics.to_dict() if stats and res.statistics is not None else None
    if fmt == "json" and stats:
        from athena_queries.jsonify import json_records

        click.echo(json.dumps({"rows": json_records(res.columns, res.rows), "statistics": st}, indent=2,
                              allow_nan=False, ensure_ascii=False))
        return
    _print_result(res.columns, res.rows, fmt)
    if stats:
        line = ("statistics not reported by this engine" if st is None else
                f"data scanned: {st['data_scanned_bytes']:,} bytes; files opened: {st['files_opened']}; "
                f"partitions: {st['partitions_scanned']} of {st['partitions_total']} read "
                f"({st['partitions_pruned']} pruned); time: {st['total_ms']} ms "
                f"(planning {st['planning_ms']} ms, engine {st['engine_ms']} ms)")
        click.echo(line, err=True)  # stderr, so csv/table output on stdout stays clean


def _run_athena_sql(s: Any, sql: str) -> Any:
    """Locally, through the endpoint's Athena API, as a user's own code would (same answers and errors);
    directly on the engine when the endpoint runs no SQL (a plain moto server) or in AWS mode."""
    if s.mode == "local" and s.query_engine == "local":
        from athena_queries.api_client import EndpointRunsNoSql, run_query_via_api

        try:
            return run_query_via_api(s, sql)
        except EndpointRunsNoSql:
            pass
    from athena_queries.engine import run_query

    return run_query(s, sql)


def _print_result(columns: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "json":
        from athena_queries.jsonify import json_records

        click.echo(json.dumps(json_records(columns, rows), indent=2, allow_nan=False, ensure_ascii=False))
    elif fmt == "csv":
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(columns)
        w.writerows(rows)
    else:
        t = Table(*columns)
        for r in rows:
            t.add_row(*("" if v is None else str(v) for v in r))
        console.print(t)


@main.group()
def users() -> None:
    """Catalog users: named tokens with a role (reader, editor, admin) and dataset grants."""


def _datasets_option(value: str | None) -> list[str] | None:
    return None if value in (None, "*") else [d.strip() for d in value.split(",") if d.strip()]


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["reader", "editor", "admin"]), required=True)
@click.option("--datasets", help="Comma-separated datasets this user may see (default: all; admins see all).")
def users_add(name: str, role: str, datasets: str | None) -> None:
    """Create user NAME and print its token once (only a hash is stored)."""
    from catalog import components as catalog_components

    s = _settings()
    _require_lake(s)
    with _errors():
        token = catalog_components.user_store(s).add(name, role, _datasets_option(datasets))
    console.print(f"user [bold]{name}[/] ({role}) created. Token (shown once, store it now):")
    click.echo(token)


@users.command("list")
def users_list() -> None:
    """Users, roles and the datasets each may see."""
    from catalog import components as catalog_components

    s = _settings()
    _require_lake(s)
    with _errors():
        found = catalog_components.user_store(s).list()
    t = Table("user", "role", "datasets")
    for u in found:
        t.add_row(u.name, u.role, "all" if u.visible() is None else ", ".join(u.datasets or ()) or "(none)")
    console.print(t)


@users.command("grant")
@click.argument("name")
@click.argument("datasets")
def users_grant(name: str, datasets: str) -> None:
    """Limit NAME to DATASETS (comma separated; '*' for all)."""
    from catalog import components as catalog_components

    s = _settings()
    _require_lake(s)
    with _errors():
        u = catalog_components.user_store(s).grant(name, _datasets_option(datasets))
    console.print(f"{u.name} may see: {'all datasets' if u.visible() is None else ', '.join(u.datasets or ()) or 'nothing'}")


@users.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Delete NAME: its token and sessions stop working at once."""
    from catalog import components as catalog_components

    s = _settings()
    _require_lake(s)
    with _errors():
        catalog_components.user_store(s).remove(name)
    console.print(f"user {name} removed")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the catalog web UI (/ui) and JSON API (datasets, files, search, rules), token required.

    Sign in with a user's token (`datalake users add NAME --role reader`) or with the admin token
    DATALAKE_API_TOKEN; in local mode one is generated into <state dir>/api_token (mode 0600)
    when unset. Send tokens as `Authorization: Bearer <token>`. API docs: /docs (signed in).
    """
    import os
    import secrets

    import uvicorn

    s = _settings()
    if not s.api_token:
        if s.mode != "local":
            raise click.ClickException("set DATALAKE_API_TOKEN (16+ characters) to serve the API outside local mode")
        path = s.state_path / "api_token"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        os.environ["DATALAKE_API_TOKEN"] = path.read_text().strip()
        from datalake_base.settings import reset_settings_cache

        reset_settings_cache()
        console.print(f"API token in {path} (send it as 'Authorization: Bearer <token>')")
    from catalog.api import app_from_settings

    with _errors():
        app = app_from_settings()
    console.print(f"catalog web UI on http://{host}:{port}/ui (sign in with the token); JSON API on http://{host}:{port}/docs")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@main.command()
@click.option("--rows", default=22000, show_default=True, help="Rows of sample job postings to generate.")
@click.option("--engine", type=click.Choice(["spark", "arrow", "pandas"]), default="spark", show_default=True)
@click.option("--keep-running/--stop", default=True, show_default=True, help="Leave the local lake up afterwards.")
def demo(rows: int, engine: str, keep_running: bool) -> None:
    """Run the whole flow on bundled sample data and print a summary."""
    from datalake.demo import run_demo

    s = _settings()
    with _errors():
        summary = run_demo(s, rows=rows, engine=engine, say=lambda m: console.print(f"[cyan]»[/] {m}"))
        console.print(summary.render())
        if not keep_running:
            from datalake.local import lifecycle

            lifecycle.down(s)
        else:
            console.print("\nThe lake is still running. Try [bold]datalake search location[/], "
                          "[bold]datalake query \"SELECT count(*) FROM accepted_jobs\"[/] or [bold]datalake status[/] "
                          "(from .venv/bin); stop it with [bold]datalake down[/].")


from datalake.cli_arrivals import register  # noqa: E402 - arrival-path commands (dlq, reconcile)
from datalake.cli_pipeline import register as register_pipeline  # noqa: E402 - runs, run, pipeline on|off|status

register(main)
register_pipeline(main)

if __name__ == "__main__":
    main()
