"""The catalog JSON API over the real local endpoint: authentication, datasets, search, rules CRUD."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from catalog.api import create_app
from catalog.indexer import doc_id, to_search_doc
from catalog.search.embedded import TantivySearchIndex
from datalake_base import aws
from catalog import components as catalog_components
from ingestion import components
from datalake.demo import RULES_FILE
from datalake.local.provision import provision
from quality_rules.store import rules_store
from ingestion.events import ObjectEvent

TOKEN = "t" * 32


@pytest.fixture
def client(local_settings, tmp_path):
    provision(local_settings)
    s3 = aws.client("s3", local_settings)
    s3.put_object(Bucket=local_settings.landing_bucket, Key="jobs/a.csv", Body=b"organization,job_type\nAcme,Full Time\n")
    components.arrivals(local_settings).process(ObjectEvent(
        kind="created", bucket=local_settings.landing_bucket, key="jobs/a.csv", event_name="ObjectCreated:Put",
        event_time="2026-11-25T10:00:00Z", source="s3"))
    index = TantivySearchIndex(tmp_path / "search.tantivy")
    index.ensure()
    store = catalog_components.catalog_store(local_settings)
    for item in [*store.list_objects("jobs"), store.get_dataset("jobs")]:
        item = {**item, "pk": "DS#jobs"}
        index.upsert(doc_id(item), to_search_doc(item))
    app = create_app(token=TOKEN, store=lambda: store, search=lambda: index, rules=lambda: rules_store(local_settings),
                     users=lambda: catalog_components.user_store(local_settings))
    return TestClient(app)


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("headers", [{}, auth("wrong-token-wrong-token")])
def test_requests_without_the_right_token_are_refused(client, headers):
    resp = client.get("/datasets", headers=headers)
    assert resp.status_code == 401


def test_app_refuses_to_start_without_a_strong_token():
    with pytest.raises(ValueError, match="DATALAKE_API_TOKEN"):
        create_app(token="short", store=lambda: None, search=lambda: None, rules=lambda: None)


def test_datasets_and_files_are_listed_without_internal_keys(client):
    resp = client.get("/datasets", headers=auth())
    assert resp.status_code == 200, resp.text
    datasets = resp.json()
    assert [d["dataset"] for d in datasets] == ["jobs"]
    detail = client.get("/datasets/jobs", headers=auth()).json()
    assert detail["files"][0]["key"] == "jobs/a.csv" and "pk" not in detail["files"][0]
    assert client.get("/datasets/nope", headers=auth()).status_code == 404


def test_search_finds_a_file_by_column_name(client):
    body = client.get("/search", params={"q": "job_type"}, headers=auth()).json()
    assert any(h["doc"].get("key") == "jobs/a.csv" for h in body["hits"])
    assert [g["dataset"] for g in body["groups"]] == ["jobs"]


@pytest.fixture
def search_client(tmp_path):
    """The API over an index holding the contract suite's documents plus 25 more files."""
    from tests.functional.search.docs import ALL, object_doc

    index = TantivySearchIndex(tmp_path / "search.tantivy")
    more = {f"s3://l/raw/job_reqs/p{i:02d}.csv": object_doc("job_reqs", f"raw/job_reqs/p{i:02d}.csv",
                                                            arrival_time=f"2026-02-{i + 1:02d}T00:00:00Z")
            for i in range(25)}
    index.upsert_many([*ALL.items(), *more.items()])
    app = create_app(token=TOKEN, store=lambda: None, search=lambda: index, rules=lambda: None)
    return TestClient(app)


def test_search_pages_group_files_under_their_dataset_with_facets(search_client):
    body = search_client.get("/search", params={"q": "job_reqs", "per_page": 10}, headers=auth()).json()
    assert body["total"] == 27 and body["pages"] == 3 and len(body["hits"]) == 10
    assert body["hits"][0]["id"] == "dataset#job_reqs"  # the dataset before its files
    (group,) = body["groups"]
    assert group["hit"]["id"] == "dataset#job_reqs" and group["file_matches"] == 9
    assert body["facets"]["kind"] == {"object": 26, "dataset": 1}
    assert body["facets"]["partition_key"] == {"ingest_date": 1}
    page3 = search_client.get("/search", params={"q": "job_reqs", "per_page": 10, "page": 3}, headers=auth()).json()
    assert len(page3["hits"]) == 7


def test_search_filters_are_repeatable_and_narrow_hits_and_facets(search_client):
    body = search_client.get("/search?format=parquet&format=jsonl", headers=auth()).json()
    assert {h["doc"]["dataset"] for h in body["hits"]} == {"sales", "weather"}
    assert body["facets"]["format"] == {"jsonl": 1, "parquet": 1}
    body = search_client.get("/search", params={"q": "organization", "tag": "team=talent-analytics"}, headers=auth()).json()
    assert [h["doc"]["key"] for h in body["hits"]] == ["raw/job_reqs/ingest_date=2026-01-15/part_0001.csv"]


def test_typo_in_a_name_is_found_and_highlights_come_back(search_client):
    body = search_client.get("/search", params={"q": "orgnization"}, headers=auth()).json()
    assert body["groups"][0]["dataset"] == "job_reqs"
    body = search_client.get("/search", params={"q": "2024-03"}, headers=auth()).json()
    assert body["hits"][0]["highlights"]["key"] == ["raw/sales/<em>2024-03</em>/orders.parquet"]


@pytest.mark.parametrize("params", [{"fromat": "csv"}, {"limit": "5"}])
def test_unknown_filter_is_a_400_listing_the_valid_ones(search_client, params):
    resp = search_client.get("/search", params=params, headers=auth())
    assert resp.status_code == 400
    assert resp.json()["valid_filters"] == ["kind", "dataset", "status", "format", "owner", "tag", "partition_key", "quality"]


@pytest.mark.parametrize("params", [{"page": "0"}, {"per_page": "1000"}, {"page": "x"}, {"page": "600"}])
def test_bad_page_parameters_are_a_400_with_the_allowed_range(search_client, params):
    resp = search_client.get("/search", params=params, headers=auth())
    assert resp.status_code == 400 and resp.json()["detail"]


def test_rules_crud_versions_every_change(client):
    items = json.loads(RULES_FILE.read_text())
    put = client.put("/rules", json=items, headers=auth()).json()
    assert put == {"dataset": "jobs", "version": 1, "digest": put["digest"]}
    got = client.get("/rules/jobs", headers=auth()).json()
    assert [i["id"] for i in got["items"]] == [i["id"] for i in items]

    deleted = client.delete(f"/rules/{items[0]['id']}", headers=auth()).json()
    assert deleted["version"] == 2
    history = client.get("/rules/jobs/history", headers=auth()).json()
    assert [h["version"] for h in history] == [1, 2]
    assert len(client.get("/rules/jobs", params={"version": 1}, headers=auth()).json()["items"]) == len(items)


def test_unknown_expectation_is_a_clear_400(client):
    bad = [{"id": "jobs-x", "dataset_name": "jobs", "column_name": "x",
            "rules": [{"name": "expect_column_values_to_be_purple", "kwargs": {}, "reject_msg": "REJECT:x"}]}]
    resp = client.put("/rules", json=bad, headers=auth())
    assert resp.status_code == 400 and "expect_column_values_to_be_purple" in resp.json()["detail"]
