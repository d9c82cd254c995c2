"""Rules that fall back to Great Expectations' own row identification: matched by identity, never
silently passing, and reported in the outcome.

The independent oracle: GE run with ONE expectation per suite, so no pairing of results with rules
can go wrong there; our runner (which runs them all in one suite) must give the same rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quality_rules.exceptions import RuleEvaluationError, ValidationFailedError
from quality_rules.model import RuleSet
from quality_rules.oracle import ROW_ID, validate
from quality_rules.runner import SourceFile, run_validation

# Five fallback rules on four columns, mixed with native ones, in an order GE 1.24 regroups by column.
MIXED_RULES = [
    {"id": "ev-payload", "dataset_name": "ev", "column_name": "payload", "rules": [
        {"name": "expect_column_values_to_not_be_null", "kwargs": {}, "reject_msg": "R:payload_null"},
        {"name": "expect_column_values_to_be_json_parseable", "kwargs": {}, "reject_msg": "R:payload_json"}]},
    {"id": "ev-when", "dataset_name": "ev", "column_name": "when", "rules": [
        {"name": "expect_column_values_to_be_dateutil_parseable", "kwargs": {}, "reject_msg": "R:when_date"}]},
    {"id": "ev-code", "dataset_name": "ev", "column_name": "code", "rules": [
        {"name": "expect_column_values_to_match_regex", "kwargs": {"regex": '^[A-Z0-9"]'}, "reject_msg": "R:code_start"},
        {"name": "expect_column_values_to_be_json_parseable", "kwargs": {}, "reject_msg": "R:code_json"}]},
    {"id": "ev-meta", "dataset_name": "ev", "column_name": "meta", "rules": [
        {"name": "expect_column_values_to_match_json_schema",
         "kwargs": {"json_schema": {"type": "object", "required": ["k"]}}, "reject_msg": "R:meta_schema"}]},
    # a second item on the first column: GE reports it next to that column's other rules
    {"id": "ev-payload-date", "dataset_name": "ev", "column_name": "payload", "rules": [
        {"name": "expect_column_values_to_be_dateutil_parseable", "kwargs": {}, "reject_msg": "R:payload_date"}]},
]


def _frame(n: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pick = lambda values: rng.choice(np.array(values, dtype=object), n)  # noqa: E731
    return pd.DataFrame({
        "payload": pick(['{"k": 1}', '{"j": 2}', "not json", "[1, 2]", None]),
        "when": pick(["2024-01-02", "yesterday-ish", "02/03/2024 10:00", "zz", None]),
        "code": pick(['"A1"', "42", "B2", "echo", '"x"', None]),
        "meta": pick(['{"k": 1}', '{"j": 2}', '{"k": null, "z": 3}', None]),
    })


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    frame = _frame()
    path = tmp_path_factory.mktemp("ev") / "events.csv"
    frame.to_csv(path, index=False)
    # read back as both engines do: all strings, empty fields null
    return path, pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _src(path: Path) -> SourceFile:
    return SourceFile(key="landing/ev/events.csv", path=path, format="csv", compression="none", ingest_date="2024-06-01")


def _rejected(out: Path) -> dict[int, str]:
    files = sorted((out / "rejected").rglob("*.parquet"))
    t = pa.concat_tables([pq.read_table(f, columns=["source_row", "comments"]) for f in files])
    return dict(zip(t.column("source_row").to_pylist(), t.column("comments").to_pylist()))


def _one_rule_at_a_time(frame: pd.DataFrame, rs: RuleSet) -> dict[str, set[int]]:
    frame = frame.copy()
    frame[ROW_ID] = np.arange(len(frame))
    out = {}
    for check in rs.checks:
        res = validate(frame, [check], engine="pandas", row_ids=True)
        assert not res.exceptions, res.exceptions
        out[check.rule_id] = set(res.unexpected_index[check.rule_id])
    return out


def _assert_matches_oracle(outcome, out_dir: Path, rs: RuleSet, expected: dict[str, set[int]]) -> None:
    assert {p["rule_id"]: p["failed_rows"] for p in outcome.per_rule} == {k: len(v) for k, v in expected.items()}
    rejected = _rejected(out_dir)
    assert set(rejected) == set().union(*expected.values())
    for row, comment in rejected.items():  # every failed rule's message, in rule order
        assert comment == "|".join(c.rule.reject_msg for c in rs.checks if row in expected[c.rule_id])


def test_results_are_matched_to_rules_by_identity_not_position(tmp_path, data):
    path, frame = data
    rs = RuleSet.from_items("ev", MIXED_RULES)
    expected = _one_rule_at_a_time(frame, rs)
    # the data must tell the rules apart, or a swap could not show
    counts = [len(v) for k, v in expected.items() if "json" in k or "date" in k or "schema" in k]
    assert len(set(counts)) == len(counts) >= 5
    outcome = run_validation(dataset="ev", sources=[_src(path)], ruleset=rs, output_dir=tmp_path / "out",
                             engine="pandas", run_id="fb", with_oracle=True)
    _assert_matches_oracle(outcome, tmp_path / "out", rs, expected)
    # the report's GE column is paired by identity too, so the comparison can catch a mismatch
    assert outcome.oracle_unexpected == {k: len(v) for k, v in expected.items()}
    assert outcome.oracle_agrees is True
    assert all(p["ge_agrees"] is True and p["status"] == "evaluated" for p in outcome.per_rule)


@pytest.mark.spark
def test_spark_engine_matches_the_same_oracle_with_mixed_fallback_rules(spark, tmp_path, data):
    path, frame = data
    rs = RuleSet.from_items("ev", MIXED_RULES)
    expected = _one_rule_at_a_time(frame, rs)
    outcome = run_validation(dataset="ev", sources=[_src(path)], ruleset=rs, output_dir=tmp_path / "out",
                             engine="spark", run_id="fbs", with_oracle=False)
    _assert_matches_oracle(outcome, tmp_path / "out", rs, expected)


def _between_on_strings(severity: str) -> list[dict]:
    # numeric bounds on a string column: GE raises inside the metric (exception nested under a metric id)
    return [
        {"id": "ev-code", "dataset_name": "ev", "column_name": "code", "rules": [
            {"name": "expect_column_values_to_match_regex", "kwargs": {"regex": "^[A-Z]"}, "reject_msg": "R:code_start"}]},
        {"id": "ev-when", "dataset_name": "ev", "column_name": "when", "rules": [
            {"name": "expect_column_values_to_be_between", "kwargs": {"min_value": 1, "max_value": 5},
             "reject_msg": "R:when_between", "severity": severity}]},
    ]


@pytest.mark.parametrize("severity", ["reject", "fail"])
def test_a_rule_ge_cannot_evaluate_fails_the_run_with_ges_message(tmp_path, data, severity):
    path, _ = data
    rs = RuleSet.from_items("ev", _between_on_strings(severity))
    with pytest.raises(RuleEvaluationError) as exc:
        run_validation(dataset="ev", sources=[_src(path)], ruleset=rs, output_dir=tmp_path / "out",
                       engine="pandas", run_id="err")
    assert isinstance(exc.value, ValidationFailedError)  # the Glue job exits 2, as for a fail breach
    assert list(exc.value.errors) == ["when:expect_column_values_to_be_between"]
    assert "must either be None or of the same type" in str(exc.value)  # GE's own message
    assert not (tmp_path / "out").exists()


def test_a_warn_rule_ge_cannot_evaluate_is_reported_as_errored_not_passed(tmp_path, data):
    path, frame = data
    rs = RuleSet.from_items("ev", _between_on_strings("warn"))
    outcome = run_validation(dataset="ev", sources=[_src(path)], ruleset=rs, output_dir=tmp_path / "out",
                             engine="pandas", run_id="warn-err")
    errored = {p["rule_id"]: p for p in outcome.per_rule}["when:expect_column_values_to_be_between"]
    assert errored["status"] == "errored" and "of the same type" in errored["error"]
    assert errored["ge_agrees"] is None  # not compared: there is no count to compare
    assert set(outcome.rule_errors) == {"when:expect_column_values_to_be_between"}
    assert any("was NOT checked" in w for w in outcome.warnings)
    # the other rule still splits the data
    starts_upper = frame["code"].dropna().str.match("^[A-Z]")
    assert outcome.rejected == int((~starts_upper).sum())


@pytest.mark.spark
def test_where_ge_on_spark_disagrees_the_outcome_and_the_cli_say_which_rule_and_why(spark, tmp_path):
    from datalake import cli

    # NBSP is whitespace for Python re (GE on pandas, and us) but not for Java's \s (GE on Spark)
    frame = pd.DataFrame({"uniq_id": ["id\u00a0nbsp", "ok", "a b", "fine", "x\u2003y"],
                          "organization": ["Acme", None, "Acme", "Acme", "Acme"]})
    path = tmp_path / "ids.csv"
    frame.to_csv(path, index=False)
    rs = RuleSet.from_items("ev", [
        {"id": "ev-uniq", "dataset_name": "ev", "column_name": "uniq_id", "rules": [
            {"name": "expect_column_values_to_not_match_regex", "kwargs": {"regex": r"\s++"}, "reject_msg": "R:ws"}]},
        {"id": "ev-org", "dataset_name": "ev", "column_name": "organization", "rules": [
            {"name": "expect_column_values_to_not_be_null", "kwargs": {}, "reject_msg": "R:org"}]}])
    outcome = run_validation(dataset="ev", sources=[_src(path)], ruleset=rs, output_dir=tmp_path / "out",
                             engine="spark", run_id="dis", with_oracle=True)
    ws, org = outcome.per_rule
    assert (ws["failed_rows"], ws["ge_unexpected"], ws["ge_agrees"]) == (3, 1, False)
    assert "Java" in ws["ge_note"] and "NBSP" in ws["ge_note"]
    assert org["ge_agrees"] is True and org["ge_note"] is None
    assert outcome.oracle_agrees is False
    with cli.console.capture() as cap:
        cli._print_outcome(outcome.to_dict())
    printed = cap.get()
    assert "differs" in printed and "R:ws: ours 3, GE 1." in printed and "Java" in printed
