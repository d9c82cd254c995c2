"""Split input rows into accepted and rejected Parquet by a rule set — the API handlers call.

Layout written under ``output_dir`` (the caller uploads it to the lake bucket root as-is)::

    accepted/dataset=<ds>/ingest_date=<date>/[<k>=<v>/...]<file-id>.parquet   source columns + source_key, source_row
    rejected/dataset=<ds>/ingest_date=<date>/[<k>=<v>/...]<file-id>.parquet   ... + comments, reject_reasons
    reports/dataset=<ds>/run_id=<run_id>/validation_result.json  (+ data_docs/index.html)

``[<k>=<v>/...]`` are the source's Hive partitions (``SourceFile.partitions``), kept as folders.

``<file-id>`` is sha1(source key)[:16]; both files are always written (possibly with 0 rows), so a
re-run over the same input overwrites every file it wrote before and never duplicates rows. With
``run_folder=True`` the data files go one level deeper, ``.../ingest_date=<date>/run=<run_id>/``,
the run-scoped folders the Glue job writes straight into the lake bucket.
Everything is built in a staging directory (next to ``output_dir``, or under the run's ``_runs/``
prefix in S3) and moved in only on success; a ``fail``-severity breach raises ``ValidationFailedError`` and
leaves no output. ``output_dir`` and each source's path may be local paths or URIs (``file://``,
``s3://``): one code path, the scheme is the only difference (see ``quality_rules.storage``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from quality_rules.exceptions import QualityRulesError, ValidationFailedError
from quality_rules.model import Check, RuleSet
from quality_rules.phases import PhaseClock
from quality_rules.sources import LINEAGE_COLUMNS, SourceFile
from quality_rules.storage import Store

Engine = Literal["spark", "arrow", "pandas"]
# "pandas" was the in-process engine's first name; it is kept as an alias so settings, CLI flags and
# scripts that say pandas keep working, and runs report the canonical name.
ENGINE_ALIASES = {"pandas": "arrow"}
ENGINES = ("arrow", "spark")
RUN_PHASES = ("flag_and_write", "ge_report")  # what run_validation times (callers add theirs on the same clock)
ROW_GROUP_ROWS = 128 * 1024  # rows per Parquet row group the Arrow engine writes
__all__ = ["ENGINES", "SourceFile", "ValidationOutcome", "canonical_engine", "run_validation"]


def canonical_engine(engine: str) -> str:
    name = ENGINE_ALIASES.get(engine, engine)
    if name not in ENGINES:
        raise QualityRulesError(f"engine {engine!r} unknown; use 'arrow' (alias 'pandas') or 'spark'")
    return name


@dataclass
class ValidationOutcome:
    run_id: str
    dataset: str
    engine: str
    rows_in: int
    accepted: int
    rejected: int
    per_rule: list[dict[str, Any]]
    oracle_unexpected: dict[str, int] | None
    oracle_agrees: bool | None
    per_source: dict[str, dict[str, int]]
    files: list[str]
    report_path: str
    rules_used: dict[str, Any]
    duration_s: float
    warnings: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase (flag_and_write, ge_report)
    rule_errors: dict[str, str] = field(default_factory=dict)
    typed_columns: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Core:
    """What an engine hands back: counts and files written into the staging dir."""

    rows_in: int
    rejected: int
    per_rule_failed: dict[str, int]
    per_source: dict[str, dict[str, int]]
    files: list[str]
    oracle: Any | None  # OracleResult
    # GE's report, still to run (timed as phase ge_report, apart from flag_and_write)
    oracle_pending: Callable[[], Any] | None = None


def _rel_paths(dataset: str, src: SourceFile, run_id: str | None = None) -> tuple[str, str]:
    hive = "".join(f"{k}={v}/" for k, v in src.partitions)  # the source's own partitions, kept
    run = f"run={run_id}/" if run_id else ""
    part = f"dataset={dataset}/ingest_date={src.ingest_date}/{hive}{run}{src.file_id}.parquet"
    return f"accepted/{part}", f"rejected/{part}"


def _check_fail_rules(checks: list[Check], failed: dict[str, int], rows_in: int) -> None:
    breaches = []
    for c in checks:
        if c.rule.severity != "fail":
            continue
        limit = c.rule.max_failure_rate or 0.0
        rate = failed[c.rule_id] / rows_in if rows_in else 0.0
        if rate > limit:
            breaches.append({"rule_id": c.rule_id, "failed_rows": failed[c.rule_id], "rate": rate, "max_failure_rate": limit})
    if breaches:
        desc = "; ".join(f"{b['rule_id']} failed {b['failed_rows']}/{rows_in} rows ({b['rate']:.2%} > "
                         f"{b['max_failure_rate']:.2%})" for b in breaches)
        raise ValidationFailedError(
            f"validation failed, no output written: {desc}. Fix the data or raise max_failure_rate on those rules.",
            failures=breaches,
        )


# --------------------------------------------------------------------------------------- arrow
def _ge_report(frame: Any, ruleset: RuleSet, docs_dir: Path | None, clock: PhaseClock) -> Any:
    from quality_rules.oracle import validate_ruleset

    with clock.phase("ge_report"):
        return validate_ruleset(frame, ruleset, engine="pandas", docs_dir=docs_dir)


def _concat_columns(tables: list[Any], columns: list[str]) -> Any:
    import pyarrow as pa

    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    return table.select(columns)


def _pad_columns(batches: list[Any], columns: list[str], rows: int) -> Any:
    """One source's rule columns as a table; a column the source lacks is all null (as concat would)."""
    import pyarrow as pa

    present = [c for c in columns if batches and c in batches[0].schema.names]
    t = pa.Table.from_batches(batches) if batches else None
    return pa.table({c: (t.column(c) if c in present else pa.nulls(rows)) for c in columns})


