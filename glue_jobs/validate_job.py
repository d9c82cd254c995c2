"""Glue job entry point (PySpark): validate a dataset's planned sources against its rules and split.

Two ways to name the inputs and the output, one code path (``quality_rules.runner.run_validation``
with URIs; the scheme is the only difference):

* **Plan** (what the state machine's ``ValidateOnGlue`` passes)::

      --dataset jobs --run_id 20240501T...-ab12cd --plan '{"dataset": "jobs", "sources": [{"bucket": ...,
      "key": ..., "format": "csv", "compression": "none", "ingest_date": "2024-05-01"}], ...}'
      --rules_table datalake-rules --catalog_table datalake-catalog --lake_bucket datalake-lake-123

  On Glue, Spark reads each source as ``s3://<bucket>/<key>`` and writes the split straight into the
  lake bucket's run-scoped folders (``accepted/dataset=<ds>/ingest_date=<d>/run=<run_id>/...``); the
  driver never stages data on its disk. The outcome is written to
  ``s3://<lake_bucket>/_runs/dataset=<ds>/run_id=<run_id>/outcome.json`` (``quality_rules.job_io``),
  which the publish step reads. Locally the same job runs on staged copies: ``--stage_root
  file:///tmp/stage`` reads ``<stage_root>/<bucket>/<key>`` and ``--lake_uri file:///tmp/lake``
  replaces ``s3://<lake_bucket>``.

* **Sources** (by hand, on local files)::

      --dataset jobs --sources '[{"key": "landing/jobs/a.csv", "path": "/stage/a.csv", "format": "csv",
      "compression": "none", "ingest_date": "2024-05-01"}]' --output_path /tmp/out
      --rules_file quality_rules/reference_rules.json

Other options: ``--rules_version 3``, ``--engine spark|pandas`` (default spark), ``--spark_master``
(local runs only; on Glue the cluster's session is used), ``--endpoint_url`` (local DynamoDB/S3),
``--region``, ``--with_oracle true|false``. ``--catalog_table`` is accepted for the state machine's
contract; the job does not write the catalog (publish does, after the split is complete).

Prints the ``ValidationOutcome`` as JSON on stdout; exits 2 when a fail-severity rule breaches, 1 on
bad input. In plan mode a failed run still writes its outcome (status ``failed``, the reason) and
raises, so the Glue run fails and the state machine's Catch records why.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from quality_rules.exceptions import QualityRulesError, ValidationFailedError

REQUIRED = ["dataset"]
OPTIONAL = {"sources": "", "output_path": "", "plan": "", "lake_bucket": "", "lake_uri": "", "stage_root": "",
            "catalog_table": "", "rules_table": "", "rules_file": "", "rules_version": "", "run_id": "",
            "engine": "spark", "spark_master": "local[2]", "endpoint_url": "", "region": "", "with_oracle": "true",
            "column_types": ""}  # by hand: JSON {column: Glue type}; accepted CSV rows are cast to them


class JobFailed(RuntimeError):
    """Raised on Glue after the outcome is written, so the job run (and the state machine's task) fails."""


def in_glue() -> bool:
    try:
        import awsglue  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


def parse_args(argv: list[str]) -> dict[str, str]:
    if in_glue():
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]

        present = [k for k in OPTIONAL if f"--{k}" in argv]
        return {**OPTIONAL, **getResolvedOptions(argv, REQUIRED + present)}
    parser = argparse.ArgumentParser(prog="validate_job", description=(__doc__ or "").split("\n")[0])
    for k in REQUIRED:
        parser.add_argument(f"--{k}", required=True)
    for k, default in OPTIONAL.items():
        parser.add_argument(f"--{k}", default=default)
    ns, _unknown = parser.parse_known_args(argv[1:])  # Glue passes extra --JOB_NAME etc.
    return vars(ns)


