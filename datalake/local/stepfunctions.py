"""A small Amazon States Language executor: runs ``pipeline/statemachine.asl.json`` locally.

Written here because no maintained ASL interpreter exists on PyPI (``pyaslengine`` 0.8 parses
Retry and Catch but does not execute them). It covers only what our definition uses:

- states: Task, Choice, Pass, Succeed, Fail;
- paths: ``$`` and dotted reference paths (``$.plan.engine``) for InputPath, ResultPath (``null``
  discards the result), OutputPath and Choice ``Variable``; Parameters with ``.$`` keys and the
  intrinsic ``States.JsonToString``;
- Choice rules: StringEquals, BooleanEquals, NumericEquals/LessThan/GreaterThan(Equals), IsPresent,
  And/Or/Not, Default;
- Retry (ErrorEquals, IntervalSeconds, MaxAttempts, BackoffRate, MaxDelaySeconds) and Catch
  (ErrorEquals, ResultPath, Next) with Step Functions' error names: a Python exception raised by a
  Lambda-style handler surfaces as its class name with a Lambda-shaped ``Cause`` JSON;
  ``States.ALL`` matches everything, ``States.TaskFailed`` everything but ``States.Timeout``.

Resources map to Python callables: ``${...}`` placeholders are substituted as the template's
DefinitionSubstitutions do, with ``local:module.function`` values resolved by import, and
``arn:aws:states:::glue:startJobRun.sync`` goes to an injected job runner.
"""

from __future__ import annotations

import importlib
import json
import re
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datalake_base.observability import logger

log = logger()
ASL_FILE = Path(__file__).resolve().parents[2] / "pipeline" / "statemachine.asl.json"
GLUE_SYNC = "arn:aws:states:::glue:startJobRun.sync"
Resource = Callable[[Any], Any]


