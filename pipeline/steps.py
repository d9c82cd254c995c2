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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
# The phase clock of a run in this process (`datalake validate` shows it live); a Lambda or the
# state machine executor leaves it unset and the phases are only timed inside the outcome.
PHASE_CLOCK: ContextVar[PhaseClock | None] = ContextVar("datalake_phase_clock", default=None)


def phase_clock() -> PhaseClock:
    return PHASE_CLOCK.get() or PhaseClock()
VALIDATABLE = ("ingested", "validated", "loaded")


def _noop(_: str) -> None:
    pass


def glue_catalog(settings: Settings) -> GlueCatalog:
    return GlueCatalog(settings.glue_database, aws.client("glue", settings))


def crawl_dataset(settings: Settings, dataset: str) -> CrawlResult:
    s3 = aws.client("s3", settings)

    def head(record: dict[str, Any]) -> bytes:  # the crawler's CSV classifier looks at the first bytes
        return s3.get_object(Bucket=record["bucket"], Key=record["key"], Range="bytes=0-65535")["Body"].read()

    notify = None
    if settings.schema_events_topic_arn:  # AWS: the schema drift event goes to SNS
        sns, topic = aws.client("sns", settings), settings.schema_events_topic_arn

        def notify(event: dict[str, Any]) -> None:
            sns.publish(TopicArn=topic, Subject=f"schema drift: {event['dataset']}"[:100],
                        Message=json.dumps(event, default=str))

    return crawl(dataset, store=catalog_components.catalog_store(settings), glue=glue_catalog(settings),
                 landing_bucket=settings.landing_bucket, sample=head, notify=notify)


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
    return str(record.get("ingest_date") or record["arrival_time"])[:10]


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


def plan_run(settings: Settings, dataset: str, *, full: bool = False, engine: str | None = None) -> dict[str, Any]:
    """What a run must do for ``dataset``: the Plan state's output (``$.plan`` in the state machine).

    ``action`` is ``skip`` (no rules: crawled only; or every partition up to date and loaded) or
    ``validate``; ``engine`` is ``inprocess`` (the Arrow engine, in the Lambda) or ``spark`` (the Glue job),
    picked by input size as ``auto`` does; ``dates`` are the partitions to validate, ``dropped``
    those whose files are all gone; ``rules_version`` pins the rule set for the whole run.
    """
    from quality_rules.exceptions import RuleSetNotFoundError

    store = catalog_components.catalog_store(settings)
    records = [r for r in store.list_objects(dataset) if r.get("status") in VALIDATABLE]
    ds_item = store.get_dataset(dataset) or {}
    previous = ds_item.get("validation_partitions") or {}
    if not records and not previous:
        raise DatasetNotFound(dataset)
    try:
        ruleset = rules_store(settings).get(dataset)
    except RuleSetNotFoundError:
        return {"action": "skip", "no_rules": True,
                "reason": f"no rules for dataset {dataset!r}: crawled only, not validated or loaded "
                          "(add rules with `datalake rules put`)"}
    keys, key_types = _source_partition_keys(settings, dataset, records)
    if _split_layout_changed(settings, dataset, keys):
        full = True  # the tables' partition keys change: every partition is rebuilt in the new layout
    dirty, vanished = plan_validation(records, previous, ruleset.digest, full=full)
    todo = [r for r in records if ingest_date(r) in dirty]
    nbytes = sum(int(r.get("size") or 0) for r in todo)
    carried = {} if full else carry_forward(todo, previous, ruleset.digest)
    if len(carried) == len(todo):
        carried = {}  # nothing new in these partitions (one lost a file): validate them whole
    base = {"dataset": dataset, "dates": dirty, "dropped": vanished, "files": len(todo), "bytes": nbytes,
            "full": full, "rules_version": ruleset.version, "rules_digest": ruleset.digest,
            "column_types": _raw_column_types(settings, dataset), "partition_keys": keys,
            "partition_key_types": key_types,
            "sources": [planned_source(r, keys) for r in todo if r["key"] not in carried],
            # unchanged objects of re-validated partitions: publish copies their split files forward
            "carried": [{**planned_source(r, keys), "run_id": carried[r["key"]],
                         **{k: int((r.get("validation") or {}).get(k) or 0) for k in ("rows", "accepted", "rejected")}}
                        for r in todo if r["key"] in carried]}
    if not dirty and not vanished and not ds_item.get("load_pending"):
        return {"action": "skip", "reason": "every partition is up to date with its files and rules", **base}
    chosen = engine or choose_engine(settings, nbytes)
    return {"action": "validate", "engine": "spark" if chosen == "spark" else "inprocess", **base}


