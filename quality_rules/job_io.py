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

from quality_rules.exceptions import QualityRulesError, ValidationFailedError


def run_prefix(dataset: str, run_id: str) -> str:
    return f"_runs/dataset={dataset}/run_id={run_id}/"


def plan_key(dataset: str, run_id: str) -> str:
    """Where the plan step keeps the full plan when the state carries only its summary."""
    return run_prefix(dataset, run_id) + "plan.json"


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
    etag: str | None = None  # with key and version, what the partition's fingerprint is made of
    partitions: list[list[str]] = field(default_factory=list)  # the source's Hive [key, value] folders, kept

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
    rules_digest: str | None = None
    # Unchanged objects of the planned partitions, validated by an earlier run: not read by the job,
    # their split files are copied forward by publish ({bucket, key, ingest_date, run_id, counts}).
    carried: list[dict[str, Any]] = field(default_factory=list)
    # The crawler's Glue types of the raw table ({column: type}): accepted CSV rows are cast to them.
    column_types: dict[str, str] = field(default_factory=dict)
    # The source's Hive partition keys the split keeps (with their Glue types), after ingest_date.
    partition_keys: list[str] = field(default_factory=list)
    partition_key_types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> "JobPlan":
        d = json.loads(text) if isinstance(text, str) else text
        try:
            sources = [PlannedSource(**{k: s[k] for k in PlannedSource.__dataclass_fields__ if k in s})
                       for s in d.get("sources", [])]
            return cls(dataset=d["dataset"], sources=sources, action=d.get("action", "validate"),
                       engine=d.get("engine", "spark"), dates=list(d.get("dates", [])),
                       dropped=list(d.get("dropped", [])), rules_version=d.get("rules_version"),
                       rules_digest=d.get("rules_digest"), carried=list(d.get("carried", [])),
                       column_types=dict(d.get("column_types") or {}), partition_keys=list(d.get("partition_keys") or []),
                       partition_key_types=dict(d.get("partition_key_types") or {}))
        except (KeyError, TypeError) as exc:
            raise QualityRulesError(f"plan is malformed ({exc!r}): expected {{'dataset', 'sources': [{{'bucket', "
                                    "'key', 'format', 'compression', 'ingest_date'}}]}}; re-run the plan step") from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JobOutcome:
    """Written by the job at ``outcome_key``; ``outcome`` is ``ValidationOutcome.to_dict()``, its
    ``files`` relative to the lake bucket root (None when the plan only dropped partitions). The
    plan's context (partitions, sources, rules) travels with it, so publish needs nothing else."""

    dataset: str
    run_id: str
    status: Literal["succeeded", "failed"]
    outcome: dict[str, Any] | None = None
    error: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    rules_version: int | None = None
    rules_digest: str | None = None
    carried: list[dict[str, Any]] = field(default_factory=list)
    partition_keys: list[str] = field(default_factory=list)
    partition_key_types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_plan(cls, plan: JobPlan, run_id: str, status: Literal["succeeded", "failed"], **kw: Any) -> "JobOutcome":
        return cls(plan.dataset, run_id, status, dates=list(plan.dates), dropped=list(plan.dropped),
                   sources=[asdict(s) for s in plan.sources], rules_version=plan.rules_version,
                   rules_digest=plan.rules_digest, carried=list(plan.carried),
                   partition_keys=list(plan.partition_keys), partition_key_types=dict(plan.partition_key_types), **kw)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> "JobOutcome":
        d = json.loads(text)
        return cls(**{k: d.get(k) for k in ("dataset", "run_id", "status", "outcome", "error", "rules_version",
                                            "rules_digest")},
                   partition_key_types=d.get("partition_key_types") or {},
                   **{k: d.get(k) or [] for k in ("failures", "dates", "dropped", "sources", "carried", "partition_keys")})


def planned_sources(plan: JobPlan, stage_root: str = "") -> list[Any]:
    """The plan's objects as SourceFiles: in place on S3 (a URI, for Spark on the cluster), or staged
    copies under ``stage_root`` (``<root>/<bucket>/<key>``; a ``file://`` root gives local paths,
    which both engines read)."""
    from pathlib import Path
    from urllib.parse import urlparse

    from quality_rules.sources import SourceFile

    root = stage_root.rstrip("/")

    def where(s: PlannedSource) -> Any:
        if not root:
            return s.uri
        if root.startswith("file://") or "://" not in root:
            return Path(urlparse(root).path if "://" in root else root) / s.bucket / s.key
        return f"{root}/{s.bucket}/{s.key}"

    return [SourceFile(key=s.key, path=where(s), format=s.format, compression=s.compression,
                       ingest_date=s.ingest_date, partitions=tuple((str(k), str(v)) for k, v in s.partitions))
            for s in plan.sources]


def arrow_types(glue_types: dict[str, str]) -> dict[str, Any]:
    """{column: Glue type} as pyarrow types, for the typed accepted output."""
    from athena_queries.glue_types import glue_to_arrow

    return {name: glue_to_arrow(typ) for name, typ in glue_types.items()}


def validate_plan(plan: JobPlan, *, run_id: str, lake: str, ruleset: Any, engine: str = "spark", stage_root: str = "",
                  spark_master: str = "local[2]", with_oracle: bool = True, s3_endpoint: str | None = None,
                  clock: Any = None) -> Any:  # ValidationOutcome | None
    """Validate the planned sources into the lake's run-scoped folders and write the outcome JSON.

    The one function every validate step runs: the Glue job (Spark, ``s3://`` sources and lake, on
    the cluster) and the in-process step or a local Spark run (``pipeline.steps.validate_run``:
    staged ``file://`` copies, then uploaded). Returns the ``ValidationOutcome``; on a failed validation the
    outcome JSON says ``failed`` with the reason, and the error is raised.
    """
    from quality_rules.runner import run_validation
    from quality_rules.storage import Store

    store = Store.at(lake, s3_endpoint=s3_endpoint)

    def record(outcome: JobOutcome) -> None:
        store.write_bytes(outcome_key(plan.dataset, run_id), outcome.to_json().encode())

    if not plan.sources:  # the plan only drops partitions whose files are all gone: publish does that
        record(JobOutcome.for_plan(plan, run_id, "succeeded"))
        return None
    try:
        outcome = run_validation(dataset=plan.dataset, sources=planned_sources(plan, stage_root), ruleset=ruleset,
                                 output_dir=lake, engine=engine, run_id=run_id, spark_master=spark_master,  # type: ignore[arg-type]
                                 with_oracle=with_oracle, run_folder=True,
                                 column_types=arrow_types(plan.column_types) if plan.column_types else None,
                                 clock=clock)
    except ValidationFailedError as exc:
        record(JobOutcome.for_plan(plan, run_id, "failed", error=str(exc), failures=exc.failures))
        raise
    except QualityRulesError as exc:
        record(JobOutcome.for_plan(plan, run_id, "failed", error=f"{type(exc).__name__}: {exc}"))
        raise
    record(JobOutcome.for_plan(plan, run_id, "succeeded", outcome=outcome.to_dict()))
    return outcome


def read_outcome(s3: Any, lake_bucket: str, dataset: str, run_id: str) -> JobOutcome:
    """What publish calls (``s3`` is an injected boto3 client): the run's outcome, or a clear error."""
    key = outcome_key(dataset, run_id)
    try:
        body = s3.get_object(Bucket=lake_bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey as exc:
        raise QualityRulesError(f"no outcome at s3://{lake_bucket}/{key}: the validation job for run {run_id!r} "
                                "did not finish (see its Glue job run or Lambda log)") from exc
    return JobOutcome.from_json(body)
