"""Drop a file and the lake does the rest: a live local lake (endpoint + runtime processes) runs
the pipeline by itself after the debounce; bad input ends a run `failed` with its reason."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from athena_queries.engine import run_query
from catalog import components as catalog_components
from datalake.demo import RULES_FILE
from datalake.local import lifecycle
from datalake.samples import generate_jobs_csv
from datalake_base import aws
from pipeline import components as pipeline_components
from quality_rules.store import rules_store
from tests.fixtures.lake import lake_environment, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    state = tmp_path_factory.mktemp("pipeline-lake")
    with lake_environment(state, DATALAKE_PIPELINE_DEBOUNCE="1", DATALAKE_VALIDATION_ENGINE="pandas") as settings:
        lifecycle.up(settings)
        yield settings


def _csv(tmp_path, name: str, rows: int, seed: int) -> bytes:
    path = tmp_path / name
    generate_jobs_csv(path, rows=rows, seed=seed)
    return path.read_bytes()


def _finished_runs(settings, dataset: str) -> list[dict]:
    runs = pipeline_components.run_store(settings).list(dataset, 50)
    return runs if runs and all(r["status"] != "running" for r in runs) else []


def test_a_dropped_file_is_validated_loaded_and_queryable_without_any_command(lake, tmp_path):
    rules_store(lake).put_items(json.loads(RULES_FILE.read_text()))
    body = _csv(tmp_path, "a.csv", 600, 21)
    s3 = aws.client("s3", lake)
    s3.put_object(Bucket=lake.landing_bucket, Key="jobs/a.csv", Body=body)

    (run,) = wait_for(lambda: _finished_runs(lake, "jobs"), timeout=90)

    assert run["status"] == "succeeded" and run["trigger"] == "auto", run
    # independent oracle: the reference rules recomputed with pandas on the dropped rows
    df = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, na_values=[""])
    jt, loc = df["job_type"], df["location"]
    bad = (df["organization"].isna()
           | (jt.notna() & ~jt.fillna("").str.match(r".*Full.*Time|.*Part.*Time|.*Contract.*"))
           | df["uniq_id"].fillna("").str.contains(r"\s")
           | (loc.notna() & ~loc.fillna("").str.len().between(3, 60)))
    accepted = run_query(lake, "SELECT count(*) FROM accepted_jobs").rows[0][0]
    rejected = run_query(lake, "SELECT count(*) FROM rejected_jobs").rows[0][0]
    assert (accepted, rejected) == (len(df) - int(bad.sum()), int(bad.sum()))
    assert run["steps"]["publish"]["counts"]["accepted"] == accepted
    assert run["steps"]["load"]["counts"]["rows_loaded"] == accepted

    # two more files dropped together: one more run, covering both
    s3.put_object(Bucket=lake.landing_bucket, Key="jobs/b.csv", Body=_csv(tmp_path, "b.csv", 100, 22))
    s3.put_object(Bucket=lake.landing_bucket, Key="jobs/c.csv", Body=_csv(tmp_path, "c.csv", 100, 23))
    runs = wait_for(lambda: (r := _finished_runs(lake, "jobs")) and len(r) >= 2 and r, timeout=90)
    wait_for(lambda: (pipeline_components.lease_store(lake).get("jobs") or {}).get("due_at") is None, timeout=30)
    assert len(pipeline_components.run_store(lake).list("jobs", 50)) == 2
    assert runs[0]["status"] == "succeeded"
    total = run_query(lake, "SELECT count(*) FROM accepted_jobs").rows[0][0] + run_query(
        lake, "SELECT count(*) FROM rejected_jobs").rows[0][0]
    assert total == 800


def test_a_rule_on_a_missing_column_ends_the_run_failed_with_the_reason(lake, tmp_path):
    rules = json.loads(RULES_FILE.read_text())
    for r in rules:
        r["dataset_name"], r["id"] = "broken", f"broken-{r['column_name']}"
    rules[0]["column_name"] = "not_a_column"
    rules_store(lake).put_items(rules)

    aws.client("s3", lake).put_object(Bucket=lake.landing_bucket, Key="broken/a.csv", Body=_csv(tmp_path, "x.csv", 50, 3))

    (run,) = wait_for(lambda: _finished_runs(lake, "broken"), timeout=120)
    assert run["status"] == "failed" and run["error"]["step"] == "validate"
    assert "not_a_column" in run["error"]["reason"]
    ds = catalog_components.catalog_store(lake).get_dataset("broken")
    assert ds["pipeline_last_run"]["status"] == "failed" and "not_a_column" in ds["pipeline_last_run"]["summary"]
    assert aws.client("s3", lake).list_objects_v2(Bucket=lake.lake_bucket, Prefix="accepted/dataset=broken/").get(
        "KeyCount", 0) == 0  # nothing published
