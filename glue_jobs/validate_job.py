"""Glue job entry point (PySpark): validate staged sources against the dataset's rules and split.

Arguments (Glue style; ``awsglue.utils.getResolvedOptions`` in Glue, argparse elsewhere)::

    --dataset jobs
    --sources '[{"key": "landing/jobs/a.csv", "path": "/stage/a.csv", "format": "csv",
                 "compression": "none", "ingest_date": "2024-05-01"}]'
    --rules_table datalake-rules          (DynamoDB; or --rules_file path/to/rules.json)
    --rules_version 3                     (optional; default current)
    --output_path /tmp/out                (local tree the caller uploads to the lake bucket root)
    --run_id r-123                        (optional; default a UTC timestamp)
    --engine spark|pandas                 (optional; default spark)
    --spark_master local[2]               (optional)
    --endpoint_url http://127.0.0.1:4599  (optional; local DynamoDB endpoint)
    --with_oracle true|false              (optional; default true)

Prints the ``ValidationOutcome`` as JSON on stdout; exits 2 when a fail-severity rule breaches.
Run locally: ``python -m glue_jobs.validate_job --dataset jobs --sources '[...]' --output_path /tmp/x
--rules_file quality_rules/reference_rules.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from quality_rules.exceptions import QualityRulesError, ValidationFailedError

REQUIRED = ["dataset", "sources", "output_path"]
OPTIONAL = {"rules_table": "", "rules_file": "", "rules_version": "", "run_id": "", "engine": "spark",
            "spark_master": "local[2]", "endpoint_url": "", "region": "", "with_oracle": "true",
            "column_types": ""}  # JSON {column: Glue type}: accepted CSV rows are cast to them


def parse_args(argv: list[str]) -> dict[str, str]:
    try:  # inside AWS Glue
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]

        present = [k for k in OPTIONAL if f"--{k}" in argv]
        return {**OPTIONAL, **getResolvedOptions(argv, REQUIRED + present)}
    except ImportError:
        parser = argparse.ArgumentParser(prog="validate_job", description=__doc__.split("\n")[0])
        for k in REQUIRED:
            parser.add_argument(f"--{k}", required=True)
        for k, default in OPTIONAL.items():
            parser.add_argument(f"--{k}", default=default)
        ns, _unknown = parser.parse_known_args(argv[1:])  # Glue passes extra --JOB_NAME etc.
        return vars(ns)


def load_ruleset(args: dict[str, str]) -> Any:
    from quality_rules.model import RuleSet

    if args.get("rules_file"):
        return RuleSet.from_json_file(args["rules_file"], dataset=args["dataset"])
    if not args.get("rules_table"):
        raise QualityRulesError("no rules source: pass --rules_table <DynamoDB table> or --rules_file <json>")
    import boto3

    from quality_rules.store import RulesStore

    client = boto3.client("dynamodb", endpoint_url=args.get("endpoint_url") or None,
                          region_name=args.get("region") or None)
    version = int(args["rules_version"]) if args.get("rules_version") else None
    return RulesStore(args["rules_table"], client).get(args["dataset"], version)


def _column_types(text: str) -> dict[str, Any] | None:
    if not text:
        return None
    from athena_queries.glue_types import glue_to_arrow

    return {name: glue_to_arrow(typ) for name, typ in json.loads(text).items()}


def main(argv: list[str] | None = None) -> int:
    from quality_rules.runner import run_validation
    from quality_rules.sources import SourceFile

    args = parse_args(list(sys.argv if argv is None else argv))
    try:
        sources = [SourceFile.from_dict(d) for d in json.loads(args["sources"])]
        ruleset = load_ruleset(args)
        outcome = run_validation(
            dataset=args["dataset"], sources=sources, ruleset=ruleset, output_dir=Path(args["output_path"]),
            engine=args["engine"], run_id=args["run_id"] or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            spark_master=args["spark_master"], with_oracle=args["with_oracle"].lower() != "false",
            column_types=_column_types(args.get("column_types") or ""),
        )
    except ValidationFailedError as exc:
        print(json.dumps({"error": str(exc), "failures": exc.failures}), file=sys.stdout)
        return 2
    except (QualityRulesError, json.JSONDecodeError, KeyError) as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), file=sys.stdout)
        return 1
    print(json.dumps(outcome.to_dict(), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
