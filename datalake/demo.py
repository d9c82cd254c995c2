"""`datalake demo`: a local lake, sample data dropped in, catalogued, searched, validated, loaded, queried."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datalake_base import aws
from catalog import components as catalog_components
from datalake.exceptions import DataLakeError
from datalake.local import lifecycle
from datalake_base.settings import Settings

DATASET = "jobs"
RULES_FILE = Path(__file__).resolve().parent.parent / "quality_rules" / "reference_rules.json"


@dataclass
class DemoSummary:
    endpoint: str
    files: list[dict[str, Any]]
    search_hit: dict[str, Any] | None
    outcome: dict[str, Any]
    loaded_rows: int
    query_sql: str
    query_rows: list[tuple]
    timings: dict[str, float] = field(default_factory=dict)

    def render(self) -> str:
        lines = [f"\n[bold]Local lake[/] at {self.endpoint}", "", "[bold]Files catalogued[/]"]
        for f in self.files:
            reason = f" — {f['status_reason']}" if f.get("status_reason") else ""
            lines.append(f"  {f['key']:<40} {f['status']:<12} {f.get('format') or '-':<8} rows={f.get('row_count')}{reason}")
        o = self.outcome
        lines += ["", f"[bold]Validation[/] run {o['run_id']} on {o['engine']}: {o['rows_in']} rows -> "
                      f"{o['accepted']} accepted, {o['rejected']} rejected "
                      f"(Great Expectations agrees: {o.get('oracle_agrees')})"]
        for p in o["per_rule"]:
            lines.append(f"  {p['reject_msg']:<55} {p['failed_rows']:>6} rows")
        hit = self.search_hit or {}
        lines += ["", f"[bold]Search[/] 'organization' -> {hit.get('kind')} {hit.get('key') or hit.get('dataset')}",
                  f"[bold]Loaded[/] {self.loaded_rows} rows into dq_accepted.{DATASET}",
                  f"[bold]Query[/] {self.query_sql}"]
        for r in self.query_rows:
            lines.append(f"  {r}")
        lines.append("")
        lines.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()))
        return "\n".join(lines)


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise DataLakeError(f"timed out after {timeout:.0f}s waiting for {what}; see the daemon log in the state directory")


def sample_files(workdir: Path, rows: int) -> dict[str, bytes]:
    """The demo's drops: most rows as CSV, the rest gzipped, and one broken file."""
    from datalake.samples import generate_jobs_csv

    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "jobs.csv"
    generate_jobs_csv(path, rows=rows, seed=7)
    lines = path.read_bytes().splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    cut = int(len(body) * 0.9)
    return {
        f"{DATASET}/batch=1/postings.csv": header + b"".join(body[:cut]),
        f"{DATASET}/batch=2/postings.csv.gz": gzip.compress(header + b"".join(body[cut:])),
        f"{DATASET}/batch=3/broken.csv": header + b"only,three,fields\n",
    }


def _wait_for_pipeline(settings: Settings, before: set[str], timeout: float) -> list[dict[str, Any]]:
    """The runs the drops started, once the dataset is quiet: none running, none due."""
    from pipeline import components

    runs, leases = components.run_store(settings), components.lease_store(settings)

    def settled() -> list[dict[str, Any]] | None:
        new = [r for r in runs.list(DATASET, 50) if r["run_id"] not in before]
        item = leases.get(DATASET) or {}
        if new and all(r["status"] != "running" for r in new) and not item.get("owner") and item.get("due_at") is None:
            return new
        return None

    return wait_until(settled, "the automatic pipeline run (see `datalake runs jobs`)", timeout=timeout)


def run_demo(settings: Settings, *, rows: int, engine: str, say: Callable[[str], None]) -> DemoSummary:
    """Drop sample files and let the lake do the rest: the automatic pipeline crawls, validates
    (``engine``: spark runs the Glue job's code on local Spark) and loads; then search and query."""

    from catalog.search import build_search_index
    from pipeline import components
    from pipeline.manual import run_steps
    from pipeline.steps import read_outcome
    from quality_rules.store import rules_store
    from athena_queries.engine import run_query

    t: dict[str, float] = {}
    start = time.monotonic()
    # The lake's automatic runs use this engine (a lake already running keeps its own).
    st = lifecycle.up(settings, env={"DATALAKE_VALIDATION_ENGINE": engine})
    say(f"local lake up at {st.endpoint} (automatic pipeline: debounce {settings.pipeline_debounce_s:g}s)")
    t["up"] = time.monotonic() - start

    rules = json.loads(RULES_FILE.read_text())
    rs = rules_store(settings).put_items(rules)
    say(f"stored {len(rules)} rule items for '{DATASET}' (rule set v{rs.version})")

    s3 = aws.client("s3", settings)
    drops = sample_files(settings.state_path / "samples", rows)
    before = {r["run_id"] for r in components.run_store(settings).list(DATASET, 100)}
    mark = time.monotonic()
    for key, body in drops.items():
        s3.put_object(Bucket=settings.landing_bucket, Key=key, Body=body)
        say(f"dropped s3://{settings.landing_bucket}/{key} ({len(body)} bytes)")

    store = catalog_components.catalog_store(settings)

    def catalogued() -> list[dict[str, Any]] | None:
        objs = [o for o in store.list_objects(DATASET) if o["key"] in drops]
        return objs if len(objs) == len(drops) and all(o["status"] != "received" for o in objs) else None

    files = wait_until(catalogued, "the dropped files to be catalogued")
    t["catalogued"] = time.monotonic() - mark
    say("catalogued: " + ", ".join(f"{o['key']}={o['status']}" for o in files))

    index = build_search_index(settings)
    hits = wait_until(lambda: index.search("organization", dataset=DATASET, limit=5), "the search index to catch up")
    say(f"search 'organization' found {len(hits)} record(s)")

    say("waiting for the automatic pipeline run (crawl, validate, publish, load)...")
    new = _wait_for_pipeline(settings, before, timeout=300 if engine == "spark" else 120)
    failed = [r for r in new if r["status"] == "failed"]
    if failed:
        raise DataLakeError(f"pipeline run {failed[0]['run_id']} failed: {failed[0].get('summary')}")
    ran = [r for r in new if "publish" in (r.get("steps") or {})]
    if ran:
        run = ran[0]
    else:  # the lake had validated these very files before: show a full run anyway
        say("every partition was up to date; running the pipeline once more with --full")
        state = run_steps(settings, DATASET, ("crawl", "plan", "validate", "publish", "load"), full=True, engine=engine)
        run = components.run_store(settings).get(DATASET, state["run_id"])
    t["pipeline"] = time.monotonic() - mark
    outcome = read_outcome(settings, DATASET, run["run_id"])["outcome"]
    loaded = (run["steps"].get("load") or {}).get("counts") or {}
    say(f"run {run['run_id']} ({run['trigger']}): {run.get('summary')}")

    sql = (f"SELECT reason, count(*) AS rows FROM rejected_{DATASET} CROSS JOIN UNNEST(reject_reasons) AS t(reason) "
           "GROUP BY reason ORDER BY rows DESC")
    mark = time.monotonic()
    res = run_query(settings, sql)
    t["query"] = time.monotonic() - mark
    t["total"] = time.monotonic() - start
    return DemoSummary(st.endpoint or "", files, hits[0].doc if hits else None, outcome, int(loaded.get("rows_loaded", 0)),
                       sql, list(res.rows), t)
