"""The Arrow engine's row flags, batch by batch, against Great Expectations on edge cases."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from quality_rules.arrow_engine import BatchFlagger, strategy
from quality_rules.model import RuleSet
from quality_rules.pandas_engine import compute_check_flags
from quality_rules.regex_screen import byte_table, candidate_rows, first_chars, re2_screen
from tests.unit.quality.test_semantics import CASES, STRINGS, _ge_rows, _ruleset


def _arrow_flags(table: pa.Table, rs: RuleSet, batch_rows: int) -> np.ndarray:
    """What the runner does: batch checks over small batches (state carried across), else whole column."""
    (check,) = rs.checks
    if strategy(check, table.schema.field(check.column).type) == "column":
        return compute_check_flags(table.to_pandas(), [check])[check.rule_id]
    flagger = BatchFlagger([check])
    return np.concatenate([flagger.flags(b)[check.rule_id] for b in table.to_batches(max_chunksize=batch_rows)])


@pytest.mark.parametrize("batch_rows", [3, 1000])
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_string_flags_equal_ge_unexpected_rows(name, kwargs, batch_rows):
    rs = _ruleset("s", name, kwargs)
    table = pa.table({"s": pa.array(STRINGS, pa.string())})
    flags = _arrow_flags(table, rs, batch_rows)
    assert list(np.flatnonzero(flags)) == _ge_rows(pd.DataFrame({"s": pd.Series(STRINGS, dtype=object)}), rs)


@pytest.mark.parametrize("kwargs", [{"min_value": 0, "max_value": 10}, {"min_value": -1.5, "strict_min": True}])
@pytest.mark.parametrize("values", [[0, 10, 11, None, -1, 5], [0.0, 10.0, float("nan"), None, -1.5, 10.000001]])
def test_numeric_between_in_batches_equals_ge(values, kwargs):
    rs = _ruleset("n", "expect_column_values_to_be_between", kwargs)
    table = pa.table({"n": pa.array(values, pa.float64() if isinstance(values[0], float) else pa.int64())})
    assert strategy(rs.checks[0], table.schema.field("n").type) == "batch"
    flags = _arrow_flags(table, rs, 2)
    assert list(np.flatnonzero(flags)) == _ge_rows(table.to_pandas(), rs)


def test_non_text_columns_are_whole_column_checks():
    # GE sees pandas' conversion of the whole column (int64 with a null -> float64 -> "1.0"), so a
    # regex on a number column must not be evaluated batch by batch
    rs = _ruleset("n", "expect_column_values_to_match_regex", {"regex": "^1$"})
    assert strategy(rs.checks[0], pa.int64()) == "column"
    table = pa.table({"n": pa.array([1, None, 11], pa.int64())})
    assert list(np.flatnonzero(_arrow_flags(table, rs, 1))) == _ge_rows(table.to_pandas(), rs)


def test_id_column_switches_off_dedupe_with_the_same_answer():
    ids = [f"{i:032x}" for i in range(5000)]
    ids[17] = "abc def"
    ids[4000] = "abc\u00a0def"  # non-ASCII whitespace: only Python re knows
    ids[4500] = None
    rs = _ruleset("u", "expect_column_values_to_not_match_regex", {"regex": "\\s++"})
    flagger = BatchFlagger(rs.checks)
    table = pa.table({"u": pa.array(ids, pa.string())})
    flags = np.concatenate([flagger.flags(b)[rs.checks[0].rule_id] for b in table.to_batches(max_chunksize=1000)])
    assert list(np.flatnonzero(flags)) == [17, 4000]
    (matcher,) = flagger._matchers[rs.checks[0].rule_id]
    assert matcher._dedupe is False


# ---------------------------------------------------------------------------------- regex screen
ALL_SPACE = [chr(c) for c in range(0x110000) if chr(c).isspace()]
SCREEN_STRINGS = [*STRINGS[:-3], "", "b", "ab\n", "x1", "x\u0661", "🙂b", "\u3000", "a\u2028", *ALL_SPACE,
                  *(f"q{s}q" for s in ALL_SPACE)]
PATTERNS = ["\\s++", "\\s", "b$", "^[a-z]+$", "a|b", "/job/1\\d$", "\\d", "[\\sa]", "(?:ab|c)+d", "x*y",
            "(?a:\\s)", "\\bab", "🙂", "[α-ω]", "(a)(?P<n>b)"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_screen_never_rules_out_a_python_match(pattern):
    assert re2_screen(pattern) is not None, pattern
    import pyarrow.compute as pc

    values = [s for s in SCREEN_STRINGS if s is not None]
    arr = pa.array(values, pa.string())
    by_bytes = candidate_rows(arr.slice(1), byte_table(pattern))  # a sliced array: offsets honoured
    by_re2 = pc.match_substring_regex(arr, re2_screen(pattern)).to_numpy(zero_copy_only=False)
    for i, s in enumerate(values):
        if re.search(pattern, s):
            assert by_re2[i], (pattern, s)
            assert i == 0 or by_bytes[i - 1], (pattern, s)


@pytest.mark.parametrize("pattern", ["", "x*", ".*Full.*Time", "(?i)a", "[^a]", "\\w", "(?=a)b", "(a)?\\1",
                                     "a?", "\\S", "(?x) a"])
def test_screen_gives_up_where_it_cannot_be_exact(pattern):
    assert first_chars(pattern) is None


def test_screen_on_large_string_and_nulls():
    arr = pa.array(["ab", None, "a b", "", "a\u00a0b"], pa.large_string())
    assert list(candidate_rows(arr, byte_table("\\s"))) == [False, False, True, False, True]


@pytest.mark.parametrize(("pattern", "single"), [("\\s++", True), ("\\s", True), ("[@#]+", True), ("a", True),
                                                 ("\\d*", False), ("ab", False), ("^a", False), ("a|b", True), ("ab|c", False),
                                                 ("(a)", False), (".", False)])
def test_single_class_patterns_are_recognised(pattern, single):
    from quality_rules.regex_screen import is_single_class

    assert is_single_class(pattern) is single


@pytest.mark.parametrize("pattern", ["\\s++", "[@#]+", "\\d", "x"])
def test_single_class_shortcut_equals_python_search(pattern):
    values = [s for s in SCREEN_STRINGS if s is not None] + ["a@b", "#", "x", "a1", "a\u0661", None]
    rs = _ruleset("s", "expect_column_values_to_not_match_regex", {"regex": pattern})
    flags = BatchFlagger(rs.checks).flags(pa.record_batch({"s": pa.array(values, pa.string())}))
    assert list(flags[rs.checks[0].rule_id]) == [v is not None and re.search(pattern, v) is not None for v in values]
