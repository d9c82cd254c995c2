"""Named users, roles and dataset grants over the real local endpoint: API, UI sessions, audit."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from catalog import components as catalog_components
from catalog.api import create_app
from catalog.indexer import doc_id, to_search_doc
from catalog.search.embedded import TantivySearchIndex
from catalog.ui import COOKIE
from catalog.users import THROTTLE_MAX_FAILURES
from datalake.local.provision import provision
from datalake_base import aws
from ingestion import components
from ingestion.events import ObjectEvent
from quality_rules.store import rules_store

ADMIN_TOKEN = "a" * 32


@pytest.fixture
def lake(local_settings, tmp_path):
    provision(local_settings)
    s3 = aws.client("s3", local_settings)
    for key, body in (("jobs/a.csv", b"organization,job_type\nAcme,Full Time\n"), ("salaries/b.csv", b"name,salary\nx,1\n")):
        s3.put_object(Bucket=local_settings.landing_bucket, Key=key, Body=body)
        components.arrivals(local_settings).process(ObjectEvent(
            kind="created", bucket=local_settings.landing_bucket, key=key, event_name="ObjectCreated:Put",
            event_time="2026-11-25T10:00:00Z", source="s3"))
    index = TantivySearchIndex(tmp_path / "search.tantivy")
    store = catalog_components.catalog_store(local_settings)
    for ds in ("jobs", "salaries"):
        for item in [*store.list_objects(ds), store.get_dataset(ds)]:
            index.upsert(doc_id(item), to_search_doc(item))
    users = catalog_components.user_store(local_settings)
    app = create_app(token=ADMIN_TOKEN, store=lambda: store, search=lambda: index,
                     rules=lambda: rules_store(local_settings), users=lambda: users, secure_cookie=False)
    tokens = {"reader": users.add("rita", "reader", ["jobs"]), "editor": users.add("ed", "editor"),
              "admin": users.add("ada", "admin")}
    return TestClient(app, follow_redirects=False), users, tokens, local_settings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_shown_once_and_stored_only_as_hashes(lake) -> None:
    _, users, tokens, settings = lake
    raw = aws.client("dynamodb", settings).scan(TableName=settings.catalog_table)["Items"]
    dump = repr(raw)
    for token in tokens.values():
        assert token.split("_", 2)[2] not in dump  # the secret part never reaches the table
    assert users.authenticate(tokens["reader"]).name == "rita"
    assert users.authenticate(tokens["reader"][:-1] + "x") is None
    assert users.authenticate("dlk_nope_nope") is None
    users.remove("rita")
    assert users.authenticate(tokens["reader"]) is None


def test_a_reader_sees_only_granted_datasets_in_lists_pages_and_search(lake) -> None:
    client, _, tokens, _ = lake
    h = bearer(tokens["reader"])
    assert [d["dataset"] for d in client.get("/datasets", headers=h).json()] == ["jobs"]
    assert client.get("/datasets/salaries", headers=h).status_code == 404  # same answer as a missing one
    found = client.get("/search", params={"q": "salar"}, headers=h).json()
    assert found["total"] == 0 and found["facets"]["kind"] == {}
    assert client.get("/search", params={"q": "salar"}, headers=bearer(tokens["editor"])).json()["total"] == 2
    assert client.get("/me", headers=h).json() == {"name": "rita", "role": "reader", "datasets": ["jobs"]}


def test_editors_change_metadata_and_rules_and_the_audit_log_says_who(lake) -> None:
    client, _, tokens, _ = lake
    change = {"owner": "people-data", "tags": {"domain": "hr"}}
    assert client.patch("/datasets/jobs", json=change, headers=bearer(tokens["reader"])).status_code == 403
    resp = client.patch("/datasets/jobs", json=change, headers=bearer(tokens["editor"]))
    assert resp.status_code == 200 and resp.json()["owner"] == "people-data" and resp.json()["tags"] == {"domain": "hr"}
    assert client.patch("/datasets/jobs", json={"colour": "red"}, headers=bearer(tokens["editor"])).status_code == 422
    rule = [{"id": "jobs-organization", "dataset_name": "jobs", "column_name": "organization",
             "rules": [{"name": "expect_column_values_to_not_be_null", "kwargs": {}, "reject_msg": "REJECT:null_org"}]}]
    assert client.put("/rules", json=rule, headers=bearer(tokens["reader"])).status_code == 403
    assert client.put("/rules", json=rule, headers=bearer(tokens["editor"])).status_code == 200
    log = client.get("/datasets/jobs/audit", headers=bearer(tokens["reader"])).json()
    assert [(e["actor"], e["action"]) for e in log] == [("ed", "rules.put"), ("ed", "dataset.metadata")]
    assert log[1]["detail"]["owner"] == {"from": None, "to": "people-data"}


def _sign_in(client: TestClient, token: str) -> str:
    resp = client.post("/ui/login", data={"token": token})
    assert resp.status_code == 303, resp.text
    return resp.cookies[COOKIE]


def _csrf(page_html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page_html).group(1)


def test_logout_revokes_the_session_even_for_a_copied_cookie(lake) -> None:
    client, _, tokens, _ = lake
    cookie = _sign_in(client, tokens["reader"])
    page = client.get("/ui")
    assert page.status_code == 200 and "rita · reader" in page.text
    assert client.post("/ui/logout", data={"csrf": "forged"}).status_code == 403  # CSRF checked
    assert client.post("/ui/logout", data={"csrf": _csrf(page.text)}).status_code == 303
    client.cookies.set(COOKIE, cookie)  # replaying the old cookie
    assert client.get("/ui").status_code == 303


def test_sign_in_is_throttled_after_repeated_failures(lake) -> None:
    client, _, tokens, _ = lake
    for _ in range(THROTTLE_MAX_FAILURES):
        assert client.post("/ui/login", data={"token": "dlk_bad_guess"}).status_code == 401
    blocked = client.post("/ui/login", data={"token": tokens["admin"]})  # even the right token waits
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0


def test_tags_edited_in_the_ui_by_an_editor_and_refused_for_a_reader(lake) -> None:
    client, _, tokens, _ = lake
    _sign_in(client, tokens["editor"])
    page = client.get("/ui/dataset", params={"name": "jobs"})
    form = {"csrf": _csrf(page.text), "name": "jobs", "owner": "people-data", "description": "Job postings",
            "tags": "team=talent, pii=false"}
    assert client.post("/ui/dataset/edit", data=form).status_code == 303
    shown = client.get("/ui/dataset", params={"name": "jobs"}).text
    assert 'value="team=talent, pii=false"' in shown and "dataset.metadata" in shown
    bad = client.post("/ui/dataset/edit", data={**form, "tags": "no-equals-sign"})
    assert bad.status_code == 200 and "is not key=value" in bad.text

    reader = TestClient(client.app, follow_redirects=False)
    _sign_in(reader, tokens["reader"])
    page = reader.get("/ui/dataset", params={"name": "jobs"})
    assert 'action="/ui/dataset/edit"' not in page.text  # no form for readers
    refused = reader.post("/ui/dataset/edit", data={**form, "csrf": _csrf(page.text)})
    assert refused.status_code == 403 and "only editors and admins" in refused.text


def test_api_docs_are_offline_and_need_a_session_or_token(lake) -> None:
    client, _, tokens, _ = lake
    assert client.get("/docs").status_code == 303 and client.get("/openapi.json").status_code == 303
    assert client.get("/openapi.json", headers=bearer(tokens["reader"])).json()["info"]["title"] == "datalake catalog"
    _sign_in(client, tokens["reader"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/ui/static/swagger/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower() and "'sha256-" in docs.headers["content-security-policy"]
    js = client.get("/ui/static/swagger/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000


def test_an_editor_limited_to_some_datasets_changes_rules_only_there(lake) -> None:
    client, users, tokens, _ = lake
    limited = bearer(users.add("lim", "editor", ["jobs"]))
    rule = {"dataset_name": "salaries", "column_name": "name",
            "rules": [{"name": "expect_column_values_to_not_be_null", "kwargs": {}, "reject_msg": "REJECT:null_name"}]}
    assert client.put("/rules", json=[{**rule, "id": "salaries-name"}], headers=limited).status_code == 404
    assert client.put("/rules", json=[{**rule, "id": "salaries-name"}], headers=bearer(tokens["editor"])).status_code == 200
    assert client.delete("/rules/salaries-name", headers=limited).status_code == 404
    jobs_rule = {**rule, "id": "jobs-name", "dataset_name": "jobs"}
    assert client.put("/rules", json=[jobs_rule], headers=limited).status_code == 200
    assert client.delete("/rules/jobs-name", headers=limited).status_code == 200
