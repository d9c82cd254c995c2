"""Row flags with vectorised pandas/numpy operations (no per-row Python except regex matching,
which pandas' object ``str.contains`` does in C-level loops over Python ``re``, exactly as GE).

Per-value work is done once per *distinct* value (``pd.factorize``) and broadcast back, so a
low-cardinality column costs almost nothing regardless of row count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

import numpy as np
import pandas as pd

from quality_rules.model import Check, RuleSet
from quality_rules.semantics import NATIVE, length_bounds


def _on_distinct(s: pd.Series, fn: Callable[[pd.Series], np.ndarray]) -> np.ndarray:
    """failed[i] = fn(distinct non-null values)[code of row i]; nulls never fail (out of domain)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    if len(uniques) == 0:
        return np.zeros(len(s), dtype=bool)
    bad = np.asarray(fn(pd.Series(uniques, dtype=object)), dtype=bool)
    out = np.zeros(len(s), dtype=bool)
    valid = codes >= 0
    out[valid] = bad[codes[valid]]
    return out


def _contains(u: pd.Series, regex: str) -> np.ndarray:
    return u.astype(str).str.contains(regex, regex=True).to_numpy(dtype=bool)


def _between(x: pd.Series | np.ndarray, lo, hi, smin: bool, smax: bool) -> np.ndarray:
    ok = np.ones(len(x), dtype=bool)
    if lo is not None:
        ok &= np.asarray((x > lo) if smin else (x >= lo), dtype=bool)
    if hi is not None:
        ok &= np.asarray((x < hi) if smax else (x <= hi), dtype=bool)
    return ok


def strptime_ok(fmt: str) -> Callable[[object], bool]:
    """GE-pandas' strftime check for one value: ``datetime.strptime`` succeeds."""

    def ok(v: object) -> bool:
        try:
            datetime.strptime(v, fmt)  # type: ignore[arg-type]
            return True
        except ValueError:
            return False

    return ok


def _strptime_ok(fmt: str) -> Callable[[pd.Series], np.ndarray]:
    ok = strptime_ok(fmt)
    return lambda u: ~u.map(ok).to_numpy(dtype=bool)


def flag_series(s: pd.Series, check: Check) -> np.ndarray | None:
    """Boolean 'row failed' array for one check, or None when GE must identify the rows."""
    name, kw = check.name, check.rule.row_kwargs
    if name not in NATIVE:
        return None
    null = s.isna().to_numpy(dtype=bool)
    if name == "expect_column_values_to_not_be_null":
        return null
    if name == "expect_column_values_to_be_null":
        return ~null
    if name == "expect_column_values_to_be_in_set":
        vs = kw.get("value_set")
        if vs is None:
            return np.zeros(len(s), dtype=bool)
        if pd.api.types.is_datetime64_any_dtype(s):
            return None
        return _on_distinct(s, lambda u: ~u.isin(list(vs)).to_numpy(dtype=bool))
    if name == "expect_column_values_to_not_be_in_set":
        vs = kw.get("value_set")
        if vs is None:
            return np.zeros(len(s), dtype=bool)
        if pd.api.types.is_datetime64_any_dtype(s):
            return None
        return _on_distinct(s, lambda u: u.isin(list(vs)).to_numpy(dtype=bool))
    if name == "expect_column_values_to_match_regex":
        return _on_distinct(s, lambda u: ~_contains(u, kw["regex"]))
    if name == "expect_column_values_to_not_match_regex":
        return _on_distinct(s, lambda u: _contains(u, kw["regex"]))
    if name == "expect_column_values_to_match_regex_list":
        regexes, match_on = list(kw["regex_list"]), kw.get("match_on", "any")

        def bad(u: pd.Series) -> np.ndarray:
            m = np.stack([_contains(u, r) for r in regexes])
            return ~(m.any(axis=0) if match_on == "any" else m.all(axis=0))

        return _on_distinct(s, bad)
    if name == "expect_column_values_to_not_match_regex_list":
        regexes = list(kw["regex_list"])
        return _on_distinct(s, lambda u: np.stack([_contains(u, r) for r in regexes]).any(axis=0))
    if name == "expect_column_value_lengths_to_be_between":
        lo, hi, smin, smax = length_bounds(kw)
        return _on_distinct(s, lambda u: ~_between(u.astype(str).str.len().to_numpy(), lo, hi, smin, smax))
    if name == "expect_column_value_lengths_to_equal":
        return _on_distinct(s, lambda u: u.astype(str).str.len().to_numpy() != kw["value"])
    if name == "expect_column_values_to_be_between":
        lo, hi, smin, smax = length_bounds(kw)
        numeric_bounds = all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in (lo, hi) if b is not None)
        if s.dtype not in (np.dtype("int64"), np.dtype("float64")) or not numeric_bounds:
            return None  # GE's per-value comparison rules for mixed types: let GE decide
        return ~null & ~_between(s.to_numpy(), lo, hi, smin, smax)
    if name == "expect_column_values_to_be_unique":
        return ~null & s.duplicated(keep=False).to_numpy(dtype=bool)
    if name == "expect_column_values_to_match_strftime_format":
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            return None
        return _on_distinct(s, _strptime_ok(kw["strftime_format"]))
    return None


def compute_flags(df: pd.DataFrame, ruleset: RuleSet, *, row_id_column: str | None = None) -> dict[str, np.ndarray]:
    """{rule_id: bool array} for every check of ``ruleset``, in rule order.

    Unsupported expectations are handed, in one batch, to Great Expectations itself (pandas,
    result_format COMPLETE with a row-id column) so no rule is ever skipped.
    """
    return compute_check_flags(df, ruleset.checks)


def compute_check_flags(df: pd.DataFrame, checks: list[Check]) -> dict[str, np.ndarray]:
    """``compute_flags`` for a list of checks (the Arrow engine's whole-column checks)."""
    from quality_rules.exceptions import RuleDefinitionError

    flags: dict[str, np.ndarray] = {}
    fallback: list[Check] = []
    for check in checks:
        if check.column not in df.columns:
            raise RuleDefinitionError(
                f"rule {check.rule_id!r} names column {check.column!r}, which the data does not have "
                f"(columns: {[c for c in df.columns]}); fix column_name in rule item {check.item_id!r}"
            )
        f = flag_series(df[check.column], check)
        if f is None:
            fallback.append(check)
        flags[check.rule_id] = f  # type: ignore[assignment]
    if fallback:
        from quality_rules.oracle import ge_unexpected_positions

        positions = ge_unexpected_positions(df, fallback)
        for check in fallback:
            f = np.zeros(len(df), dtype=bool)
            f[positions[check.rule_id]] = True
            flags[check.rule_id] = f
    return flags


__all__ = ["compute_check_flags", "compute_flags", "flag_series", "strptime_ok"]
