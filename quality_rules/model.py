"""The rules data model (the reference solution's, unchanged) and the versioned ``RuleSet``.

A rule item, exactly as the reference solution stores it::

    {"id": "job_reqs-organization", "dataset_name": "job_reqs", "column_name": "organization",
     "rules": [{"name": "expect_column_values_to_not_be_null",
                "kwargs": {"result_format": "SUMMARY"},
                "reject_msg": "REJECT:null_values_found_in_organization"}]}

Each rule may also carry ``severity`` (``reject`` default, ``warn``, ``fail``) and, for ``fail``,
``max_failure_rate`` (fraction of rows, 0..1; the run fails when the rate is above it).
``name`` must be a Great Expectations column-map expectation; ``kwargs`` are checked by building
the expectation itself, so GE's own validation applies.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from quality_rules.exceptions import RuleDefinitionError

Severity = Literal["reject", "warn", "fail"]

# Keys that describe how GE reports, not which rows fail: accepted but ignored by the row engines.
REPORTING_KWARGS = frozenset({"result_format", "catch_exceptions", "meta", "include_config", "notes"})


@lru_cache(maxsize=1)
def _registry() -> tuple[Any, Any]:
    # Importing GE is slow (~3 s); only pay for it when a rule is validated.
    from great_expectations.expectations.expectation import ColumnMapExpectation
    from great_expectations.expectations.registry import (
        get_expectation_impl,
        list_registered_expectation_implementations,
    )

    return get_expectation_impl, (ColumnMapExpectation, list_registered_expectation_implementations)


def expectation_class(name: str) -> type:
    """GE's class for a snake_case expectation name; a clear error (with suggestions) otherwise."""
    get_impl, (column_map_base, list_names) = _registry()
    try:
        cls = get_impl(name)
    except Exception:
        close = difflib.get_close_matches(name, list_names(), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise RuleDefinitionError(
            f"unknown expectation name {name!r}: it is not in Great Expectations' registry.{hint} "
            "Use a snake_case GE 1.x expectation name such as 'expect_column_values_to_not_be_null'."
        ) from None
    if not issubclass(cls, column_map_base):
        raise RuleDefinitionError(
            f"expectation {name!r} is not a column-map expectation, so it cannot flag individual rows. "
            "Use a row-level expectation (expect_column_values_*, expect_column_value_lengths_*)."
        )
    return cls


# kwargs GE 1.24 accepts without checking but which fail (or silently misbehave) at validation
_REGEX_KWARGS = ("regex",)
_REGEX_LIST_KWARGS = ("regex_list",)
_STR_KWARGS = ("like_pattern",)
_STR_LIST_KWARGS = ("like_pattern_list",)
_LENGTH_RULES = frozenset({"expect_column_value_lengths_to_be_between", "expect_column_value_lengths_to_equal"})


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_regex(name: str, key: str, pattern: Any) -> None:
    if not isinstance(pattern, str):
        raise RuleDefinitionError(
            f"{name}: {key} must be a string, got {pattern!r} ({type(pattern).__name__}); quote the pattern")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise RuleDefinitionError(
            f"{name}: {key} {pattern!r} is not a valid regular expression ({exc}); fix the pattern "
            "(Python re syntax, as Great Expectations on pandas uses)") from None


def check_kwargs_early(name: str, kwargs: dict[str, Any]) -> None:
    """Refuse, at ``rules put`` time, kwargs that GE accepts but that could only fail mid-run."""
    for key in _REGEX_KWARGS:
        if key in kwargs:
            _check_regex(name, key, kwargs[key])
    for key in _REGEX_LIST_KWARGS:
        if isinstance(kwargs.get(key), list):
            for i, pattern in enumerate(kwargs[key]):
                _check_regex(name, f"{key}[{i}]", pattern)
    for key in _STR_KWARGS:
        if key in kwargs and not isinstance(kwargs[key], str):
            raise RuleDefinitionError(f"{name}: {key} must be a string, got {kwargs[key]!r}; quote it")
    for key in _STR_LIST_KWARGS:
        if key in kwargs and not (isinstance(kwargs[key], list) and all(isinstance(x, str) for x in kwargs[key])):
            raise RuleDefinitionError(f"{name}: {key} must be a list of strings, got {kwargs[key]!r}")
    if name in _LENGTH_RULES:
        for key in ("min_value", "max_value", "value"):
            v = kwargs.get(key)
            if v is not None and not _is_int(v):
                raise RuleDefinitionError(
                    f"{name}: {key} must be a whole number of characters, got {v!r} ({type(v).__name__}); "
                    f"write it as an integer, e.g. {key}: 3")
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if (isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and not isinstance(lo, bool)
            and not isinstance(hi, bool) and lo > hi):
        raise RuleDefinitionError(
            f"{name}: min_value {lo!r} is greater than max_value {hi!r}, so every value would fail; swap them")


def build_expectation(name: str, column: str, kwargs: dict[str, Any]) -> Any:
    """Construct the GE expectation object (GE validates the kwargs; we check what it does not)."""
    cls = expectation_class(name)
    check_kwargs_early(name, kwargs)
    try:
        return cls(column=column, **kwargs)
    except Exception as exc:  # GE raises pydantic (v1 compat) ValidationError or TypeError
        detail = str(exc).replace("\n", "; ")
        raise RuleDefinitionError(
            f"invalid kwargs {kwargs!r} for {name!r} on column {column!r}: {detail}. "
            f"Fix the rule's kwargs to match {cls.__name__}'s arguments (column is implied by column_name)."
        ) from None


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    reject_msg: str
    severity: Severity = "reject"
    max_failure_rate: float | None = Field(None, ge=0.0, le=1.0)

    @field_validator("reject_msg")
    @classmethod
    def _msg(cls, v: str) -> str:
        if not v or "|" in v:
            raise ValueError(
                f"reject_msg {v!r} must be non-empty and must not contain '|' (it joins messages in comments)"
            )
        return v

    @model_validator(mode="after")
    def _fail_threshold(self) -> "Rule":
        if self.max_failure_rate is not None and self.severity != "fail":
            raise ValueError(
                f"max_failure_rate={self.max_failure_rate} only applies to severity 'fail' "
                f"(this rule has severity {self.severity!r}); drop it or set severity='fail'"
            )
        return self

    @property
    def row_kwargs(self) -> dict[str, Any]:
        """kwargs that decide which rows are unexpected (reporting-only keys removed)."""
        return {k: v for k, v in self.kwargs.items() if k not in REPORTING_KWARGS}

    def to_item(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kwargs": dict(self.kwargs), "reject_msg": self.reject_msg}
        if self.severity != "reject":
            out["severity"] = self.severity
        if self.max_failure_rate is not None:
            out["max_failure_rate"] = self.max_failure_rate
        return out


class RuleItem(BaseModel):
    """One stored item: every rule of one column of one dataset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    dataset_name: str = Field(min_length=1)
    column_name: str = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if v.startswith("__"):
            raise ValueError(f"rule item id {v!r} starts with '__', which is reserved for rule-set snapshots")
        return v

    @model_validator(mode="after")
    def _check_expectations(self) -> "RuleItem":
        for rule in self.rules:
            if "column" in rule.kwargs and rule.kwargs["column"] != self.column_name:
                raise RuleDefinitionError(
                    f"rule {rule.name!r} in item {self.id!r} has kwargs column={rule.kwargs['column']!r} "
                    f"but column_name={self.column_name!r}; remove 'column' from kwargs (it is implied)"
                )
            kwargs = {k: v for k, v in rule.kwargs.items() if k != "column"}
            build_expectation(rule.name, self.column_name, kwargs)
        return self

    def to_item(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dataset_name": self.dataset_name,
            "column_name": self.column_name,
            "rules": [r.to_item() for r in self.rules],
        }


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()))
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_items(items: list[dict[str, Any] | RuleItem]) -> list[RuleItem]:
    """Validate raw items; every problem becomes a ``RuleDefinitionError`` naming the item."""
    out = []
    for raw in items:
        if isinstance(raw, RuleItem):
            out.append(raw)
            continue
        try:
            out.append(RuleItem.model_validate(raw))
        except ValidationError as exc:
            ident = raw.get("id") if isinstance(raw, dict) else raw
            raise RuleDefinitionError(f"rule item {ident!r} is invalid: {_describe(exc)}") from None
    return out


@dataclass(frozen=True)
class Check:
    """One (column, rule) pair of a rule set, in evaluation order."""

    rule_id: str  # "<column>:<name>" (suffixed "#2", "#3" when repeated on the same column)
    item_id: str
    column: str
    rule: Rule

    @property
    def name(self) -> str:
        return self.rule.name


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class RuleSet(BaseModel):
    """The rules of one dataset at one version. Order matters: items in order, then rules in order."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    version: int = Field(0, ge=0)
    items: list[RuleItem] = Field(default_factory=list)

    @model_validator(mode="after")
    def _same_dataset(self) -> "RuleSet":
        ids = [i.id for i in self.items]
        if len(ids) != len(set(ids)):
            raise RuleDefinitionError(f"duplicate rule item ids in rule set for {self.dataset!r}: {ids}")
        for item in self.items:
            if item.dataset_name != self.dataset:
                raise RuleDefinitionError(
                    f"item {item.id!r} has dataset_name={item.dataset_name!r} but the rule set is for "
                    f"{self.dataset!r}; store it under its own dataset"
                )
        return self

    @classmethod
    def from_items(cls, dataset: str, items: list[dict[str, Any] | RuleItem], version: int = 0) -> "RuleSet":
        parsed = parse_items(items)
        try:
            return cls(dataset=dataset, version=version, items=parsed)
        except ValidationError as exc:
            raise RuleDefinitionError(_describe(exc)) from None

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON of the items (order included); independent of version."""
        return hashlib.sha256(canonical_json([i.to_item() for i in self.items]).encode()).hexdigest()

    @property
    def checks(self) -> list[Check]:
        out: list[Check] = []
        seen: dict[str, int] = {}
        for item in self.items:
            for rule in item.rules:
                base = f"{item.column_name}:{rule.name}"
                seen[base] = seen.get(base, 0) + 1
                rid = base if seen[base] == 1 else f"{base}#{seen[base]}"
                out.append(Check(rule_id=rid, item_id=item.id, column=item.column_name, rule=rule))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "version": self.version,
            "digest": self.digest,
            "items": [i.to_item() for i in self.items],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RuleSet":
        return cls.from_items(data["dataset"], data.get("items", []), int(data.get("version", 0)))

    @classmethod
    def from_json_file(cls, path: str, dataset: str | None = None) -> "RuleSet":
        """Load a JSON list of items (like ``reference_rules.json``) or a ``to_dict()`` document."""
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if isinstance(data, dict):
            return cls.from_dict(data)
        ds = dataset or (data[0]["dataset_name"] if data else "")
        return cls.from_items(ds, data)
