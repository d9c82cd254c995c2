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
from typing import Any, Literal

import numpy as np

from quality_rules.exceptions import QualityRulesError, ValidationFailedError
from quality_rules.model import Check, RuleSet
from quality_rules.sources import LINEAGE_COLUMNS, SourceFile
from quality_rules.storage import Store

Engine = Literal["spark", "pandas"]
__all__ = ["SourceFile", "ValidationOutcome", "run_validation"]


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
    # rule id -> Great Expectations' message, for (warn) rules GE could not evaluate
    rule_errors: dict[str, str] = field(default_factory=dict)
    # text sources: the types accepted rows were cast to (rows failing a cast are rejected)
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


def _reason_lists(flag_matrix: np.ndarray, msgs: list[str]) -> tuple[np.ndarray, list[list[str]]]:
    """Per row: index into a small table of distinct failure combinations (rule order kept)."""
    if flag_matrix.shape[1] == 0:
        return np.zeros(flag_matrix.shape[0], dtype=np.int64), [[]]
    combos, inverse = np.unique(flag_matrix, axis=0, return_inverse=True)
    table = [[m for m, f in zip(msgs, row) if f] for row in combos]
    return inverse.reshape(-1), table


# --------------------------------------------------------------------------------------- pandas
def _run_pandas(dataset: str, sources: list[SourceFile], ruleset: RuleSet, stage: Store, with_oracle: bool,
                docs_dir: Path | None, run_id: str | None) -> _Core:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from quality_rules.pandas_engine import compute_flags
    from quality_rules.sources import read_arrow, with_lineage

    checks = ruleset.checks
    tables, own_cols = [], []
    for src in sources:
        t = read_arrow(src)
        own_cols.append(t.column_names)
        tables.append(with_lineage(t, src.key))
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    needed = sorted({c.column for c in checks} & set(table.column_names))
    missing = sorted({c.column for c in checks} - set(table.column_names))
    if missing:
        from quality_rules.exceptions import RuleDefinitionError

        raise RuleDefinitionError(
            f"rules name columns {missing} which the data does not have (columns: {table.column_names}); "
            "fix column_name in those rule items"
        )
    pdf = table.select(needed).to_pandas()
    flags = compute_flags(pdf, ruleset)
    n = table.num_rows
    failed = {rid: int(f.sum()) for rid, f in flags.items()}
    _check_fail_rules(checks, failed, n)

    oracle = None
    if with_oracle:
        from quality_rules.oracle import validate_ruleset

        oracle = validate_ruleset(pdf, ruleset, engine="pandas", docs_dir=docs_dir)

    reject_checks = [c for c in checks if c.rule.severity == "reject"]
    matrix = (np.column_stack([flags[c.rule_id] for c in reject_checks]) if reject_checks
              else np.zeros((n, 0), dtype=bool))
    rejected = matrix.any(axis=1)
    files, per_source = [], {}
    offset = 0
    for src, t, cols in zip(sources, tables, own_cols):
        k = t.num_rows
        rej = rejected[offset:offset + k]
        part = table.slice(offset, k).select([*cols, *LINEAGE_COLUMNS])
        acc_path, rej_path = _rel_paths(dataset, src, run_id)
        accepted_t = part.filter(pa.array(~rej))
        rejected_t = part.filter(pa.array(rej))
        combo_idx, combos = _reason_lists(matrix[offset:offset + k][rej], [c.rule.reject_msg for c in reject_checks])
        reasons = pa.array(combos, pa.list_(pa.string())).take(pa.array(combo_idx))
        comments = pa.array(["|".join(c) for c in combos], pa.string()).take(pa.array(combo_idx))
        rejected_t = rejected_t.append_column("comments", comments).append_column("reject_reasons", reasons)
        for rel, tab in ((acc_path, accepted_t), (rej_path, rejected_t)):
            stage.makedirs(rel.rsplit("/", 1)[0])
            pq.write_table(tab, stage.path(rel), compression="snappy", filesystem=stage.fs)
            files.append(rel)
        per_source[src.key] = {"rows": k, "accepted": accepted_t.num_rows, "rejected": rejected_t.num_rows}
        offset += k
    return _Core(rows_in=n, rejected=int(rejected.sum()), per_rule_failed=failed, per_source=per_source,
                 files=files, oracle=oracle)


