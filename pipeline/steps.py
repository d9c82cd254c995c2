"""Crawl → validate → load: the chain Step Functions runs in AWS, as plain functions.

Each step reads the catalog (DynamoDB), does its work through adapters, and writes its outcome
back to the catalog, so the search index (fed by the table's stream) shows it too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from catalog.crawler import CrawlResult, crawl
from catalog.exceptions import CatalogError, DatasetNotFound
from catalog.glue import GlueCatalog, table_input
from catalog.naming import glue_identifier
from datalake_base import aws
from catalog import components as catalog_components
from datalake_base.settings import Settings
from ingestion.profile import schema_columns
from quality_rules.phases import PhaseClock
from quality_rules.store import rules_store

Progress = Callable[[str], None]
VALIDATABLE = ("ingested", "validated", "loaded")
LINEAGE = ("source_key", "source_row")


def _noop(_: str) -> None:
    pass


def glue_catalog(settings: Settings) -> GlueCatalog:
    return GlueCatalog(settings.glue_database, aws.client("glue", settings))


def crawl_dataset(settings: Settings, dataset: str) -> CrawlResult:
    return crawl(dataset, store=catalog_components.catalog_store(settings), glue=glue_catalog(settings),
                 landing_bucket=settings.landing_bucket)


def choose_engine(settings: Settings, total_bytes: int) -> str:
    if settings.validation_engine != "auto":
        return settings.validation_engine
    return "arrow" if total_bytes <= settings.pandas_max_bytes else "spark"


@dataclass
class ValidateResult:
    outcome: Any  # quality_rules.runner.ValidationOutcome, or None when nothing needed validating
    tables: list[str]
    uploaded: int
    dates: list[str] = field(default_factory=list)  # ingest dates (partitions) this run re-validated
    dropped: list[str] = field(default_factory=list)  # partitions removed: all their files are gone
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase (quality_rules.phases)
    wall_s: float = 0.0

    @property
    def up_to_date(self) -> bool:
        return self.outcome is None and not self.dropped


def ingest_date(record: dict[str, Any]) -> str:
    return str(record["arrival_time"])[:10]


def fingerprint(records: list[dict[str, Any]]) -> str:
    """What a partition's validation depends on: exactly which object versions it holds."""
    ids = sorted((r["key"], r.get("etag") or "", r.get("version_id") or "") for r in records)
    return hashlib.sha1(json.dumps(ids).encode()).hexdigest()


def plan_validation(records: list[dict[str, Any]], previous: dict[str, dict[str, Any]], rules_digest: str,
                    *, full: bool = False) -> tuple[list[str], list[str]]:
    """Partitions (ingest dates) to re-validate, and partitions to drop.

    A partition is re-validated when its files changed (added, overwritten, deleted) or the rules
    changed since its last run, or when ``full``; one whose files are all gone is dropped.
    """
    by_date: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_date.setdefault(ingest_date(r), []).append(r)
    dirty = sorted(d for d, rs in by_date.items() if full or previous.get(d, {}).get("fingerprint") != fingerprint(rs)
                   or previous.get(d, {}).get("rules_digest") != rules_digest)
    return dirty, sorted(set(previous) - set(by_date))


