"""Per-expectation row flags of the pandas engine on edge cases, checked against GE itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quality_rules.model import RuleSet
from quality_rules.oracle import ROW_ID, validate_ruleset
from quality_rules.pandas_engine import compute_flags
from quality_rules.semantics import java_regex

STRINGS = ["Full Time", "full time", "", " ", "\t", "a b", "a\u00a0b", "a\u2003b", "x\x1cy", "abc", "ab",
           "ünïcødé", "日本語", "🙂🙂🙂", "x" * 500, "Contract", "Part-Time", "line\nbreak", None, None, "abc"]

CASES = [
    ("expect_column_values_to_not_be_null", {}),
    ("expect_column_values_to_be_null", {}),
    ("expect_column_values_to_be_in_set", {"value_set": ["abc", "", "Contract"]}),
    ("expect_column_values_to_not_be_in_set", {"value_set": ["abc", " "]}),
    ("expect_column_values_to_match_regex", {"regex": "^[a-z]+$"}),
    ("expect_column_values_to_match_regex", {"regex": "\\w+", "mostly": 0.1}),
    ("expect_column_values_to_not_match_regex", {"regex": "\\s++"}),
    ("expect_column_values_to_not_match_regex", {"regex": "b$"}),
    ("expect_column_values_to_match_regex_list", {"regex_list": [".*Full.*Time", ".*Part.*Time", ".*Contract.*"],
                                                  "match_on": "any"}),
    ("expect_column_values_to_match_regex_list", {"regex_list": ["a", "b"], "match_on": "all"}),
    ("expect_column_values_to_not_match_regex_list", {"regex_list": ["^x", "\\d"]}),
    ("expect_column_value_lengths_to_be_between", {"min_value": 3, "max_value": 60}),
    ("expect_column_value_lengths_to_be_between", {"min_value": 1, "max_value": 3, "strict_min": True,
                                                   "strict_max": True}),
    ("expect_column_value_lengths_to_be_between", {"max_value": 2}),
    ("expect_column_value_lengths_to_equal", {"value": 3}),
    ("expect_column_values_to_be_unique", {}),
    ("expect_column_values_to_match_strftime_format", {"strftime_format": "%Y-%m-%d"}),
    ("expect_column_values_to_be_json_parseable", {}),  # not native: GE fallback
]


def _ruleset(column: str, name: str, kwargs: dict) -> RuleSet:
    return RuleSet.from_items("t", [{"id": "t-1", "dataset_name": "t", "column_name": column,
                                     "rules": [{"name": name, "kwargs": kwargs, "reject_msg": "R"}]}])


def _ge_rows(df: pd.DataFrame, rs: RuleSet) -> list[int]:
    frame = df.copy()
    frame[ROW_ID] = np.arange(len(frame))
    res = validate_ruleset(frame, rs, engine="pandas", row_ids=True)
    assert not res.exceptions, res.exceptions
    (rows,) = res.unexpected_index.values()
    return rows


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_string_flags_equal_ge_unexpected_rows(name, kwargs):
    df = pd.DataFrame({"s": pd.Series(STRINGS, dtype=object)})
    rs = _ruleset("s", name, kwargs)
    (flags,) = compute_flags(df, rs).values()
    assert list(np.flatnonzero(flags)) == _ge_rows(df, rs)


def test_dates_for_strftime():
    df = pd.DataFrame({"d": ["2024-01-31", "2024-02-30", "2024-1-5", "31/01/2024", None, "2024-01-31 ", ""]})
    rs = _ruleset("d", "expect_column_values_to_match_strftime_format", {"strftime_format": "%Y-%m-%d"})
    (flags,) = compute_flags(df, rs).values()
    assert list(np.flatnonzero(flags)) == _ge_rows(df, rs)


@pytest.mark.parametrize("kwargs", [{"min_value": 0, "max_value": 10}, {"min_value": 0, "max_value": 10,
                                                                          "strict_min": True, "strict_max": True},
                                    {"min_value": -1.5}, {"max_value": 0}])
@pytest.mark.parametrize("values", [[0, 10, 11, -1, 5, 3], [0.0, 10.0, np.nan, -1e-9, 10.000001, -1.5]])
def test_numeric_between_edges(kwargs, values):
    df = pd.DataFrame({"n": values})
    rs = _ruleset("n", "expect_column_values_to_be_between", kwargs)
    (flags,) = compute_flags(df, rs).values()
    assert list(np.flatnonzero(flags)) == _ge_rows(df, rs)


def test_mostly_changes_success_not_rows():
    df = pd.DataFrame({"s": ["a", "b", "c", "d"]})
    strict = _ruleset("s", "expect_column_values_to_be_in_set", {"value_set": ["a"]})
    lenient = _ruleset("s", "expect_column_values_to_be_in_set", {"value_set": ["a"], "mostly": 0.1})
    assert (list(compute_flags(df, strict).values())[0] == list(compute_flags(df, lenient).values())[0]).all()


def test_nulls_never_fail_domain_rules():
    df = pd.DataFrame({"s": [None, None]}, dtype=object)
    for name, kwargs in CASES:
        if "null" in name:
            continue
        (flags,) = compute_flags(df, _ruleset("s", name, kwargs)).values()
        assert not flags.any(), name


def test_missing_column_is_a_clear_error():
    with pytest.raises(Exception, match="does not have"):
        compute_flags(pd.DataFrame({"x": ["a"]}), _ruleset("s", "expect_column_values_to_not_be_null", {}))


@pytest.mark.parametrize(("py", "java"), [
    ("\\s++", "(?dU)[\\s\\x1c-\\x1f]++"),
    ("[\\sa]", "(?dU)[\\s\\x1c-\\x1fa]"),
    ("(?P<x>a)(?P=x)", "(?dU)(?<x>a)\\k<x>"),
    ("a{,3}\\Z", "(?dU)a{0,3}\\z"),
    ("[[]", "(?dU)[\\[]"),
    ("[]a]", "(?dU)[\\]a]"),
])
def test_java_regex_translation(py, java):
    assert java_regex(py) == java
