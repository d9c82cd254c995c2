"""The AWS half of the trigger against the local endpoint's own APIs: one-shot schedules that move
with each arrival (EventBridge Scheduler), and a run started as a Step Functions execution."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest

from datalake.local.pipeline import TASKS
from datalake.local.provision import provision
from datalake.local.stepfunctions import substitute
from datalake_base import aws
from pipeline import components
from pipeline.schedule import SchedulerWakeups, schedule_name
from pipeline.trigger import start_run, step_functions_starter

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:datalake-pipeline-start"
ROLE = "arn:aws:iam::123456789012:role/datalake-scheduler"


def test_the_schedule_is_created_once_then_moved_with_each_arrival(local_settings):
    client = aws.client("scheduler", local_settings)
    client.create_schedule_group(Name="datalake-pipeline")
    wake = SchedulerWakeups(client, "datalake-pipeline", ROLE, TARGET)

    first = time.time() + 100
    wake.at("jobs", first)
    wake.at("jobs", first + 42)  # a second arrival moves it
    wake.at("other", time.time() - 60)  # a due time already past is scheduled just ahead

    name = schedule_name("jobs")
    got = client.get_schedule(Name=name, GroupName="datalake-pipeline")
    assert got["ScheduleExpression"] == f"at({datetime.fromtimestamp(first + 42, timezone.utc):%Y-%m-%dT%H:%M:%S})"
    other = client.get_schedule(Name=schedule_name("other"), GroupName="datalake-pipeline")["ScheduleExpression"]
    assert datetime.strptime(other, "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=timezone.utc).timestamp() > time.time()
    assert json.loads(got["Target"]["Input"]) == {"dataset": "jobs"} and got["Target"]["Arn"] == TARGET
    assert sorted(s["Name"] for s in client.list_schedules(GroupName="datalake-pipeline")["Schedules"]) == sorted(
        [name, schedule_name("other")])


def test_schedule_names_are_valid_and_distinct_for_any_dataset_name():
    names = {schedule_name(d) for d in ("jobs", "job s", "jobs/2026", "ü" * 80)}
    assert len(names) == 4
    assert all(len(n) <= 64 and all(c.isalnum() or c in "-_." for c in n) for n in names)


def test_a_started_run_is_a_step_functions_execution_named_by_its_run_id(local_settings, monkeypatch):
    provision(local_settings)
    sfn = aws.client("stepfunctions", local_settings)
    subs = {k: f"arn:aws:lambda:us-east-1:123456789012:function:{v}" for k, v in TASKS.items()}
    subs |= {"ValidateJobName": "datalake-validate", "RulesTable": "r", "CatalogTable": "c", "LakeBucket": "l"}
    definition = substitute(open("pipeline/statemachine.asl.json").read(), subs)
    arn = sfn.create_state_machine(name="datalake-pipeline", definition=definition,
                                   roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
    settings = local_settings.model_copy(update={"state_machine_arn": arn})
    components.lease_store(settings).mark_changed("jobs", 1, due_at=0)

    state = start_run(settings, "jobs", starter=step_functions_starter(settings))

    run = components.run_store(settings).get("jobs", state["run_id"])
    execution = sfn.describe_execution(executionArn=run["execution"])
    assert execution["name"] == state["run_id"] and json.loads(execution["input"]) == state
    assert set(state) == {"dataset", "run_id", "trigger", "owner", "full", "engine"}
    assert start_run(settings, "jobs", starter=step_functions_starter(settings)) is None  # leased: not twice


def test_a_missing_state_machine_arn_is_named(local_settings):
    from pipeline.exceptions import PipelineError

    with pytest.raises(PipelineError, match="DATALAKE_STATE_MACHINE_ARN"):
        step_functions_starter(local_settings)
