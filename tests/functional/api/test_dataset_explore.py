"""The dataset page's data views over a validated dataset on the real local endpoint:
rejected rows by rule (paged, CSV), sample accepted rows, Athena snippet, lineage."""

from __future__ import annotations

import csv
import io
import json
import re

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from athena_queries.engine import run_query
from catalog import components as catalog_components
from catalog.api import create_app
from catalog.explore import UnknownRuleError, rejected_rows
from catalog.search.embedded import TantivySearchIndex
from datalake.demo import RULES_FILE
from datalake.local.provision import provision
from datalake.samples import generate_jobs_csv
from datalake_base import aws
from pipeline.steps import crawl_dataset, validate_dataset
from quality_rules.store import rules_store
from tests.fixtures.arrivals import arrive

KEY = "jobs/batch=1/postings.csv"
ADMIN = "a" * 32


@pytest.fixture
def lake(local_settings, tmp_path):
    provision(local_settings)
    path = tmp_path / "jobs.csv"
    generate_jobs_csv(path, rows=600, seed=5)
    arrive(local_settings, KEY, path)
    rules_store(local_settings).put_items(json.loads(RULES_FILE.read_text()))
    crawl_dataset(local_settings, "jobs")
    outcome = validate_dataset(local_settings, "jobs", engine="pandas").outcome.to_dict()
    store = catalog_components.catalog_store(local_settings)
    app = create_app(token=ADMIN, store=lambda: store, search=lambda: TantivySearchIndex(tmp_path / "idx"),
                     rules=lambda: rules_store(local_settings), users=lambda: catalog_components.user_store(local_settings),
                     query=lambda sql: run_query(local_settings, sql), secure_cookie=False,
                     fetch=lambda b, k: aws.client("s3", local_settings).get_object(Bucket=b, Key=k)["Body"].read())
    return local_settings, store, outcome, TestClient(app, follow_redirects=False)


def _rejected_oracle(settings) -> list[dict]:
    """Every rejected row, read straight from the Parquet the split wrote (pyarrow, not SQL)."""
    s3 = aws.client("s3", settings)
    rows = []
    for o in s3.list_objects_v2(Bucket=settings.lake_bucket, Prefix="rejected/dataset=jobs/")["Contents"]:
        body = s3.get_object(Bucket=settings.lake_bucket, Key=o["Key"])["Body"].read()
        rows += pq.read_table(io.BytesIO(body)).to_pylist()
    return rows


def test_rejected_rows_by_rule_match_the_parquet_and_the_validation_counts(lake) -> None:
    settings, store, outcome, client = lake
    ds = store.get_dataset("jobs")
    oracle = _rejected_oracle(settings)
    per_rule = ds["validation"]["per_rule"]
    rule = max(per_rule, key=per_rule.get)
    query = lambda sql: run_query(settings, sql)  # noqa: E731
    page = rejected_rows(query, "jobs", ds, rule=rule, limit=7)
    assert page["total"] == per_rule[rule] == sum(rule in r["reject_reasons"] for r in oracle)
    assert len(page["rows"]) == 7 and all(rule in r[page["columns"].index("reject_reasons")] for r in page["rows"])
    everything = rejected_rows(query, "jobs", ds, limit=200)
    assert everything["total"] == outcome["rejected"] == len(oracle)
    second = rejected_rows(query, "jobs", ds, rule=rule, offset=7, limit=7)
    lineage = [page["columns"].index(c) for c in ("source_key", "source_row")]
    assert not {tuple(r[i] for i in lineage) for r in second["rows"]} & {tuple(r[i] for i in lineage) for r in page["rows"]}
    with pytest.raises(UnknownRuleError, match="use one of"):
        rejected_rows(query, "jobs", ds, rule="x'; DROP TABLE t; --")


