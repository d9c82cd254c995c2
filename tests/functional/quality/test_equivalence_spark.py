"""Spark engine = pandas engine = Great Expectations, row for row, on dirty data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datalake.samples import generate_jobs_frame, reference_rules
from quality_rules.model import RuleSet
from quality_rules.oracle import ROW_ID, validate_ruleset
from quality_rules.runner import SourceFile, run_validation

pytestmark = pytest.mark.spark

EDGE_ROWS = [  # organization, job_type, uniq_id, location
    ("Acme", "Full Time", "id\u00a0nbsp", "Paris"),          # NBSP is whitespace for Python re (and GE pandas)
    ("Acme", "Full Time", "id\u2003emsp", "Paris"),
    ("Acme", "Full Time", "id\x1cfs", "Paris"),               # str.isspace() but not Java's (?U)\s
    ("Acme", "Full\nTime", "ok", "Paris"),                    # '.' does not cross a newline
    ("Acme", "  Contract  ", "ok", "Lyon"),
    ("Acme", "CONTRACT", "ok", "東京都"),                      # 3 code points: length ok
    ("Acme", "Part\u00a0Time", "ok", "🙂🙂"),                  # astral chars count once
    ("", "Full Time", "ok", "abc"),                            # empty field reads as null in both engines
    ("Acme", "Full Time", "trailing\n", "x" * 60),
    ("Acme", "Full Time", "ok", "x" * 61),
    ("Acme", None, None, None),
]

EXTRA_RULES = [
    {"id": "jobs-sector", "dataset_name": "jobs", "column_name": "sector", "rules": [
        {"name": "expect_column_values_to_be_in_set", "kwargs": {"value_set": ["IT", "Retail", "Healthcare"]},
         "reject_msg": "REJECT:sector", "severity": "warn"},
        {"name": "expect_column_value_lengths_to_equal", "kwargs": {"value": 2}, "reject_msg": "W:sector_len",
         "severity": "warn"}]},
    {"id": "jobs-date", "dataset_name": "jobs", "column_name": "date_added", "rules": [
        {"name": "expect_column_values_to_match_strftime_format", "kwargs": {"strftime_format": "%Y-%m-%d"},
         "reject_msg": "REJECT:date"}]},
    {"id": "jobs-page", "dataset_name": "jobs", "column_name": "page_url", "rules": [
        {"name": "expect_column_values_to_be_unique", "kwargs": {}, "reject_msg": "REJECT:dup_url"},
        {"name": "expect_column_values_to_not_match_regex_list", "kwargs": {"regex_list": ["/job/1\\d$", "\\s"]},
         "reject_msg": "REJECT:url"}]},
    {"id": "jobs-title", "dataset_name": "jobs", "column_name": "job_title", "rules": [
        {"name": "expect_column_values_to_match_regex_list", "kwargs": {"regex_list": ["e", "r"], "match_on": "all"},
         "reject_msg": "REJECT:title"},
        {"name": "expect_column_values_to_be_json_parseable", "kwargs": {}, "reject_msg": "W:title_json",
         "severity": "warn"}]},
]


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    frame = generate_jobs_frame(4000, seed=5)
    edge = pd.DataFrame([dict(zip(["organization", "job_type", "uniq_id", "location"], r)) for r in EDGE_ROWS])
    for col in frame.columns:
        if col not in edge:
            edge[col] = frame[col].iloc[: len(edge)].to_numpy()
    frame = pd.concat([frame, edge[frame.columns]], ignore_index=True)
    frame.loc[4001, "page_url"] = frame.loc[3, "page_url"]  # a duplicate for the unique rule
    frame.loc[4002, "date_added"] = "2024-02-30"
    path = tmp_path_factory.mktemp("dirty") / "jobs.csv"
    frame.to_csv(path, index=False)
    return path, pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _rejected(out: Path) -> dict[int, str]:
    files = sorted((out / "rejected").rglob("*.parquet"))
    t = pa.concat_tables([pq.read_table(f, columns=["source_row", "comments"]) for f in files])
    return dict(zip(t.column("source_row").to_pylist(), t.column("comments").to_pylist()))


@pytest.mark.parametrize("rules", ["reference", "extended"])
def test_spark_equals_pandas_equals_ge(spark, tmp_path, dirty, rules):
    path, frame = dirty
    items = reference_rules("jobs") + (EXTRA_RULES if rules == "extended" else [])
    rs = RuleSet.from_items("jobs", items)
    src = SourceFile(key="landing/jobs/dirty.csv", path=path, format="csv", compression="none",
                     ingest_date="2024-05-01")
    outs = {}
    for engine in ("pandas", "spark"):
        outs[engine] = run_validation(dataset="jobs", sources=[src], ruleset=rs, output_dir=tmp_path / engine,
                                      engine=engine, run_id="eq", with_oracle=(engine == "pandas"))
    p, s = outs["pandas"], outs["spark"]
    assert p.rows_in == s.rows_in == len(frame)
    assert [r["failed_rows"] for r in p.per_rule] == [r["failed_rows"] for r in s.per_rule]
    assert p.oracle_agrees is True
    # row ids: GE's unexpected rows per rule, unioned over reject rules, are exactly our rejected rows
    frame = frame.copy()
    frame[ROW_ID] = np.arange(len(frame))
    ge = validate_ruleset(frame, rs, engine="pandas", row_ids=True)
    assert {c.rule_id: len(ge.unexpected_index[c.rule_id]) for c in rs.checks} == p.oracle_unexpected
    ge_rejected = set().union(*(ge.unexpected_index[c.rule_id] for c in rs.checks if c.rule.severity == "reject"))
    rej_p, rej_s = _rejected(tmp_path / "pandas"), _rejected(tmp_path / "spark")
    assert rej_p == rej_s
    assert set(rej_p) == ge_rejected
    # comments carry every failed reject rule, in rule order
    for row, comment in rej_p.items():
        expected = [c.rule.reject_msg for c in rs.checks
                    if c.rule.severity == "reject" and row in set(ge.unexpected_index[c.rule_id])]
        assert comment == "|".join(expected)
    base = 4000
    assert {base + 0, base + 1, base + 2, base + 3} <= set(rej_p)  # unicode whitespace / newline edge rows
    if rules == "reference":
        assert base + 10 not in rej_p  # nulls are outside regex/length domains (organization set)


def test_spark_oracle_agrees_on_reference_data(spark, tmp_path):
    from datalake.samples import generate_jobs_csv

    path = generate_jobs_csv(tmp_path / "jobs.csv", rows=2000, seed=9)
    rs = RuleSet.from_items("jobs", reference_rules("jobs"))
    o = run_validation(dataset="jobs", sources=[SourceFile("k/jobs.csv", path, "csv", "none", "2024-05-02")],
                       ruleset=rs, output_dir=tmp_path / "lake", engine="spark", run_id="s1")
    assert o.oracle_agrees is True and o.rows_in == 2000
    report = json.loads((tmp_path / "lake" / o.report_path).read_text())
    assert len(report["great_expectations"]["results"]) == 4


def test_source_row_is_exact_across_partitions_and_formats(spark, tmp_path):
    frame = generate_jobs_frame(6000, seed=1)
    pqf = tmp_path / "many_groups.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), pqf, row_group_size=500)
    jl = tmp_path / "jobs.jsonl"
    frame.to_json(jl, orient="records", lines=True)
    sources = [SourceFile("k/p.parquet", pqf, "parquet", "none", "2024-05-03"),
               SourceFile("k/j.jsonl", jl, "jsonl", "none", "2024-05-03")]
    rs = RuleSet.from_items("jobs", reference_rules("jobs"))
    old = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "65536")  # force several partitions per file
    try:
        o = run_validation(dataset="jobs", sources=sources, ruleset=rs, output_dir=tmp_path / "s", engine="spark",
                           run_id="parts", with_oracle=False)
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", old)
    p = run_validation(dataset="jobs", sources=sources, ruleset=rs, output_dir=tmp_path / "p", engine="pandas",
                       run_id="parts", with_oracle=False)
    assert o.per_source == p.per_source
    for kind in ("accepted", "rejected"):
        for f in (tmp_path / "s" / kind).rglob("*.parquet"):
            t = pq.read_table(f)
            ref = pq.read_table(tmp_path / "p" / f.relative_to(tmp_path / "s"))
            for col in ("source_row", "uniq_id", "location", "job_type"):
                assert t.column(col).to_pylist() == ref.column(col).to_pylist(), (f, col)
    # every row once, with the right lineage
    acc = pq.read_table(next((tmp_path / "s" / "accepted").rglob(f"{sources[0].file_id}.parquet")))
    assert all(frame.loc[r, "uniq_id"] == u for r, u in zip(acc.column("source_row").to_pylist(),
                                                             acc.column("uniq_id").to_pylist()))


def test_glue_job_runs_locally_with_rules_from_dynamodb(spark, tmp_path, dynamodb, local_settings, capsys):
    from datalake.samples import generate_jobs_csv
    from glue_jobs.validate_job import main
    from quality_rules.store import RulesStore, ensure_table

    ensure_table(dynamodb, "rules")
    RulesStore("rules", dynamodb).put_items(reference_rules("jobs"))
    path = generate_jobs_csv(tmp_path / "jobs.csv.gz", rows=500, seed=2, gzip=True)
    sources = [{"key": "landing/jobs/jobs.csv.gz", "path": str(path), "format": "csv", "compression": "gzip",
                "ingest_date": "2024-05-04"}]
    rc = main(["validate_job", "--dataset", "jobs", "--sources", json.dumps(sources), "--rules_table", "rules",
               "--endpoint_url", local_settings.effective_endpoint, "--region", "us-east-1",
               "--output_path", str(tmp_path / "out"), "--run_id", "glue-1", "--JOB_NAME", "x"])
    outcome = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0, outcome
    assert outcome["rows_in"] == 500 and outcome["oracle_agrees"] is True
    assert outcome["rules_used"]["version"] == 1
    assert (tmp_path / "out" / outcome["report_path"]).exists()