def _run_arrow(dataset: str, sources: list[SourceFile], ruleset: RuleSet, stage: Path, with_oracle: bool,
               docs_dir: Path | None, clock: PhaseClock, batch_rows: int | None = None,
               run_id: str | None = None) -> _Core:
    """Stream each source in record batches: flag, split and write, never holding a whole source.

    Whole-column checks (uniqueness, GE fallback, Python semantics on non-text columns) read only
    their columns first; GE's report gets the rule columns (gathered while streaming when no
    whole-column pass read them) and runs after the split: on a second thread alongside it, it was
    slower, as GE-pandas and the split's Python rule work contend for the GIL (docs/quality.md).
    """

    import pyarrow as pa
    import pyarrow.parquet as pq

    from quality_rules.arrow_engine import BatchFlagger, reject_comments, strategy
    from quality_rules.exceptions import RuleDefinitionError
    from quality_rules.pandas_engine import compute_check_flags
    from quality_rules.sources import BATCH_ROWS, arrow_schema, iter_batches, read_columns
    from quality_rules.streams import OrderedWorker, RowGroupBuffer, prefetch

    checks = ruleset.checks
    staging = stage / "_staging"
    schemas = [arrow_schema(src, staging) for src in sources]
    try:
        unified = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise QualityRulesError(
            f"sources {[s.key for s in sources]} disagree on column types ({exc}); validate them in separate runs "
            "or fix the data so each column has one type") from exc
    missing = sorted({c.column for c in checks} - set(unified.names))
    if missing:
        raise RuleDefinitionError(
            f"rules name columns {missing} which the data does not have (columns: {unified.names}); "
            "fix column_name in those rule items"
        )
    needed = sorted({c.column for c in checks})
    batch_checks = [c for c in checks if strategy(c, unified.field(c.column).type) == "batch"]
    batch_ids = {c.rule_id for c in batch_checks}
    column_checks = [c for c in checks if c.rule_id not in batch_ids]
    column_flags: dict[str, np.ndarray] = {}
    rule_columns = None  # pandas frame of the rule columns, for GE's report
    if column_checks:
        cols = needed if with_oracle else sorted({c.column for c in column_checks})
        frame = _concat_columns([read_columns(src, staging, cols) for src in sources], cols).to_pandas()
        column_flags = compute_check_flags(frame, column_checks)
        rule_columns = frame if with_oracle else None

    flagger = BatchFlagger(batch_checks)
    reject_checks = [c for c in checks if c.rule.severity == "reject"]
    msgs = [c.rule.reject_msg for c in reject_checks]
    failed = {c.rule_id: 0 for c in checks}
    gathered: list[Any] = []  # per source: its rule columns, when GE's report needs them
    files, per_source = [], {}
    offset = 0
    for src, schema in zip(sources, schemas):
        acc_rel, rej_rel = _rel_paths(dataset, src, run_id)
        out_schema = pa.schema([*schema, pa.field("source_key", pa.string()), pa.field("source_row", pa.int64())],
                               metadata=schema.metadata)
        rej_schema = out_schema.append(pa.field("comments", pa.string())).append(
            pa.field("reject_reasons", pa.list_(pa.string())))
        for rel in (acc_rel, rej_rel):
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        rows = accepted = 0
        keep: list[Any] = []
        # source_row is unique per row: a dictionary only costs hashing and bytes (PLAIN: -0.07 s CPU, -5 % size)
        dict_cols = [n for n in rej_schema.names if n != "source_row"]
        with pq.ParquetWriter(stage / acc_rel, out_schema, compression="snappy",
                              use_dictionary=[n for n in dict_cols if n in out_schema.names]) as acc_pq, \
                pq.ParquetWriter(stage / rej_rel, rej_schema, compression="snappy", use_dictionary=dict_cols) as rej_pq, \
                OrderedWorker() as writer:
            acc_w, rej_w = RowGroupBuffer(acc_pq, ROW_GROUP_ROWS), RowGroupBuffer(rej_pq, ROW_GROUP_ROWS)

            def write(batch: Any, first_row: int, rejected: np.ndarray, reject_flags: list[np.ndarray],
                      n_rej: int, key: str = src.key, acc_w: Any = acc_w, rej_w: Any = rej_w,
                      out_schema: Any = out_schema, rej_schema: Any = rej_schema) -> None:
                n = batch.num_rows
                full = pa.RecordBatch.from_arrays(
                    [*batch.columns, pa.repeat(pa.scalar(key, pa.string()), n),
                     pa.array(np.arange(first_row, first_row + n, dtype=np.int64))], schema=out_schema)
                if n_rej < n:
                    acc_w.write(full.filter(pa.array(~rejected)) if n_rej else full)
                if n_rej:
                    rej = full.filter(pa.array(rejected)) if n_rej < n else full
                    comments, reasons = reject_comments([f[rejected] for f in reject_flags], msgs)
                    rej_w.write(pa.RecordBatch.from_arrays([*rej.columns, comments, reasons], schema=rej_schema))

            for batch in prefetch(iter_batches(src, staging, batch_rows=batch_rows or BATCH_ROWS)):
                n = batch.num_rows
                if n == 0:
                    continue
                flags = flagger.flags(batch)
                for c in column_checks:
                    flags[c.rule_id] = column_flags[c.rule_id][offset + rows: offset + rows + n]
                for rid, f in flags.items():
                    failed[rid] += int(np.count_nonzero(f))
                rejected = np.zeros(n, dtype=bool)
                for c in reject_checks:
                    rejected |= flags[c.rule_id]
                n_rej = int(np.count_nonzero(rejected))
                writer.submit(write, batch, rows, rejected, [flags[c.rule_id] for c in reject_checks], n_rej)
                if with_oracle and rule_columns is None:
                    keep.append(batch.select([c for c in needed if c in batch.schema.names]))
                rows += n
                accepted += n - n_rej
            writer.submit(acc_w.flush)
            writer.submit(rej_w.flush)
        if with_oracle and rule_columns is None:
            gathered.append(_pad_columns(keep, needed, rows))
        files += [acc_rel, rej_rel]
        per_source[src.key] = {"rows": rows, "accepted": accepted, "rejected": rows - accepted}
        offset += rows
    _check_fail_rules(checks, failed, offset)
    pending: Callable[[], Any] | None = None
    if with_oracle:
        frame = rule_columns if rule_columns is not None else _concat_columns(gathered, needed).to_pandas()
        pending = lambda: _ge_report(frame, ruleset, docs_dir, clock)  # noqa: E731
    shutil.rmtree(staging, ignore_errors=True)
    return _Core(rows_in=offset, rejected=sum(v["rejected"] for v in per_source.values()), per_rule_failed=failed,
                 per_source=per_source, files=files, oracle=None, oracle_pending=pending)