def load_ruleset(args: dict[str, str], version: int | None = None) -> Any:
    from quality_rules.model import RuleSet

    if args.get("rules_file"):
        return RuleSet.from_json_file(args["rules_file"], dataset=args["dataset"])
    if not args.get("rules_table"):
        raise QualityRulesError("no rules source: pass --rules_table <DynamoDB table> or --rules_file <json>")
    import boto3

    from quality_rules.store import RulesStore

    client = boto3.client("dynamodb", endpoint_url=args.get("endpoint_url") or None,
                          region_name=args.get("region") or None)
    if version is None and args.get("rules_version"):
        version = int(args["rules_version"])
    return RulesStore(args["rules_table"], client).get(args["dataset"], version)


def lake_uri(args: dict[str, str]) -> str:
    if args.get("lake_uri"):
        return args["lake_uri"].rstrip("/") + "/"
    if not args.get("lake_bucket"):
        raise QualityRulesError("plan mode needs --lake_bucket <bucket> (or --lake_uri for a local run)")
    return f"s3://{args['lake_bucket']}/"


def run_plan(args: dict[str, str]) -> Any:
    """Plan mode (the state machine's arguments): see ``validate_plan``."""
    from quality_rules.job_io import JobPlan

    raw = json.loads(args["plan"])
    if "sources" not in raw and raw.get("plan_key"):  # the state carries a summary; the plan is in the lake
        from quality_rules.storage import Store

        raw = json.loads(Store.at(lake_uri(args), s3_endpoint=args.get("endpoint_url") or None).read_bytes(raw["plan_key"]))
    plan = JobPlan.from_json({"dataset": args["dataset"], **raw})
    if plan.dataset != args["dataset"]:
        raise QualityRulesError(f"--plan is for dataset {plan.dataset!r}, not --dataset {args['dataset']!r}")
    if args.get("endpoint_url"):  # a local S3 endpoint for pyarrow too (boto3 reads the same variable)
        import os

        os.environ.setdefault("AWS_ENDPOINT_URL_S3", args["endpoint_url"])
    from quality_rules.job_io import validate_plan

    return validate_plan(plan, run_id=args["run_id"] or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
                         lake=lake_uri(args), ruleset=load_ruleset(args, plan.rules_version), engine=args["engine"],
                         stage_root=args.get("stage_root", ""), spark_master=args["spark_master"],
                         with_oracle=args["with_oracle"].lower() != "false",
                         s3_endpoint=args.get("endpoint_url") or None)


def run_sources(args: dict[str, str]) -> Any:
    from pathlib import Path

    from quality_rules.job_io import arrow_types

    from quality_rules.runner import run_validation
    from quality_rules.sources import SourceFile

    if not args.get("output_path"):
        raise QualityRulesError("--sources needs --output_path (or pass --plan and --lake_bucket)")
    sources = [SourceFile.from_dict(d) for d in json.loads(args["sources"])]
    return run_validation(
        dataset=args["dataset"], sources=sources, ruleset=load_ruleset(args), output_dir=Path(args["output_path"]),
        engine=args["engine"], run_id=args["run_id"] or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),  # type: ignore[arg-type]
        spark_master=args["spark_master"], with_oracle=args["with_oracle"].lower() != "false",
        column_types=arrow_types(json.loads(args["column_types"])) if args.get("column_types") else None,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv if argv is None else argv))
    glue = in_glue()
    if glue:  # the cluster's session: get_spark() finds it instead of starting a local one
        from pyspark.sql import SparkSession

        SparkSession.builder.getOrCreate()
    try:
        if args.get("plan"):
            outcome = run_plan(args)
        elif args.get("sources"):
            outcome = run_sources(args)
        else:
            raise QualityRulesError("pass --plan (state machine) or --sources with --output_path (by hand)")
    except ValidationFailedError as exc:
        print(json.dumps({"error": str(exc), "failures": exc.failures}), file=sys.stdout)
        if glue:
            raise JobFailed(str(exc)) from exc
        return 2
    except (QualityRulesError, json.JSONDecodeError, KeyError) as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), file=sys.stdout)
        if glue:
            raise JobFailed(f"{type(exc).__name__}: {exc}") from exc
        return 1
    print(json.dumps(outcome.to_dict(), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
