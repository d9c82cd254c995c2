"""Row flags on Arrow record batches: the in-process engine (no pandas objects on the hot path).

Each check gets one of two strategies, decided once per run from the column's Arrow type:

* **batch** — evaluated per record batch, so memory stays bounded by the batch size:
  null checks (any type); on text columns, sets (``pc.is_in``), lengths (``pc.utf8_length``,
  code points like ``str.len()``), and the rules whose meaning is Python's (regexes with ``re``
  search, as GE-pandas' ``str.contains`` does; ``strptime``), which run once per *distinct*
  value of the batch (``dictionary_encode``) and are broadcast back; ``..._to_be_between`` on
  int64/float64 columns with numeric bounds.
* **column** — needs the whole column (uniqueness; GE's own row identification for expectations
  we do not implement; Python semantics on non-text columns, where GE sees pandas' conversion
  of the *whole* column, e.g. int64 with a null anywhere becomes float64 and ``str`` gives
  ``"1.0"``). These read only their columns, once, and reuse ``pandas_engine`` so the answer is
  GE-pandas' by construction.

Semantics are those of ``pandas_engine`` (GE's pandas metrics): nulls (and float NaN) are outside
the domain of every rule except the null checks; ``mostly`` never changes row flags.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quality_rules.model import Check
from quality_rules.semantics import NATIVE, length_bounds

Strategy = Literal["batch", "column"]

_PY_RULES = frozenset({
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_values_to_match_regex_list",
    "expect_column_values_to_not_match_regex_list",
    "expect_column_values_to_match_strftime_format",
})
_TEXT_RULES = _PY_RULES | {
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_value_lengths_to_be_between",
    "expect_column_value_lengths_to_equal",
}
_NULL_RULES = frozenset({"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"})


def is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def strategy(check: Check, column_type: pa.DataType) -> Strategy:
    """'batch' when the check can be evaluated batch by batch with GE-pandas' answer; else 'column'."""
    name = check.name
    if name in _NULL_RULES:
        return "batch"
    if name not in NATIVE:
        return "column"
    if name in _TEXT_RULES and is_text(column_type):
        return "batch"
    if name == "expect_column_values_to_be_between":
        lo, hi, _, _ = length_bounds(check.rule.row_kwargs)
        numeric = all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in (lo, hi) if b is not None)
        if numeric and (pa.types.is_int64(column_type) or pa.types.is_float64(column_type)):
            return "batch"
    return "column"


# ------------------------------------------------------------------------------- per value (Python)
def _searcher(regex: str) -> Callable[[list[str]], np.ndarray]:
    search = re.compile(regex).search  # what pandas' object str.contains(regex) calls per value

    def matches(values: list[str]) -> np.ndarray:
        return np.fromiter((m is not None for m in map(search, values)), dtype=bool, count=len(values))

    return matches


def _strptime_bad(fmt: str) -> Callable[[list[str]], np.ndarray]:
    from quality_rules.pandas_engine import strptime_ok

    ok = strptime_ok(fmt)
    return lambda values: np.fromiter((not ok(v) for v in values), dtype=bool, count=len(values))


def _value_fn(check: Check) -> Callable[[list[str]], np.ndarray]:
    """'failed' for a list of distinct non-null values."""
    name, kw = check.name, check.rule.row_kwargs
    if name == "expect_column_values_to_match_regex":
        m = _searcher(kw["regex"])
        return lambda v: ~m(v)
    if name == "expect_column_values_to_not_match_regex":
        return _searcher(kw["regex"])
    if name in ("expect_column_values_to_match_regex_list", "expect_column_values_to_not_match_regex_list"):
        searchers = [_searcher(r) for r in kw["regex_list"]]
        all_of = name.endswith("to_match_regex_list") and kw.get("match_on", "any") == "all"

        def bad(values: list[str]) -> np.ndarray:
            hits = np.stack([s(values) for s in searchers])
            if name.endswith("not_match_regex_list"):
                return hits.any(axis=0)
            return ~(hits.all(axis=0) if all_of else hits.any(axis=0))

        return bad
    if name == "expect_column_values_to_match_strftime_format":
        return _strptime_bad(kw["strftime_format"])
    raise AssertionError(f"{name} is not a per-value rule")


