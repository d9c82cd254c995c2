"""`datalake reindex`: the search index rebuilt from the catalog table on the real local endpoint."""

from __future__ import annotations

from click.testing import CliRunner

from catalog import components as catalog_components
from catalog.reindex import reindex
from catalog.search import build_search_index
from catalog.search.embedded import TantivySearchIndex
from datalake.cli import main
from datalake.local.provision import provision
from datalake_base.settings import reset_settings_cache
from tests.functional.search.docs import object_doc
from tests.fixtures.arrivals import arrive as _arrive


def test_reindex_replaces_the_index_with_the_catalog_and_reports_progress(local_settings, tmp_path) -> None:
    provision(local_settings)
    _arrive(local_settings, "jobs/a.csv", b"organization,job_type\nAcme,Full Time\n")
    _arrive(local_settings, "jobs/b.csv", b"organization,job_type\nInitech,Contract\n")
    _arrive(local_settings, "sales/2024-03/c.csv", b"order_id,amount\n1,2.5\n")
    index = TantivySearchIndex(tmp_path / "idx")
    index.upsert("stale", object_doc("gone", "raw/gone/x.csv"))
    progress: list[tuple[int, int | None]] = []

    result = reindex(catalog_components.catalog_store(local_settings), index, batch=2,
                     on_progress=lambda done, total: progress.append((done, total)))

    assert result.indexed == 5 and result.failed == {}  # 3 files + 2 dataset records
    assert index.get("stale") is None and index.count() == 5
    typo = index.search("orgnization")
    assert {h.doc.get("key") for h in typo} == {"jobs/a.csv", "jobs/b.csv"}
    assert index.search("jobs")[0].doc["kind"] == "dataset"
    assert [d for d, _ in progress] == [2, 4, 5, 5] and progress[-1] == (5, 5)
    assert all(total is None or total >= done for done, total in progress)


def test_reindex_command_rebuilds_the_configured_index(local_settings) -> None:
    provision(local_settings)
    _arrive(local_settings, "weather/stations.csv", b"station,temp_c\nA,1.5\n")
    reset_settings_cache()
    result = CliRunner().invoke(main, ["reindex"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "indexed 2 document(s) into the embedded search index" in result.output
    assert [h.doc["kind"] for h in build_search_index(local_settings).search("weather")] == ["dataset", "object"]