def validate_dataset(settings: Settings, dataset: str, *, engine: str | None = None, full: bool = False,
                     progress: Progress = _noop, clock: PhaseClock | None = None) -> ValidateResult:
    """Validate the partitions whose files or rules changed since their last run (all with ``full``).

    ``clock`` times the phases (stage, flag_and_write, ge_report, publish, catalog_update) and
    tells its listener as each starts and ends; the result carries the seconds per phase.
    """
    from quality_rules.runner import SourceFile, run_validation

    clock = clock or PhaseClock()

    store = catalog_components.catalog_store(settings)
    records = [r for r in store.list_objects(dataset) if r.get("status") in VALIDATABLE]
    previous = (store.get_dataset(dataset) or {}).get("validation_partitions") or {}
    if not records and not previous:
        raise DatasetNotFound(dataset)
    ruleset = rules_store(settings).get(dataset)
    dirty, vanished = plan_validation(records, previous, ruleset.digest, full=full)
    s3 = aws.client("s3", settings)
    if not dirty:
        if vanished:
            _drop_partitions(settings, dataset, vanished)
            _collect_garbage(s3, settings.lake_bucket, dataset, dates=vanished, keep=None)
            store.update_dataset(dataset, {"validation_partitions": {d: v for d, v in previous.items()
                                                                     if d not in vanished}})
        return ValidateResult(None, [], 0, [], vanished)
    records = [r for r in records if ingest_date(r) in dirty]
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    chosen = engine or choose_engine(settings, sum(int(r.get("size") or 0) for r in records))
    work = Path(tempfile.mkdtemp(prefix=f"validate-{dataset}-", dir=_tmp(settings)))
    try:
        sources = []
        with clock.phase("stage", f"{len(records)} file(s)"):
            for r in records:
                local = work / "in" / uuid.uuid4().hex
                local.parent.mkdir(parents=True, exist_ok=True)
                progress(f"staging s3://{r['bucket']}/{r['key']}")
                download_object(s3, r["bucket"], r["key"], r.get("version_id"), local)
                sources.append(SourceFile(key=r["key"], path=local, format=r["format"],
                                          compression=r.get("compression") or "none", ingest_date=ingest_date(r)))
        progress(f"validating {len(sources)} file(s) of {len(dirty)} partition(s) with {chosen}")
        out = work / "out"
        outcome = run_validation(dataset=dataset, sources=sources, ruleset=ruleset, output_dir=out,
                                 engine=chosen, run_id=run_id, spark_master=settings.spark_master, clock=clock)
        with clock.phase("publish"):
            uploaded = _publish(lambda f, key: upload_file(s3, f, settings.lake_bucket, key),
                                out, settings.lake_bucket, run_id, progress)
        with clock.phase("catalog_update"):
            tables = _register_split_tables(settings, dataset, out, run_id, drop=vanished)
            _collect_garbage(s3, settings.lake_bucket, dataset, dates=[*dirty, *vanished], keep=run_id)
            _record_outcome(store, dataset, records, outcome, settings, previous, ruleset.digest, vanished)
        return ValidateResult(outcome, tables, uploaded, dirty, vanished, phases=clock.to_dict(), wall_s=clock.wall_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# One streamed GetObject / one PutObject per file: measured on the local endpoint with a 302 MB CSV,
# awswrangler's download took 21-27 s and boto3's transfer manager 13-14 s (many ranged GETs), a
# GetObject read in 8 MiB chunks 0.9-1.5 s. Multipart only where S3 requires it.
_CHUNK = 8 * 1024 * 1024
_SINGLE_PUT_MAX = 256 * 1024 * 1024


def download_object(s3: Any, bucket: str, key: str, version_id: str | None, dest: Path) -> None:
    """Stream one object (that exact version, when given) to ``dest``."""
    extra = {"VersionId": version_id} if version_id else {}
    body = s3.get_object(Bucket=bucket, Key=key, **extra)["Body"]
    try:
        with open(dest, "wb") as fh:
            for chunk in iter(lambda: body.read(_CHUNK), b""):
                fh.write(chunk)
    finally:
        body.close()


def upload_file(s3: Any, path: Path, bucket: str, key: str) -> None:
    """One PutObject for files up to 256 MiB; larger ones as 64 MiB multipart parts."""
    if path.stat().st_size <= _SINGLE_PUT_MAX:
        with open(path, "rb") as fh:
            s3.put_object(Bucket=bucket, Key=key, Body=fh)
        return
    from boto3.s3.transfer import TransferConfig

    s3.upload_file(str(path), bucket, key, Config=TransferConfig(multipart_threshold=_SINGLE_PUT_MAX,
                                                                 multipart_chunksize=64 * 1024 * 1024))


def _tmp(settings: Settings) -> str:
    path = settings.state_path / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _publish(upload: Callable[[Path, str], None], root: Path, bucket: str, run_id: str, progress: Progress) -> int:
    """Upload the run's files under run-scoped folders; nothing is visible until partitions point there."""
    n = 0
    for f in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))):
        rel = f.relative_to(root)
        if rel.parts[0] in SIDES:
            rel = rel.parent / f"run={run_id}" / rel.name
        progress(f"publishing s3://{bucket}/{rel.as_posix()}")
        upload(f, rel.as_posix())
        n += 1
    return n


SIDES = ("accepted", "rejected")


def _register_split_tables(settings: Settings, dataset: str, out: Path, run_id: str, *,
                           drop: list[str]) -> list[str]:
    """Glue tables accepted_<ds> / rejected_<ds>, partitioned by ingest_date; this run's partitions
    are switched to its folders, the others keep pointing at the runs that wrote them."""
    glue = glue_catalog(settings)
    names = []
    for side in SIDES:
        files = sorted((out / side / f"dataset={dataset}").rglob("*.parquet"))
        if not files:
            continue
        columns = schema_columns(pq.read_schema(files[0]))
        name = f"{side}_{glue_identifier(dataset)}"
        location = f"s3://{settings.lake_bucket}/{side}/dataset={dataset}/"
        glue.upsert_table(table_input(name, "parquet", location, columns, ["ingest_date"],
                                      extra={"datalake:dataset": dataset, "datalake:kind": side,
                                             "datalake:run_id": run_id}))
        dates = sorted({p.parent.name.split("=", 1)[1] for p in files})
        glue.set_partitions(name, [([d], f"{location}ingest_date={d}/run={run_id}/") for d in dates],
                            drop=[[d] for d in drop])
        names.append(name)
    return names