def planned_source(record: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """One object version of the plan (``quality_rules.job_io.PlannedSource``); ``keys`` are the
    source partition keys the split keeps, taken from the object's key."""
    return {"bucket": record["bucket"], "key": record["key"], "version_id": record.get("version_id"),
            "etag": record.get("etag"), "size": int(record.get("size") or 0), "format": record["format"],
            "compression": record.get("compression") or "none", "ingest_date": ingest_date(record),
            "partitions": [[k, str((record.get("partitions") or {}).get(k))] for k in keys]}


@contextmanager
def staged_run(settings: Settings, job: Any, progress: Progress = _noop) -> Iterator[tuple[str, str]]:
    """Where a validation job runs off the cluster (here, or in the in-process Lambda): the planned
    object versions staged on local disk, and a local lake folder uploaded to the lake bucket when
    the job ends without raising (data first, the outcome JSON last: publish trusts what it names).
    Yields the job's ``stage_root`` and ``lake`` URIs. Spark here has no S3 connector (no hadoop-aws
    jars offline), which is why Spark runs on this machine need it; on Glue the job reads S3 itself."""
    s3, clock = aws.client("s3", settings), phase_clock()
    work = Path(tempfile.mkdtemp(prefix=f"validate-{job.dataset}-", dir=_tmp(settings)))
    try:
        stage, lake = work / "stage", work / "lake"
        with clock.phase("stage", f"{len(job.sources)} file(s)"):
            for src in job.sources:
                progress(f"staging {src.uri}")
                local = stage / src.bucket / src.key
                local.parent.mkdir(parents=True, exist_ok=True)
                download_object(s3, src.bucket, src.key, src.version_id, local)
        yield f"file://{stage}", f"file://{lake}"
        with clock.phase("publish"):
            for f in sorted((f for f in lake.rglob("*") if f.is_file()), key=lambda f: (f.name == "outcome.json", f)):
                key = f.relative_to(lake).as_posix()
                progress(f"publishing s3://{settings.lake_bucket}/{key}")
                upload_file(s3, f, settings.lake_bucket, key)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def save_plan(settings: Settings, dataset: str, run_id: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Keep the full plan (every planned object version) in the lake bucket and return it without
    its sources: Step Functions caps a state at 256 KB, and a day's partition can hold thousands of
    files. ``load_plan`` reads it back."""
    from quality_rules.job_io import plan_key

    if "sources" not in plan:
        return plan
    key = plan_key(dataset, run_id)
    aws.client("s3", settings).put_object(Bucket=settings.lake_bucket, Key=key, ContentType="application/json",
                                          Body=json.dumps({**plan, "dataset": dataset}, default=str).encode())
    return {**{k: v for k, v in plan.items() if k != "sources"}, "plan_key": key}


def load_plan(settings: Settings, dataset: str, plan: dict[str, Any]) -> Any:
    """The ``quality_rules.job_io.JobPlan`` a state's ``$.plan`` stands for (see ``save_plan``)."""
    from quality_rules.job_io import JobPlan

    if "sources" not in plan and plan.get("plan_key"):
        body = aws.client("s3", settings).get_object(Bucket=settings.lake_bucket, Key=plan["plan_key"])["Body"].read()
        plan = json.loads(body)
    return JobPlan.from_json({**plan, "dataset": dataset})


def validate_run(settings: Settings, dataset: str, run_id: str, plan: dict[str, Any], *, engine: str = "arrow",
                 progress: Progress = _noop) -> dict[str, Any]:
    """The validate step in this process: ``validate_plan`` (the Glue job's own function) on staged
    copies, its output uploaded to run-scoped folders plus the outcome JSON. Nothing becomes visible
    to readers: no Glue partition points at ``run=<run_id>/`` folders until ``publish_run``."""
    from quality_rules.job_io import validate_plan

    job = load_plan(settings, dataset, plan)
    ruleset = rules_store(settings).get(dataset, job.rules_version) if job.sources else None
    with staged_run(settings, job, progress) as (stage_root, lake):
        progress(f"validating {len(job.sources)} file(s) of {len(job.dates)} partition(s) with {engine}")
        outcome = validate_plan(job, run_id=run_id, lake=lake, ruleset=ruleset, engine=engine, stage_root=stage_root,
                                spark_master=settings.spark_master, clock=phase_clock())
    o = outcome.to_dict() if outcome else {}
    return {"engine": engine, "partitions": len({s.ingest_date for s in job.sources}), "dropped": len(job.dropped),
            "files": len(job.sources), "rows_in": o.get("rows_in", 0), "accepted": o.get("accepted", 0),
            "rejected": o.get("rejected", 0)}


def carry_forward(records: list[dict[str, Any]], previous: dict[str, dict[str, Any]],
                  rules_digest: str | None) -> dict[str, str]:
    """Objects whose split output can be reused: key -> the run that wrote it.

    An object is validated and its record names the run its partition points at, validated with
    the same rules: a re-uploaded object is a new record (status ``ingested``, no ``validation``),
    so an unchanged record means unchanged content.
    """
    out = {}
    for r in records:
        part = previous.get(ingest_date(r)) or {}
        run = (r.get("validation") or {}).get("run_id")
        if (r.get("status") in ("validated", "loaded") and run and run == part.get("run_id")
                and rules_digest and part.get("rules_digest") == rules_digest):
            out[r["key"]] = run
    return out


def _copy_carried(s3: Any, bucket: str, dataset: str, run_id: str, carried: list[dict[str, Any]]) -> list[str]:
    """Copy carried objects' split files into this run's folders (server-side copies); their keys."""
    from quality_rules.sources import SourceFile

    copied = []
    for c in carried:
        file_id = SourceFile(key=c["key"], path=Path(c["key"]), format="csv", compression="none",
                             ingest_date=c["ingest_date"]).file_id
        hive = "".join(f"/{k}={v}" for k, v in c.get("partitions") or [])
        for side in SIDES:
            folder = f"{side}/dataset={dataset}/ingest_date={c['ingest_date']}{hive}"
            key = f"{folder}/run={run_id}/{file_id}.parquet"
            s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket,
                                                               "Key": f"{folder}/run={c['run_id']}/{file_id}.parquet"})
            copied.append(key)
    return copied


