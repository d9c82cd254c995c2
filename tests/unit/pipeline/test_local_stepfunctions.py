"""The local ASL executor runs the repo's state machine definition: paths, Choice, Retry, Catch."""

from __future__ import annotations

import json

import pytest

from datalake.local.pipeline import TASKS, substitutions
from datalake.local.stepfunctions import GLUE_SYNC, StateMachine, StatesError, error_matches, load_definition
from datalake_base.settings import Settings

INPUT = {"dataset": "jobs", "run_id": "r1", "trigger": "auto", "owner": "t"}


class Flaky:
    """A handler that raises ``fails`` times, then returns ``result``; counts its calls."""

    def __init__(self, result, fails: int = 0, exc: type[Exception] = RuntimeError) -> None:
        self.result, self.fails, self.exc, self.calls, self.events = result, fails, exc, 0, []

    def __call__(self, event):
        self.calls += 1
        self.events.append(event)
        if self.calls <= self.fails:
            raise self.exc(f"attempt {self.calls} failed")
        return self.result(event) if callable(self.result) else self.result


def machine(plan=None, **overrides):
    settings = Settings(_env_file=None)
    subs = substitutions(settings)
    handlers = {
        "CrawlFunctionArn": Flaky({"files": 2}),
        "PlanFunctionArn": Flaky(plan or {"action": "validate", "engine": "inprocess", "dates": ["2026-11-25"]}),
        "ValidateFunctionArn": Flaky({"rows_in": 10}),
        "PublishFunctionArn": Flaky({"accepted": 7, "rejected": 3}),
        "LoadFunctionArn": Flaky({"rows_loaded": 7}),
        "FinishFunctionArn": Flaky(lambda e: {"status": "succeeded", "seen": sorted(e)}),
        "FailFunctionArn": Flaky(lambda e: {"status": "failed", "error": e["error"]}),
        "glue": Flaky({"JobRunState": "SUCCEEDED"}),
        **overrides,
    }
    resources = {subs[k]: handlers[k] for k in TASKS}
    resources[GLUE_SYNC] = handlers["glue"]
    sleeps: list[float] = []
    return StateMachine(load_definition(subs), resources, sleep=sleeps.append), handlers, sleeps


def visited(ex):
    return [h["state"] for h in ex.history if "type" in h]


def test_the_in_process_path_runs_every_step_and_keeps_each_result_at_its_result_path():
    sm, h, _ = machine()
    ex = sm.run(INPUT)
    assert ex.status == "SUCCEEDED"
    assert visited(ex) == ["Crawl", "Plan", "ChooseEngine", "ValidateInProcess", "Publish", "Load", "Finish"]
    finish_input = h["FinishFunctionArn"].events[0]
    assert finish_input["crawl"] == {"files": 2} and finish_input["load"] == {"rows_loaded": 7}
    assert finish_input["dataset"] == "jobs" and ex.output["status"] == "succeeded"


def test_a_skip_plan_goes_straight_to_finish():
    sm, h, _ = machine(plan={"action": "skip", "reason": "no rules"})
    ex = sm.run(INPUT)
    assert visited(ex) == ["Crawl", "Plan", "ChooseEngine", "Finish"]
    assert h["ValidateFunctionArn"].calls == 0 and h["LoadFunctionArn"].calls == 0


def test_large_inputs_go_to_the_glue_job_with_the_plan_as_a_json_string_argument():
    plan = {"action": "validate", "engine": "spark", "dates": ["2026-11-25"], "bytes": 10**9}
    sm, h, _ = machine(plan=plan)
    ex = sm.run(INPUT)
    assert "ValidateOnGlue" in visited(ex) and ex.status == "SUCCEEDED"
    params = h["glue"].events[0]
    args = params["Arguments"]
    assert params["JobName"] == "datalake-validate"
    assert json.loads(args["--plan"]) == plan and args["--dataset"] == "jobs" and args["--run_id"] == "r1"
    assert args["--rules_table"] == "datalake-rules" and args["--lake_bucket"] == "datalake-lake"


def test_a_failing_step_is_retried_with_exponential_backoff_then_succeeds():
    validate = Flaky({"rows_in": 10}, fails=2)
    sm, h, sleeps = machine(ValidateFunctionArn=validate)
    ex = sm.run(INPUT)
    assert ex.status == "SUCCEEDED" and validate.calls == 3
    assert sleeps == [2.0, 4.0]  # IntervalSeconds 2, BackoffRate 2, MaxAttempts 2


def test_a_step_that_keeps_failing_is_caught_recorded_and_ends_the_execution_failed():
    load = Flaky({}, fails=99, exc=ValueError)
    sm, h, sleeps = machine(LoadFunctionArn=load)
    ex = sm.run(INPUT)
    assert ex.status == "FAILED" and ex.error == "PipelineRunFailed"
    assert visited(ex)[-2:] == ["RecordFailure", "Failed"]
    assert load.calls == 3 and sleeps == [5.0, 10.0]
    error = h["FailFunctionArn"].events[0]["error"]
    assert error["Error"] == "ValueError"
    assert json.loads(error["Cause"])["errorMessage"] == "attempt 3 failed"
    assert h["FinishFunctionArn"].calls == 0


def test_the_failure_recorder_is_itself_retried():
    fail = Flaky({"status": "failed"}, fails=1)
    sm, _, _ = machine(PlanFunctionArn=Flaky({}, fails=99), FailFunctionArn=fail)
    ex = sm.run(INPUT)
    assert ex.status == "FAILED" and fail.calls == 2


def test_a_glue_job_failure_is_caught_with_its_error_message():
    cause = json.dumps({"JobRunState": "FAILED", "ErrorMessage": "rules name columns ['nope']"})
    glue = Flaky({}, fails=99)
    glue.exc = lambda msg: StatesError("States.TaskFailed", cause)  # type: ignore[assignment]
    sm, h, sleeps = machine(plan={"action": "validate", "engine": "spark"}, glue=glue)
    ex = sm.run(INPUT)
    assert ex.status == "FAILED" and glue.calls == 2 and sleeps == [30.0]
    assert json.loads(h["FailFunctionArn"].events[0]["error"]["Cause"])["ErrorMessage"] == "rules name columns ['nope']"


@pytest.mark.parametrize(("names", "error", "expected"), [
    (["States.ALL"], "States.Timeout", True),
    (["States.TaskFailed"], "ValueError", True),
    (["States.TaskFailed"], "States.Timeout", False),
    (["KeyError"], "ValueError", False),
])
def test_error_names_match_as_in_step_functions(names, error, expected):
    assert error_matches(names, error) is expected


def test_every_placeholder_of_the_definition_has_a_local_substitution():
    load_definition(substitutions(Settings(_env_file=None)))  # raises KeyError on a missing one
