"""Joining a regex list into one alternation keeps Python's search answer (the Spark engine's one-rlike path)."""

from __future__ import annotations

import re

import pytest

from quality_rules.spark_engine import any_regex
from tests.unit.quality.test_semantics import STRINGS

LISTS = [[".*Full.*Time", ".*Part.*Time", ".*Contract.*"], ["^x", "\\d"], ["/job/1\\d$", "\\s"], ["a|b", "c$"],
         ["^$", "z"], ["\\bab", "b\\Z"]]


@pytest.mark.parametrize("regexes", LISTS)
def test_joined_search_equals_any_search(regexes):
    joined = any_regex(regexes)
    assert joined is not None
    for s in [v for v in STRINGS if v is not None] + ["Full-Time", "PartTime", "x1", "/job/12", "c", ""]:
        assert bool(re.search(joined, s)) == any(re.search(r, s) for r in regexes), (regexes, s)


@pytest.mark.parametrize("regexes", [["(a)\\1", "b"], ["(?P<n>a)", "(?P<n>b)"], ["(?i)a", "b"]])
def test_patterns_that_cannot_be_joined_stay_separate(regexes):
    assert any_regex(regexes) is None