def read_outcome(settings: Settings, dataset: str, run_id: str) -> dict[str, Any]:
    """The validate step's outcome JSON (``quality_rules.job_io.JobOutcome``) as a dict."""
    from dataclasses import asdict

    from quality_rules.job_io import read_outcome as read_job_outcome

    return asdict(read_job_outcome(aws.client("s3", settings), settings.lake_bucket, dataset, run_id))


def publish_run(settings: Settings, dataset: str, run_id: str) -> ValidateResult:
    """Make a validated run visible: repoint its Glue partitions (one catalog write each, atomic for
    readers), drop vanished partitions, delete older runs' files, record the outcome in the catalog.
    Idempotent, so a retried publish is harmless."""
    with phase_clock().phase("catalog_update"):
        return _publish_run(settings, dataset, run_id)


def _publish_run(settings: Settings, dataset: str, run_id: str) -> ValidateResult:
    from pipeline.exceptions import RunNotValidated
    from quality_rules.runner import ValidationOutcome

    doc = read_outcome(settings, dataset, run_id)
    if doc["status"] != "succeeded":
        raise RunNotValidated(dataset, run_id, doc.get("error"))
    store = catalog_components.catalog_store(settings)
    previous = (store.get_dataset(dataset) or {}).get("validation_partitions") or {}
    vanished = [d for d in doc["dropped"] if d in previous or d not in doc["dates"]]
    s3 = aws.client("s3", settings)
    if doc["outcome"] is None:
        if vanished:
            _drop_partitions(settings, dataset, vanished)
            _collect_garbage(s3, settings.lake_bucket, dataset, dates=vanished, keep=None)
        store.update_dataset(dataset, {"validation_partitions": {d: v for d, v in previous.items() if d not in vanished},
                                       **({"load_pending": True} if vanished else {})})
        return ValidateResult(None, [], 0, [], vanished)
    outcome = ValidationOutcome(**doc["outcome"])
    copied = _copy_carried(s3, settings.lake_bucket, dataset, run_id, doc["carried"])
    for c in doc["carried"]:  # carried files keep the counts of the run that validated them
        outcome.per_source[c["key"]] = {k: c[k] for k in ("rows", "accepted", "rejected")}
    records = [*doc["sources"], *doc["carried"]]
    dates = sorted({r["ingest_date"] for r in records})
    tables = _register_split_tables(settings, dataset, _split_tables(settings, dataset, [*outcome.files, *copied]),
                                    run_id, drop=vanished, dates=dates, keys=doc["partition_keys"],
                                    key_types=doc["partition_key_types"])
    _collect_garbage(s3, settings.lake_bucket, dataset, dates=[*dates, *vanished], keep=run_id)
    _record_outcome(store, dataset, records, outcome, settings, previous, doc["rules_digest"], vanished)
    return ValidateResult(outcome, tables, len(outcome.files) + len(copied), dates, vanished)


