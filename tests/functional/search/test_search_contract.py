"""One behaviour suite, run against every backend (embedded tantivy, OpenSearch)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.search import BulkIndexError, InvalidDocumentError, InvalidQueryError, SearchIndex, UnknownFilterError
from tests.functional.search.docs import (
    ALL,
    JOBS,
    JOBS_DATASET_ID,
    JOBS_ID,
    SALES,
    SALES_ID,
    WEATHER_ID,
    object_doc,
)


@pytest.fixture
def catalog(search_index: SearchIndex) -> SearchIndex:
    assert search_index.upsert_many(ALL.items()) == len(ALL)
    return search_index


def ids(hits) -> list[str]:
    return [h.id for h in hits]


# --- finding documents -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["job_reqs", "job", "JOB_R", "reqs"])
def test_finds_documents_by_dataset_name_or_fragment(catalog: SearchIndex, text: str) -> None:
    assert set(ids(catalog.search(text))) >= {JOBS_ID, JOBS_DATASET_ID}
    assert SALES_ID not in ids(catalog.search(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2024-03", SALES_ID), ("part_0", JOBS_ID), ("ingest_date=2026", JOBS_ID), ("stations.JSONL", WEATHER_ID)],
)
def test_finds_objects_by_any_key_fragment(catalog: SearchIndex, text: str, expected: str) -> None:
    assert ids(catalog.search(text)) == [expected]


@pytest.mark.parametrize("text", ["organization", "organiz", "ORGANIZATION", "uniq_id"])
def test_finds_documents_by_column_name_or_prefix(catalog: SearchIndex, text: str) -> None:
    assert set(ids(catalog.search(text))) >= {JOBS_ID, JOBS_DATASET_ID}


def test_finds_documents_by_tag_value_word_prefix(catalog: SearchIndex) -> None:
    assert ids(catalog.search("analytics")) == [JOBS_ID]
    assert ids(catalog.search("talent-analytics")) == [JOBS_ID]
    assert ids(catalog.search("noaa")) == [WEATHER_ID]  # metadata values are searchable too


def test_finds_documents_by_description_and_owner_words(catalog: SearchIndex) -> None:
    assert ids(catalog.search("billing")) == [SALES_ID]
    assert ids(catalog.search("Export")) == [SALES_ID]  # word prefix, any case
    assert ids(catalog.search("finance")) == [SALES_ID]


def test_every_term_must_match_somewhere(catalog: SearchIndex) -> None:
    assert ids(catalog.search("sales amount")) == [SALES_ID]
    assert catalog.search("sales organization") == []


def test_no_match_returns_empty_list(catalog: SearchIndex) -> None:
    assert catalog.search("zzzz-not-there") == []


# --- ranking ---------------------------------------------------------------------------------


def test_column_name_matches_rank_above_description_matches(catalog: SearchIndex) -> None:
    hits = catalog.search("organization")
    assert ids(hits)[-1] == WEATHER_ID  # only its description mentions it
    assert hits[0].score > hits[-1].score


def test_tiers_rank_exact_name_then_prefix_then_inside_name_then_column_then_text_then_key(
    search_index: SearchIndex,
) -> None:
    search_index.upsert_many([
        ("by-key", object_doc("misc", "raw/misc/payroll_2026.csv", arrival_time="2026-09-01T00:00:00Z")),
        ("by-description", object_doc("notes", "raw/n/a.csv", description="Notes about payroll runs")),
        ("by-column", object_doc("hr", "raw/hr/b.csv", columns=[{"name": "payroll_id", "type": "int"}])),
        ("inside-name", object_doc("eu_payroll_v2", "raw/x/c.csv")),
        ("name-prefix", object_doc("payroll_history", "raw/y/d.csv")),
        ("exact-name", object_doc("payroll", "raw/z/e.csv", arrival_time="2020-01-01T00:00:00Z")),
    ])
    hits = search_index.search("Payroll")
    assert ids(hits) == ["exact-name", "name-prefix", "inside-name", "by-column", "by-description", "by-key"]
    assert [h.score for h in hits] == [100.0, 60.0, 40.0, 20.0, 5.0, 2.0]


def test_dataset_record_ranks_first_among_its_equally_scored_files(search_index: SearchIndex) -> None:
    # The case: 40 newer files of the dataset and limit 11 must still show the dataset.
    files = [(f"f{i:02d}", object_doc("jobs", f"raw/jobs/part_{i:02d}.csv", arrival_time=f"2026-03-{i % 28 + 1:02d}T00:00:00Z"))
             for i in range(40)]
    search_index.upsert_many([*files, ("dataset#jobs", {"kind": "dataset", "dataset": "jobs"})])
    assert ids(search_index.search("jobs", limit=11))[0] == "dataset#jobs"


def test_typos_in_names_still_find_the_dataset(catalog: SearchIndex) -> None:
    for typo in ("orgnization", "organisation", "jbo_reqs"):
        found = ids(catalog.search(typo))
        assert JOBS_DATASET_ID in found and SALES_ID not in found, typo
    assert catalog.search("orgXXXzation") == []  # three edits away is not a typo
    assert catalog.search("jbo") == []  # short terms are not fuzzy: too many false friends


def test_equal_scores_list_datasets_then_newest_arrival_then_id(search_index: SearchIndex) -> None:
    search_index.upsert_many(
        [
            ("old", object_doc("events", "raw/events/1.csv", arrival_time="2026-01-01T00:00:00Z")),
            ("new", object_doc("events", "raw/events/2.csv", arrival_time="2026-02-01T00:00:00+00:00")),
            ("b-same", object_doc("events", "raw/events/3.csv", arrival_time="2026-01-15T00:00:00Z")),
            ("a-same", object_doc("events", "raw/events/4.csv", arrival_time="2026-01-15T01:00:00+01:00")),
            ("undated", object_doc("events", "raw/events/5.csv", arrival_time=None)),
            ("ds", {"kind": "dataset", "dataset": "events"}),
        ]
    )
    assert ids(search_index.search("events")) == ["ds", "new", "a-same", "b-same", "old", "undated"]


def test_page_boundary_inside_a_run_of_equal_scores_keeps_the_tie_order(search_index: SearchIndex) -> None:
    # 30 equally scored files written oldest first, plus better and worse hits around them:
    # every page must be the slice of one global order, whatever order the engine found them in.
    docs = [(f"f{i:02d}", object_doc("clicks", f"raw/clicks/{i:02d}.csv", arrival_time=f"2026-01-{i + 1:02d}T00:00:00Z"))
            for i in range(30)]
    docs += [("best", object_doc("other", "raw/o/x.csv", columns=[{"name": "clicks", "type": "int"}],
                                 description="clicks")),
             ("name", {"kind": "dataset", "dataset": "clicks"}),
             ("worst", object_doc("zz", "raw/zz/clicks.csv"))]
    search_index.upsert_many(docs)
    whole = ids(search_index.query("clicks", limit=40).hits)
    assert whole[:1] == ["name"] and whole[1:31] == [f"f{i:02d}" for i in range(29, -1, -1)]
    assert whole[31:] == ["best", "worst"]
    pages = [ids(search_index.query("clicks", offset=o, limit=7).hits) for o in range(0, 40, 7)]
    assert [i for p in pages for i in p] == whole
    assert search_index.query("clicks", offset=7, limit=7).total == 33


def test_highlights_mark_the_matched_fragment(catalog: SearchIndex) -> None:
    hit = catalog.search("2024-03")[0]
    assert hit.highlights["key"] == ["raw/sales/<em>2024-03</em>/orders.parquet"]
    hit = next(h for h in catalog.search("organiz") if h.id == JOBS_ID)
    assert hit.highlights["columns"] == ["<em>organiz</em>ation"]


# --- filters and listing ---------------------------------------------------------------------


def test_empty_text_with_filters_lists_matching_documents(catalog: SearchIndex) -> None:
    assert ids(catalog.search("", status="quarantined")) == [SALES_ID]
    assert ids(catalog.search("", kind="dataset")) == [JOBS_DATASET_ID]
    assert ids(catalog.search("   ", dataset="job_reqs")) == [JOBS_DATASET_ID, JOBS_ID]  # datasets first


def test_empty_text_without_filters_lists_datasets_then_newest_files(catalog: SearchIndex) -> None:
    assert ids(catalog.search("")) == [JOBS_DATASET_ID, JOBS_ID, WEATHER_ID, SALES_ID]


def test_filters_narrow_a_text_search(catalog: SearchIndex) -> None:
    assert ids(catalog.search("organization", kind="object", dataset="job_reqs")) == [JOBS_ID]
    assert ids(catalog.search("organization", status="validated")) == [WEATHER_ID]
    assert catalog.search("organization", dataset="sales") == []


def test_dataset_filter_is_exact_not_a_fragment(catalog: SearchIndex) -> None:
    assert catalog.search("", dataset="job") == []


def test_limit_caps_the_number_of_hits(catalog: SearchIndex) -> None:
    assert len(catalog.search("", limit=2)) == 2


def test_pages_are_consecutive_slices_with_a_total(catalog: SearchIndex) -> None:
    first, second = catalog.query("", limit=3), catalog.query("", offset=3, limit=3)
    assert first.total == second.total == len(ALL)
    assert ids(first.hits) + ids(second.hits) == ids(catalog.search(""))


def test_filters_on_every_facet_field(catalog: SearchIndex) -> None:
    assert ids(catalog.query("", filters={"format": "parquet"}).hits) == [SALES_ID]
    assert ids(catalog.query("", filters={"owner": "finance-team"}).hits) == [SALES_ID]
    assert ids(catalog.query("", filters={"tag": "team=talent-analytics"}).hits) == [JOBS_ID]
    assert ids(catalog.query("", filters={"partition_key": "ingest_date"}).hits) == [JOBS_ID]
    assert ids(catalog.query("", filters={"quality": "quarantined"}).hits) == [SALES_ID]
    # several values of one field: either; several fields: both
    assert set(ids(catalog.query("", filters={"format": ["csv", "jsonl"]}).hits)) == {JOBS_ID, WEATHER_ID}
    assert catalog.query("", filters={"format": "csv", "status": "validated"}).hits == []


def test_unknown_filter_is_rejected_naming_the_valid_ones(catalog: SearchIndex) -> None:
    with pytest.raises(UnknownFilterError, match="filter on one of: kind, dataset, status, format"):
        catalog.query("", filters={"colour": "red"})


def test_facets_count_the_matches_of_the_query(catalog: SearchIndex) -> None:
    page = catalog.query("organization", facets=["kind", "status", "quality", "tag", "partition_key"])
    assert page.total == 3
    assert page.facets["kind"] == {"object": 2, "dataset": 1}
    assert page.facets["status"] == {"ingested": 1, "validated": 1}
    assert page.facets["quality"] == {"not_validated": 3}
    assert page.facets["tag"] == {"domain=hr": 1, "pii=false": 1, "team=talent-analytics": 1}
    assert page.facets["partition_key"] == {"ingest_date": 1}
    validated = object_doc("v", "raw/v/1.csv", validation={"run_id": "r1", "accepted": 9, "rejected": 1})
    catalog.upsert("v", validated)
    assert catalog.query("", facets=["quality"]).facets["quality"]["rejected_rows"] == 1


@pytest.mark.parametrize("limit", [0, -1, 10_001])
def test_limit_out_of_range_is_rejected_with_the_fix(catalog: SearchIndex, limit: int) -> None:
    with pytest.raises(InvalidQueryError, match="limit must be"):
        catalog.search("x", limit=limit)


# --- writes ----------------------------------------------------------------------------------


def test_upsert_replaces_the_previous_version(catalog: SearchIndex) -> None:
    catalog.upsert(SALES_ID, {**SALES, "status": "loaded", "description": "Reloaded ledger"})
    assert catalog.count() == len(ALL)
    assert catalog.get(SALES_ID)["status"] == "loaded"
    assert catalog.search("billing") == []  # old text is gone from the index
    assert ids(catalog.search("ledger")) == [SALES_ID]
    assert catalog.facets("status").get("quarantined") is None


def test_delete_removes_the_document_and_is_idempotent(catalog: SearchIndex) -> None:
    catalog.delete(SALES_ID)
    catalog.delete(SALES_ID)
    catalog.delete("never-indexed")
    assert catalog.get(SALES_ID) is None
    assert catalog.search("2024-03") == []
    assert catalog.count() == len(ALL) - 1


def test_get_returns_the_document_as_sent(catalog: SearchIndex) -> None:
    assert catalog.get(JOBS_ID) == JOBS
    assert catalog.get("missing") is None


def test_dynamodb_decimals_are_stored_as_numbers(search_index: SearchIndex) -> None:
    search_index.upsert("d", object_doc("nums", "k.csv", size=Decimal("42"), metadata={"ratio": Decimal("0.5")}))
    doc = search_index.get("d")
    assert doc["size"] == 42 and doc["metadata"] == {"ratio": 0.5}


def test_documents_with_differently_typed_metadata_coexist(search_index: SearchIndex) -> None:
    search_index.upsert("a", object_doc("m", "a.csv", metadata={"v": 1}))
    search_index.upsert("b", object_doc("m", "b.csv", metadata={"v": {"nested": ["x"]}}))
    search_index.upsert("c", object_doc("m", "c.csv", metadata={"v": "text"}))
    assert search_index.count() == 3


def test_invalid_document_is_rejected_with_value_and_fix(search_index: SearchIndex) -> None:
    with pytest.raises(InvalidDocumentError, match=r"status.*docs/search.md"):
        search_index.upsert("bad", object_doc("x", "x.csv", status="exploded"))
    assert search_index.count() == 0


def test_bulk_indexes_good_documents_and_reports_the_bad_ones(search_index: SearchIndex) -> None:
    docs = [("ok-1", object_doc("a", "a.csv")), ("bad", {"kind": "table"}), ("ok-2", object_doc("b", "b.csv"))]
    with pytest.raises(BulkIndexError) as info:
        search_index.upsert_many(docs)
    assert set(info.value.failed) == {"bad"} and info.value.indexed == 2
    assert search_index.count() == 2


def test_ensure_is_idempotent_and_keeps_documents(catalog: SearchIndex) -> None:
    catalog.ensure()
    assert catalog.count() == len(ALL)


# --- facets ----------------------------------------------------------------------------------


def test_facets_count_documents_per_value(catalog: SearchIndex) -> None:
    assert catalog.facets("dataset") == {"job_reqs": 2, "sales": 1, "weather": 1}
    assert catalog.facets("status") == {"ingested": 1, "quarantined": 1, "validated": 1}
    assert catalog.facets("format") == {"csv": 1, "jsonl": 1, "parquet": 1}
    assert catalog.facets("owner") == {"finance-team": 1, "people-data": 1}


def test_facet_on_an_unknown_field_is_rejected(catalog: SearchIndex) -> None:
    with pytest.raises(InvalidQueryError, match="use one of"):
        catalog.facets("colour")  # type: ignore[arg-type]


# --- hostile input ---------------------------------------------------------------------------

HOSTILE = [
    '"',
    '"unbalanced',
    "jobs AND",
    "OR",
    "NOT sales",
    "NEAR(a b)",
    "*",
    "job*",
    "?",
    "col:val",
    "dataset:sales",
    "{dataset key}: x",
    "^jobs",
    ")(",
    "\\",
    "'; DROP TABLE docs; --",
    "%",
    "_",
    "a\x00b",
    "\u200b",
    "ünïcødé 日本語 🚀",
    "x" * 5000,
    " ".join(f"t{i}" for i in range(200)),
    '{"query": {"match_all": {}}}',
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_never_breaks_the_query(catalog: SearchIndex, text: str) -> None:
    hits = catalog.search(text)
    assert isinstance(hits, list)
    assert catalog.count() == len(ALL)


def test_query_syntax_is_matched_literally(search_index: SearchIndex) -> None:
    search_index.upsert("odd", object_doc("brand", 'raw/odd/a+b (1) "final" *v2?.csv'))
    search_index.upsert("plain", object_doc("plain", "raw/plain/v2.csv"))
    assert ids(search_index.search("(1)")) == ["odd"]
    assert ids(search_index.search('"final"')) == ["odd"]
    assert ids(search_index.search("*v2?")) == ["odd"]
    assert ids(search_index.search("AND")) == ["odd"]  # the dataset "brand", not an operator
    assert search_index.search("%") == [] and search_index.search("_") == []


def test_unicode_text_is_found_case_insensitively(search_index: SearchIndex) -> None:
    search_index.upsert("u", object_doc("Übersicht", "raw/übersicht/Straße_日本.csv", description="Données météo"))
    assert ids(search_index.search("übersicht")) == ["u"]
    assert ids(search_index.search("日本")) == ["u"]
    assert ids(search_index.search("MÉTÉO")) == ["u"]


def test_substrings_of_any_length_match_but_never_across_two_column_names(search_index: SearchIndex) -> None:
    search_index.upsert("u", object_doc("web", "k.csv", columns=[{"name": "url", "type": "string"},
                                                                  {"name": "abc", "type": "string"}]))
    for text in ("rl", "l", "url", "bc"):
        assert ids(search_index.search(text)) == ["u"], text
    assert search_index.search("urlabc") == [] and search_index.search("lab") == []
