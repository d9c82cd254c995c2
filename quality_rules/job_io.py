"""The contract between the plan step, the validation job (Glue or in-process) and the publish step.

The plan names the object versions to validate; the job writes the split for its run to run-scoped
folders of the lake bucket (invisible until publish points the Glue partitions there) and an outcome
JSON at a fixed key that publish reads, since Step Functions' ``glue:startJobRun.sync`` result is
the Glue job run, not our outcome::

    accepted/dataset=<ds>/ingest_date=<d>/run=<run_id>/<file-id>.parquet
    rejected/dataset=<ds>/ingest_date=<d>/run=<run_id>/<file-id>.parquet
    reports/dataset=<ds>/run_id=<run_id>/validation_result.json
    _runs/dataset=<ds>/run_id=<run_id>/outcome.json          <- JobOutcome
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from quality_rules.exceptions import QualityRulesError


def run_prefix(dataset: str, run_id: str) -> str:
    return f"_runs/dataset={dataset}/run_id={run_id}/"


def outcome_key(dataset: str, run_id: str) -> str:
    return run_prefix(dataset, run_id) + "outcome.json"


@dataclass(frozen=True)
class PlannedSource:
    bucket: str
    key: str
    format: str
    compression: str
    ingest_date: str
    version_id: str | None = None
    size: int = 0

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class JobPlan:
    """What the plan step hands the validation step (``$.plan`` in the state machine)."""

    dataset: str
    sources: list[PlannedSource]
    action: Literal["validate", "skip"] = "validate"
    engine: str = "spark"
    dates: list[str] = field(default_factory=list)  # partitions (ingest dates) re-validated
    dropped: list[str] = field(default_factory=list)  # partitions whose files are all gone
    rules_version: int | None = None  # pinned by the plan, so the job uses exactly the rules planned with

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> "JobPlan":
        d = json.loads(text) if isinstance(text, str) else text
        try:
            sources = [PlannedSource(**{k: s[k] for k in PlannedSource.__dataclass_fields__ if k in s})
                       for s in d.get("sources", [])]
            return cls(dataset=d["dataset"], sources=sources, action=d.get("action", "validate"),
                       engine=d.get("engine", "spark"), dates=list(d.get("dates", [])),
                       dropped=list(d.get("dropped", [])), rules_version=d.get("rules_version"))
        except (KeyError, TypeError) as exc:
            raise QualityRulesError(f"plan is malformed ({exc!r}): expected {{'dataset', 'sources': [{{'bucket', "
                                    "'key', 'format', 'compression', 'ingest_date'}}]}}; re-run the plan step") from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JobOutcome:
    """Written by the job at ``outcome_key``; ``outcome`` is ``ValidationOutcome.to_dict()``, its
    ``files`` relative to the lake bucket root."""

    dataset: str
    run_id: str
    status: Literal["succeeded", "failed"]
    outcome: dict[str, Any] | None = None
    error: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> "JobOutcome":
        d = json.loads(text)
        return cls(**{k: d.get(k) for k in ("dataset", "run_id", "status", "outcome", "error")},
                   failures=d.get("failures") or [])


def read_outcome(s3: Any, lake_bucket: str, dataset: str, run_id: str) -> JobOutcome:
    """What publish calls (``s3`` is an injected boto3 client): the run's outcome, or a clear error."""
    key = outcome_key(dataset, run_id)
    try:
        body = s3.get_object(Bucket=lake_bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey as exc:
        raise QualityRulesError(f"no outcome at s3://{lake_bucket}/{key}: the validation job for run {run_id!r} "
                                "did not finish (see its Glue job run or Lambda log)") from exc
    return JobOutcome.from_json(body)
