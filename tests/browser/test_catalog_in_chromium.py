"""The catalog UI in real headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium; nothing is downloaded): sign in, search with a facet, open a dataset, filter rejected
rows by rule and download them, edit tags as an editor and be refused as a reader.

The app runs under uvicorn on a loopback port over the real local endpoint with a validated
dataset. Screenshots of each step go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from athena_queries.engine import run_query
from catalog import components as catalog_components
from catalog.api import create_app
from catalog.indexer import doc_id, to_search_doc
from catalog.search.embedded import TantivySearchIndex
from datalake.demo import RULES_FILE
from datalake.local.provision import provision
from datalake.samples import generate_jobs_csv
from datalake_base import aws
from datalake_base.settings import Settings, reset_settings_cache
from ingestion import components
from pipeline.steps import crawl_dataset, validate_dataset
from quality_rules.store import rules_store
from tests.fixtures.aws import free_port
from tests.fixtures.arrivals import arrive

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ADMIN = "b" * 32

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="needs Debian's chromium and chromium-driver (make setup installs them)"),
]


@pytest.fixture(scope="module")
def site(moto_endpoint, tmp_path_factory) -> Iterator[dict]:
    """A validated `jobs` dataset, an editor and a reader, and the app served on a loopback port."""
    import requests as _r
    import uvicorn

    tmp = tmp_path_factory.mktemp("browser")
    _r.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {"DATALAKE_MODE": "local", "DATALAKE_ENDPOINT_URL": moto_endpoint,
                     "DATALAKE_STATE_DIR": str(tmp / "state"), "AWS_ACCESS_KEY_ID": "local",
                     "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            mp.setenv(k, v)
        reset_settings_cache()
        aws.clear_clients()
        components.cached_arrivals.cache_clear()
        settings = Settings()
        provision(settings)
        path = tmp / "jobs.csv"
        generate_jobs_csv(path, rows=400, seed=11)
        key = "jobs/batch=1/postings.csv"
        arrive(settings, key, path)
        rules_store(settings).put_items(json.loads(RULES_FILE.read_text()))
        crawl_dataset(settings, "jobs")
        validate_dataset(settings, "jobs", engine="pandas")
        store = catalog_components.catalog_store(settings)
        index = TantivySearchIndex(tmp / "search.tantivy")
        index.upsert_many((doc_id(i), to_search_doc(i)) for i in [*store.list_objects("jobs"), store.get_dataset("jobs")])
        users = catalog_components.user_store(settings)
        tokens = {"editor": users.add("erin", "editor"), "reader": users.add("ray", "reader")}
        app = create_app(token=ADMIN, store=lambda: store, search=lambda: index, rules=lambda: rules_store(settings),
                         users=lambda: users, query=lambda sql: run_query(settings, sql), secure_cookie=False,
                         fetch=lambda b, k: aws.client("s3", settings).get_object(Bucket=b, Key=k)["Body"].read())
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/ui/login", timeout=5)
                break
            except requests.RequestException:  # not listening yet, or slow on a busy machine
                time.sleep(0.1)
        yield {"base": base, "tokens": tokens, "store": store, "tmp": tmp, "settings": settings}
        server.should_exit = True
        thread.join(timeout=10)
        reset_settings_cache()
        aws.clear_clients()


@pytest.fixture
def browser(site, request) -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = site["tmp"] / f"downloads-{request.node.name}"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for a driver online
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    driver.downloads = downloads  # type: ignore[attr-defined]
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait_for(driver, condition, timeout: float = 20) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(condition)


def shot(driver, name: str) -> None:
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def sign_in(driver, base: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/ui/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(lambda d: d.current_url.rstrip("/").endswith("/ui"))


def test_sign_in_search_with_a_facet_and_open_the_dataset(site, browser) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, site["base"], site["tokens"]["reader"])
    box = browser.find_element(By.ID, "q")
    box.send_keys("orgnization")  # a typo still finds the column
    box.submit()
    wait_for(browser, lambda d: "q=orgnization" in d.current_url)
    shot(browser, "01-search")
    assert "jobs" in browser.find_element(By.CSS_SELECTOR, "section[aria-label=results]").text
    browser.find_element(By.XPATH, "//aside//a[.//span[@class='facet-value' and text()='csv']]").click()
    wait_for(browser, lambda d: "format=csv" in d.current_url)
    shot(browser, "02-facet")
    assert browser.find_element(By.CSS_SELECTOR, ".chips").text.startswith("Format: csv")
    browser.find_element(By.CSS_SELECTOR, "article.result h3 a").click()
    wait_for(browser, lambda d: "/ui/dataset" in d.current_url)
    shot(browser, "03-dataset")
    assert browser.find_element(By.TAG_NAME, "h1").text == "jobs"
    assert browser.find_elements(By.ID, "schema")


def test_filter_rejected_rows_by_a_rule_and_download_them(site, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    per_rule = site["store"].get_dataset("jobs")["validation"]["per_rule"]
    rule = min(per_rule, key=per_rule.get)
    sign_in(browser, site["base"], site["tokens"]["reader"])
    browser.get(f"{site['base']}/ui/dataset?name=jobs")
    Select(browser.find_element(By.ID, "rule")).select_by_value(rule)
    browser.find_element(By.CSS_SELECTOR, "form[aria-label='filter rejected rows'] button").click()
    wait_for(browser, lambda d: "rule=" in d.current_url)
    shot(browser, "04-rejected-by-rule")
    assert browser.find_element(By.ID, "rejected-total").text.startswith(f"{per_rule[rule]:,} rejected row(s)")
    rows = browser.find_elements(By.CSS_SELECTOR, "#rejected-rows tbody tr")
    assert 0 < len(rows) <= 25 and all(rule in r.text for r in rows)
    browser.find_element(By.ID, "download-rejected").click()
    deadline = time.monotonic() + 20
    files: list[Path] = []
    while time.monotonic() < deadline and not files:
        files = [p for p in browser.downloads.glob("*.csv")]
        time.sleep(0.2)
    assert files, "the CSV was downloaded"
    with files[0].open() as f:
        downloaded = list(csv.DictReader(f))
    assert len(downloaded) == per_rule[rule] and all(rule in r["reject_reasons"].split("|") for r in downloaded)


def test_an_editor_edits_tags_and_a_reader_cannot(site, browser) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, site["base"], site["tokens"]["editor"])
    browser.get(f"{site['base']}/ui/dataset?name=jobs")
    tags = browser.find_element(By.ID, "tags")
    tags.clear()
    tags.send_keys("domain=hr, pii=true")
    browser.find_element(By.ID, "save-metadata").click()
    wait_for(browser, lambda d: "dataset.metadata" in d.page_source)
    shot(browser, "05-editor-saved-tags")
    assert browser.find_element(By.ID, "tags").get_attribute("value") == "domain=hr, pii=true"
    assert "dataset.metadata" in browser.page_source  # the change log names the change
    assert site["store"].get_dataset("jobs")["tags"] == {"domain": "hr", "pii": "true"}

    browser.delete_all_cookies()
    sign_in(browser, site["base"], site["tokens"]["reader"])
    browser.get(f"{site['base']}/ui/dataset?name=jobs")
    shot(browser, "06-reader-view")
    assert not browser.find_elements(By.ID, "tags")  # no edit form for a reader
    assert [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".badge.tag")] == ["domain=hr", "pii=true"]
    # A reader who forges the form anyway is refused by the server.
    csrf = browser.find_element(By.CSS_SELECTOR, "form[action='/ui/logout'] input[name=csrf]").get_attribute("value")
    cookie = browser.get_cookie("datalake_session")["value"]
    forged = requests.post(f"{site['base']}/ui/dataset/edit", cookies={"datalake_session": cookie}, allow_redirects=False,
                           data={"csrf": csrf, "name": "jobs", "tags": "pii=false"})
    assert forged.status_code == 403 and "only editors and admins" in forged.text
    assert site["store"].get_dataset("jobs")["tags"] == {"domain": "hr", "pii": "true"}


def test_the_run_history_chart_draws_each_runs_rows_in_the_stylesheets_colours(site, browser) -> None:
    from selenium.webdriver.common.by import By

    from pipeline import components as pipeline_components

    runs = pipeline_components.run_store(site["settings"])
    for run_id, accepted, rejected in (("20261125T100000000-chart1", 300, 100), ("20261125T110000000-chart2", 380, 20)):
        runs.create("jobs", run_id, "auto")
        runs.step_ended("jobs", run_id, "publish", counts={"accepted": accepted, "rejected": rejected,
                                                           "per_rule": {"REJECT:job_type_not_in_list": rejected}})
        runs.finish("jobs", run_id, "succeeded", summary="charted")
    sign_in(browser, site["base"], site["tokens"]["reader"])
    browser.get(f"{site['base']}/ui/dataset?name=jobs")
    chart = browser.find_element(By.ID, "run-chart")
    browser.execute_script("arguments[0].scrollIntoView()", chart)
    shot(browser, "09-run-history-chart")
    chart.screenshot(str(SHOTS / "09-run-history-chart-only.png"))

    def drawn(run_id: str, kind: str) -> tuple[float, str]:
        rect = chart.find_element(By.CSS_SELECTOR, f"g[data-run='{run_id}'] rect.{kind}")
        return rect.rect["height"], rect.value_of_css_property("fill")

    (a1, green), (r1, red) = drawn("20261125T100000000-chart1", "accepted"), drawn("20261125T100000000-chart1", "rejected")
    a2, _ = drawn("20261125T110000000-chart2", "accepted")
    assert a1 / r1 == pytest.approx(3, rel=0.05) and a2 / a1 == pytest.approx(380 / 300, rel=0.05)
    assert green == "rgb(30, 122, 60)" and red == "rgb(179, 38, 30)"  # app.css applied under the strict CSP
    assert "REJECT:job_type_not_in_list: 100" in browser.find_element(By.ID, "runs").text


def test_pages_fit_a_phone_screen_without_sideways_scrolling(site, browser) -> None:
    sign_in(browser, site["base"], site["tokens"]["reader"])
    browser.set_window_size(390, 844)
    for name, path in (("07-phone-search", "/ui?q=jobs"), ("08-phone-dataset", "/ui/dataset?name=jobs")):
        browser.get(site["base"] + path)
        shot(browser, name)
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is {overflow}px wider than the phone"
