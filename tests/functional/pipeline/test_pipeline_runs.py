"""Whole pipeline runs on the real local endpoint: the catalog stream marks the dataset, the due
poller starts a run under its lease, the local executor runs the repo's state machine with the
real task handlers (pandas engine, local warehouse, DuckDB query engine)."""

from __future__ import annotations

import json
import time

import duckdb
import pytest

from athena_queries.engine import run_query
from catalog import components as catalog_components
from datalake.demo import RULES_FILE
from datalake.local.pipeline import LocalPipeline, local_state_machine
from datalake.local.provision import provision
from datalake.local.runtime import stream_event
from datalake.samples import generate_jobs_csv
from datalake_base import aws
from datalake_base.settings import get_settings, reset_settings_cache
from ingestion import components
from ingestion.events import ObjectEvent
from pipeline import components as pipeline_components
from pipeline import trigger
from quality_rules.store import rules_store
from warehouse import build_warehouse
from tests.fixtures.arrivals import arrive

KEY = "jobs/batch=1/postings.csv"


class Stream:
    """Reads the catalog table's stream from where it was last read, as the runtime's mapping does."""

    def __init__(self, settings, stream_arn: str) -> None:
        self.settings, self.arn = settings, stream_arn
        self.client = aws.client("dynamodbstreams", settings)
        self.its: dict[str, str] = {}

    def drain(self) -> dict:
        records = []
        for shard in self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            sid = shard["ShardId"]
            it = self.its.get(sid) or self.client.get_shard_iterator(
                StreamArn=self.arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while it:
                resp = self.client.get_records(ShardIterator=it, Limit=1000)
                records += resp["Records"]
                it = resp.get("NextShardIterator")
                if not resp["Records"]:
                    break
            self.its[sid] = it
        return stream_event(records, self.arn, self.settings.region)


@pytest.fixture
def lake(local_settings, monkeypatch, tmp_path):
    monkeypatch.setenv("DATALAKE_PIPELINE_DEBOUNCE", "0")
    reset_settings_cache()
    settings = get_settings()
    ids = provision(settings)
    return settings, Stream(settings, ids["stream_arn"]), tmp_path


def _arrive(settings, key: str, rows: int, seed: int, tmp_path) -> None:
    path = tmp_path / f"{seed}.csv"
    generate_jobs_csv(path, rows=rows, seed=seed)
    arrive(settings, key, path)


def _run_due(settings) -> list:
    """One tick of the due poller, then wait for the executions it started."""
    pipe = LocalPipeline(settings, machine=local_state_machine(settings, time_scale=0))
    started = pipe.poll_once()
    pipe.pool.shutdown(wait=True)
    assert len(pipe.executions) == started
    return list(pipe.executions)


def _runs(settings, dataset="jobs"):
    return pipeline_components.run_store(settings).list(dataset)


def test_an_arrival_runs_the_whole_pipeline_by_itself_and_its_own_writes_do_not_trigger_again(lake):
    settings, stream, tmp = lake
    rules_store(settings).put_items(json.loads(RULES_FILE.read_text()))
    _arrive(settings, KEY, 800, 3, tmp)

    assert trigger.stream_handler(stream.drain()) == {"batchItemFailures": []}
    (ex,) = _run_due(settings)

    assert ex.status == "SUCCEEDED", ex
    (run,) = _runs(settings)
    assert run["status"] == "succeeded" and run["trigger"] == "auto"
    assert [s for s in ("crawl", "plan", "validate", "publish", "load") if run["steps"][s]["outcome"] == "ok"] == [
        "crawl", "plan", "validate", "publish", "load"]
    accepted = run["steps"]["publish"]["counts"]["accepted"]
    assert accepted + run["steps"]["publish"]["counts"]["rejected"] == 800
    assert run_query(settings, "SELECT count(*) FROM accepted_jobs").rows[0][0] == accepted
    # the run keeps its own per-rule failures, each equal to the published rejected rows naming that rule
    per_rule = run["steps"]["publish"]["counts"]["per_rule"]
    assert sorted(per_rule) == sorted({r["reject_msg"] for i in json.loads(RULES_FILE.read_text()) for r in i["rules"]})
    assert sum(per_rule.values()) >= run["steps"]["publish"]["counts"]["rejected"] > 0  # a row may fail several
    for msg, n in per_rule.items():
        assert run_query(settings, f"SELECT count(*) FROM rejected_jobs WHERE contains(reject_reasons, '{msg}')").rows[0][0] == n
    assert build_warehouse(settings).query("SELECT count(*) FROM dq_accepted.jobs").rows[0][0] == accepted
    store = catalog_components.catalog_store(settings)
    assert store.get_object("jobs", settings.landing_bucket, KEY, None)["status"] == "loaded"
    assert store.get_dataset("jobs")["pipeline_last_run"]["status"] == "succeeded"

    # the run's own writes (statuses, dataset item, run record, lease) come through the stream too
    leases = pipeline_components.lease_store(settings)
    before = leases.get("jobs")["changes"]
    trigger.stream_handler(stream.drain())
    assert leases.get("jobs")["changes"] == before and leases.due(time.time() + 3600) == []


def test_a_dataset_without_rules_is_crawled_only_and_its_record_says_so(lake):
    settings, stream, tmp = lake
    _arrive(settings, KEY, 50, 4, tmp)
    trigger.stream_handler(stream.drain())

    (ex,) = _run_due(settings)

    assert ex.status == "SUCCEEDED"
    (run,) = _runs(settings)
    assert "no rules" in run["summary"] and "validate" not in run["steps"] and "load" not in run["steps"]
    ds = catalog_components.catalog_store(settings).get_dataset("jobs")
    assert ds["glue_table"] == "jobs" and "no rules" in ds["pipeline_last_run"]["summary"]
    assert aws.client("glue", settings).get_tables(DatabaseName=settings.glue_database)["TableList"][0]["Name"] == "jobs"


def test_a_rule_on_a_missing_column_fails_the_run_with_the_reason_and_keeps_the_last_publication(lake):
    settings, stream, tmp = lake
    rules = json.loads(RULES_FILE.read_text())
    rules_store(settings).put_items(rules)
    _arrive(settings, KEY, 300, 5, tmp)
    trigger.stream_handler(stream.drain())
    _run_due(settings)
    good = run_query(settings, "SELECT count(*) FROM accepted_jobs").rows[0][0]

    rules[0]["column_name"] = "no_such_column"
    rules_store(settings).put_items(rules)
    _arrive(settings, "jobs/batch=2/more.csv", 100, 6, tmp)
    trigger.stream_handler(stream.drain())
    (ex,) = _run_due(settings)

    assert ex.status == "FAILED"
    latest = _runs(settings)[0]
    assert latest["status"] == "failed" and latest["error"]["step"] == "validate"
    assert "no_such_column" in latest["error"]["reason"] and latest["steps"]["validate"]["attempts"] == 3
    assert "no_such_column" in catalog_components.catalog_store(settings).get_dataset("jobs")["pipeline_last_run"]["summary"]
    assert run_query(settings, "SELECT count(*) FROM accepted_jobs").rows[0][0] == good  # nothing half-published
    assert pipeline_components.lease_store(settings).get("jobs").get("owner") is None  # lease released


def test_a_failing_copy_fails_the_run_at_load(lake):
    settings, stream, tmp = lake
    rules_store(settings).put_items(json.loads(RULES_FILE.read_text()))
    settings.state_path.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.state_path / "warehouse.duckdb"))  # a table COPY cannot fit into
    con.execute("CREATE SCHEMA dq_accepted; CREATE TABLE dq_accepted.jobs (a INTEGER, b INTEGER)")
    con.close()
    _arrive(settings, KEY, 100, 7, tmp)
    trigger.stream_handler(stream.drain())

    (ex,) = _run_due(settings)

    run = _runs(settings)[0]
    assert ex.status == "FAILED" and run["error"]["step"] == "load"
    assert run["steps"]["publish"]["outcome"] == "ok" and run["steps"]["load"]["attempts"] == 3
    assert "dq_accepted.jobs" in run["error"]["reason"]


