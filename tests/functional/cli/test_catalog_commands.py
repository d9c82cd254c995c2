"""`datalake users` and `datalake search` against the real local endpoint."""

from __future__ import annotations

import re

from click.testing import CliRunner

from catalog import components as catalog_components
from datalake.cli import main
from datalake.local.provision import provision
from datalake_base import aws
from datalake_base.settings import reset_settings_cache
from ingestion import components
from ingestion.events import ObjectEvent


def run(*args: str) -> tuple[int, str]:
    reset_settings_cache()
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_users_add_shows_the_token_once_and_list_and_grant_show_roles(local_settings) -> None:
    provision(local_settings)
    code, out = run("users", "add", "maria", "--role", "editor", "--datasets", "jobs,sales")
    assert code == 0, out
    token = re.search(r"dlk_\S+", out).group(0)
    assert catalog_components.user_store(local_settings).authenticate(token).name == "maria"
    code, out = run("users", "add", "maria", "--role", "reader")
    assert code != 0 and "exists" in out
    assert run("users", "add", "bob", "--role", "owner")[0] != 0  # not a role
    code, out = run("users", "grant", "maria", "*")
    assert code == 0 and "all datasets" in out
    code, out = run("users", "list")
    assert "maria" in out and "editor" in out and token not in out
    assert run("users", "remove", "maria")[0] == 0
    assert catalog_components.user_store(local_settings).authenticate(token) is None


def test_search_command_filters_and_reports_totals(local_settings) -> None:
    provision(local_settings)
    for key in ("weather/a.csv", "weather/b.jsonl"):
        body = b"station,temp_c\nA,1.5\n" if key.endswith(".csv") else b'{"station": "A", "temp_c": 1.5}\n'
        aws.client("s3", local_settings).put_object(Bucket=local_settings.landing_bucket, Key=key, Body=body)
        components.arrivals(local_settings).process(ObjectEvent(
            kind="created", bucket=local_settings.landing_bucket, key=key, event_name="ObjectCreated:Put",
            event_time="2026-11-25T10:00:00Z", source="s3"))
    assert run("reindex")[0] == 0
    code, out = run("search", "wether", "-f", "format=jsonl")  # a typo, and a filter
    assert code == 0 and "weather/b.jsonl" in out and "weather/a.csv" not in out and "1 of 1 match" in out
    code, out = run("search", "weather", "-f", "colour=red")
    assert code != 0 and "filter on one of" in out
