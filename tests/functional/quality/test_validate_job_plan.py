"""The Glue job in plan mode (what the state machine starts): sources and lake named by URI.

In AWS the URIs are s3:// and Spark reads and writes them on the cluster; here the same code runs
with file:// (Spark) and with s3:// on the moto endpoint (pandas engine, pyarrow's S3 filesystem),
and its output is compared with the established local path (run_validation on plain local files).
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from datalake.samples import generate_jobs_csv, generate_jobs_frame, reference_rules
from glue_jobs.validate_job import main
from quality_rules.job_io import JobOutcome, JobPlan, outcome_key
from quality_rules.model import RuleSet
from quality_rules.runner import SourceFile, run_validation
from quality_rules.exceptions import QualityRulesError

RULES = Path(__file__).resolve().parents[3] / "quality_rules" / "reference_rules.json"
LANDING = "landing-bucket"


def _stage(tmp_path: Path) -> tuple[Path, list[dict]]:
    """Two objects in two partitions, staged as <root>/<bucket>/<key>."""
    root = tmp_path / "stage"
    csv_key, jsonl_key = "jobs/2024-05-01/a.csv", "jobs/2024-05-02/b.jsonl"
    generate_jobs_csv(root / LANDING / csv_key, rows=1500, seed=3)
    (root / LANDING / jsonl_key).parent.mkdir(parents=True, exist_ok=True)
    generate_jobs_frame(700, seed=4).to_json(root / LANDING / jsonl_key, orient="records", lines=True)
    planned = [{"bucket": LANDING, "key": csv_key, "format": "csv", "compression": "none", "ingest_date": "2024-05-01"},
               {"bucket": LANDING, "key": jsonl_key, "format": "jsonl", "compression": "none", "ingest_date": "2024-05-02"}]
    return root, planned


def _reference(tmp_path: Path, root: Path, planned: list[dict], engine: str):
    """The established local path: run_validation on plain local files, flat layout."""
    sources = [SourceFile(p["key"], root / p["bucket"] / p["key"], p["format"], p["compression"], p["ingest_date"])
               for p in planned]
    rs = RuleSet.from_json_file(str(RULES), dataset="jobs")
    return run_validation(dataset="jobs", sources=sources, ruleset=rs, output_dir=tmp_path / "ref", engine=engine,
                          run_id="ref", with_oracle=False), sources


def _rows(table) -> list[tuple]:
    return sorted(zip(*(table.column(c).to_pylist() for c in sorted(table.column_names))), key=repr)


def _plan_args(planned: list[dict], run_id: str) -> list[str]:
    plan = {"dataset": "jobs", "action": "validate", "engine": "spark", "sources": planned, "dates": ["2024-05-01", "2024-05-02"]}
    return ["validate_job", "--dataset", "jobs", "--run_id", run_id, "--plan", json.dumps(plan),
            "--rules_file", str(RULES), "--catalog_table", "catalog", "--with_oracle", "false", "--JOB_NAME", "x"]


@pytest.mark.spark
def test_job_on_file_uris_writes_the_same_split_into_run_scoped_folders(spark, tmp_path, capsys):
    root, planned = _stage(tmp_path)
    lake = tmp_path / "lake"
    rc = main(_plan_args(planned, "r1") + ["--stage_root", f"file://{root}", "--lake_uri", f"file://{lake}"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0, printed
    ref, sources = _reference(tmp_path, root, planned, "spark")
    written = JobOutcome.from_json((lake / outcome_key("jobs", "r1")).read_text())
    assert written.status == "succeeded" and written.outcome["per_source"] == ref.per_source
    assert (printed["accepted"], printed["rejected"]) == (ref.accepted, ref.rejected)
    for src in sources:
        for side in ("accepted", "rejected"):
            got = lake / side / "dataset=jobs" / f"ingest_date={src.ingest_date}" / "run=r1" / f"{src.file_id}.parquet"
            want = tmp_path / "ref" / side / "dataset=jobs" / f"ingest_date={src.ingest_date}" / f"{src.file_id}.parquet"
            assert _rows(pq.read_table(got)) == _rows(pq.read_table(want)), (side, src.key)
    assert not [p for p in (lake / "_runs").rglob("*") if p.is_file() and p.name != "outcome.json"]


def test_in_process_job_writes_the_split_into_an_s3_lake_on_the_local_endpoint(tmp_path, local_settings, monkeypatch,
                                                                                capsys):
    # The Arrow engine reads local (staged) copies; the lake it writes into is s3:// itself.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", local_settings.effective_endpoint)
    root, planned = _stage(tmp_path)
    s3 = boto3.client("s3", endpoint_url=local_settings.effective_endpoint, region_name="us-east-1")
    for bucket in (LANDING, "lake"):
        s3.create_bucket(Bucket=bucket)
    for p in planned:
        s3.upload_file(str(root / LANDING / p["key"]), LANDING, p["key"])
    rc = main(_plan_args(planned, "r2") + ["--lake_bucket", "lake", "--engine", "pandas", "--stage_root", f"file://{root}"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0, printed
    ref, sources = _reference(tmp_path, root, planned, "pandas")
    # (pyarrow may leave an empty "folder/" marker object; it holds no data)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"] if not o["Key"].endswith("/"))
    expected = sorted([f"{side}/dataset=jobs/ingest_date={s.ingest_date}/run=r2/{s.file_id}.parquet"
                       for s in sources for side in ("accepted", "rejected")]
                      + ["reports/dataset=jobs/run_id=r2/validation_result.json", outcome_key("jobs", "r2")])
    assert keys == expected  # nothing left in the staging prefix
    outcome = JobOutcome.from_json(s3.get_object(Bucket="lake", Key=outcome_key("jobs", "r2"))["Body"].read())
    assert outcome.status == "succeeded" and outcome.outcome["per_source"] == ref.per_source
    for src in sources:
        got = tmp_path / "got.parquet"
        s3.download_file("lake", f"rejected/dataset=jobs/ingest_date={src.ingest_date}/run=r2/{src.file_id}.parquet", str(got))
        want = tmp_path / "ref" / "rejected" / "dataset=jobs" / f"ingest_date={src.ingest_date}" / f"{src.file_id}.parquet"
        assert _rows(pq.read_table(got)) == _rows(pq.read_table(want))


def test_a_failing_run_writes_a_failed_outcome_and_no_data(tmp_path, capsys):
    root, planned = _stage(tmp_path)
    rules = json.loads(RULES.read_text())
    for item in rules:
        for rule in item["rules"]:
            rule["severity"] = "fail"  # any failing row breaches
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(rules))
    lake = tmp_path / "lake"
    args = _plan_args(planned, "r3") + ["--stage_root", f"file://{root}", "--lake_uri", f"file://{lake}",
                                        "--engine", "pandas"]
    args[args.index("--rules_file") + 1] = str(strict)
    assert main(args) == 2
    outcome = JobOutcome.from_json((lake / outcome_key("jobs", "r3")).read_text())
    assert outcome.status == "failed" and "no output written" in outcome.error and outcome.failures
    assert [p for p in lake.rglob("*") if p.is_file()] == [lake / outcome_key("jobs", "r3")]
    assert "failures" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_plan_round_trips_and_a_malformed_plan_says_what_is_expected():
    plan = JobPlan.from_json({"dataset": "jobs", "sources": [{"bucket": "b", "key": "k.csv", "format": "csv",
                                                             "compression": "none", "ingest_date": "2024-05-01",
                                                             "version_id": "v1", "extra": 1}], "rules_version": 3})
    assert plan.sources[0].uri == "s3://b/k.csv" and plan.rules_version == 3
    assert JobPlan.from_json(json.dumps(plan.to_dict())) == plan
    with pytest.raises(QualityRulesError, match="plan is malformed"):
        JobPlan.from_json({"dataset": "jobs", "sources": [{"bucket": "b"}]})


def test_rules_in_the_plan_and_the_reference_rules_agree():
    assert [i["id"] for i in json.loads(RULES.read_text())] == [i["id"] for i in reference_rules("jobs")]


def test_publish_reads_the_outcome_the_job_wrote_and_a_missing_one_is_explained(tmp_path, local_settings, monkeypatch):
    from quality_rules.job_io import read_outcome, validate_plan

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", local_settings.effective_endpoint)
    root, planned = _stage(tmp_path)
    s3 = boto3.client("s3", endpoint_url=local_settings.effective_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    plan = JobPlan.from_json({"dataset": "jobs", "sources": planned})
    rs = RuleSet.from_json_file(str(RULES), dataset="jobs")
    # the in-process engine (the Lambda's) through the same function the Glue job runs
    outcome = validate_plan(plan, run_id="r4", lake="s3://lake/", ruleset=rs, engine="pandas",
                            stage_root=f"file://{root}", with_oracle=False)
    read = read_outcome(s3, "lake", "jobs", "r4")
    assert read.status == "succeeded" and read.outcome["rows_in"] == outcome.rows_in == 2200
    with pytest.raises(QualityRulesError, match="did not finish"):
        read_outcome(s3, "lake", "jobs", "no-such-run")
