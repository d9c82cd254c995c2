"""The pipeline's local executors: the due poller (EventBridge Scheduler's stand-in) and a bounded
pool running the state machine (Step Functions' stand-in), with the Glue job run by local Spark.

Runs of different datasets run concurrently (``WORKERS``); Spark runs one job at a time (one JVM
on a 2-core machine is the useful maximum). A run queued when the lake stops is ended ``failed``
("cancelled") and its dataset marked due again, so it runs after the next `datalake up`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from datalake.local.stepfunctions import GLUE_SYNC, Execution, StateMachine, StatesError, load_definition, resolve_local
from datalake_base.observability import logger
from datalake_base.settings import Settings

log = logger()
WORKERS = 2
TASKS = {"CrawlFunctionArn": "crawl_handler", "PlanFunctionArn": "plan_handler",
         "ValidateFunctionArn": "validate_handler", "PublishFunctionArn": "publish_handler",
         "LoadFunctionArn": "load_handler", "FinishFunctionArn": "finish_handler", "FailFunctionArn": "fail_handler"}
_spark = threading.Lock()


def substitutions(settings: Settings) -> dict[str, str]:
    """The template's DefinitionSubstitutions, locally: each function is the Python handler itself."""
    return {**{k: f"local:pipeline.tasks.{v}" for k, v in TASKS.items()},
            "ValidateJobName": settings.validate_job_name, "RulesTable": settings.rules_table,
            "CatalogTable": settings.catalog_table, "LakeBucket": settings.lake_bucket}


def glue_job_runner(settings: Settings) -> Any:
    """``glue:startJobRun.sync`` locally: the job's entry point in a subprocess (its own Spark driver),
    with the ASL's Arguments, on staged copies of the planned objects (local Spark cannot read S3);
    its output is uploaded when it succeeds. Returns a JobRun as GetJobRun describes it, or fails
    with the job's error."""
    from pipeline.steps import load_plan, staged_run

    def run(params: dict[str, Any]) -> dict[str, Any]:
        arguments = dict(params.get("Arguments", {}))
        job = load_plan(settings, arguments["--dataset"], json.loads(arguments["--plan"]))
        arguments["--plan"] = json.dumps(job.to_dict())  # the staged run reads no plan from the lake
        args = [a for k, v in arguments.items() for a in (k, str(v))]
        # The job signs with the environment's credentials, as on Glue; the local endpoint takes any
        # (datalake_base.aws.session's placeholders when the environment has none).
        env = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", **os.environ,
               "DATALAKE_ENDPOINT_URL": settings.effective_endpoint or "",
               "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
        started = time.time()
        with _spark, staged_run(settings, job) as (stage_root, lake):
            proc = subprocess.run([sys.executable, "-m", "glue_jobs.validate_job", *args, "--engine", "spark",
                                   "--stage_root", stage_root, "--lake_uri", lake,
                                   "--endpoint_url", settings.effective_endpoint or "",
                                   "--region", settings.region,  # Glue's environment names it; here, the lake's
                                   "--spark_master", settings.spark_master],
                                  capture_output=True, text=True, env=env, check=False)
            run = {"JobName": params.get("JobName"), "Id": f"jr_local_{int(started)}", "StartedOn": started,
                   "CompletedOn": time.time(), "ExecutionTime": int(time.time() - started)}
            if proc.returncode != 0:  # raised inside: nothing is uploaded
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                try:
                    message = json.loads(lines[-1]).get("error") if lines else None
                except ValueError:
                    message = None
                message = message or (proc.stderr.strip().splitlines() or ["exit code %d" % proc.returncode])[-1]
                raise StatesError("States.TaskFailed",
                                  json.dumps({**run, "JobRunState": "FAILED", "ErrorMessage": message}))
        return {**run, "JobRunState": "SUCCEEDED"}

    return run


def local_state_machine(settings: Settings, **kwargs: Any) -> StateMachine:
    subs = substitutions(settings)
    resources = {v: resolve_local(v) for k, v in subs.items() if k in TASKS}
    resources[GLUE_SYNC] = glue_job_runner(settings)
    return StateMachine(load_definition(subs), resources, **kwargs)


def _warm_up() -> None:
    try:
        import great_expectations  # noqa: F401

        import quality_rules.oracle  # noqa: F401
        import quality_rules.pandas_engine  # noqa: F401
        import warehouse  # noqa: F401
    except Exception:  # only an optimisation
        log.exception("pipeline warm-up import failed")


class LocalPipeline:
    def __init__(self, settings: Settings, *, machine: StateMachine | None = None, poll_s: float = 0.25,
                 workers: int = WORKERS) -> None:
        self.settings, self.poll_s = settings, poll_s
        self.machine = machine or local_state_machine(settings)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pipeline-run")
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="pipeline-due-poller", daemon=True)
        self.queued: dict[Future[Execution], dict[str, Any]] = {}
        self.executions: deque[Execution] = deque(maxlen=100)  # the latest, for tests and debugging

    def start(self) -> None:
        self.thread.start()
        # Import the validation stack now, not in the first run (as a warm Lambda would have it): the
        # first run otherwise pays several seconds of Great Expectations and pandas imports.
        threading.Thread(target=_warm_up, name="pipeline-warm-up", daemon=True).start()

    def _loop(self) -> None:
        while not self.stop_event.wait(self.poll_s):
            try:
                self.poll_once()
            except Exception:  # the poller must keep going whatever one poll does
                log.exception("pipeline due poll failed; retrying")

    def poll_once(self) -> int:
        from pipeline import components
        from pipeline.trigger import start_run

        started = 0
        for item in components.lease_store(self.settings).due():
            if start_run(self.settings, item["dataset"], starter=self.submit):
                started += 1
        return started

    def submit(self, state: dict[str, Any]) -> str:
        execution_id = f"local:{state['run_id']}"
        future = self.pool.submit(self._execute, state, execution_id)
        self.queued[future] = state
        future.add_done_callback(lambda f: self.queued.pop(f, None))
        return execution_id

    def _execute(self, state: dict[str, Any], execution_id: str) -> Execution:
        ex = self.machine.run(state, execution_id)
        self.executions.append(ex)
        log.info("pipeline execution ended", extra={"execution": execution_id, "status": ex.status,
                                                     "error": ex.error, "dataset": state["dataset"]})
        return ex

    def stop(self, timeout: float = 5) -> None:
        from pipeline import components

        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout)
        pending = dict(self.queued)
        self.pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        for future in pending:  # runs in flight get ``timeout`` to finish; one still going is recovered later
            if not future.cancelled():
                try:
                    future.result(timeout=max(0.0, deadline - time.monotonic()))
                except Exception:
                    log.warning("a pipeline run was still going when the lake stopped; its lease expires and "
                                "the run is recovered after the next `datalake up`")
        for future, state in pending.items():
            if not future.cancelled():
                continue
            ds = state["dataset"]
            components.run_store(self.settings).finish(ds, state["run_id"], "failed", only_if_running=True,
                                                       summary="cancelled: the local lake stopped before the run began",
                                                       error={"step": "start", "reason": "cancelled"})
            leases = components.lease_store(self.settings)
            leases.release(ds, state["owner"], automatic=True)
            leases.set_due(ds, time.time())  # it runs after the next `datalake up`