def _on_distinct(arr: pa.Array, fn: Callable[[list[str]], np.ndarray]) -> tuple[np.ndarray, float]:
    """fn over the distinct non-null values of ``arr``, broadcast back to rows; nulls never fail.

    Also returns the distinct ratio, so callers can stop paying for hashing on a column whose
    values are (nearly) all distinct, such as an id.
    """
    enc = pc.dictionary_encode(arr)
    values = enc.dictionary.to_pylist()
    if not values:
        return np.zeros(len(arr), dtype=bool), 0.0
    bad = np.append(np.asarray(fn(values), dtype=bool), False)  # index -1 (null) -> False
    idx = pc.fill_null(enc.indices, -1).to_numpy()
    return bad[idx], len(values) / max(1, len(arr) - arr.null_count)


def _on_each(arr: pa.Array, fn: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """fn over every non-null value (for a column whose values are nearly all distinct anyway)."""
    if arr.null_count == 0:
        return np.asarray(fn(arr.to_pylist()), dtype=bool)
    out = np.zeros(len(arr), dtype=bool)
    out[_valid(arr)] = fn(pc.drop_null(arr).to_pylist())
    return out


# ------------------------------------------------------------------------------- vectorised
def _valid(arr: pa.Array) -> np.ndarray:
    return pc.invert(pc.is_null(arr, nan_is_null=True)).to_numpy(zero_copy_only=False)


def _np_between(x: np.ndarray, lo, hi, smin: bool, smax: bool) -> np.ndarray:
    ok = np.ones(len(x), dtype=bool)
    if lo is not None:
        ok &= (x > lo) if smin else (x >= lo)
    if hi is not None:
        ok &= (x < hi) if smax else (x <= hi)
    return ok


def flag_array(arr: pa.Array, check: Check) -> np.ndarray:
    """Boolean 'row failed' for one batch-strategy check on one batch's column."""
    name, kw = check.name, check.rule.row_kwargs
    n = len(arr)
    if name == "expect_column_values_to_not_be_null":
        return pc.is_null(arr, nan_is_null=True).to_numpy(zero_copy_only=False)
    if name == "expect_column_values_to_be_null":
        return _valid(arr)
    if pa.types.is_null(arr.type) or arr.null_count == n:
        return np.zeros(n, dtype=bool)  # column absent from this source (or all null): outside every domain
    if name in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"):
        vs = kw.get("value_set")
        if vs is None:
            return np.zeros(n, dtype=bool)
        # a str never equals a non-str in pandas' isin (no coercion), so only str members matter
        member = pc.is_in(arr, value_set=pa.array([v for v in vs if isinstance(v, str)], pa.string()))
        member = pc.fill_null(member, False).to_numpy(zero_copy_only=False)
        return _valid(arr) & (~member if name == "expect_column_values_to_be_in_set" else member)
    if name in ("expect_column_value_lengths_to_be_between", "expect_column_value_lengths_to_equal"):
        lengths = pc.fill_null(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False)
        if name.endswith("to_equal"):
            bad = lengths != kw["value"]
        else:
            bad = ~_np_between(lengths, *length_bounds(kw))
        return _valid(arr) & bad
    if name == "expect_column_values_to_be_between":
        x = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            return _valid(arr) & ~_np_between(x, *length_bounds(kw))
    if name in _PY_RULES:
        return _on_distinct(arr, _value_fn(check))[0]
    raise AssertionError(f"{name} has no batch strategy")


class _Matcher:
    """Which non-null values Python ``re.search(regex)`` matches, per batch (nulls: False).

    Strings that cannot match are ruled out in C++ first (``regex_screen``: RE2 on the
    pattern's first characters); the rest are searched with Python ``re``, once per distinct
    value, or value by value once a batch shows the column to be nearly all distinct (an id:
    hashing buys nothing there). The answer is Python's either way.
    """

    DISTINCT_RATIO_SKIP = 0.7

    def __init__(self, regex: str) -> None:
        from quality_rules.regex_screen import byte_table, is_single_class, re2_screen

        self._search = _searcher(regex)
        self._table = byte_table(regex)
        self._screen = re2_screen(regex)
        self._single_class = is_single_class(regex)
        self._dedupe = True

    def _python(self, arr: pa.Array) -> np.ndarray:
        if self._dedupe:
            hits, ratio = _on_distinct(arr, self._search)
            self._dedupe = ratio < self.DISTINCT_RATIO_SKIP
            return hits
        return _on_each(arr, self._search)

    def _maybe(self, arr: pa.Array) -> np.ndarray:
        from quality_rules.regex_screen import candidate_rows

        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return candidate_rows(arr, self._table)
        return pc.fill_null(pc.match_substring_regex(arr, self._screen), False).to_numpy(zero_copy_only=False)

    def hits(self, arr: pa.Array) -> np.ndarray:
        if self._screen is None:
            return self._python(arr)
        maybe = self._maybe(arr)
        out = np.zeros(len(arr), dtype=bool)
        if self._single_class and maybe.any():
            # one character class: on an ASCII-only string the byte hit is the match itself
            ascii_hit = maybe & pc.fill_null(pc.string_is_ascii(arr), False).to_numpy(zero_copy_only=False)
            out[ascii_hit] = True
            maybe &= ~ascii_hit
        if maybe.any():
            out[maybe] = self._python(arr.filter(pa.array(maybe)))
        return out


class BatchFlagger:
    """Flags batch-strategy checks batch after batch, keeping per-regex state across batches."""

    def __init__(self, checks: list[Check]) -> None:
        self.checks = checks
        self._matchers: dict[str, list[_Matcher]] = {}
        for c in checks:
            kw = c.rule.row_kwargs
            if c.name in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"):
                self._matchers[c.rule_id] = [_Matcher(kw["regex"])]
            elif c.name in ("expect_column_values_to_match_regex_list",
                            "expect_column_values_to_not_match_regex_list"):
                self._matchers[c.rule_id] = [_Matcher(r) for r in kw["regex_list"]]

    def _regex_flags(self, arr: pa.Array, check: Check) -> np.ndarray:
        hits = [m.hits(arr) for m in self._matchers[check.rule_id]]
        name = check.name
        if name.endswith("not_match_regex") or name.endswith("not_match_regex_list"):
            return np.logical_or.reduce(hits)
        all_of = name.endswith("regex_list") and check.rule.row_kwargs.get("match_on", "any") == "all"
        ok = np.logical_and.reduce(hits) if all_of else np.logical_or.reduce(hits)
        return _valid(arr) & ~ok

    def flags(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """{rule_id: failed} for this batch; a column the batch lacks is all null."""
        names = set(batch.schema.names)
        out: dict[str, np.ndarray] = {}
        for check in self.checks:
            arr = batch.column(check.column) if check.column in names else pa.nulls(batch.num_rows)
            if check.rule_id in self._matchers and not (pa.types.is_null(arr.type) or arr.null_count == len(arr)):
                out[check.rule_id] = self._regex_flags(arr, check)
            else:
                out[check.rule_id] = flag_array(arr, check)
        return out


def batch_flags(batch: pa.RecordBatch, checks: list[Check]) -> dict[str, np.ndarray]:
    """{rule_id: failed} for the batch-strategy ``checks`` of one batch (no state kept)."""
    return BatchFlagger(checks).flags(batch)


def reject_comments(flags: list[np.ndarray], msgs: list[str]) -> tuple[pa.Array, pa.Array]:
    """(comments, reject_reasons) for rows whose flag rows are given (each row failed >= 1 rule).

    Rows are grouped by their combination of failed rules (a bit mask): the strings are built
    once per combination and gathered with ``take``.
    """
    n = len(flags[0]) if flags else 0
    if len(flags) <= 62:
        code = np.zeros(n, dtype=np.int64)
        for i, f in enumerate(flags):
            code |= f.astype(np.int64) << i
        combos, inverse = np.unique(code, return_inverse=True)
        table = [[m for i, m in enumerate(msgs) if (int(c) >> i) & 1] for c in combos]
    else:
        combos, inverse = np.unique(np.column_stack(flags), axis=0, return_inverse=True)
        table = [[m for m, f in zip(msgs, row) if f] for row in combos]
    idx = pa.array(inverse.reshape(-1))
    reasons = pa.array(table, pa.list_(pa.string())).take(idx)
    comments = pa.array(["|".join(t) for t in table], pa.string()).take(idx)
    return comments, reasons


__all__ = ["BatchFlagger", "batch_flags", "flag_array", "is_text", "reject_comments", "strategy"]
