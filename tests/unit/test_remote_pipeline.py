"""AWS mode of `datalake validate|load`: start the deployed state machine, follow it (botocore Stubber, offline)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber
from click.testing import CliRunner

from pipeline.remote import RemotePipeline, RemotePipelineError, execution_input, execution_name

SM = "arn:aws:states:us-east-1:123456789012:stateMachine:datalake-pipeline"
EXEC = "arn:aws:states:us-east-1:123456789012:execution:datalake-pipeline:jobs-r1"
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def _client():
    return boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")


def _ev(i: int, kind: str, **details) -> dict:
    return {"id": i, "previousEventId": i - 1, "timestamp": T0, "type": kind, **details}


def _entered(i: int, name: str) -> dict:
    return _ev(i, "TaskStateEntered", stateEnteredEventDetails={"name": name, "input": "{}"})


def _exited(i: int, name: str) -> dict:
    return _ev(i, "TaskStateExited", stateExitedEventDetails={"name": name, "output": "{}"})


def _history(stub: Stubber, events: list[dict]) -> None:
    stub.add_response("get_execution_history", {"events": events},
                      {"executionArn": EXEC, "maxResults": 1000, "includeExecutionData": False})


def _describe(stub: Stubber, status: str, **extra) -> None:
    stub.add_response("describe_execution", {"executionArn": EXEC, "stateMachineArn": SM, "status": status,
                                             "startDate": T0, **extra}, {"executionArn": EXEC})


def test_start_sends_the_dataset_and_run_id_the_definition_reads_with_trigger_manual():
    client = _client()
    with Stubber(client) as stub:
        stub.add_response("start_execution", {"executionArn": EXEC, "startDate": T0}, {
            "stateMachineArn": SM, "name": "jobs-r1",
            "input": json.dumps(execution_input("jobs", "r1", "validate", full=True))})
        arn, run_id = RemotePipeline(client, SM).start("jobs", "validate", full=True, run_id="r1")
        stub.assert_no_pending_responses()
    assert (arn, run_id) == (EXEC, "r1")
    sent = execution_input("jobs", "r1", "validate", full=True)
    asl = json.loads((Path(__file__).resolve().parents[2] / "pipeline" / "statemachine.asl.json").read_text())
    args = asl["States"]["ValidateOnGlue"]["Parameters"]["Arguments"]
    assert {v.removeprefix("$.") for k, v in args.items() if k.endswith(".$") and v.startswith("$.")} - {"plan"} <= set(sent)
    assert sent["trigger"] == "manual"


def test_execution_names_are_valid_for_step_functions():
    name = execution_name("sales data/2024 é" * 5, "20261125T120000Z-ab12cd")
    assert len(name) <= 80 and all(c.isalnum() or c in "-_" for c in name)


def test_follow_reports_each_step_once_until_the_execution_succeeds():
    client = _client()
    seen = []
    with Stubber(client) as stub:
        _describe(stub, "RUNNING")
        _history(stub, [_ev(1, "ExecutionStarted", executionStartedEventDetails={"input": "{}"}), _entered(2, "Crawl")])
        _describe(stub, "RUNNING")
        _history(stub, [_ev(1, "ExecutionStarted", executionStartedEventDetails={"input": "{}"}), _entered(2, "Crawl"),
                        _exited(3, "Crawl"), _entered(4, "Plan")])
        _describe(stub, "SUCCEEDED", stopDate=T0, output=json.dumps({"dataset": "jobs", "load": {"rows_loaded": 7}}))
        _history(stub, [_entered(2, "Crawl"), _exited(3, "Crawl"), _entered(4, "Plan"), _exited(5, "Plan"),
                        _ev(6, "ExecutionSucceeded", executionSucceededEventDetails={"output": "{}"})])
        result = RemotePipeline(client, SM, sleep=lambda _s: None).follow(EXEC, seen.append)
        stub.assert_no_pending_responses()
    assert [(e.kind, e.state) for e in seen] == [("entered", "Crawl"), ("succeeded", "Crawl"), ("entered", "Plan"),
                                                 ("succeeded", "Plan")]
    assert result.succeeded and result.steps == ["Crawl", "Plan"] and result.output["load"] == {"rows_loaded": 7}


def test_follow_pages_through_a_long_history():
    client = _client()
    with Stubber(client) as stub:
        _describe(stub, "SUCCEEDED", stopDate=T0)
        stub.add_response("get_execution_history", {"events": [_entered(1, "Crawl")], "nextToken": "t"},
                          {"executionArn": EXEC, "maxResults": 1000, "includeExecutionData": False})
        stub.add_response("get_execution_history", {"events": [_exited(2, "Crawl")]},
                          {"executionArn": EXEC, "maxResults": 1000, "includeExecutionData": False, "nextToken": "t"})
        result = RemotePipeline(client, SM).follow(EXEC)
    assert result.steps == ["Crawl"]


def test_a_failed_step_and_run_carry_the_reason():
    client = _client()
    seen = []
    with Stubber(client) as stub:
        _describe(stub, "FAILED", stopDate=T0, error="PipelineRunFailed", cause="a step failed; the run record says which")
        _history(stub, [_entered(1, "ValidateOnGlue"),
                        _ev(2, "TaskFailed", taskFailedEventDetails={"resourceType": "glue", "resource": "startJobRun.sync",
                                                                     "error": "States.TaskFailed", "cause": "rules name columns ['x']"}),
                        _ev(3, "FailStateEntered", stateEnteredEventDetails={"name": "Failed"})])
        result = RemotePipeline(client, SM).follow(EXEC, seen.append)
    assert not result.succeeded and result.error == "PipelineRunFailed"
    assert ("failed", "ValidateOnGlue", "States.TaskFailed: rules name columns ['x']") in [(e.kind, e.state, e.detail) for e in seen]


def test_a_missing_arn_or_a_refused_start_says_what_to_set():
    with pytest.raises(RemotePipelineError, match="DATALAKE_STATE_MACHINE_ARN"):
        RemotePipeline(_client(), None)
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("start_execution", "StateMachineDoesNotExist", "State Machine Does Not Exist")
        with pytest.raises(RemotePipelineError, match="StateMachineDoesNotExist"):
            RemotePipeline(client, SM).start("jobs", "load")


def test_follow_gives_up_after_its_timeout_without_stopping_the_run():
    client = _client()
    with Stubber(client) as stub:
        _describe(stub, "RUNNING")
        _history(stub, [])
        with pytest.raises(RemotePipelineError, match="keeps running in AWS"):
            RemotePipeline(client, SM, timeout_s=0.0, sleep=lambda _s: None).follow(EXEC)


@pytest.fixture
def aws_mode(monkeypatch):
    from datalake_base import aws
    from datalake_base.settings import reset_settings_cache

    for k in ("DATALAKE_ENDPOINT_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("DATALAKE_MODE", "aws")
    monkeypatch.setenv("DATALAKE_STATE_MACHINE_ARN", SM)
    client = _client()
    monkeypatch.setattr(aws, "client", lambda service, settings=None: client if service == "stepfunctions" else None)
    reset_settings_cache()
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()
    reset_settings_cache()


@pytest.mark.parametrize("command", ["validate", "load"])
def test_cli_in_aws_mode_starts_and_follows_the_state_machine_and_computes_nothing(aws_mode, monkeypatch, command):
    import pipeline.steps

    def local_compute(*_a, **_k):
        raise AssertionError("AWS mode must not compute on the operator's machine")

    monkeypatch.setattr(pipeline.steps, "validate_dataset", local_compute)
    monkeypatch.setattr(pipeline.steps, "load_dataset", local_compute)
    aws_mode.add_response("start_execution", {"executionArn": EXEC, "startDate": T0},
                          {"stateMachineArn": SM, "name": ANY, "input": ANY})
    _describe(aws_mode, "SUCCEEDED", stopDate=T0, output=json.dumps({"dataset": "jobs"}))
    _history(aws_mode, [_entered(1, "Crawl"), _exited(2, "Crawl"), _entered(3, "Load"), _exited(4, "Load")])
    from datalake.cli import main

    result = CliRunner().invoke(main, [command, "jobs"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "done Crawl" in result.output and "done Load" in result.output and "succeeded" in result.output


def test_cli_in_aws_mode_exits_non_zero_with_the_reason_when_the_run_fails(aws_mode):
    aws_mode.add_response("start_execution", {"executionArn": EXEC, "startDate": T0},
                          {"stateMachineArn": SM, "name": ANY, "input": ANY})
    _describe(aws_mode, "FAILED", stopDate=T0, error="PipelineRunFailed", cause="COPY failed")
    _history(aws_mode, [_entered(1, "Load"), _ev(2, "LambdaFunctionFailed", lambdaFunctionFailedEventDetails={
        "error": "LoadError", "cause": "Spectrum Scan Error"})])
    from datalake.cli import main

    result = CliRunner().invoke(main, ["load", "jobs"])
    assert result.exit_code == 1
    assert "failed Load: LoadError: Spectrum Scan Error" in result.output
    assert "FAILED: PipelineRunFailed COPY failed" in result.output