class StatesError(Exception):
    """An error with a Step Functions name (``States.TaskFailed``, an exception class name, ...)."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


@dataclass
class Execution:
    execution_id: str
    status: str = "RUNNING"  # SUCCEEDED | FAILED
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # entered states, attempts, errors


def substitute(text: str, values: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"no substitution for ${{{m.group(1)}}} in the state machine definition")
        return values[m.group(1)]

    return re.sub(r"\$\{(\w+)\}", one, text)


def load_definition(substitutions: dict[str, str], path: Path = ASL_FILE) -> dict[str, Any]:
    return json.loads(substitute(path.read_text(), substitutions))


def resolve_local(resource: str) -> Resource:
    """``local:pkg.module.function`` → that function, called as a Lambda handler (event, context)."""
    module, _, name = resource.removeprefix("local:").rpartition(".")
    fn = getattr(importlib.import_module(module), name)
    return lambda event: fn(event, None)


# --- paths -----------------------------------------------------------------------------------------------
def _steps(path: str) -> list[str]:
    if path == "$":
        return []
    if not path.startswith("$."):
        raise ValueError(f"unsupported path {path!r}: only $ and dotted paths like $.plan.engine")
    return path[2:].split(".")


_MISSING = object()


def get_path(data: Any, path: str, default: Any = _MISSING) -> Any:
    for step in _steps(path):
        if not isinstance(data, dict) or step not in data:
            if default is not _MISSING:
                return default
            raise StatesError("States.Runtime", f"path {path} not found in the state")
        data = data[step]
    return data


def put_path(data: Any, path: str | None, value: Any) -> Any:
    """ResultPath: ``$`` replaces the input, ``null`` (None) keeps it, ``$.a.b`` sets a field in a copy."""
    if path is None:
        return data
    steps = _steps(path)
    if not steps:
        return value
    root = json.loads(json.dumps(data)) if isinstance(data, dict) else {}
    node = root
    for step in steps[:-1]:
        node = node.setdefault(step, {})
    node[steps[-1]] = value
    return root


def _intrinsic(expr: str, data: Any) -> Any:
    m = re.fullmatch(r"States\.JsonToString\((\$[\w.]*)\)", expr)
    if m:
        return json.dumps(get_path(data, m.group(1)), separators=(",", ":"))
    m = re.fullmatch(r"States\.StringToJson\((\$[\w.]*)\)", expr)
    if m:
        return json.loads(get_path(data, m.group(1)))
    raise ValueError(f"unsupported intrinsic function {expr!r}")


def parameters(template: Any, data: Any) -> Any:
    if isinstance(template, dict):
        out = {}
        for k, v in template.items():
            if k.endswith(".$"):
                out[k[:-2]] = _intrinsic(v, data) if v.startswith("States.") else get_path(data, v)
            else:
                out[k] = parameters(v, data)
        return out
    if isinstance(template, list):
        return [parameters(v, data) for v in template]
    return template


# --- choice ------------------------------------------------------------------------------------------------
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "StringEquals": lambda a, b: isinstance(a, str) and a == b,
    "BooleanEquals": lambda a, b: isinstance(a, bool) and a == b,
    "NumericEquals": lambda a, b: isinstance(a, (int, float)) and a == b,
    "NumericLessThan": lambda a, b: isinstance(a, (int, float)) and a < b,
    "NumericGreaterThan": lambda a, b: isinstance(a, (int, float)) and a > b,
    "NumericLessThanEquals": lambda a, b: isinstance(a, (int, float)) and a <= b,
    "NumericGreaterThanEquals": lambda a, b: isinstance(a, (int, float)) and a >= b,
}


def matches(rule: dict[str, Any], data: Any) -> bool:
    if "And" in rule:
        return all(matches(r, data) for r in rule["And"])
    if "Or" in rule:
        return any(matches(r, data) for r in rule["Or"])
    if "Not" in rule:
        return not matches(rule["Not"], data)
    value = get_path(data, rule["Variable"], None)
    if "IsPresent" in rule:
        return (value is not None) == rule["IsPresent"]
    for op, fn in _COMPARE.items():
        if op in rule:
            return value is not None and fn(value, rule[op])
    raise ValueError(f"unsupported Choice rule {sorted(rule)}")


def error_matches(names: list[str], error: str) -> bool:
    return "States.ALL" in names or error in names or ("States.TaskFailed" in names and error != "States.Timeout")


# --- the machine --------------------------------------------------------------------------------------------
class StateMachine:
    def __init__(self, definition: dict[str, Any], resources: dict[str, Resource], *,
                 sleep: Callable[[float], None] = time.sleep, time_scale: float = 1.0,
                 on_state: Callable[[str, str], None] | None = None) -> None:
        self.definition, self.resources = definition, resources
        self.sleep, self.time_scale, self.on_state = sleep, time_scale, on_state

    def run(self, data: Any, execution_id: str | None = None) -> Execution:
        ex = Execution(execution_id or uuid.uuid4().hex)
        name = self.definition["StartAt"]
        try:
            while True:
                state = self.definition["States"][name]
                ex.history.append({"state": name, "type": state["Type"]})
                if self.on_state:
                    self.on_state(ex.execution_id, name)
                kind = state["Type"]
                if kind == "Succeed":
                    ex.status, ex.output = "SUCCEEDED", data
                    return ex
                if kind == "Fail":
                    ex.status, ex.error, ex.cause = "FAILED", state.get("Error"), state.get("Cause")
                    return ex
                if kind == "Choice":
                    name = next((c["Next"] for c in state["Choices"] if matches(c, data)), None) or state.get("Default")
                    if name is None:
                        raise StatesError("States.NoChoiceMatched", "no Choice rule matched and there is no Default")
                    continue
                if kind == "Pass":
                    result = state.get("Result", get_path(data, state.get("InputPath", "$")))
                    data = put_path(data, state.get("ResultPath", "$"), result)
                elif kind == "Task":
                    data, caught = self._task(ex, name, state, data)
                    if caught:
                        name = caught
                        continue
                else:
                    raise StatesError("States.Runtime", f"state type {kind!r} is not supported by the local executor")
                if state.get("OutputPath"):
                    data = get_path(data, state["OutputPath"])
                if state.get("End"):
                    ex.status, ex.output = "SUCCEEDED", data
                    return ex
                name = state["Next"]
        except StatesError as exc:  # an uncaught error fails the execution, as in Step Functions
            ex.status, ex.error, ex.cause = "FAILED", exc.error, exc.cause
            return ex

    def _invoke(self, state: dict[str, Any], data: Any) -> Any:
        resource = state["Resource"]
        fn = self.resources.get(resource)
        if fn is None:
            raise StatesError("States.Runtime", f"no local resource for {resource!r}")
        payload = parameters(state["Parameters"], data) if "Parameters" in state else get_path(
            data, state.get("InputPath", "$"))
        try:
            return fn(payload)
        except StatesError:
            raise
        except Exception as exc:  # a Lambda handler's exception, as Step Functions reports it
            cause = {"errorMessage": str(exc), "errorType": type(exc).__name__,
                     "stackTrace": traceback.format_exception(exc)[-3:]}
            raise StatesError(type(exc).__name__, json.dumps(cause)) from exc

    def _task(self, ex: Execution, name: str, state: dict[str, Any], data: Any) -> tuple[Any, str | None]:
        """Run a Task with its Retry policy; returns (new data, None) or (data, Catch's Next)."""
        used = [0] * len(state.get("Retry", []))
        while True:
            try:
                result = self._invoke(state, data)
                return put_path(data, state.get("ResultPath", "$"), result), None
            except StatesError as exc:
                ex.history.append({"state": name, "error": exc.error, "cause": exc.cause})
                delay = self._retry_delay(state.get("Retry", []), used, exc.error)
                if delay is not None:
                    log.info("retrying a task", extra={"state": name, "error": exc.error, "delay_s": delay})
                    self.sleep(delay * self.time_scale)
                    continue
                for catcher in state.get("Catch", []):
                    if error_matches(catcher["ErrorEquals"], exc.error):
                        return put_path(data, catcher.get("ResultPath", "$"),
                                        {"Error": exc.error, "Cause": exc.cause}), catcher["Next"]
                raise

    @staticmethod
    def _retry_delay(retriers: list[dict[str, Any]], used: list[int], error: str) -> float | None:
        for i, r in enumerate(retriers):
            if error_matches(r["ErrorEquals"], error):
                if used[i] >= r.get("MaxAttempts", 3):
                    return None  # the first matching retrier decides, as in Step Functions
                delay = r.get("IntervalSeconds", 1) * r.get("BackoffRate", 2.0) ** used[i]
                used[i] += 1
                return min(delay, r.get("MaxDelaySeconds", delay))
        return None