def validate_dataset(settings: Settings, dataset: str, *, engine: str | None = None, full: bool = False,
                     progress: Progress = _noop, run_id: str | None = None,
                     clock: PhaseClock | None = None) -> ValidateResult:
    """Plan, validate and publish in one call: the partitions whose files or rules changed since their
    last run (all with ``full``). ``clock`` times the phases (stage, flag_and_write, ge_report,
    publish, catalog_update) and tells its listener as each starts and ends."""
    clock = clock or PhaseClock()
    token = PHASE_CLOCK.set(clock)
    try:
        result = _validate_dataset(settings, dataset, engine=engine, full=full, progress=progress, run_id=run_id)
    finally:
        PHASE_CLOCK.reset(token)
    result.phases, result.wall_s = clock.to_dict(), clock.wall_s
    return result


def _validate_dataset(settings: Settings, dataset: str, *, engine: str | None, full: bool, progress: Progress,
                      run_id: str | None) -> ValidateResult:
    from quality_rules.exceptions import RuleSetNotFoundError

    plan = plan_run(settings, dataset, full=full, engine=engine)
    if plan.get("no_rules"):
        raise RuleSetNotFoundError(plan["reason"])
    if plan["action"] == "skip" or (not plan["dates"] and not plan["dropped"]):
        return ValidateResult(None, [], 0, [], [])
    run_id = run_id or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    chosen = "spark" if plan["engine"] == "spark" else "arrow"
    validate_run(settings, dataset, run_id, plan, engine=chosen, progress=progress)
    return publish_run(settings, dataset, run_id)


def _raw_column_types(settings: Settings, dataset: str) -> dict[str, str]:
    """The crawler's Glue types of the raw table: accepted rows of CSV sources are cast to them."""
    raw = glue_catalog(settings).get_table(glue_identifier(dataset))
    if raw is None:
        return {}  # not crawled yet: accepted CSV rows stay text
    return {c["Name"]: c["Type"] for c in (raw.get("StorageDescriptor") or {}).get("Columns") or []}


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
    if settings.mode == "aws":  # in Lambda only /tmp is writable (the in-process validate step stages there)
        return tempfile.gettempdir()
    path = settings.state_path / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


SIDES = ("accepted", "rejected")


def _source_partition_keys(settings: Settings, dataset: str,
                           records: list[dict[str, Any]]) -> tuple[list[str], dict[str, str]]:
    """The source's Hive partition keys the split keeps (the crawler's, when every file has them)
    and their Glue types (the raw table's; string when not crawled)."""
    keys = list((catalog_components.catalog_store(settings).get_dataset(dataset) or {}).get("partition_keys") or [])
    if not keys or not all(set(keys) <= set((r.get("partitions") or {})) for r in records):
        return [], {}
    raw = glue_catalog(settings).get_table(glue_identifier(dataset)) or {}
    types = {k["Name"]: k.get("Type", "string") for k in raw.get("PartitionKeys") or []}
    return keys, {k: types.get(k, "string") for k in keys}


def _split_layout_changed(settings: Settings, dataset: str, keys: list[str]) -> bool:
    table = glue_catalog(settings).get_table(f"accepted_{glue_identifier(dataset)}")
    return table is not None and [k["Name"] for k in table.get("PartitionKeys") or []] != ["ingest_date", *keys]