# --------------------------------------------------------------------------------------- spark
def _run_spark(dataset: str, sources: list[SourceFile], ruleset: RuleSet, stage: Store, with_oracle: bool,
               docs_dir: Path | None, spark_master: str, work: Path, run_id: str | None = None,
               clock: PhaseClock | None = None) -> _Core:
    from pyspark.sql import functions as F

    from quality_rules.spark_engine import add_flags, read_source
    from quality_rules.spark_session import get_spark

    spark = get_spark(spark_master)
    checks = ruleset.checks
    staging = work / "_staging"  # local gzip sources only; URIs are read in place
    frames, own_cols = [], []
    for i, src in enumerate(sources):
        df = read_source(spark, src, staging)
        own_cols.append([c for c in df.columns if c not in LINEAGE_COLUMNS])
        frames.append(df.withColumn("__fid", F.lit(src.file_id))
                        .withColumn("__row_id", F.lit(i << 40).cast("long") + F.col("source_row")))
    df = frames[0]
    for f in frames[1:]:
        df = df.unionByName(f, allowMissingColumns=True)
    names = [f"__f{i}" for i in range(len(checks))]
    df = add_flags(df, checks, names, "__row_id")
    reject_idx = [i for i, c in enumerate(checks) if c.rule.severity == "reject"]
    rej_expr = F.lit(False)
    for i in reject_idx:
        rej_expr = rej_expr | F.col(names[i])
    reasons = F.array_compact(F.array(*[F.when(F.col(names[i]), F.lit(checks[i].rule.reject_msg)) for i in reject_idx])) \
        if reject_idx else F.array().cast("array<string>")
    # No cache, no shuffle and no count pass: the per-rule counts are observed while the accepted
    # side is written (an Observation below its filter sees every row), and the per-source counts
    # are read from the written files' footers; each output is one scan, as a hand-written job's.
    from pyspark.sql import Observation

    df = df.withColumn("__rejected", rej_expr)
    counts = Observation("dq_counts")
    aggs = [F.count(F.lit(1)).alias("rows")] + [F.sum(F.col(n).cast("long")).alias(n) for n in names]

    pending = None
    if with_oracle:
        from quality_rules.oracle import validate_ruleset

        base = df.select(*[F.col(f"`{c}`") for c in sorted({c.column for c in checks})])

        def pending() -> Any:
            with (clock or PhaseClock()).phase("ge_report"):
                return validate_ruleset(base, ruleset, engine="spark", docs_dir=docs_dir)

    src_cols = list(dict.fromkeys(c for cols in own_cols for c in cols))
    spark_out = stage.child("_spark")
    acc = df.observe(counts, *aggs).where(~F.col("__rejected")).select(*[F.col(f"`{c}`") for c in src_cols], *LINEAGE_COLUMNS, "__fid")
    rej = (df.where(F.col("__rejected"))
             .withColumn("reject_reasons", reasons)
             .withColumn("comments", F.array_join("reject_reasons", "|"))
             .select(*[F.col(f"`{c}`") for c in src_cols], *LINEAGE_COLUMNS, "comments", "reject_reasons", "__fid"))
    acc.write.mode("overwrite").partitionBy("__fid").parquet(spark_out.uri("accepted"))
    observed = counts.get
    rows_in = int(observed.get("rows") or 0)
    failed = {c.rule_id: int(observed.get(n) or 0) for c, n in zip(checks, names)}
    _check_fail_rules(checks, failed, rows_in)  # before the second write: a breach costs one pass
    rej.write.mode("overwrite").partitionBy("__fid").parquet(spark_out.uri("rejected"))
    import pyarrow.parquet as pq

    files, per_source = [], {}
    for src, cols in zip(sources, own_cols):
        acc_rel, rej_rel = _rel_paths(dataset, src, run_id)
        # unionByName added other sources' columns: keep this source's own columns only
        extra = [c for c in src_cols if c not in cols]
        for kind, rel in (("accepted", acc_rel), ("rejected", rej_rel)):
            # part files of one source are named by partition index = source order
            folder = f"{kind}/__fid={src.file_id}"
            parts = [f"{folder}/{f}" for f in spark_out.files(folder, ".parquet") if f.startswith("part-")]
            if len(parts) == 1 and not extra:
                spark_out.move(parts[0], stage, rel)
            else:
                stage.makedirs(rel.rsplit("/", 1)[0])
                _merge_parquet(spark_out, parts, stage, rel, _arrow_schema(acc if kind == "accepted" else rej), extra)
            files.append(rel)
        n_acc, n_rej = (pq.ParquetFile(stage.fs.open_input_file(stage.path(rel))).metadata.num_rows
                        for rel in (acc_rel, rej_rel))
        per_source[src.key] = {"rows": n_acc + n_rej, "accepted": n_acc, "rejected": n_rej}
    spark_out.delete_tree()
    # the staged inputs stay until run_validation removes its scratch folder: GE's report still reads them
    rejected_total = sum(v["rejected"] for v in per_source.values())
    return _Core(rows_in=rows_in, rejected=rejected_total, per_rule_failed=failed, per_source=per_source,
                 files=files, oracle=None, oracle_pending=pending)


