"""Errors raised by the quality-rules area. Every message names the offending value and the fix."""

from __future__ import annotations


class QualityRulesError(Exception):
    """Base error for rule definitions, rule storage and validation runs."""


class RuleDefinitionError(QualityRulesError, ValueError):
    """A rule item is malformed: unknown expectation, bad kwargs, bad severity..."""


class RuleSetNotFoundError(QualityRulesError, LookupError):
    """No rules (or no such version) stored for a dataset."""


class SourceReadError(QualityRulesError):
    """An input object could not be read in the declared format/compression."""


class ValidationFailedError(QualityRulesError):
    """A ``fail``-severity rule exceeded its ``max_failure_rate``; no output was written."""

    def __init__(self, message: str, *, failures: list[dict] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []


class RuleEvaluationError(ValidationFailedError):
    """Great Expectations raised while evaluating a rule; ``errors`` maps rule id to GE's message."""

    def __init__(self, message: str, *, errors: dict[str, str]) -> None:
        super().__init__(message, failures=[{"rule_id": k, "error": v} for k, v in errors.items()])
        self.errors = errors


class OracleMismatchError(QualityRulesError):
    """Our row flags disagree with Great Expectations' own unexpected counts."""


class SparkUnavailableError(QualityRulesError):
    """Spark cannot start on this machine (no Java); the pandas engine still works."""