def _split_tables(settings: Settings, dataset: str, files: list[str]) -> dict[str, dict[str, Any]]:
    """Per side (accepted, rejected): its columns (from one published file's footer) and the
    partitions this run wrote, {partition values: folder}. ``files`` are relative to the lake bucket,
    ``<side>/dataset=<ds>/ingest_date=<d>/[<k>=<v>/...]run=<run_id>/<file>``."""
    from quality_rules.storage import Store

    lake = Store.at(f"s3://{settings.lake_bucket}/", s3_endpoint=settings.effective_endpoint, region=settings.region)
    tables = {}
    for side in SIDES:
        mine = sorted(f for f in files if f.startswith(f"{side}/dataset={dataset}/") and f.endswith(".parquet"))
        if not mine:
            continue
        partitions = {}
        for f in mine:
            folders = [p for p in f.split("/")[2:-1] if not p.startswith("run=")]
            partitions[tuple(p.split("=", 1)[1] for p in folders)] = "/".join(folders)
        tables[side] = {"columns": schema_columns(pq.read_schema(lake.path(mine[0]), filesystem=lake.fs)),
                        "partitions": partitions}
    return tables


def _register_split_tables(settings: Settings, dataset: str, split: dict[str, dict[str, Any]], run_id: str, *,
                           drop: list[str], dates: list[str] | None = None, keys: list[str] | None = None,
                           key_types: dict[str, str] | None = None) -> list[str]:
    """Glue tables accepted_<ds> / rejected_<ds>, partitioned by ingest_date and the source's own
    Hive partition keys (typed as the crawler typed them, so a filter on them prunes); this run's
    partitions are switched to its folders, the others keep pointing at the runs that wrote them."""
    glue = glue_catalog(settings)
    keys, key_types = keys or [], key_types or {}
    names = []
    for side in SIDES:
        if side not in split:
            continue
        name = f"{side}_{glue_identifier(dataset)}"
        location = f"s3://{settings.lake_bucket}/{side}/dataset={dataset}/"
        tinput = table_input(name, "parquet", location, split[side]["columns"], ["ingest_date", *keys],
                             extra={"datalake:dataset": dataset, "datalake:kind": side, "datalake:run_id": run_id})
        tinput["PartitionKeys"] = [{"Name": "ingest_date", "Type": "string"},
                                   *({"Name": k, "Type": key_types.get(k, "string")} for k in keys)]
        existing_table = glue.get_table(name)
        relayout = existing_table is not None and existing_table.get("PartitionKeys") != tinput["PartitionKeys"]
        glue.upsert_table(tinput)
        wanted = {values: f"{location}{folder}/run={run_id}/" for values, folder in split[side]["partitions"].items()}
        rebuilt = set(dates or []) | {v[0] for v in wanted}
        stale = [p["Values"] for p in glue.partitions(name)
                 if relayout or p["Values"][0] in set(drop) or (p["Values"][0] in rebuilt and tuple(p["Values"]) not in wanted)]
        glue.set_partitions(name, [(list(v), loc) for v, loc in sorted(wanted.items())], drop=stale)
        names.append(name)
    return names


def _drop_partitions(settings: Settings, dataset: str, dates: list[str]) -> None:
    glue = glue_catalog(settings)
    for side in SIDES:
        name = f"{side}_{glue_identifier(dataset)}"
        if glue.get_table(name) is not None:
            glue.set_partitions(name, [], drop=[p["Values"] for p in glue.partitions(name) if p["Values"][0] in dates])


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
    store.update_dataset(dataset, {"validation_partitions": partitions, "load_pending": True, "validation": {
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
        # per rule, where GE's count differs from ours and why; rules GE could not evaluate
        "ge_disagreements": {p["reject_msg"]: {"ours": p["failed_rows"], "ge": p.get("ge_unexpected"),
                                               "why": p.get("ge_note")}
                             for p in summary["per_rule"] if p.get("ge_agrees") is False},
        "rule_errors": {p["reject_msg"]: p["error"] for p in summary["per_rule"] if p.get("status") == "errored"},
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
    if settings.warehouse == "redshift":  # rejected rows stay in S3, queried through Spectrum
        warehouse.ensure_external_schema(schema="dq_rejected", glue_database=settings.glue_database)  # type: ignore[attr-defined]
    for r in store.list_objects(dataset, status="validated"):
        store.update_object(dataset, r["bucket"], r["key"], r.get("version_id"), {"status": "loaded"})
    store.update_dataset(dataset, {"warehouse_table": f"dq_accepted.{glue_identifier(dataset)}", "load_pending": False})
    return result
