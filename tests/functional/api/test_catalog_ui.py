"""The catalog web UI: sign-in, search and browse, with untrusted names escaped."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from catalog.api import create_app
from catalog.indexer import doc_id, to_search_doc
from catalog.search.embedded import TantivySearchIndex
from catalog.ui import COOKIE
from datalake_base import aws
from catalog import components as catalog_components
from ingestion import components
from datalake.local.provision import provision
from quality_rules.store import rules_store
from ingestion.events import ObjectEvent

TOKEN = "u" * 32
HOSTILE = 'jobs/<script>alert("x")</script>.csv'


@pytest.fixture
def browser(local_settings, tmp_path):
    provision(local_settings)
    s3 = aws.client("s3", local_settings)
    s3.put_object(Bucket=local_settings.landing_bucket, Key=HOSTILE, Body=b'organization,"<img src=x onerror=1>"\nAcme,1\n')
    components.arrivals(local_settings).process(ObjectEvent(
        kind="created", bucket=local_settings.landing_bucket, key=HOSTILE, event_name="ObjectCreated:Put",
        event_time="2026-11-25T10:00:00Z", source="s3"))
    index = TantivySearchIndex(tmp_path / "search.tantivy")
    index.ensure()
    store = catalog_components.catalog_store(local_settings)
    for item in [*store.list_objects("jobs"), store.get_dataset("jobs")]:
        index.upsert(doc_id(item), to_search_doc(item))
    app = create_app(token=TOKEN, store=lambda: store, search=lambda: index,
                     rules=lambda: rules_store(local_settings), secure_cookie=False,
                     users=lambda: catalog_components.user_store(local_settings))
    return TestClient(app, follow_redirects=False)


def _sign_in(browser: TestClient) -> None:
    resp = browser.post("/ui/login", data={"token": TOKEN})
    assert resp.status_code == 303 and COOKIE in resp.cookies


def test_pages_redirect_to_sign_in_without_a_session(browser):
    for path in ("/ui", "/ui/datasets/jobs"):
        resp = browser.get(path)
        assert resp.status_code == 303 and resp.headers["location"] == "/ui/login"


def test_a_wrong_token_is_refused_and_a_forged_cookie_does_not_open_pages(browser):
    assert browser.post("/ui/login", data={"token": "nope"}).status_code == 401
    browser.cookies.set(COOKIE, "ui.forged.signature")
    assert browser.get("/ui").status_code == 303


def test_search_and_dataset_pages_escape_untrusted_names(browser):
    _sign_in(browser)

    page = browser.get("/ui", params={"q": "organization"})
    detail = browser.get("/ui/datasets/jobs")

    for resp in (page, detail):
        assert resp.status_code == 200
        assert "<script>alert" not in resp.text and "&lt;script&gt;alert" in resp.text
        assert "<img src=x" not in resp.text
        assert "script-src" not in resp.headers["content-security-policy"]  # no scripts allowed at all
    assert "match" in page.text and "ingested" in detail.text


def test_the_json_api_still_needs_the_bearer_token_even_with_a_ui_session(browser):
    _sign_in(browser)
    assert browser.get("/datasets").status_code == 401


def test_the_dataset_page_and_the_api_show_the_run_history_with_a_failure_reason(browser, local_settings):
    from pipeline import components as pipeline_components

    runs = pipeline_components.run_store(local_settings)
    runs.create("jobs", "20261125T100000000-aaaaaa", "auto")
    runs.step_started("jobs", "20261125T100000000-aaaaaa", "validate")
    runs.step_ended("jobs", "20261125T100000000-aaaaaa", "validate", outcome="error",
                    error="RuleDefinitionError: rules name columns ['<b>nope</b>']")
    runs.finish("jobs", "20261125T100000000-aaaaaa", "failed",
                summary="validate failed: rules name columns ['<b>nope</b>']",
                error={"step": "validate", "reason": "rules name columns ['<b>nope</b>']"})
    runs.create("jobs", "20261125T110000000-bbbbbb", "manual")
    _sign_in(browser)

    page = browser.get("/ui/datasets/jobs").text
    api = browser.get("/datasets/jobs/runs", headers={"Authorization": f"Bearer {TOKEN}"}).json()

    assert "Pipeline runs" in page and "20261125T100000000-aaaaaa" in page
    assert "validate: rules name columns" in page and "<b>nope</b>" not in page  # the reason, escaped
    assert [r["run_id"] for r in api] == ["20261125T110000000-bbbbbb", "20261125T100000000-aaaaaa"]
    assert api[1]["error"]["step"] == "validate" and "pk" not in api[1]
    assert browser.get("/datasets/nope/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_dataset_page_says_where_great_expectations_differs_and_why(browser, local_settings):
    store = catalog_components.catalog_store(local_settings)
    store.update_dataset("jobs", {"validation": {
        "run_id": "r1", "engine": "spark", "rows_in": 5, "accepted": 3, "rejected": 2, "oracle_agrees": False,
        "per_rule": {"R:ws": 3, "R:org": 1, "W:between": 0},
        "ge_disagreements": {"R:ws": {"ours": 3, "ge": 1, "why": "GE on Spark runs the regex through Java's rlike"}},
        "rule_errors": {"W:between": "Column values, min_value, and max_value must either be None or of the same type."}}})
    _sign_in(browser)
    page = browser.get("/ui/datasets/jobs").text
    assert "differs: GE 1" in page and "Java&#39;s rlike" in page
    assert "errored, not checked" in page and "of the same type" in page
    assert page.count("agrees</td>") == 1  # R:org


def test_search_page_offers_facets_and_filters_by_them(browser):
    _sign_in(browser)
    page = browser.get("/ui", params={"q": "organization"})
    assert 'href="/ui?q=organization&amp;format=csv"' in page.text  # the format facet, as a link
    filtered = browser.get("/ui", params={"q": "organization", "format": "parquet"})
    assert filtered.status_code == 200 and "0 matches" in filtered.text and "remove filter format parquet" in filtered.text


def test_unknown_filter_and_missing_dataset_are_html_pages_not_json(browser):
    _sign_in(browser)
    bad = browser.get("/ui", params={"fromat": "csv"})
    assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]
    assert "filter on one of: kind, dataset, status, format" in bad.text
    nowhere = browser.get("/ui/no/such/page")
    assert nowhere.status_code == 404 and "text/html" in nowhere.headers["content-type"]
    missing = browser.get("/ui/dataset", params={"name": ".."})
    assert missing.status_code == 404 and "There is no dataset named &#39;..&#39;" in missing.text


def test_every_response_carries_a_strict_csp_and_the_stylesheet_is_self_hosted(browser):
    for resp in (browser.get("/ui/login"), browser.get("/datasets"), browser.get("/ui/static/app.css")):
        csp = resp.headers["content-security-policy"]
        assert "script-src" not in csp and "'unsafe-inline'" not in csp and "default-src 'none'" in csp
    assert browser.get("/ui/static/app.css").headers["content-type"].startswith("text/css")
    assert browser.get("/ui/static/..%2Fui.py").status_code == 404
    assert "https://" not in browser.get("/ui/login").text  # nothing loaded from elsewhere


def _published_run(runs, run_id: str, accepted: int, rejected: int, per_rule: dict[str, int]) -> None:
    runs.create("jobs", run_id, "auto")
    runs.step_started("jobs", run_id, "publish")
    runs.step_ended("jobs", run_id, "publish", counts={"partitions": 1, "rows_in": accepted + rejected,
                                                       "accepted": accepted, "rejected": rejected, "per_rule": per_rule})
    runs.finish("jobs", run_id, "succeeded", summary=f"{accepted} accepted, {rejected} rejected")


def test_the_dataset_page_charts_each_runs_accepted_and_rejected_rows_and_lists_its_failing_rules(browser, local_settings):
    import re
    import xml.etree.ElementTree as ET

    from pipeline import components as pipeline_components

    runs = pipeline_components.run_store(local_settings)
    _published_run(runs, "20261125T100000000-aaaaaa", 350, 50, {"R:org": 30, "R:<ws>": 20, "R:loc": 0})
    _published_run(runs, "20261125T110000000-bbbbbb", 200, 0, {"R:org": 0, "R:<ws>": 0, "R:loc": 0})
    runs.create("jobs", "20261125T120000000-cccccc", "manual")  # still running: no counts, no bar
    _sign_in(browser)

    resp = browser.get("/ui/datasets/jobs")
    page = resp.text
    api = browser.get("/datasets/jobs/runs", headers={"Authorization": f"Bearer {TOKEN}"}).json()

    svg = ET.fromstring(re.search(r"<svg .*?</svg>", page, re.S).group(0))
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups = svg.findall("s:g", ns)
    assert [g.get("data-run") for g in groups] == ["20261125T100000000-aaaaaa", "20261125T110000000-bbbbbb"]
    heights = [{r.get("class"): float(r.get("height")) for r in g.findall("s:rect", ns)} for g in groups]
    # one scale for every bar: heights in the ratio of the rows
    assert heights[0]["accepted"] / heights[1]["accepted"] == pytest.approx(350 / 200, rel=0.01)
    assert heights[0]["accepted"] / heights[0]["rejected"] == pytest.approx(350 / 50, rel=0.01)
    assert heights[1]["rejected"] == 0
    assert "Latest run 20261125T110000000-bbbbbb: 200 accepted, 0 rejected" in svg.find("s:desc", ns).text
    assert "'unsafe-inline'" not in resp.headers["content-security-policy"] and " style=" not in page

    runs_table = page[page.index('<table id="runs">'):]
    runs_table = runs_table[:runs_table.index("</table>")]
    assert "R:org: <span class=\"num\">30</span>" in runs_table and "R:&lt;ws&gt;: <span class=\"num\">20</span>" in runs_table
    assert "R:loc" not in runs_table and ">none</span>" in runs_table  # the clean run says so
    assert [r["run_id"][-6:] for r in api] == ["cccccc", "bbbbbb", "aaaaaa"]
    assert api[2]["steps"]["publish"]["counts"]["per_rule"] == {"R:org": 30, "R:<ws>": 20, "R:loc": 0}