def _merge_parquet(src: Store, parts: list[str], dest: Store, dest_rel: str, schema: Any, drop: list[str]) -> None:
    """Concatenate Spark part files into one Parquet file, streaming row groups (bounded memory, no disk)."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(src.path(parts[0]), filesystem=src.fs) if parts else schema
    schema = schema.remove_metadata()
    keep = [f.name for f in schema if f.name not in drop]
    out_schema = __import__("pyarrow").schema([schema.field(n) for n in keep])
    with dest.fs.open_output_stream(dest.path(dest_rel), compression=None) as sink, \
            pq.ParquetWriter(sink, out_schema, compression="snappy") as writer:
        for part in parts:
            pf = pq.ParquetFile(src.fs.open_input_file(src.path(part)))
            for i in range(pf.num_row_groups):
                writer.write_table(pf.read_row_group(i, columns=keep).cast(out_schema))


def _arrow_schema(df: Any) -> Any:
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(df.drop("__fid").schema)
    return pa.schema(schema)


# ------------------------------------------------------------------------------ result assembly
_REGEX_RULES = frozenset({
    "expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex",
    "expect_column_values_to_match_regex_list", "expect_column_values_to_not_match_regex_list",
})


def _disagreement_note(check: Check, engine: str, ours: int, ge: int, ge_error: str | None) -> str:
    """Why Great Expectations' count for a rule differs from ours, in words a user can act on."""
    if ge_error is not None:
        return f"Great Expectations could not evaluate this rule ({ge_error}), so it has no count to compare"
    if engine == "spark" and check.name in _REGEX_RULES:
        return ("GE on Spark runs the regex through Java's rlike as written, while both our engines follow GE on "
                "pandas (Python re); the flavours differ on non-ASCII whitespace (NBSP, em space, U+001C-U+001F), "
                "Unicode \\w \\d \\b and line terminators. Ours is GE-on-pandas' answer; run with --engine "
                "pandas to see GE agree (docs/quality.md, Semantics)")
    if engine == "spark":
        return (f"GE's Spark implementation of {check.name} differs from its pandas implementation, which both our "
                f"engines follow; run with --engine pandas to compare with GE on pandas (docs/quality.md, Semantics)")
    return (f"GE on pandas is the definition of this rule, so our native {check.name} is wrong here ({ours} vs "
            f"{ge}): please report it with the rule and a sample of the data")


