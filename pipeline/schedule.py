"""Wake-ups: start a dataset's run at its due time.

AWS: one EventBridge Scheduler one-shot schedule per dataset (``at(...)``, deleted after it fires),
upserted on every change so it moves with each arrival; its target is ``pipeline.trigger.start_handler``.
Locally no schedule is needed: the runtime's due poller reads ``due_at`` from the pipeline items.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import datetime, timezone
from typing import Any, Protocol

from datalake_base import aws
from datalake_base.settings import Settings


MIN_LEAD_S = 5.0


class Wakeups(Protocol):
    def at(self, dataset: str, when: float) -> None: ...


class PolledWakeups:
    """Local mode: the due poller finds ``due_at`` in the table; nothing to schedule."""

    def at(self, dataset: str, when: float) -> None:
        return None


def schedule_name(dataset: str) -> str:
    """Scheduler names allow [0-9a-zA-Z-_.], at most 64 characters; a digest keeps them unique."""
    safe = re.sub(r"[^0-9A-Za-z_.-]", "-", dataset)[:40]
    return f"start-{safe}-{hashlib.sha1(dataset.encode()).hexdigest()[:8]}"


class SchedulerWakeups:
    def __init__(self, client: Any, group: str, role_arn: str, target_arn: str) -> None:
        self.client, self.group, self.role_arn, self.target_arn = client, group, role_arn, target_arn

    def at(self, dataset: str, when: float) -> None:
        # A one-time schedule must lie in the future (a follow-up's due time may have passed while the
        # run worked); Scheduler invokes within 60 s of it, which bounds the extra delay in AWS.
        when = max(when, time.time() + MIN_LEAD_S)
        stamp = datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        args = {"Name": schedule_name(dataset), "GroupName": self.group, "ScheduleExpression": f"at({stamp})",
                "ScheduleExpressionTimezone": "UTC", "FlexibleTimeWindow": {"Mode": "OFF"},
                "ActionAfterCompletion": "DELETE",
                "Target": {"Arn": self.target_arn, "RoleArn": self.role_arn, "Input": json.dumps({"dataset": dataset})}}
        try:
            self.client.update_schedule(**args)
        except self.client.exceptions.ResourceNotFoundException:
            try:
                self.client.create_schedule(**args)
            except self.client.exceptions.ConflictException:  # created meanwhile by another batch
                self.client.update_schedule(**args)


def wakeups(settings: Settings) -> Wakeups:
    if settings.mode != "aws":
        return PolledWakeups()
    from pipeline.exceptions import PipelineError

    if not (settings.scheduler_role_arn and settings.pipeline_start_function_arn):
        raise PipelineError("AWS mode needs DATALAKE_SCHEDULER_ROLE_ARN and DATALAKE_PIPELINE_START_FUNCTION_ARN "
                            "to schedule pipeline runs (set by infra/template.yaml)")
    return SchedulerWakeups(aws.client("scheduler", settings), settings.scheduler_group, settings.scheduler_role_arn,
                            settings.pipeline_start_function_arn)