def test_a_switched_off_dataset_does_not_run_until_switched_on(lake):
    settings, stream, tmp = lake
    rules_store(settings).put_items(json.loads(RULES_FILE.read_text()))
    _arrive(settings, KEY, 50, 8, tmp)
    trigger.set_enabled(settings, "jobs", False)
    trigger.stream_handler(stream.drain())

    assert _run_due(settings) == [] and _runs(settings) == []

    trigger.set_enabled(settings, "jobs", True)
    (ex,) = _run_due(settings)
    assert ex.status == "SUCCEEDED" and _runs(settings)[0]["steps"]["load"]["outcome"] == "ok"


def test_a_run_whose_process_died_is_ended_failed_and_its_dataset_recovered(lake):
    from pipeline.lease import LeaseStore

    settings, stream, tmp = lake
    rules_store(settings).put_items(json.loads(RULES_FILE.read_text()))
    _arrive(settings, KEY, 100, 9, tmp)
    # the file arrived 30 minutes ago; its run started 20 minutes ago, then its process died: no
    # heartbeat since, the lease long expired, and no arrival since to start anything
    pipeline_components.lease_store(settings).mark_changed("jobs", 1, due_at=time.time() - 1800)
    past = LeaseStore(settings.catalog_table, aws.client("dynamodb", settings), settings.pipeline_lease_s,
                      clock=lambda: time.time() - 1200)
    dead = past.acquire("jobs", "20261125T090000000-dead00", automatic=True)
    pipeline_components.run_store(settings).create("jobs", dead.run_id, "auto")

    (ex,) = _run_due(settings)

    assert ex.status == "SUCCEEDED"
    new, old = _runs(settings)
    assert old["run_id"] == dead.run_id and old["status"] == "failed" and "lease expired" in old["summary"]
    assert new["trigger"] == "recovery" and new["status"] == "succeeded" and "load" in new["steps"]