def _drop_partitions(settings: Settings, dataset: str, dates: list[str]) -> None:
    glue = glue_catalog(settings)
    for side in SIDES:
        name = f"{side}_{glue_identifier(dataset)}"
        if glue.get_table(name) is not None:
            glue.set_partitions(name, [], drop=[[d] for d in dates])


def _collect_garbage(s3: Any, bucket: str, dataset: str, *, dates: list[str], keep: str | None) -> None:
    """Delete the given partitions' files from runs other than ``keep``: no partition points there now."""
    for side in SIDES:
        for d in dates:
            prefix = f"{side}/dataset={dataset}/ingest_date={d}/"
            stale = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                     for o in page.get("Contents", []) if keep is None or f"/run={keep}/" not in o["Key"]]
            for i in range(0, len(stale), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in stale[i : i + 1000]],
                                                         "Quiet": True})


def _record_outcome(store: Any, dataset: str, records: list[dict[str, Any]], outcome: Any, settings: Settings,
                    previous: dict[str, dict[str, Any]], rules_digest: str, vanished: list[str]) -> None:
    summary = outcome.to_dict()
    per_source = summary.get("per_source", {})
    partitions = {d: v for d, v in previous.items() if d not in vanished}
    by_date: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        counts = per_source.get(r["key"], {})
        by_date.setdefault(ingest_date(r), []).append(r)
        store.update_object(dataset, r["bucket"], r["key"], r.get("version_id"), {
            "status": "validated", "status_reason": None,
            "validation": {"run_id": outcome.run_id, "engine": summary["engine"], **counts},
        })
    for d, rs in by_date.items():
        partitions[d] = {"run_id": outcome.run_id, "fingerprint": fingerprint(rs), "rules_digest": rules_digest,
                         **{k: sum(per_source.get(r["key"], {}).get(k, 0) for r in rs)
                            for k in ("rows", "accepted", "rejected")}}
    report_dir = summary["report_path"].rsplit("/", 1)[0] if summary.get("report_path") else None
    store.update_dataset(dataset, {"validation_partitions": partitions, "validation": {
        # Totals over every partition; the rest describes the last run (which may cover only some).
        "rows_in": sum(p["rows"] for p in partitions.values()),
        "accepted": sum(p["accepted"] for p in partitions.values()),
        "rejected": sum(p["rejected"] for p in partitions.values()),
        "run_id": outcome.run_id,
        "engine": summary["engine"],
        "run_dates": sorted(by_date),
        "run_rows_in": summary["rows_in"],
        "per_rule": {p["reject_msg"]: p["failed_rows"] for p in summary["per_rule"]},
        "rules_version": summary["rules_used"].get("version"),
        "report": f"s3://{settings.lake_bucket}/{summary['report_path']}" if report_dir else None,
        "data_docs": (f"s3://{settings.lake_bucket}/{report_dir}/data_docs/index.html"
                      if report_dir and summary.get("oracle_unexpected") is not None else None),
        "oracle_agrees": summary.get("oracle_agrees"),
    }})


def load_dataset(settings: Settings, dataset: str) -> Any:
    """COPY the dataset's accepted Parquet into dq_accepted.<dataset> of the warehouse."""
    from warehouse import build_warehouse

    glue = glue_catalog(settings)
    name = f"accepted_{glue_identifier(dataset)}"
    table = glue.get_table(name)
    if table is None:
        raise CatalogError(f"no accepted data for {dataset!r} (Glue table {name} is missing); run `datalake validate {dataset}` first")
    s3 = aws.client("s3", settings)
    uris = []
    for part in glue.partitions(name):  # exactly the files the current run published
        bucket, _, prefix = part["StorageDescriptor"]["Location"].removeprefix("s3://").partition("/")
        uris += [f"s3://{bucket}/{o['Key']}" for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                 for o in p.get("Contents", []) if o["Key"].endswith(".parquet")]
    from warehouse.types import redshift_type

    columns = [(c["Name"], redshift_type(c["Type"])) for c in table["StorageDescriptor"]["Columns"]]
    warehouse = build_warehouse(settings)
    result = warehouse.copy_parquet(schema="dq_accepted", table=glue_identifier(dataset),
                                    s3_uris=uris, columns=columns, replace_key="source_key")
    store = catalog_components.catalog_store(settings)
    # Rows of source objects deleted since they were loaded leave the warehouse too.
    current = sorted({r["key"] for r in store.list_objects(dataset) if r.get("status") in ("validated", "loaded")})
    warehouse.delete_missing(schema="dq_accepted", table=glue_identifier(dataset), key_column="source_key",
                             keep=current)
    for r in store.list_objects(dataset, status="validated"):
        store.update_object(dataset, r["bucket"], r["key"], r.get("version_id"), {"status": "loaded"})
    store.update_dataset(dataset, {"warehouse_table": f"dq_accepted.{glue_identifier(dataset)}"})
    return result
