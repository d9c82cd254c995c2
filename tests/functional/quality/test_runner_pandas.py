"""run_validation with the pandas engine: layout, split invariants, idempotency, severities, formats."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datalake.samples import COLUMNS, generate_jobs_csv, generate_jobs_frame, reference_rules
from quality_rules.exceptions import ValidationFailedError
from quality_rules.model import RuleSet
from quality_rules.runner import SourceFile, run_validation

RULES = RuleSet.from_items("jobs", reference_rules("jobs"), version=2)
MSGS = [c.rule.reject_msg for c in RULES.checks]


@pytest.fixture(scope="module")
def jobs_csv(tmp_path_factory) -> Path:
    return generate_jobs_csv(tmp_path_factory.mktemp("in") / "jobs.csv", rows=3000, seed=11)


def _src(path: Path, key: str = "landing/jobs/jobs.csv", fmt="csv", comp="none") -> SourceFile:
    return SourceFile(key=key, path=path, format=fmt, compression=comp, ingest_date="2024-05-01")


def _read(out: Path, kind: str) -> pa.Table:
    files = sorted((out / kind / "dataset=jobs" / "ingest_date=2024-05-01").glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files])


def test_split_invariants_and_layout(tmp_path, jobs_csv):
    out = tmp_path / "lake"
    o = run_validation(dataset="jobs", sources=[_src(jobs_csv)], ruleset=RULES, output_dir=out,
                       engine="pandas", run_id="r1")
    acc, rej = _read(out, "accepted"), _read(out, "rejected")
    assert o.rows_in == 3000 == acc.num_rows + rej.num_rows == o.accepted + o.rejected
    assert o.oracle_agrees is True
    assert acc.column_names == [*COLUMNS, "source_key", "source_row"]
    assert rej.column_names == [*COLUMNS, "source_key", "source_row", "comments", "reject_reasons"]
    assert rej.schema.field("reject_reasons").type == pa.list_(pa.string())
    rows = sorted(acc.column("source_row").to_pylist() + rej.column("source_row").to_pylist())
    assert rows == list(range(3000))  # each row exactly once
    for comment, reasons in zip(rej.column("comments").to_pylist(), rej.column("reject_reasons").to_pylist()):
        assert reasons and comment == "|".join(reasons)
        assert reasons == [m for m in MSGS if m in reasons]  # rule order
    # rows are the CSV's rows, as strings
    frame = generate_jobs_frame(3000, seed=11)
    r0 = acc.slice(0, 1).to_pylist()[0]
    assert r0["uniq_id"] == frame.loc[r0["source_row"], "uniq_id"]
    assert set(o.files) >= {f"accepted/dataset=jobs/ingest_date=2024-05-01/{_src(jobs_csv).file_id}.parquet",
                            o.report_path}
    report = json.loads((out / o.report_path).read_text())
    assert report["outcome"]["rules_used"]["version"] == 2
    assert report["outcome"]["rules_used"]["digest"] == RULES.digest
    assert report["great_expectations"]["results"]
    assert (out / o.report_path).parent.joinpath("data_docs", "index.html").exists()
    assert json.loads(json.dumps(o.to_dict()))["per_rule"][0]["rule_id"].startswith("organization:")
    assert [p["failed_rows"] for p in o.per_rule] == [o.oracle_unexpected[p["rule_id"]] for p in o.per_rule]


def test_rerun_overwrites_instead_of_duplicating(tmp_path, jobs_csv):
    out = tmp_path / "lake"
    for run in ("r1", "r2"):
        run_validation(dataset="jobs", sources=[_src(jobs_csv)], ruleset=RULES, output_dir=out, engine="pandas",
                       run_id=run, with_oracle=False)
    assert _read(out, "accepted").num_rows + _read(out, "rejected").num_rows == 3000
    assert len(list((out / "accepted").rglob("*.parquet"))) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dq-")]  # staging cleaned


def test_fail_severity_raises_and_leaves_no_output(tmp_path, jobs_csv):
    items = reference_rules("jobs")
    items[0]["rules"][0].update(severity="fail", max_failure_rate=0.05)
    rs = RuleSet.from_items("jobs", items)
    out = tmp_path / "lake"
    with pytest.raises(ValidationFailedError, match="organization") as exc:
        run_validation(dataset="jobs", sources=[_src(jobs_csv)], ruleset=rs, output_dir=out, engine="pandas",
                       run_id="r1")
    assert exc.value.failures[0]["rule_id"] == "organization:expect_column_values_to_not_be_null"
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    # under the threshold it passes, and a fail rule does not reject rows by itself
    items[0]["rules"][0]["max_failure_rate"] = 0.5
    o = run_validation(dataset="jobs", sources=[_src(jobs_csv)], ruleset=RuleSet.from_items("jobs", items),
                       output_dir=out, engine="pandas", run_id="r2", with_oracle=False)
    assert o.per_rule[0]["failed_rows"] > 0 and o.per_rule[0]["severity"] == "fail"
    assert "REJECT:null_values_found_in_organization" not in "".join(_read(out, "rejected").column("comments").to_pylist())


def test_warn_rules_are_counted_but_do_not_reject(tmp_path, jobs_csv):
    items = reference_rules("jobs")
    for it in items:
        it["rules"][0]["severity"] = "warn"
    o = run_validation(dataset="jobs", sources=[_src(jobs_csv)], ruleset=RuleSet.from_items("jobs", items),
                       output_dir=tmp_path / "lake", engine="pandas", run_id="w", with_oracle=False)
    assert o.rejected == 0 and o.accepted == 3000
    assert all(p["failed_rows"] > 0 for p in o.per_rule) and o.warnings


def test_formats_gzip_and_several_sources(tmp_path, jobs_csv):
    frame = generate_jobs_frame(3000, seed=11)
    gz = tmp_path / "jobs.csv.bin"
    gz.write_bytes(gzip.compress(jobs_csv.read_bytes()))
    jl = tmp_path / "jobs.jsonl"
    frame.to_json(jl, orient="records", lines=True)
    pqf = tmp_path / "jobs.parquet"
    frame.to_parquet(pqf, index=False)
    sources = [_src(gz, "k/gz.csv.gz", "csv", "gzip"), _src(jl, "k/a.jsonl", "jsonl"),
               _src(pqf, "k/b.parquet", "parquet")]
    o = run_validation(dataset="jobs", sources=sources, ruleset=RULES, output_dir=tmp_path / "lake",
                       engine="pandas", run_id="multi")
    assert o.rows_in == 9000 and o.oracle_agrees
    per = [o.per_source[s.key] for s in sources]
    assert per[0] == per[1] == per[2]  # same rows, same verdicts, whatever the format
    assert len(o.files) == 2 * 3 + 2


def test_sources_must_be_declared_correctly(tmp_path):
    from quality_rules.exceptions import SourceReadError

    with pytest.raises(SourceReadError, match="format"):
        SourceFile(key="k", path=tmp_path, format="xml", compression="none", ingest_date="2024-05-01")
    bad = tmp_path / "x.csv"
    bad.write_bytes(b"not gzip")
    with pytest.raises(SourceReadError, match="declared"):
        run_validation(dataset="jobs", sources=[_src(bad, comp="gzip", fmt="parquet")], ruleset=RULES,
                       output_dir=tmp_path / "lake", engine="pandas", run_id="x")
