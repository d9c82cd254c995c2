"""The walking skeleton, end to end, against a live local lake (endpoint + runtime processes).

The demo only drops files: the automatic pipeline (debounce, lease, local state machine, Glue job on
local Spark) does the rest.

Drives the demo flow and checks what a user sees with means independent of the code under test:
the catalog records in DynamoDB, a search hit, the split Parquet read back from the lake bucket,
Great Expectations run directly on the source rows, and a query answer recomputed with pandas.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import great_expectations as gx
import pandas as pd
import pyarrow.parquet as pq
import pytest

from datalake_base import aws
from datalake.demo import DATASET, RULES_FILE, run_demo, sample_files
from datalake_base.settings import Settings
from tests.fixtures.lake import lake_environment

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
ROWS = 4000


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    # As `make demo` on a new machine: no AWS credentials or region in the environment.
    with lake_environment(tmp_path_factory.mktemp("lake-state"), fresh_shell=True) as settings:
        yield settings, run_demo(settings, rows=ROWS, engine="spark", say=lambda _: None)


def _source_frame(settings: Settings) -> pd.DataFrame:
    drops = sample_files(settings.state_path / "check", ROWS)
    frames = []
    for key, body in drops.items():
        if "broken" in key:
            continue
        data = gzip.decompress(body) if key.endswith(".gz") else body
        frames.append(pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""]))
    return pd.concat(frames, ignore_index=True)


def _lake_parquet(settings: Settings, side: str) -> pd.DataFrame:
    s3 = aws.client("s3", settings)
    listing = s3.list_objects_v2(Bucket=settings.lake_bucket, Prefix=f"{side}/dataset={DATASET}/")
    tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=settings.lake_bucket, Key=o["Key"])["Body"].read()))
              for o in listing.get("Contents", []) if o["Key"].endswith(".parquet")]
    return pd.concat([t.to_pandas() for t in tables], ignore_index=True)


def _ge_unexpected_counts(df: pd.DataFrame) -> dict[str, int]:
    """Great Expectations' own unexpected count for each reference rule, keyed by reject message."""
    ctx = gx.get_context(mode="ephemeral")
    batch = (ctx.data_sources.add_pandas("e2e").add_dataframe_asset("jobs")
             .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": df}))
    counts = {}
    for item in json.loads(Path(RULES_FILE).read_text()):
        for rule in item["rules"]:
            cls = getattr(gx.expectations, "Expect" + "".join(p.title() for p in rule["name"].split("_")[1:]))
            kwargs = {k: v for k, v in rule["kwargs"].items() if k != "result_format"}
            result = batch.validate(cls(column=item["column_name"], **kwargs), result_format="SUMMARY")
            counts[rule["reject_msg"]] = result.result["unexpected_count"]
    return counts


def test_every_dropped_file_has_a_catalog_record_with_a_status(lake):
    settings, summary = lake
    by_key = {f["key"]: f for f in summary.files}
    assert by_key[f"{DATASET}/batch=1/postings.csv"]["status"] in ("ingested", "validated", "loaded")
    assert by_key[f"{DATASET}/batch=2/postings.csv.gz"]["compression"] == "gzip"
    broken = by_key[f"{DATASET}/batch=3/broken.csv"]
    assert broken["status"] == "quarantined" and "ragged" in broken["status_reason"]
    total = sum(f["row_count"] for f in summary.files if f["status"] != "quarantined")
    assert total == ROWS


def test_search_finds_the_dataset_by_column_name(lake):
    from catalog.search import build_search_index

    settings, summary = lake
    hits = build_search_index(settings).search("organiz")
    assert any(h.doc.get("dataset") == DATASET for h in hits)
    assert summary.search_hit is not None


def test_split_partitions_every_row_and_matches_great_expectations(lake):
    settings, summary = lake
    source = _source_frame(settings)
    accepted, rejected = _lake_parquet(settings, "accepted"), _lake_parquet(settings, "rejected")

    assert len(accepted) + len(rejected) == len(source) == summary.outcome["rows_in"]
    assert summary.outcome["engine"] == "spark"  # the automatic run took the state machine's Glue-job branch
    lineage = pd.concat([accepted, rejected])[["source_key", "source_row"]]
    assert not lineage.duplicated().any()
    per_rule_rejected = {msg: int(rejected["reject_reasons"].apply(lambda rs, m=msg: m in list(rs)).sum())
                         for msg in _ge_unexpected_counts(source)}
    assert per_rule_rejected == _ge_unexpected_counts(source)
    assert (rejected["comments"] == rejected["reject_reasons"].apply(lambda rs: "|".join(rs))).all()
    assert set(accepted.columns) == set(source.columns) | {"source_key", "source_row"}


def test_query_answer_matches_an_independent_count(lake):
    from athena_queries.engine import run_query

    settings, summary = lake
    rejected = _lake_parquet(settings, "rejected")
    expected = rejected.explode("reject_reasons")["reject_reasons"].value_counts().to_dict()
    assert {r[0]: r[1] for r in summary.query_rows} == expected
    res = run_query(settings, f"SELECT count(*) FROM accepted_{DATASET} WHERE organization IS NOT NULL")
    assert res.rows[0][0] == len(_lake_parquet(settings, "accepted"))


def test_accepted_rows_are_loaded_into_the_warehouse(lake):
    from warehouse import build_warehouse

    settings, summary = lake
    accepted = _lake_parquet(settings, "accepted")
    assert summary.loaded_rows == len(accepted)
    res = build_warehouse(settings).query(f"SELECT count(*) FROM dq_accepted.{DATASET}")
    assert res.rows[0][0] == len(accepted)
