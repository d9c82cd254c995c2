"""Pieces shared by the backends: document validation, searchable text, query terms, highlights.

Both backends derive what they index and how a term matches from this module, so that the same
query gives the same hits, in the same order, on SQLite and on OpenSearch.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from datetime import timezone
from decimal import Decimal
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import ValidationError

from catalog.formatting import parse_time
from catalog.search.exceptions import InvalidDocumentError, InvalidQueryError, UnknownFilterError
from catalog.search.types import FACET_FIELDS, FILTER_FIELDS, CatalogDocument, SearchHit

SearchField = Literal["dataset", "columns", "key", "tags", "metadata", "owner", "description"]
Tier = Literal["name_exact", "name_prefix", "name_substring", "column", "name_fuzzy", "text", "key"]
# How well one term matches a document, best first. A hit scores the sum over terms of the
# best tier each term reached, so a catalog search puts names before columns before prose
# before file keys. Weights are spaced so that one term's tier outweighs any lower tier.
TIER_WEIGHTS: dict[Tier, int] = {
    "name_exact": 100,  # the term is the dataset name
    "name_prefix": 60,  # the dataset name starts with the term
    "name_substring": 40,  # the term is inside the dataset name
    "column": 20,  # the term is inside a column name
    "name_fuzzy": 10,  # a dataset/column name or one of its words is within the typo distance
    "text": 5,  # every word of the term starts a word of tags, metadata, owner or description
    "key": 2,  # the term is inside the object key
}
TIERS: tuple[Tier, ...] = tuple(TIER_WEIGHTS)
# Matched as case-insensitive substrings of the whole value.
IDENT_FIELDS: tuple[SearchField, ...] = ("dataset", "columns", "key")
# Matched word by word: each word of the term must start a word of the field.
TEXT_FIELDS: tuple[SearchField, ...] = ("tags", "metadata", "owner", "description")
SEARCH_FIELDS: tuple[SearchField, ...] = IDENT_FIELDS + TEXT_FIELDS

MAX_TERMS = 16
MAX_TERM_CHARS = 128
MAX_WORD_CHARS = 30  # OpenSearch edge n-grams stop here; longer query words are cut to it
MAX_LIMIT = 1000
RESERVED_FIELDS = frozenset({"search_fields"})

_WORD = re.compile(r"[^\W_]+")


def normalize_document(doc_id: Any, doc: Any) -> dict[str, Any]:
    """Validate a document and return its JSON-safe form (only the fields given are kept)."""
    if not isinstance(doc_id, str) or not doc_id or len(doc_id) > 512:
        raise InvalidDocumentError(str(doc_id)[:80], "the id must be a non-empty string of at most 512 characters")
    if not isinstance(doc, dict):
        raise InvalidDocumentError(doc_id, f"expected a JSON object, got {type(doc).__name__}")
    clash = RESERVED_FIELDS.intersection(doc)
    if clash:
        raise InvalidDocumentError(doc_id, f"field {sorted(clash)[0]!r} is reserved by the index; rename it")
    try:
        model = CatalogDocument.model_validate(_plain(doc))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise InvalidDocumentError(doc_id, f"{where}: {first['msg']} (got {first.get('input')!r:.80})") from None
    return model.model_dump(mode="json", exclude_unset=True)


def _plain(value: Any) -> Any:
    """DynamoDB numbers arrive as Decimal: make them int/float so they round-trip as numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def searchable_values(doc: dict[str, Any]) -> dict[SearchField, list[str]]:
    """The original-case strings each search field holds for ``doc`` (a normalized document)."""
    return {
        "dataset": [doc.get("dataset") or ""],
        "columns": [c.get("name", "") for c in doc.get("columns") or []],
        "key": [doc.get("key") or ""],
        "tags": [f"{k} {_text(v)}" for k, v in (doc.get("tags") or {}).items()],
        "metadata": [_text(v) for v in (doc.get("metadata") or {}).values()],
        "owner": [doc.get("owner") or ""],
        "description": [doc.get("description") or ""],
    }


