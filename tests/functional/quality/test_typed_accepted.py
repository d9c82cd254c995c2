"""Accepted rows of CSV sources are cast to the crawler's types; rows failing a cast are rejected."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quality_rules.model import RuleSet
from quality_rules.runner import SourceFile, run_validation

RULES = RuleSet.from_items("t", [{"id": "t-name", "dataset_name": "t", "column_name": "name", "rules": [
    {"name": "expect_column_values_to_not_be_null", "kwargs": {}, "reject_msg": "R:name"}]}])
TYPES = {"name": pa.string(), "delay": pa.int64(), "fare": pa.float64(), "dep": pa.timestamp("ms")}
CSV = b"name,delay,fare,dep\na,5,1.5,2024-01-02 03:04:05\nb,x7,2.0,2024-01-02 03:04:05\n,3,1.0,2024-01-02 03:04:05\nc,,,\nd,4,2.5,yesterday\n"


def _run(tmp_path: Path, engine: str):
    src = tmp_path / "t.csv"
    src.write_bytes(CSV)
    o = run_validation(dataset="t", sources=[SourceFile("landing/t/t.csv", src, "csv", "none", "2024-05-01")],
                       ruleset=RULES, output_dir=tmp_path / "out", engine=engine, run_id="r", with_oracle=False,
                       column_types=TYPES)
    acc = pa.concat_tables([pq.read_table(f) for f in (tmp_path / "out" / "accepted").rglob("*.parquet")])
    rej = pa.concat_tables([pq.read_table(f) for f in (tmp_path / "out" / "rejected").rglob("*.parquet")])
    return o, acc, rej


def _check(o, acc, rej):
    assert acc.schema.field("delay").type == pa.int64() and acc.schema.field("dep").type == pa.timestamp("ms")
    assert acc.column("name").to_pylist() == ["a", "c"] and acc.column("delay").to_pylist() == [5, None]
    reasons = dict(zip(rej.column("source_row").to_pylist(), rej.column("comments").to_pylist()))
    assert reasons == {2: "R:name", 1: "REJECT:type:delay:int64", 4: "REJECT:type:dep:timestamp[ms]"}
    assert (o.accepted, o.rejected, o.rows_in) == (2, 3, 5)
    assert o.per_source["landing/t/t.csv"] == {"rows": 5, "accepted": 2, "rejected": 3}
    assert {p["rule_id"]: p["failed_rows"] for p in o.per_rule if p["name"] == "type_cast"} == {"delay:type": 1, "dep:type": 1}


def test_pandas_split_casts_accepted_rows_and_rejects_the_ones_that_do_not_parse(tmp_path):
    _check(*_run(tmp_path, "pandas"))


@pytest.mark.spark
def test_spark_split_gives_the_same_typed_output(spark, tmp_path):
    _check(*_run(tmp_path, "spark"))


def test_the_glue_job_takes_the_column_types_as_glue_type_strings(tmp_path, capsys):
    import json

    from glue_jobs.validate_job import main

    src = tmp_path / "t.csv"
    src.write_bytes(CSV)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([i.to_item() for i in RULES.items]))
    sources = json.dumps([SourceFile("landing/t/t.csv", src, "csv", "none", "2024-05-01").to_dict()])
    code = main(["validate_job", "--dataset", "t", "--sources", sources, "--output_path", str(tmp_path / "out"),
                 "--rules_file", str(rules), "--engine", "pandas", "--with_oracle", "false",
                 "--column_types", json.dumps({"delay": "bigint", "dep": "timestamp"})])
    outcome = json.loads(capsys.readouterr().out)
    assert code == 0 and outcome["typed_columns"]["delay"] == "int64" and outcome["rejected"] == 3