# --------------------------------------------------------------------------------------- spark
def _run_spark(dataset: str, sources: list[SourceFile], ruleset: RuleSet, stage: Store, with_oracle: bool,
               docs_dir: Path | None, spark_master: str, work: Path, run_id: str | None) -> _Core:
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
    # No cache and no shuffle: the count pass reads only the rule columns (column pruning), then
    # each output is one more scan, as a hand-written Spark job would do.
    df = df.withColumn("__rejected", rej_expr)
    aggs = [F.count(F.lit(1)).alias("rows"), F.sum(F.col("__rejected").cast("long")).alias("rejected")]
    aggs += [F.sum(F.col(n).cast("long")).alias(n) for n in names]
    by_key = {r["source_key"]: r.asDict() for r in df.groupBy("source_key").agg(*aggs).collect()}
    rows_in = sum(r["rows"] for r in by_key.values())
    failed = {c.rule_id: int(sum((r[n] or 0) for r in by_key.values())) for c, n in zip(checks, names)}
    _check_fail_rules(checks, failed, rows_in)

    oracle = None
    if with_oracle:
        from quality_rules.oracle import validate_ruleset

        base = df.select(*[F.col(f"`{c}`") for c in sorted({c.column for c in checks})])
        oracle = validate_ruleset(base, ruleset, engine="spark", docs_dir=docs_dir)

    src_cols = list(dict.fromkeys(c for cols in own_cols for c in cols))
    spark_out = stage.child("_spark")
    acc = df.where(~F.col("__rejected")).select(*[F.col(f"`{c}`") for c in src_cols], *LINEAGE_COLUMNS, "__fid")
    rej = (df.where(F.col("__rejected"))
             .withColumn("reject_reasons", reasons)
             .withColumn("comments", F.array_join("reject_reasons", "|"))
             .select(*[F.col(f"`{c}`") for c in src_cols], *LINEAGE_COLUMNS, "comments", "reject_reasons", "__fid"))
    for kind, frame in (("accepted", acc), ("rejected", rej)):
        frame.write.mode("overwrite").partitionBy("__fid").parquet(spark_out.uri(kind))
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
        r = by_key.get(src.key, {"rows": 0, "rejected": 0})
        per_source[src.key] = {"rows": int(r["rows"]), "accepted": int(r["rows"] - (r["rejected"] or 0)),
                               "rejected": int(r["rejected"] or 0)}
    spark_out.delete_tree()
    shutil.rmtree(staging, ignore_errors=True)
    rejected_total = sum(v["rejected"] for v in per_source.values())
    return _Core(rows_in=rows_in, rejected=rejected_total, per_rule_failed=failed, per_source=per_source,
                 files=files, oracle=oracle)


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
                   column_types: dict[str, Any] | None = None) -> ValidationOutcome:
    """Validate ``sources`` with ``ruleset`` and write the split under ``output_dir`` (path or URI).

    ``column_types`` ({column: pyarrow type}, e.g. the crawler's Glue types): the accepted rows of
    CSV sources are cast to them, and rows whose value fails a cast are rejected with the reason
    ``REJECT:type:<column>:<type>`` (``quality_rules.typing_step``).

    Raises ``ValidationFailedError`` (nothing written) when a fail-severity rule breaches its
    ``max_failure_rate``; ``RuleDefinitionError`` when rules name missing columns;
    ``SourceReadError`` when an input cannot be read as declared.
    """
    t0 = time.monotonic()
    if engine not in ("spark", "pandas"):
        raise QualityRulesError(f"engine {engine!r} unknown; use 'spark' or 'pandas'")
    if not sources:
        raise QualityRulesError("run_validation got no sources; pass at least one SourceFile")
    if ruleset.dataset != dataset:
        raise QualityRulesError(f"rule set is for dataset {ruleset.dataset!r}, not {dataset!r}; load the right rules")
    output = Store.at(output_dir)
    work = Path(tempfile.mkdtemp(prefix=f".dq-{run_id}-work-"))  # driver-local scratch: Data Docs, local gzip
    if output.scheme == "file":
        Path(output.root).parent.mkdir(parents=True, exist_ok=True)
        stage = Store.at(tempfile.mkdtemp(prefix=f".dq-{run_id}-", dir=str(Path(output.root).parent)))
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
            if engine == "pandas":
                core = _run_pandas(dataset, sources, ruleset, stage, with_oracle, docs_dir, folder_run)
            else:
                core = _run_spark(dataset, sources, ruleset, stage, with_oracle, docs_dir, spark_master, work,
                                  folder_run)
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
        return outcome
    finally:
        stage.delete_tree()
        shutil.rmtree(work, ignore_errors=True)
