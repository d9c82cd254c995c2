"""Validate and load through the pipeline on the real local endpoint (pandas engine, no daemon)."""

from __future__ import annotations

import json

import pytest

from datalake_base import aws
from catalog import components as catalog_components
from ingestion import components
from datalake.demo import RULES_FILE
from datalake.local.provision import provision
from pipeline.steps import crawl_dataset, load_dataset, validate_dataset
from quality_rules.store import rules_store
from athena_queries.engine import run_query
from datalake.samples import generate_jobs_csv
from ingestion.events import ObjectEvent
from quality_rules.exceptions import ValidationFailedError
from warehouse import build_warehouse
from tests.fixtures.arrivals import arrive

KEY = "jobs/batch=1/postings.csv"


@pytest.fixture
def lake(local_settings, tmp_path):
    provision(local_settings)
    path = tmp_path / "jobs.csv"
    generate_jobs_csv(path, rows=1500, seed=3)
    arrive(local_settings, KEY, path)
    rules_store(local_settings).put_items(json.loads(RULES_FILE.read_text()))
    crawl_dataset(local_settings, "jobs")
    return local_settings


def _split_keys(settings) -> list[str]:
    s3 = aws.client("s3", settings)
    return [o["Key"] for side in ("accepted", "rejected")
            for o in s3.list_objects_v2(Bucket=settings.lake_bucket, Prefix=f"{side}/").get("Contents", [])]


def test_validate_records_counts_on_the_catalog_and_publishes_one_run(lake):
    result = validate_dataset(lake, "jobs", engine="pandas")

    o = result.outcome.to_dict()
    assert o["accepted"] + o["rejected"] == 1500
    ds = catalog_components.catalog_store(lake).get_dataset("jobs")
    assert ds["validation"]["accepted"] == o["accepted"] and ds["validation"]["report"].startswith("s3://")
    s3 = aws.client("s3", lake)
    for link in (ds["validation"]["report"], ds["validation"]["data_docs"]):  # both published and reachable
        bucket, _, key = link.removeprefix("s3://").partition("/")
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    rec = catalog_components.catalog_store(lake).get_object("jobs", lake.landing_bucket, KEY, None)
    assert rec["status"] == "validated" and rec["validation"]["run_id"] == o["run_id"]
    assert all(f"/run={o['run_id']}/" in k for k in _split_keys(lake))


def test_revalidating_and_reloading_neither_duplicates_files_nor_warehouse_rows(lake):
    first = validate_dataset(lake, "jobs", engine="pandas").outcome
    load_dataset(lake, "jobs")
    second = validate_dataset(lake, "jobs", engine="pandas", full=True).outcome
    load_dataset(lake, "jobs")

    assert (second.accepted, second.rejected) == (first.accepted, first.rejected)
    keys = _split_keys(lake)
    assert keys and all(f"/run={second.run_id}/" in k for k in keys)  # the first run's files are gone
    assert run_query(lake, "SELECT count(*) FROM accepted_jobs").rows[0][0] == second.accepted
    assert build_warehouse(lake).query("SELECT count(*) FROM dq_accepted.jobs").rows[0][0] == second.accepted


def test_a_failed_run_leaves_the_previous_output_untouched(lake):
    good = validate_dataset(lake, "jobs", engine="pandas").outcome
    strict = json.loads(RULES_FILE.read_text())
    strict[0]["rules"][0].update(severity="fail", max_failure_rate=0.0)
    rules_store(lake).put_items(strict)

    with pytest.raises(ValidationFailedError):
        validate_dataset(lake, "jobs", engine="pandas")

    assert all(f"/run={good.run_id}/" in k for k in _split_keys(lake))
    assert run_query(lake, "SELECT count(*) FROM rejected_jobs").rows[0][0] == good.rejected


