"""Rule items: the reference data model, GE-backed validation, rule sets and their digest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datalake.samples import reference_rules
from quality_rules.exceptions import RuleDefinitionError
from quality_rules.model import RuleItem, RuleSet

REFERENCE_ITEM = {"id": "job_reqs-organization", "dataset_name": "job_reqs", "column_name": "organization",
                  "rules": [{"name": "expect_column_values_to_not_be_null", "kwargs": {"result_format": "SUMMARY"},
                             "reject_msg": "REJECT:null_values_found_in_organization"}]}


def test_reference_item_round_trips_unchanged():
    item = RuleItem.model_validate(REFERENCE_ITEM)
    assert item.to_item() == REFERENCE_ITEM
    assert item.rules[0].severity == "reject"


def test_unknown_expectation_names_the_value_and_suggests_a_fix():
    bad = json.loads(json.dumps(REFERENCE_ITEM))
    bad["rules"][0]["name"] = "expect_column_values_to_not_be_nul"
    with pytest.raises(Exception) as exc:
        RuleItem.model_validate(bad)
    msg = str(exc.value)
    assert "expect_column_values_to_not_be_nul" in msg and "expect_column_values_to_not_be_null" in msg


def test_non_row_level_expectation_is_refused():
    bad = json.loads(json.dumps(REFERENCE_ITEM))
    bad["rules"][0]["name"] = "expect_column_mean_to_be_between"
    with pytest.raises(Exception, match="column-map"):
        RuleItem.model_validate(bad)


@pytest.mark.parametrize("kwargs", [{"regex_list": "not-a-list"}, {"nope": 1}, {"mostly": 7}])
def test_bad_kwargs_are_reported_by_ge_validation(kwargs):
    item = {**REFERENCE_ITEM, "column_name": "job_type",
            "rules": [{"name": "expect_column_values_to_match_regex_list", "kwargs": kwargs, "reject_msg": "R"}]}
    with pytest.raises(Exception, match="invalid kwargs"):
        RuleItem.model_validate(item)


def test_column_in_kwargs_must_match_column_name():
    item = json.loads(json.dumps(REFERENCE_ITEM))
    item["rules"][0]["kwargs"]["column"] = "other"
    with pytest.raises(Exception, match="implied"):
        RuleItem.model_validate(item)


def test_severity_and_threshold_rules():
    item = json.loads(json.dumps(REFERENCE_ITEM))
    item["rules"][0].update(severity="fail", max_failure_rate=0.1)
    assert RuleItem.model_validate(item).rules[0].max_failure_rate == 0.1
    item["rules"][0]["severity"] = "warn"
    with pytest.raises(Exception, match="only applies to severity 'fail'"):
        RuleItem.model_validate(item)
    item["rules"][0].update(severity="loud", max_failure_rate=None)
    with pytest.raises(Exception):
        RuleItem.model_validate(item)


def test_reject_msg_cannot_contain_the_separator():
    item = json.loads(json.dumps(REFERENCE_ITEM))
    item["rules"][0]["reject_msg"] = "a|b"
    with pytest.raises(Exception, match="'\\|'"):
        RuleItem.model_validate(item)


def test_ruleset_checks_keep_item_then_rule_order_and_unique_ids():
    items = reference_rules("jobs")
    items[0]["rules"].append({"name": "expect_column_values_to_not_be_null", "kwargs": {"mostly": 0.5},
                              "reject_msg": "again"})
    rs = RuleSet.from_items("jobs", items, version=3)
    ids = [c.rule_id for c in rs.checks]
    assert ids == ["organization:expect_column_values_to_not_be_null",
                   "organization:expect_column_values_to_not_be_null#2",
                   "job_type:expect_column_values_to_match_regex_list",
                   "uniq_id:expect_column_values_to_not_match_regex",
                   "location:expect_column_value_lengths_to_be_between"]
    d = rs.to_dict()
    assert d["version"] == 3 and len(d["digest"]) == 64
    assert RuleSet.from_dict(d).digest == rs.digest


def test_digest_depends_on_content_and_order_not_version():
    a = RuleSet.from_items("jobs", reference_rules("jobs"), version=1)
    b = RuleSet.from_items("jobs", reference_rules("jobs"), version=9)
    c = RuleSet.from_items("jobs", list(reversed(reference_rules("jobs"))), version=1)
    assert a.digest == b.digest != c.digest


def test_items_of_another_dataset_are_refused():
    with pytest.raises(RuleDefinitionError, match="dataset_name"):
        RuleSet.from_items("other", reference_rules("jobs"))


def test_shipped_reference_rules_file_matches_samples():
    path = Path(__file__).resolve().parents[3] / "quality_rules" / "reference_rules.json"
    assert json.loads(path.read_text()) == reference_rules("jobs")
    assert len(RuleSet.from_json_file(str(path)).checks) == 4


def test_spark_without_java_says_what_to_install(monkeypatch):
    from quality_rules import spark_session
    from quality_rules.exceptions import SparkUnavailableError

    monkeypatch.setattr(spark_session.shutil, "which", lambda _: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr("pyspark.sql.SparkSession.getActiveSession", lambda: None)
    with pytest.raises(SparkUnavailableError, match="openjdk-17-jre-headless"):
        spark_session.get_spark("local[1]")


@pytest.mark.parametrize(("name", "kwargs", "match"), [
    ("expect_column_values_to_match_regex", {"regex": "([a-z"}, r"not a valid regular expression"),
    ("expect_column_values_to_not_match_regex", {"regex": 5}, r"regex must be a string"),
    ("expect_column_values_to_match_regex_list", {"regex_list": ["ok", "(b"]}, r"regex_list\[1\] '\(b'"),
    ("expect_column_value_lengths_to_be_between", {"min_value": "3", "max_value": 5}, r"whole number"),
    ("expect_column_value_lengths_to_be_between", {"min_value": 1.5}, r"whole number"),
    ("expect_column_value_lengths_to_equal", {"value": "3"}, r"whole number"),
    ("expect_column_values_to_be_between", {"min_value": 5, "max_value": 1}, r"greater than max_value"),
    ("expect_column_values_to_match_like_pattern", {"like_pattern": 5}, r"like_pattern must be a string"),
])
def test_rules_put_refuses_what_would_only_fail_mid_run(name, kwargs, match):
    # GE 1.24 itself accepts every one of these kwargs; they would crash or mislead at validation time.
    item = {**REFERENCE_ITEM, "column_name": "job_type", "rules": [{"name": name, "kwargs": kwargs, "reject_msg": "R"}]}
    with pytest.raises(RuleDefinitionError, match=match):
        RuleSet.from_items("job_reqs", [item])


def test_valid_regexes_and_lengths_still_pass_the_early_checks():
    item = {**REFERENCE_ITEM, "column_name": "job_type", "rules": [
        {"name": "expect_column_values_to_match_regex_list", "kwargs": {"regex_list": [r"\s++", r".*Full.*Time"]},
         "reject_msg": "R1"},
        {"name": "expect_column_value_lengths_to_be_between", "kwargs": {"min_value": 1, "max_value": 60},
         "reject_msg": "R2"}]}
    assert len(RuleSet.from_items("job_reqs", [item]).checks) == 2
