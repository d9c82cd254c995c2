"""Great Expectations itself, run on the same data with the same rules.

Three uses: (1) the oracle – GE's per-rule unexpected counts (and, on request, unexpected row
ids) to compare with our vectorised flags; (2) the report – GE's validation result JSON and,
when it renders offline, Data Docs HTML; (3) the fallback – rows of expectations our engines do
not implement natively are identified by GE (result_format COMPLETE + a row-id column).
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import logging
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from quality_rules.exceptions import RuleEvaluationError
from quality_rules.model import Check, RuleSet

ROW_ID = "__dq_row_id"
log = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet():
    """GE prints progress bars and chatter to stderr/stdout; keep the caller's output clean.

    Redirecting sys.stdout/stderr is process-wide: on a worker thread (GE's report running alongside
    the split) it would swallow the caller's own output, e.g. the CLI's live phase display. There
    only warnings are silenced; progress bars are switched off in the context (``_context``).
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        if threading.current_thread() is threading.main_thread():
            stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        yield


def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    ctx = gx.get_context(mode="ephemeral")
    with contextlib.suppress(Exception):
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return ctx


def _suite(checks: list[Check], name: str):
    import great_expectations as gx

    from quality_rules.model import build_expectation

    suite = gx.ExpectationSuite(name=name)
    for check in checks:
        kwargs = {k: v for k, v in check.rule.kwargs.items() if k not in ("column", "result_format")}
        exp = build_expectation(check.name, check.column, kwargs)
        exp.meta = {"rule_id": check.rule_id, "reject_msg": check.rule.reject_msg, "severity": check.rule.severity}
        suite.add_expectation(exp)
    return suite


@dataclass
class OracleResult:
    unexpected: dict[str, int]
    success: dict[str, bool]
    unexpected_index: dict[str, list[int]] | None
    result_json: dict[str, Any]
    exceptions: dict[str, str] = field(default_factory=dict)


def validate(data: Any, checks: list[Check], *, engine: Literal["pandas", "spark"], suite_name: str = "dq",
             row_ids: bool = False, docs_dir: Path | None = None) -> OracleResult:
    """Validate ``data`` (pandas or Spark DataFrame) with GE. ``row_ids`` needs a ``__dq_row_id`` column."""
    with _quiet():
        ctx = _context()
        ds = ctx.data_sources.add_pandas("dq_pandas") if engine == "pandas" else ctx.data_sources.add_spark("dq_spark")
        asset = ds.add_dataframe_asset(name="batch")
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
        suite = ctx.suites.add(_suite(checks, suite_name))
        result_format: dict[str, Any] = {"result_format": "COMPLETE" if row_ids else "SUMMARY",
                                         "partial_unexpected_count": 0 if not row_ids else 20}
        if row_ids:
            result_format["unexpected_index_column_names"] = [ROW_ID]
            result_format["return_unexpected_index_query"] = False
        import great_expectations as gx

        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{suite_name}-vd", data=batch_def, suite=suite))
        res = vd.run(batch_parameters={"dataframe": data}, result_format=result_format)
        docs_ok = False
        if docs_dir is not None:
            docs_ok = _render_docs(ctx, res, docs_dir)
    by_rule = _results_by_rule(res.results, checks)
    unexpected: dict[str, int] = {}
    success: dict[str, bool] = {}
    index: dict[str, list[int]] | None = {} if row_ids else None
    exceptions: dict[str, str] = {}
    for check in checks:
        rid = check.rule_id
        r = by_rule[rid]
        success[rid] = bool(r.success)
        message = exception_message(r.exception_info)
        if message is not None:
            exceptions[rid] = message
        unexpected[rid] = int(r.result.get("unexpected_count") or 0)
        if index is not None:
            idx = r.result.get("unexpected_index_list") or []
            index[rid] = sorted(int(d[ROW_ID]) if isinstance(d, dict) else int(d) for d in idx)
    out = res.to_json_dict()
    if docs_dir is not None:
        out.setdefault("meta", {})["data_docs_rendered"] = docs_ok
    return OracleResult(unexpected=unexpected, success=success, unexpected_index=index, result_json=out,
                        exceptions=exceptions)


