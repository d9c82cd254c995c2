"""The `datalake` command against the real local endpoint: what a user types and reads."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from datalake_base import aws
from datalake.cli import main
from datalake.demo import RULES_FILE
from datalake.local.provision import provision
from datalake_base.settings import reset_settings_cache


@pytest.fixture
def run(local_settings):
    provision(local_settings)
    runner = CliRunner()

    def _run(*args: str) -> tuple[int, str]:
        reset_settings_cache()
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return _run


def _drop(settings, key: str, body: bytes) -> None:
    aws.client("s3", settings).put_object(Bucket=settings.landing_bucket, Key=key, Body=body)


def test_every_command_has_help():
    runner = CliRunner()
    for cmd in ["up", "down", "status", "datasets", "show", "search", "reindex", "users", "crawl", "rules", "validate",
                "load", "query", "demo", "serve", "dlq", "reconcile", "runs", "run", "pipeline"]:
        result = runner.invoke(main, [cmd, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, cmd


def test_commands_needing_the_lake_say_how_to_start_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DATALAKE_STATE_DIR", str(tmp_path))
    for k in ("DATALAKE_ENDPOINT_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(k, raising=False)
    reset_settings_cache()
    result = CliRunner().invoke(main, ["validate", "jobs"])
    assert result.exit_code == 1 and "datalake up" in result.output and "Traceback" not in result.output


def test_reconcile_catalogues_a_file_whose_event_was_lost(run, local_settings):
    _drop(local_settings, "jobs/a.csv", b"x,y\n1,2\n")  # no runtime here: the event is never consumed

    code, out = run("reconcile", "jobs", "--json")

    assert code == 0, out
    assert "jobs/a.csv" in out
    code, out = run("datasets", "--json")
    assert json.loads(out)[0]["file_count"] == 1


def test_rules_put_then_list_round_trips_the_reference_rules(run):
    code, out = run("rules", "put", str(RULES_FILE))
    assert code == 0 and "version 1" in out
    code, out = run("rules", "list", "jobs")
    assert [i["id"] for i in json.loads(out)["items"]] == [i["id"] for i in json.loads(RULES_FILE.read_text())]


def test_bad_input_gives_a_one_line_error_not_a_traceback(run):
    for args, needle in [
        (("query", "DROP TABLE x"), "not allowed"),
        (("query", "SELECT * FROM missing_t"), "datalake crawl"),
        (("crawl", "nope"), "no catalogued files"),
        (("load", "nope"), "no catalogued files"),  # checked before a run (and its lease) is created
        (("show", "nope"), "no catalogued files"),
    ]:
        code, out = run(*args)
        assert code == 1 and needle in out and "Traceback" not in out, (args, out)


def test_dlq_list_reports_an_empty_queue(run):
    code, out = run("dlq", "list")
    assert code == 0 and "empty" in out


def test_status_reports_queue_depth_and_dead_letters(run, local_settings):
    sqs = aws.client("sqs", local_settings)
    dlq = sqs.get_queue_url(QueueName=local_settings.arrivals_dlq)["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody="{}")

    code, out = run("status")

    assert code == 0 and "dead letters: 1 arrivals" in out and "datalake dlq list" in out


def test_status_with_the_lake_endpoint_exported_but_the_lake_down_says_not_running(tmp_path, monkeypatch):
    # As the README has users do: AWS_ENDPOINT_URL exported; then `datalake down`; then `status`.
    from tests.fixtures.aws import free_port

    port = free_port()
    for k in ("DATALAKE_ENDPOINT_URL",):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("DATALAKE_MODE", "local")
    monkeypatch.setenv("DATALAKE_LOCAL_PORT", str(port))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://localhost:{port}")
    monkeypatch.setenv("DATALAKE_STATE_DIR", str(tmp_path / "state"))
    reset_settings_cache()

    result = CliRunner().invoke(main, ["status"], catch_exceptions=False)

    assert result.exit_code == 1 and "not running" in result.output and "Could not connect" not in result.output


def test_query_json_keeps_numbers_and_stats_report_the_scan(run):
    code, out = run("query", "SELECT 5 / 2 AS q, sum(x) AS s, CAST(1.50 AS decimal(3,2)) AS d "
                    "FROM (VALUES 1, 2) AS t(x)", "--format", "json", "--stats")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["rows"] == [{"q": 2, "s": 3, "d": 1.5}]  # Trino integer division; numbers, not strings
    assert {"data_scanned_bytes", "files_opened", "partitions_pruned", "total_ms"} <= set(doc["statistics"])


def test_rules_put_refuses_an_invalid_regex_in_one_line(run, tmp_path):
    rules = [{"id": "jobs-type", "dataset_name": "jobs", "column_name": "job_type", "rules": [
        {"name": "expect_column_values_to_match_regex", "kwargs": {"regex": "([a-z"}, "reject_msg": "R"}]}]
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules))
    code, out = run("rules", "put", str(path))
    assert code == 1 and "not a valid regular expression" in out and "Traceback" not in out


def test_warehouse_query_runs_redshift_sql(run):
    code, out = run("warehouse", "query", "SELECT 7 / 2 AS q", "--format", "json")
    assert code == 0 and json.loads(out) == [{"q": 3}]