def _per_rule(checks: list[Check], core: _Core, engine: str, rule_errors: dict[str, str]) -> list[dict[str, Any]]:
    oracle = core.oracle
    out = []
    for c in checks:
        ours = core.per_rule_failed[c.rule_id]
        entry: dict[str, Any] = {
            "rule_id": c.rule_id, "column": c.column, "name": c.name, "reject_msg": c.rule.reject_msg,
            "severity": c.rule.severity, "failed_rows": ours,
            "status": "errored" if c.rule_id in rule_errors else "evaluated",
            "error": rule_errors.get(c.rule_id),
            "ge_unexpected": None, "ge_agrees": None, "ge_note": None,
        }
        if oracle is not None and c.rule_id not in rule_errors:
            ge = oracle.unexpected.get(c.rule_id)
            ge_error = oracle.exceptions.get(c.rule_id)
            entry["ge_unexpected"] = None if ge_error else ge
            entry["ge_agrees"] = ge_error is None and ge == ours
            if not entry["ge_agrees"]:
                entry["ge_note"] = _disagreement_note(c, engine, ours, ge or 0, ge_error)
        out.append(entry)
    return out


# --------------------------------------------------------------------------------------- API
def run_validation(*, dataset: str, sources: list[SourceFile], ruleset: RuleSet, output_dir: Path | str,
                   engine: Engine, run_id: str, spark_master: str = "local[2]",
                   with_oracle: bool = True, run_folder: bool = False,
                   column_types: dict[str, Any] | None = None, batch_rows: int | None = None,
                   clock: PhaseClock | None = None) -> ValidationOutcome:
    """Validate ``sources`` with ``ruleset`` and write the split under ``output_dir`` (path or URI).

    ``engine``: ``arrow`` (in-process; ``pandas`` is an alias; its sources are local files) or
    ``spark``. ``column_types`` ({column: pyarrow type}, e.g. the crawler's Glue types): the accepted
    rows of CSV sources are cast to them, and rows whose value fails a cast are rejected with the
    reason ``REJECT:type:<column>:<type>`` (``quality_rules.typing_step``). ``batch_rows``: rows per
    record batch of the Arrow engine (memory grows with it, not with the input). ``clock`` times
    the phases ``flag_and_write`` and ``ge_report``.

    Raises ``ValidationFailedError`` (nothing written) when a fail-severity rule breaches its
    ``max_failure_rate``; ``RuleDefinitionError`` when rules name missing columns;
    ``SourceReadError`` when an input cannot be read as declared.
    """
    t0 = time.monotonic()
    clock = clock or PhaseClock()
    engine = canonical_engine(engine)  # type: ignore[assignment]
    if not sources:
        raise QualityRulesError("run_validation got no sources; pass at least one SourceFile")
    if ruleset.dataset != dataset:
        raise QualityRulesError(f"rule set is for dataset {ruleset.dataset!r}, not {dataset!r}; load the right rules")
    output = Store.at(output_dir)
    work = Path(tempfile.mkdtemp(prefix=f".dq-{run_id}-work-"))  # driver-local scratch: Data Docs, local gzip
    if output.scheme == "file":
        Path(output.root).parent.mkdir(parents=True, exist_ok=True)
        stage = Store.at(tempfile.mkdtemp(prefix=f".dq-{run_id}-", dir=str(Path(output.root).parent)))
    elif engine == "arrow":  # the in-process engine writes local files; they are copied in at the end
        stage = Store.at(tempfile.mkdtemp(prefix="stage-", dir=str(work)))
    else:
        # Under the run's own prefix: pyarrow leaves an empty "directory" marker at the parent of a
        # deleted prefix, which then belongs to this run rather than to a shared folder.
        from quality_rules.job_io import run_prefix

        stage = output.child(f"{run_prefix(dataset, run_id)}_staging-{uuid.uuid4().hex[:8]}")
    report_rel = f"reports/dataset={dataset}/run_id={run_id}/validation_result.json"
    docs_rel = f"reports/dataset={dataset}/run_id={run_id}/data_docs"
    docs_dir = work / docs_rel if with_oracle else None
    folder_run = run_id if run_folder else None
    try:
        from quality_rules.oracle import collect_rule_errors

        with collect_rule_errors() as rule_errors:
            with clock.phase("flag_and_write", f"{len(sources)} source(s) with {engine}"):
                if engine == "arrow":
                    core = _run_arrow(dataset, sources, ruleset, Path(stage.root), with_oracle, docs_dir, clock,
                                      batch_rows, folder_run)
                else:
                    core = _run_spark(dataset, sources, ruleset, stage, with_oracle, docs_dir, spark_master, work,
                                      folder_run, clock)
            if core.oracle_pending is not None:
                core.oracle = core.oracle_pending()
        checks = ruleset.checks
        per_rule = _per_rule(checks, core, engine, rule_errors)
        typed: dict[str, str] = {}
        text_sources = [src for src in sources if src.format == "csv"]
        if column_types and text_sources:
            from quality_rules.typing_step import apply_types, type_reason

            cast_result = apply_types(stage, [(src.key, *_rel_paths(dataset, src, folder_run)) for src in text_sources],
                                      column_types)
            for key, n in cast_result.moved.items():
                core.per_source[key]["accepted"] -= n
                core.per_source[key]["rejected"] += n
                core.rejected += n
            typed = {c: str(t) for c, t in column_types.items()}
            per_rule += [{"rule_id": f"{c}:type", "column": c, "name": "type_cast",
                          "reject_msg": type_reason(c, column_types[c]), "severity": "reject", "failed_rows": n,
                          "status": "evaluated", "error": None, "ge_unexpected": None, "ge_agrees": None,
                          "ge_note": None} for c, n in cast_result.failed.items()]
        oracle_unexpected = core.oracle.unexpected if core.oracle else None
        compared = [p["ge_agrees"] for p in per_rule if p["ge_agrees"] is not None]
        agrees = None if oracle_unexpected is None else all(compared)
        warn_msgs = [f"{c.rule_id} (warn) failed {core.per_rule_failed[c.rule_id]} rows"
                     for c in checks if c.rule.severity == "warn" and core.per_rule_failed[c.rule_id]]
        warn_msgs += [f"{rid} (warn) was NOT checked: Great Expectations could not evaluate it: {msg}"
                      for rid, msg in rule_errors.items()]
        warn_msgs += [f"{p['rule_id']}: ours {p['failed_rows']} rows, Great Expectations {p['ge_unexpected']}: "
                      f"{p['ge_note']}" for p in per_rule if p["ge_agrees"] is False]
        files = list(core.files)
        if docs_dir is not None and (docs_dir / "index.html").exists():
            stage.write_bytes(f"{docs_rel}/index.html", (docs_dir / "index.html").read_bytes())
            files.append(f"{docs_rel}/index.html")
        files.append(report_rel)
        outcome = ValidationOutcome(
            run_id=run_id, dataset=dataset, engine=engine, rows_in=core.rows_in,
            accepted=core.rows_in - core.rejected, rejected=core.rejected, per_rule=per_rule,
            oracle_unexpected=oracle_unexpected, oracle_agrees=agrees, per_source=core.per_source,
            files=files, report_path=report_rel, rules_used=ruleset.to_dict(),
            duration_s=round(time.monotonic() - t0, 3), warnings=warn_msgs, rule_errors=dict(rule_errors),
            typed_columns=typed,
        )
        report = {"outcome": outcome.to_dict(),
                  "sources": [s.to_dict() for s in sources],
                  "great_expectations": core.oracle.result_json if core.oracle else None}
        stage.write_bytes(report_rel, json.dumps(report, indent=2, default=str, ensure_ascii=False).encode("utf-8"))
        for rel in files:  # move in only now: a failure above leaves output_dir untouched
            stage.move(rel, output, rel)
        outcome.duration_s = round(time.monotonic() - t0, 3)
        outcome.phases = {k: v for k, v in clock.to_dict().items() if k in RUN_PHASES}
        return outcome
    finally:
        stage.delete_tree()
        shutil.rmtree(work, ignore_errors=True)
