"""What a failed run records: which step failed and the human part of the error."""

from __future__ import annotations

import json

from pipeline.tasks import cause_message, failed_step


def test_a_lambda_error_cause_gives_its_type_and_message():
    cause = json.dumps({"errorMessage": "rules name columns ['x'] which the data does not have",
                        "errorType": "RuleDefinitionError", "stackTrace": ["..."]})
    assert cause_message(cause) == "RuleDefinitionError: rules name columns ['x'] which the data does not have"


def test_a_glue_job_run_cause_gives_its_error_message():
    cause = json.dumps({"JobRunState": "FAILED", "ErrorMessage": "validation failed, no output written"})
    assert cause_message(cause) == "validation failed, no output written"


def test_a_plain_cause_is_kept():
    assert cause_message("Task timed out") == "Task timed out"
    assert cause_message(None) == "unknown error"


def test_the_failed_step_is_the_last_one_in_error_or_unfinished():
    run = {"steps": {"crawl": {"outcome": "ok", "started_at": "1"}, "plan": {"outcome": "ok", "started_at": "2"},
                     "validate": {"outcome": "error", "started_at": "3"}}}
    assert failed_step(run, {"crawl": {}, "plan": {}}) == "validate"


def test_a_glue_job_failure_is_attributed_to_validate_from_the_state():
    run = {"steps": {"crawl": {"outcome": "ok"}, "plan": {"outcome": "ok"}}}  # the job records nothing itself
    assert failed_step(run, {"crawl": {}, "plan": {"engine": "spark"}}) == "validate"