def test_a_failing_dataset_does_not_hold_up_another(lake):
    settings, stream, tmp = lake
    good = json.loads(RULES_FILE.read_text())
    bad = [{**r, "dataset_name": "other", "id": f"other-{r['column_name']}"} for r in good]
    bad[0]["column_name"] = "missing"
    rules_store(settings).put_items(good)
    rules_store(settings).put_items(bad)
    _arrive(settings, KEY, 100, 10, tmp)
    _arrive(settings, "other/a.csv", 100, 11, tmp)
    trigger.stream_handler(stream.drain())

    executions = _run_due(settings)  # both due in the same poll; runs of different datasets run side by side

    assert sorted(e.status for e in executions) == ["FAILED", "SUCCEEDED"]
    assert _runs(settings, "jobs")[0]["status"] == "succeeded"
    assert _runs(settings, "other")[0]["status"] == "failed"


def test_a_dataset_whose_only_file_is_quarantined_gets_a_run_that_says_there_is_nothing_to_validate(lake):
    settings, stream, tmp = lake
    rules_store(settings).put_items(json.loads(RULES_FILE.read_text()))
    trigger.rules_changed(settings, "jobs")  # no files yet: nothing is marked, no run starts
    assert pipeline_components.lease_store(settings).get("jobs") is None
    aws.client("s3", settings).put_object(Bucket=settings.landing_bucket, Key=KEY, Body=b"a,b,c\n1,2\n")
    components.arrivals(settings).process(ObjectEvent(
        kind="created", bucket=settings.landing_bucket, key=KEY, event_name="ObjectCreated:Put",
        event_time="2026-11-25T10:00:00Z", source="s3"))
    assert catalog_components.catalog_store(settings).get_object("jobs", settings.landing_bucket, KEY, None)[
        "status"] == "quarantined"
    trigger.stream_handler(stream.drain())

    (ex,) = _run_due(settings)

    (run,) = _runs(settings)
    assert ex.status == "SUCCEEDED" and run["status"] == "succeeded" and "no files to validate" in run["summary"]


def test_a_run_still_queued_when_the_lake_stops_is_cancelled_and_due_again(lake):
    import threading

    from datalake.local.stepfunctions import Execution
    from pipeline.trigger import start_run

    settings, _, _ = lake
    gate = threading.Event()

    class Blocking:  # stands in for the state machine: holds the only worker until released
        def run(self, state, execution_id):
            gate.wait(10)
            return Execution(execution_id, status="SUCCEEDED")

    pipe = LocalPipeline(settings, machine=Blocking(), workers=1)
    leases = pipeline_components.lease_store(settings)
    for ds in ("a", "b"):
        leases.mark_changed(ds, 1, due_at=0)
    first = start_run(settings, "a", starter=pipe.submit)
    queued = start_run(settings, "b", starter=pipe.submit)

    threading.Timer(0.5, gate.set).start()
    pipe.stop(timeout=5)

    run = pipeline_components.run_store(settings).get("b", queued["run_id"])
    assert run["status"] == "failed" and "cancelled" in run["summary"]
    assert leases.get("b").get("owner") is None and [i["dataset"] for i in leases.due()] == ["b"]
    assert leases.get("a")["owner"] == first["owner"]  # the blocking stand-in never finished its run
