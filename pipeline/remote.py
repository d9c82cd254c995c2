"""AWS mode: start the deployed pipeline state machine and follow it; the operator's machine computes nothing.

``datalake validate`` and ``datalake load`` with DATALAKE_MODE=aws call ``start`` (StartExecution, trigger
``manual``) and ``follow`` (GetExecutionHistory for step progress, DescribeExecution for the end state).
A run is always the whole definition (crawl, plan, validate, publish, load, finish): ``requested`` tells
the run record which command asked for it.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from datalake_base.exceptions import DataLakeError

Requested = Literal["validate", "load"]
DONE = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class RemotePipelineError(DataLakeError):
    """The deployed pipeline could not be started or followed."""


@dataclass(frozen=True)
class StepEvent:
    """One line of progress: a state entered, succeeded or failed (from the execution history)."""

    id: int
    kind: Literal["entered", "succeeded", "failed", "retrying"]
    state: str
    detail: str = ""


@dataclass
class RunResult:
    execution_arn: str
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    output: dict[str, Any] | None = None
    error: str | None = None
    cause: str | None = None
    steps: list[str] = field(default_factory=list)  # states that succeeded, in order

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


def execution_name(dataset: str, run_id: str) -> str:
    """Step Functions names: 1-80 of [A-Za-z0-9-_]; unique per state machine (a retry-safe start)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{dataset}-{run_id}")[:80]


def execution_input(dataset: str, run_id: str, requested: Requested, *, full: bool = False,
                    engine: str | None = None) -> dict[str, Any]:
    """The state machine's input: ``$.dataset`` and ``$.run_id`` are what the definition reads."""
    return {"dataset": dataset, "run_id": run_id, "trigger": "manual", "requested": requested,
            "full": full, "engine": engine}


# Execution-history event types -> what the operator sees.
_ENTERED = {"TaskStateEntered", "ChoiceStateEntered", "FailStateEntered", "SucceedStateEntered", "PassStateEntered"}
_EXITED = {"TaskStateExited", "ChoiceStateExited", "PassStateExited", "SucceedStateExited"}
_FAILED = {"LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskFailed", "TaskTimedOut"}


def _events(history: list[dict[str, Any]]) -> Iterator[StepEvent]:
    current = ""
    for e in history:
        kind = e["type"]
        if kind in _ENTERED:
            current = e["stateEnteredEventDetails"]["name"]
            yield StepEvent(e["id"], "entered", current)
        elif kind in _EXITED:
            yield StepEvent(e["id"], "succeeded", e["stateExitedEventDetails"]["name"])
        elif kind in _FAILED:
            details = next((v for k, v in e.items() if k.endswith("EventDetails")), {})
            yield StepEvent(e["id"], "failed", current,
                            f"{details.get('error', '')}: {details.get('cause', '')}".strip(": "))


class RemotePipeline:
    """The deployed state machine, through an injected ``stepfunctions`` client."""

    def __init__(self, client: Any, state_machine_arn: str | None, *, poll_s: float = 2.0,
                 timeout_s: float | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        if not state_machine_arn or not state_machine_arn.startswith("arn:"):
            raise RemotePipelineError(
                f"DATALAKE_STATE_MACHINE_ARN is {state_machine_arn!r}; set it to the stack output StateMachineArn "
                "(aws cloudformation describe-stacks --query \"Stacks[0].Outputs\")")
        self._sfn, self.arn = client, state_machine_arn
        self._poll, self._timeout, self._sleep = poll_s, timeout_s, sleep

    def start(self, dataset: str, requested: Requested, *, full: bool = False, engine: str | None = None,
              run_id: str | None = None) -> tuple[str, str]:
        """StartExecution; returns (execution ARN, run id)."""
        from botocore.exceptions import ClientError

        run_id = run_id or new_run_id()
        try:
            resp = self._sfn.start_execution(
                stateMachineArn=self.arn, name=execution_name(dataset, run_id),
                input=json.dumps(execution_input(dataset, run_id, requested, full=full, engine=engine)))
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            raise RemotePipelineError(f"could not start the pipeline for {dataset!r} on {self.arn}: {code}: "
                                      f"{exc.response['Error'].get('Message', '')}. Check the ARN and that your "
                                      "credentials allow states:StartExecution") from exc
        return resp["executionArn"], run_id

    def follow(self, execution_arn: str, on_event: Callable[[StepEvent], None] = lambda _e: None) -> RunResult:
        """Poll until the execution ends, reporting each step as it enters, succeeds or fails."""
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        seen, steps = 0, []
        while True:
            desc = self._sfn.describe_execution(executionArn=execution_arn)  # before the history: no event missed
            for event in _events(self._history(execution_arn, after=seen)):
                seen = max(seen, event.id)
                if event.kind == "succeeded":
                    steps.append(event.state)
                on_event(event)
            if desc["status"] in DONE:
                output = json.loads(desc["output"]) if desc.get("output") else None
                return RunResult(execution_arn, desc["status"], output, desc.get("error"), desc.get("cause"), steps)
            if deadline is not None and time.monotonic() > deadline:
                raise RemotePipelineError(f"execution {execution_arn} still {desc['status']} after {self._timeout}s; "
                                          "it keeps running in AWS (follow it in the console or with `datalake runs`)")
            self._sleep(self._poll)

    def _history(self, execution_arn: str, *, after: int) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kw: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000, "includeExecutionData": False}
        while True:
            page = self._sfn.get_execution_history(**kw)
            events += [e for e in page["events"] if e["id"] > after]
            if not page.get("nextToken"):
                return events
            kw["nextToken"] = page["nextToken"]


def remote_pipeline(settings: Any) -> RemotePipeline:
    from datalake_base import aws

    return RemotePipeline(aws.client("stepfunctions", settings), settings.state_machine_arn)