def parse_terms(text: str | None) -> list[str]:
    """Split untrusted text into lower-case terms. Nothing in it is query syntax."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise InvalidQueryError(f"search text must be a string, got {type(text).__name__}; pass str(value)")
    text = unicodedata.normalize("NFC", text)
    # Control and format characters (NUL, zero-width joiners...) carry no meaning in a search.
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    terms: list[str] = []
    for raw in text.lower().split():
        term = raw[:MAX_TERM_CHARS]
        if term not in terms:
            terms.append(term)
        if len(terms) == MAX_TERMS:
            break
    return terms


def words(term: str) -> list[str]:
    """The words of a term, as free-text fields are tokenized (letters and digits)."""
    return [w[:MAX_WORD_CHARS] for w in _WORD.findall(term)]


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidQueryError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}; page with filters instead")
    return limit


# --- highlights ------------------------------------------------------------------------------

_FRAGMENT = 160


def highlight(doc: dict[str, Any], terms: list[str]) -> dict[str, list[str]]:
    """Fragments of each field that matched, matches wrapped in <em>, text HTML-escaped.

    Computed here rather than by the backend so both backends return the same highlights
    (OpenSearch's highlighter marks whole n-gram tokens or whole keyword values).
    """
    if not terms:
        return {}
    out: dict[str, list[str]] = {}
    for field, values in searchable_values(doc).items():
        patterns = _patterns(field, terms)
        frags = [f for v in values if v and (f := _mark(v, patterns))]
        if frags:
            out[field] = frags
    return out


def _patterns(field: SearchField, terms: list[str]) -> list[re.Pattern[str]]:
    if field in IDENT_FIELDS:
        return [re.compile(re.escape(t), re.IGNORECASE) for t in terms]
    return [re.compile(r"(?<![^\W_])" + re.escape(w), re.IGNORECASE) for t in terms for w in words(t)]


def _mark(value: str, patterns: list[re.Pattern[str]]) -> str | None:
    spans: list[tuple[int, int]] = []
    for p in patterns:
        spans.extend(m.span() for m in p.finditer(value) if m.end() > m.start())
    if not spans:
        return None
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    lo = max(0, merged[0][0] - _FRAGMENT // 2) if len(value) > _FRAGMENT else 0
    hi = min(len(value), lo + _FRAGMENT) if len(value) > _FRAGMENT else len(value)
    parts, pos = [], lo
    for s, e in merged:
        if s >= hi:
            break
        parts.append(html.escape(value[pos:s]))
        parts.append("<em>" + html.escape(value[s:min(e, hi)]) + "</em>")
        pos = min(e, hi)
    parts.append(html.escape(value[pos:hi]))
    return ("…" if lo else "") + "".join(parts) + ("…" if hi < len(value) else "")


# --- derived values both backends index ------------------------------------------------------


def quality_verdict(doc: dict[str, Any]) -> str:
    """One word an analyst can filter on: quarantined, passed, rejected_rows or not_validated."""
    if doc.get("status") == "quarantined":
        return "quarantined"
    v = doc.get("validation") or {}
    if isinstance(v, dict) and isinstance(v.get("rejected"), (int, float)):
        return "passed" if v["rejected"] == 0 else "rejected_rows"
    return "not_validated"


def filter_values(doc: dict[str, Any]) -> dict[str, list[str]]:
    """The exact values each filter/facet field holds for ``doc`` (see types.FILTER_FIELDS)."""

    def one(v: Any) -> list[str]:
        return [str(v)] if v not in (None, "") else []

    return {
        "kind": one(doc.get("kind")),
        "dataset": one(doc.get("dataset")),
        "status": one(doc.get("status")),
        "format": one(doc.get("format")),
        "owner": one(doc.get("owner")),
        "tag": sorted({f"{k}={_text(v)}" for k, v in (doc.get("tags") or {}).items()}),
        "partition_key": sorted({str(k) for k in (doc.get("partitions") or {})}),
        "quality": [quality_verdict(doc)],
    }


def arrival(doc: dict[str, Any]) -> str | None:
    """When the document last changed: an object's arrival, a dataset's latest file arrival."""
    return doc.get("arrival_time") or doc.get("last_arrival")


def sort_key(doc_id: str, doc: dict[str, Any]) -> str:
    """Tie-break order for equal scores, as one ascending string both backends sort by:
    datasets before files, then newest arrival first, then the id."""
    kind = "0" if doc.get("kind") == "dataset" else "1"
    stamp = _instant(arrival(doc))
    # Digits mapped d -> 9-d turn an ascending sort into newest first; no time sorts last.
    recency = stamp.translate(_INVERT) if stamp else "~" * 20
    return f"{kind}{recency}|{doc_id}"


_INVERT = str.maketrans("0123456789", "9876543210")


def _instant(value: Any) -> str | None:
    t = parse_time(value)
    return t.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S%f") if t else None


def name_values(doc: dict[str, Any]) -> list[str]:
    """Lower-cased dataset and column names plus their words: what typo-tolerant matching sees."""
    names = [doc.get("dataset") or ""] + [c.get("name", "") for c in doc.get("columns") or []]
    out: set[str] = set()
    for n in names:
        n = n.lower()
        if n:
            out.add(n)
            out.update(words(n))
    return sorted(out)


def text_words(doc: dict[str, Any]) -> list[str]:
    """Lower-cased words of tags, metadata, owner and description (the ``text`` tier)."""
    values = searchable_values(doc)
    return [w for f in TEXT_FIELDS for v in values[f] for w in words(v.lower())]


def fuzzy_distance(term: str) -> int:
    """Edits a term may be away from a name: none below 5 characters (too many false friends),
    one up to 8, two from 9 ("orgnization" finds organization, "organisation" too)."""
    if len(term) < 5:
        return 0
    return 1 if len(term) < 9 else 2


def group_by_dataset(hits: list[SearchHit], files_per_dataset: int = 5) -> list[dict[str, Any]]:
    """Hits grouped as an analyst reads them: one entry per dataset, in order of its best hit,
    carrying the dataset's own hit (if it matched) and its best-ranked matching files."""
    groups: dict[str, dict[str, Any]] = {}
    for h in hits:
        name = h.doc.get("dataset", "")
        g = groups.setdefault(name, {"dataset": name, "score": h.score, "hit": None, "files": [], "file_matches": 0})
        if h.doc.get("kind") == "dataset":
            g["hit"] = h
        else:
            g["file_matches"] += 1
            if len(g["files"]) < files_per_dataset:
                g["files"].append(h)
    return list(groups.values())


MAX_WINDOW = 10_000  # offset + limit; deeper pages are a sign to narrow with filters


def check_page(offset: int, limit: int) -> tuple[int, int]:
    check_limit(limit)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0 or offset + limit > MAX_WINDOW:
        raise InvalidQueryError(
            f"offset must be an integer from 0 with offset + limit <= {MAX_WINDOW}, got offset={offset!r}; "
            "narrow the search with filters instead of paging that deep"
        )
    return offset, limit


def check_filters(filters: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Filters as field -> accepted values (OR within a field, AND across fields)."""
    out: dict[str, list[str]] = {}
    for field, value in (filters or {}).items():
        if field not in FILTER_FIELDS:
            raise UnknownFilterError(field)
        values = [value] if isinstance(value, str) else list(value or [])
        values = [str(v) for v in values if v is not None and v != ""]
        if values:
            out[field] = values
    return out


def check_facets(fields: Iterable[str]) -> list[str]:
    fields = list(fields)
    for f in fields:
        if f not in FACET_FIELDS:
            raise InvalidQueryError(f"cannot facet on {f!r}; use one of {', '.join(FACET_FIELDS)}")
    return fields