def test_rejected_rows_api_pages_filters_and_downloads_csv(lake) -> None:
    settings, store, outcome, client = lake
    h = {"Authorization": f"Bearer {ADMIN}"}
    per_rule = store.get_dataset("jobs")["validation"]["per_rule"]
    rule = min(per_rule, key=per_rule.get)
    body = client.get("/datasets/jobs/rejected", params={"rule": rule, "limit": 5}, headers=h).json()
    assert body["total"] == per_rule[rule] and len(body["rows"]) == min(5, per_rule[rule])
    resp = client.get("/datasets/jobs/rejected.csv", params={"rule": rule}, headers=h)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert 'filename="jobs-rejected' in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(rows) == per_rule[rule] and all(rule in r["reject_reasons"].split("|") for r in rows)
    assert client.get("/datasets/jobs/rejected", params={"rule": "nope"}, headers=h).status_code == 400


def test_dataset_overview_has_rules_sample_snippet_and_lineage(lake) -> None:
    settings, store, outcome, client = lake
    h = {"Authorization": f"Bearer {ADMIN}"}
    o = client.get("/datasets/jobs/overview", headers=h).json()
    assert [r["id"] for r in o["rules"]["items"]] and o["rules"]["version"] >= 1
    assert len(o["sample"]["rows"]) == 10 and "reject_reasons" not in o["sample"]["columns"]
    assert 'FROM "datalake"."accepted_jobs"' in o["athena_sql"]
    assert o["lineage"]["sources"][0]["key"] == KEY
    assert [t["table"] for t in o["lineage"]["tables"]] == ["datalake.accepted_jobs", "datalake.rejected_jobs"]
    assert o["runs"] is None  # run history arrives with the run records (another change)


def test_dataset_page_browses_rejected_rows_by_rule_and_serves_the_reports(lake) -> None:
    settings, store, outcome, client = lake
    assert client.post("/ui/login", data={"token": ADMIN}).status_code == 303
    per_rule = store.get_dataset("jobs")["validation"]["per_rule"]
    rule = min(per_rule, key=per_rule.get)
    page = client.get("/ui/dataset", params={"name": "jobs", "rule": rule})
    assert page.status_code == 200
    assert f"{per_rule[rule]:,} rejected row(s) failing {rule}" in page.text
    assert "Rules in force" in page.text and "Sample accepted rows" in page.text and "accepted_jobs" in page.text
    assert "batch=1" in page.text  # the partitions table
    csv_link = re.search(r'id="download-rejected" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    download = client.get(csv_link)
    assert download.status_code == 200 and len(list(csv.DictReader(io.StringIO(download.text)))) == per_rule[rule]
    docs_link = re.search(r'href="(/ui/artifacts/[^"]+)">Data Docs', page.text).group(1)
    docs = client.get(docs_link)
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "sandbox" in docs.headers["content-security-policy"]
    traversal = docs_link.rsplit("/", 2)[0] + "/../../etc/passwd"
    assert client.get(traversal).status_code == 404


def test_column_profile_matches_pandas_over_the_accepted_parquet(lake) -> None:
    settings, store, outcome, client = lake
    h = {"Authorization": f"Bearer {ADMIN}"}
    profile = client.get("/datasets/jobs/overview", headers=h).json()["profile"]
    s3 = aws.client("s3", settings)
    frames = [pq.read_table(io.BytesIO(s3.get_object(Bucket=settings.lake_bucket, Key=o["Key"])["Body"].read())).to_pandas()
              for o in s3.list_objects_v2(Bucket=settings.lake_bucket, Prefix="accepted/dataset=jobs/")["Contents"]]
    import pandas as pd

    df = pd.concat(frames)
    for col in ("organization", "job_type", "location"):
        p = profile[col]
        assert p["null_share"] == pytest.approx(df[col].isna().mean())
        exact = df[col].nunique()
        assert abs(p["distinct"] - exact) <= max(2, exact * 0.05)  # HyperLogLog estimate
        assert p["min"] == df[col].dropna().astype(str).min() and p["max"] == df[col].dropna().astype(str).max()
        assert len(p["samples"]) <= 3
