"""The local lake survives `datalake down` + `datalake up`: a live lake, saved and restored."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from catalog.search import build_search_index
from catalog.store import CatalogStore
from datalake_base import aws
from datalake.exceptions import LocalLakeError
from datalake.local import lifecycle, snapshot
from pipeline.steps import crawl_dataset
from quality_rules.store import rules_store
from datalake_base.settings import Settings
from tests.fixtures.lake import lake_environment, wait_for

pytestmark = pytest.mark.e2e

RULES = [{
    "id": "kept-name", "dataset_name": "kept", "column_name": "name",
    "rules": [{"name": "expect_column_values_to_not_be_null", "kwargs": {}, "reject_msg": "REJECT:null_name"}],
}]
FIRST, SECOND = "kept/dt=2026-11-25/first.csv", "kept/dt=2026-11-26/second.csv"


@pytest.fixture
def lake_env(tmp_path):
    # Automatic pipeline runs off: these tests crawl by hand and compare statuses across a restart.
    with lake_environment(tmp_path / "state", DATALAKE_SNAPSHOT_DRAIN_WAIT="1", DATALAKE_PIPELINE_AUTO="false") as settings:
        yield settings


def _store(s: Settings) -> CatalogStore:
    return CatalogStore(s.catalog_table, aws.client("dynamodb", s))


def _catalogued(s: Settings, key: str) -> dict:
    def done():
        rec = next((o for o in _store(s).list_objects("kept") if o["key"] == key), None)
        return rec if rec and rec["status"] != "received" else None

    return wait_for(done)


def test_lake_is_saved_on_down_and_restored_on_up_without_reingestion(lake_env):
    s = lake_env
    # given a live lake with a catalogued file, rules and a crawled Glue table
    lifecycle.up(s, timeout=60)
    s3 = aws.client("s3", s)
    s3.put_object(Bucket=s.landing_bucket, Key=FIRST, Body=b"id,name\n1,ada\n2,grace\n", ContentType="text/csv",
                  Metadata={"owner": "team-a"}, Tagging="source=test")
    before = _catalogued(s, FIRST)
    assert before["status"] == "ingested"
    rules_store(s).put_items(RULES)
    crawled = crawl_dataset(s, "kept")
    index = build_search_index(s)
    wait_for(lambda: index.search("first", dataset="kept"))

    # when it is stopped and started again
    reports: list[dict] = []
    assert lifecycle.down(s, progress=reports.append)
    assert (s.state_path / "snapshot" / "manifest.json").is_file()
    assert (s.state_path / "search.tantivy").exists()  # kept for the restored lake
    manifest = snapshot.info(s)
    assert manifest["counts"]["buckets"][s.landing_bucket]["current_objects"] == 1
    aws.clear_clients()
    lifecycle.up(s, timeout=60, progress=reports.append)
    assert lifecycle.read_progress(s.state_path).get("restored")

    # then the object, its record (not re-ingested), the rules and the Glue table are back
    obj = s3.get_object(Bucket=s.landing_bucket, Key=FIRST)
    assert obj["Body"].read() == b"id,name\n1,ada\n2,grace\n"
    assert obj["ContentType"] == "text/csv" and obj["Metadata"] == {"owner": "team-a"}
    assert s3.get_object_tagging(Bucket=s.landing_bucket, Key=FIRST)["TagSet"] == [{"Key": "source", "Value": "test"}]
    after = next(o for o in _store(s).list_objects("kept") if o["key"] == FIRST)
    assert (after["status"], after["catalogued_at"], after["etag"]) == (before["status"], before["catalogued_at"], before["etag"])
    assert _store(s).get_dataset("kept")["file_count"] == 1
    assert [i["id"] for i in rules_store(s).get("kept").to_dict()["items"]] == ["kept-name"]
    table = aws.client("glue", s).get_table(DatabaseName=s.glue_database, Name=crawled.tables[0])["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [c["name"] for c in crawled.columns]
    parts = aws.client("glue", s).get_partitions(DatabaseName=s.glue_database, TableName=crawled.tables[0])["Partitions"]
    assert len(parts) == crawled.partitions_added

    # and the restored lake keeps working: a new drop is catalogued, search finds old and new files
    time.sleep(1.5)  # give the runtime time to (wrongly) re-ingest, if it were going to
    assert next(o for o in _store(s).list_objects("kept") if o["key"] == FIRST)["catalogued_at"] == before["catalogued_at"]
    s3.put_object(Bucket=s.landing_bucket, Key=SECOND, Body=b"id,name\n3,alan\n")
    assert _catalogued(s, SECOND)["status"] == "ingested"
    wait_for(lambda: index.search("first", dataset="kept"))
    wait_for(lambda: index.search("second", dataset="kept"))
    assert _store(s).get_dataset("kept")["file_count"] == 2


def test_damaged_snapshot_is_refused_whole_and_discard_starts_empty(lake_env):
    s = lake_env
    lifecycle.up(s, timeout=60)
    aws.client("s3", s).put_object(Bucket=s.landing_bucket, Key=FIRST, Body=b"id,name\n1,ada\n")
    _catalogued(s, FIRST)
    lifecycle.down(s)
    catalog = s.state_path / "snapshot" / "dynamodb" / f"{s.catalog_table}.jsonl"
    catalog.write_text(catalog.read_text()[:-10])  # a truncated file

    with pytest.raises(LocalLakeError) as err:
        lifecycle.up(s, timeout=60)
    assert "damaged" in str(err.value) and "datalake down --discard" in str(err.value)
    assert not lifecycle.status(s).running  # never left running half-restored

    lifecycle.down(s, discard=True)
    assert not snapshot.exists(s)
    aws.clear_clients()
    lifecycle.up(s, timeout=60)
    assert _store(s).list_objects("kept") == []
    assert not (s.state_path / "search.tantivy").exists() or not build_search_index(s).search("first")


def test_a_snapshot_of_another_format_version_names_the_fix(lake_env):
    s = lake_env
    root = s.state_path / "snapshot"
    root.mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps({"format": "datalake-local-snapshot", "version": 99}))
    with pytest.raises(LocalLakeError, match="format version 99.*down --discard"):
        lifecycle.up(s, timeout=60)
    assert Path(root / "manifest.json").exists()  # left for the user to decide