def test_only_partitions_whose_files_or_rules_changed_are_validated_again(lake, tmp_path):
    first = validate_dataset(lake, "jobs", engine="pandas")
    assert first.dates == ["2026-11-25"]
    assert validate_dataset(lake, "jobs", engine="pandas").up_to_date

    # a file arrives on another day: only that partition runs; the first keeps its run's files
    path = tmp_path / "more.csv"
    generate_jobs_csv(path, rows=200, seed=11)
    arrive(lake, "jobs/batch=2/more.csv", path.read_bytes(), "2026-11-26T09:00:00Z")
    second = validate_dataset(lake, "jobs", engine="pandas")

    assert second.dates == ["2026-11-26"] and second.outcome.rows_in == 200
    keys = _split_keys(lake)
    # the source's own Hive partition (batch=) is kept under the ingest date
    assert any(f"ingest_date=2026-11-25/batch=1/run={first.outcome.run_id}/" in k for k in keys)
    assert any(f"ingest_date=2026-11-26/batch=2/run={second.outcome.run_id}/" in k for k in keys)
    total = first.outcome.accepted + second.outcome.accepted
    assert run_query(lake, "SELECT count(*) FROM accepted_jobs").rows[0][0] == total
    ds = catalog_components.catalog_store(lake).get_dataset("jobs")["validation"]
    assert (ds["rows_in"], ds["accepted"]) == (1700, total)

    # new rules invalidate every partition
    rules = json.loads(RULES_FILE.read_text())
    rules[0]["rules"][0]["reject_msg"] = "REJECT:organization_missing"
    rules_store(lake).put_items(rules)
    third = validate_dataset(lake, "jobs", engine="pandas")
    assert third.dates == ["2026-11-25", "2026-11-26"] and third.outcome.rows_in == 1700


def test_a_partition_whose_files_are_all_deleted_is_dropped(lake):
    validate_dataset(lake, "jobs", engine="pandas")
    load_dataset(lake, "jobs")
    aws.client("s3", lake).delete_object(Bucket=lake.landing_bucket, Key=KEY)
    components.arrivals(lake).process(ObjectEvent(
        kind="removed", bucket=lake.landing_bucket, key=KEY, event_name="ObjectRemoved:Delete",
        event_time="2026-11-25T11:00:00Z", source="s3"))

    result = validate_dataset(lake, "jobs", engine="pandas")

    assert result.outcome is None and result.dropped == ["2026-11-25"]
    assert _split_keys(lake) == []
    assert run_query(lake, "SELECT count(*) FROM accepted_jobs").rows[0][0] == 0
    load_dataset(lake, "jobs")  # the deleted source's rows leave the warehouse too
    assert build_warehouse(lake).query("SELECT count(*) FROM dq_accepted.jobs").rows[0][0] == 0


def test_a_new_file_in_a_validated_partition_is_validated_alone_and_the_rest_carried_forward(lake, tmp_path):
    first = validate_dataset(lake, "jobs", engine="pandas").outcome
    path = tmp_path / "same-day.csv"
    generate_jobs_csv(path, rows=300, seed=12)
    arrive(lake, "jobs/batch=2/same-day.csv", path.read_bytes(), "2026-11-25T12:00:00Z")

    second = validate_dataset(lake, "jobs", engine="pandas")

    assert second.dates == ["2026-11-25"] and second.outcome.rows_in == 300  # only the new file was read
    keys = _split_keys(lake)
    assert len(keys) == 4 and all(f"/run={second.outcome.run_id}/" in k for k in keys)  # 2 files x 2 sides
    total = first.accepted + second.outcome.accepted
    assert run_query(lake, "SELECT count(*) FROM accepted_jobs").rows[0][0] == total
    assert run_query(lake, "SELECT count(*) FROM rejected_jobs").rows[0][0] == 1800 - total
    ds = catalog_components.catalog_store(lake).get_dataset("jobs")["validation"]
    assert (ds["rows_in"], ds["accepted"]) == (1800, total)
    rec = catalog_components.catalog_store(lake).get_object("jobs", lake.landing_bucket, KEY, None)
    assert rec["validation"]["run_id"] == second.outcome.run_id and rec["validation"]["accepted"] == first.accepted


def test_a_warn_rule_ge_cannot_evaluate_is_named_on_the_dataset_record(lake):
    # numeric bounds on a CSV (string) column: GE raises inside its metric; a warn rule runs on, reported
    rules_store(lake).put_items([{"id": "jobs-location-between", "dataset_name": "jobs", "column_name": "location",
                                  "rules": [{"name": "expect_column_values_to_be_between",
                                             "kwargs": {"min_value": 1, "max_value": 5},
                                             "reject_msg": "W:location_between", "severity": "warn"}]}])
    result = validate_dataset(lake, "jobs", engine="pandas")

    assert "jobs-location-between" in {i["id"] for i in result.outcome.rules_used["items"]}
    ds = catalog_components.catalog_store(lake).get_dataset("jobs")
    assert "of the same type" in ds["validation"]["rule_errors"]["W:location_between"]
    assert ds["validation"]["ge_disagreements"] == {}
