"""Manual pipeline commands go through the same steps, the dataset's lease and run records."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from datalake.cli import main
from datalake.demo import RULES_FILE
from datalake.local.provision import provision
from datalake.samples import generate_jobs_csv
from datalake_base.settings import reset_settings_cache
from pipeline import components as pipeline_components
from tests.fixtures.arrivals import arrive

KEY = "jobs/batch=1/postings.csv"


@pytest.fixture
def run(local_settings, tmp_path):
    provision(local_settings)
    path = tmp_path / "jobs.csv"
    generate_jobs_csv(path, rows=400, seed=2)
    arrive(local_settings, KEY, path)
    runner = CliRunner()

    def _run(*args: str) -> tuple[int, str]:
        reset_settings_cache()
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.output if "--json" in args else " ".join(result.output.split())  # unwrap

    return _run


def test_manual_commands_are_recorded_as_runs(run):
    assert run("rules", "put", str(RULES_FILE))[0] == 0
    for cmd, needle in (("crawl", "table"), ("validate", "partition(s) validated"), ("load", "loaded")):
        code, out = run(cmd, "jobs")
        assert code == 0 and needle in out, out

    code, out = run("runs", "jobs", "--json")

    runs = json.loads(out)
    assert [(r["trigger"], r["status"], sorted(r["steps"])) for r in runs] == [
        ("manual", "succeeded", ["load"]), ("manual", "succeeded", ["plan", "publish", "validate"]),
        ("manual", "succeeded", ["crawl"])]
    assert "loaded" in runs[0]["summary"]


def test_a_manual_command_refuses_while_a_run_holds_the_dataset(run, local_settings):
    run("rules", "put", str(RULES_FILE))
    pipeline_components.lease_store(local_settings).acquire("jobs", "busy-run", automatic=False)

    code, out = run("validate", "jobs")

    assert code == 1 and "being processed by run busy-run" in out


def test_run_executes_the_whole_state_machine_in_process(run):
    code, out = run("run", "jobs")
    assert code == 0 and "no rules" in out  # crawled only
    run("rules", "put", str(RULES_FILE))

    code, out = run("run", "jobs")

    assert code == 0 and "succeeded" in out and re.search(r"loaded [1-9][0-9]* row", out)
    code, out = run("runs", "jobs", "--json")
    assert [sorted(r["steps"]) for r in json.loads(out)][0] == ["crawl", "load", "plan", "publish", "validate"]
