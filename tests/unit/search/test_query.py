"""Term parsing, document validation and highlights shared by both backends."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.search import InvalidDocumentError, InvalidQueryError
from catalog.search._query import MAX_TERM_CHARS, MAX_TERMS, highlight, normalize_document, parse_terms, words


def test_terms_are_lower_case_whitespace_separated_and_deduplicated() -> None:
    assert parse_terms("  Jobs  ORG\tjobs\n") == ["jobs", "org"]


def test_control_and_zero_width_characters_split_terms() -> None:
    assert parse_terms("a\x00b\u200bc") == ["a", "b", "c"]


def test_terms_are_capped_in_number_and_length() -> None:
    assert len(parse_terms(" ".join(f"t{i}" for i in range(100)))) == MAX_TERMS
    assert parse_terms("x" * 10_000) == ["x" * MAX_TERM_CHARS]


def test_non_string_text_is_rejected() -> None:
    with pytest.raises(InvalidQueryError, match="must be a string"):
        parse_terms(42)  # type: ignore[arg-type]


def test_words_split_on_anything_but_letters_and_digits() -> None:
    assert words("ingest_date=2026-01") == ["ingest", "date", "2026", "01"]
    assert words("*?\"") == []


def test_document_keeps_only_given_fields_and_turns_decimals_into_numbers() -> None:
    doc = normalize_document("id", {"kind": "object", "dataset": "d", "size": Decimal("3"), "metadata": {"r": Decimal("1.5")}})
    assert doc == {"kind": "object", "dataset": "d", "size": 3, "metadata": {"r": 1.5}}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"kind": "object"}, "dataset"),
        ({"kind": "table", "dataset": "d"}, "kind"),
        ({"kind": "object", "dataset": "d", "format": "xlsx"}, "format"),
        ({"kind": "object", "dataset": "d", "search_fields": {}}, "reserved"),
        ("not a dict", "JSON object"),
    ],
)
def test_invalid_documents_name_the_problem(doc: object, message: str) -> None:
    with pytest.raises(InvalidDocumentError, match=message):
        normalize_document("id-1", doc)


def test_empty_id_is_rejected() -> None:
    with pytest.raises(InvalidDocumentError, match="id must be"):
        normalize_document("", {"kind": "object", "dataset": "d"})


def test_highlights_escape_html_and_mark_each_match() -> None:
    doc = {"kind": "object", "dataset": "d", "key": "<b>/2024-03/2024-03.csv"}
    assert highlight(doc, ["2024-03"]) == {"key": ["&lt;b&gt;/<em>2024-03</em>/<em>2024-03</em>.csv"]}


def test_highlights_in_free_text_mark_word_prefixes_only() -> None:
    doc = {"kind": "dataset", "dataset": "d", "description": "unemployment and employers"}
    assert highlight(doc, ["employ"]) == {"description": ["unemployment and <em>employ</em>ers"]}


def test_long_values_are_cut_around_the_first_match() -> None:
    doc = {"kind": "dataset", "dataset": "d", "description": "x " * 200 + "needle" + " y" * 200}
    (fragment,) = highlight(doc, ["needle"])["description"]
    assert "<em>needle</em>" in fragment and fragment.startswith("…") and fragment.endswith("…")
    assert len(fragment) < 200


# --- derived values shared by both backends ----------------------------------------------------

from catalog.search import SearchHit, UnknownFilterError  # noqa: E402
from catalog.search._query import (  # noqa: E402
    check_filters,
    fuzzy_distance,
    group_by_dataset,
    quality_verdict,
    sort_key,
)


@pytest.mark.parametrize(
    ("doc", "verdict"),
    [
        ({"status": "quarantined", "validation": {"rejected": 0}}, "quarantined"),
        ({"status": "validated", "validation": {"accepted": 5, "rejected": 0}}, "passed"),
        ({"status": "validated", "validation": {"accepted": 5, "rejected": 2}}, "rejected_rows"),
        ({"status": "ingested", "validation": None}, "not_validated"),
    ],
)
def test_quality_verdict_summarises_the_validation(doc: dict, verdict: str) -> None:
    assert quality_verdict(doc) == verdict


def test_sort_key_orders_datasets_then_newest_then_id() -> None:
    keys = [
        sort_key("f-old", {"kind": "object", "arrival_time": "2025-12-31T23:59:59Z"}),
        sort_key("f-undated", {"kind": "object"}),
        sort_key("ds", {"kind": "dataset", "last_arrival": "2020-01-01T00:00:00Z"}),
        sort_key("f-new", {"kind": "object", "arrival_time": "2026-01-01T01:00:00+01:00"}),  # = 00:00Z
        sort_key("f-new-b", {"kind": "object", "arrival_time": "2026-01-01T00:00:00Z"}),
    ]
    assert [k.rsplit("|", 1)[1] for k in sorted(keys)] == ["ds", "f-new", "f-new-b", "f-old", "f-undated"]


def test_fuzzy_distance_grows_with_the_term() -> None:
    assert [fuzzy_distance("x" * n) for n in (4, 5, 8, 9, 20)] == [0, 1, 1, 2, 2]


def test_unknown_filter_lists_the_valid_fields() -> None:
    with pytest.raises(UnknownFilterError) as info:
        check_filters({"format": "csv", "colour": "red"})
    assert "colour" in str(info.value) and "partition_key" in str(info.value)
    assert check_filters({"format": "csv", "tag": ["a=b", ""], "owner": None}) == {"format": ["csv"], "tag": ["a=b"]}


def test_files_are_grouped_under_their_dataset_in_rank_order() -> None:
    def hit(i: str, ds: str, kind: str = "object", score: float = 1.0) -> SearchHit:
        return SearchHit(id=i, score=score, doc={"kind": kind, "dataset": ds})

    groups = group_by_dataset([hit("a1", "a", score=9), hit("b", "b", "dataset", 5), hit("a2", "a"), hit("a", "a", "dataset")],
                              files_per_dataset=1)
    assert [g["dataset"] for g in groups] == ["a", "b"]
    assert groups[0]["hit"].id == "a" and [f.id for f in groups[0]["files"]] == ["a1"] and groups[0]["file_matches"] == 2