def _results_by_rule(results: list[Any], checks: list[Check]) -> dict[str, Any]:
    """Pair GE's results with our checks by the rule id stored in each expectation's meta.

    Never by position: GE 1.24 returns results grouped by column, not in suite order.
    """
    wanted = {c.rule_id for c in checks}
    out: dict[str, Any] = {}
    for r in results:
        meta = getattr(r.expectation_config, "meta", None) or {}
        rid = meta.get("rule_id")
        if rid in wanted:
            out[rid] = r
    missing = sorted(wanted - set(out))
    if missing:  # would mean GE dropped an expectation: refuse to guess which result is which
        raise RuleEvaluationError(
            f"Great Expectations returned no result for rule(s) {missing}; "
            "check those rules' names and kwargs with `datalake rules put`",
            errors={rid: "no result from Great Expectations" for rid in missing})
    return out


def exception_message(info: Any) -> str | None:
    """GE's message when an expectation raised, else None.

    GE puts ``raised_exception`` at the top level for expectation-level errors, but nests it under
    a metric configuration id (``{MetricConfigurationID(...): {...}}``) when a metric failed, e.g.
    numeric bounds compared with strings.
    """
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "exception without a message")
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "exception without a message")
    return None


# Errors of warn-severity fallback rules travel out of band: the engines' interface returns row
# flags only, and a warn rule's error must be reported without failing the run.
_rule_errors: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("dq_rule_errors", default=None)


@contextlib.contextmanager
def collect_rule_errors():
    """Collect ``{rule_id: GE message}`` of warn rules GE could not evaluate during the block."""
    errors: dict[str, str] = {}
    token = _rule_errors.set(errors)
    try:
        yield errors
    finally:
        _rule_errors.reset(token)


def _render_docs(ctx: Any, res: Any, docs_dir: Path) -> bool:
    """Render the validation result as one static HTML page with GE's own renderer (offline)."""
    try:
        from great_expectations.render.renderer import ValidationResultsPageRenderer
        from great_expectations.render.view import DefaultJinjaPageView

        suite_results = list(res.run_results.values()) if hasattr(res, "run_results") else [res]
        docs_dir.mkdir(parents=True, exist_ok=True)
        html = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(suite_results[0]))
        (docs_dir / "index.html").write_text(html, encoding="utf-8")
        return True
    except Exception as exc:  # Data Docs are a convenience: never fail a run over them
        log.warning("Data Docs not rendered: %s", exc)
        return False


def ge_unexpected_positions(df: Any, checks: list[Check]) -> dict[str, np.ndarray]:
    """Positions (0-based, in ``df`` order) of the rows GE lists as unexpected, per check."""
    cols = sorted({c.column for c in checks})
    frame = df[cols].reset_index(drop=True).copy()
    frame[ROW_ID] = np.arange(len(frame), dtype=np.int64)
    res = validate(frame, checks, engine="pandas", row_ids=True, suite_name="dq-fallback")
    assert res.unexpected_index is not None
    by_id = {c.rule_id: c for c in checks}
    fatal = {rid: msg for rid, msg in res.exceptions.items() if by_id[rid].rule.severity != "warn"}
    if fatal:
        desc = "; ".join(f"{rid}: {msg}" for rid, msg in fatal.items())
        raise RuleEvaluationError(
            f"validation failed, no output written: Great Expectations could not evaluate {desc}. "
            "Fix those rules' kwargs (or the column's type), or set severity 'warn' to run without them.",
            errors=fatal)
    sink = _rule_errors.get()
    out: dict[str, np.ndarray] = {}
    for rid, ids in res.unexpected_index.items():
        if rid in res.exceptions:  # warn rule that errored: no rows flagged, error reported
            if sink is not None:
                sink[rid] = res.exceptions[rid]
            ids = []
        out[rid] = np.asarray(ids, dtype=np.int64)
    return out


def validate_ruleset(data: Any, ruleset: RuleSet, *, engine: Literal["pandas", "spark"], row_ids: bool = False,
                     docs_dir: Path | None = None) -> OracleResult:
    return validate(data, ruleset.checks, engine=engine, suite_name=f"{ruleset.dataset}-v{ruleset.version}",
                    row_ids=row_ids, docs_dir=docs_dir)


def dump_json(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=str, ensure_ascii=False), encoding="utf-8")
