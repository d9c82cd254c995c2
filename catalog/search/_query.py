"""Pieces shared by the backends: document validation, searchable text, query terms, highlights.

Both backends derive what they index and how a term matches from this module, so that the same
query gives the same hits, in the same order, on SQLite and on OpenSearch.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from decimal import Decimal
from typing import Any, Literal

from pydantic import ValidationError

from catalog.search.exceptions import InvalidDocumentError, InvalidQueryError
from catalog.search.types import CatalogDocument

SearchField = Literal["dataset", "columns", "key", "tags", "metadata", "owner", "description"]
# Weight of a match in each field; a hit scores the sum over terms of the best matching field.
FIELD_WEIGHTS: dict[SearchField, int] = {
    "dataset": 10,
    "columns": 8,
    "key": 4,
    "tags": 3,
    "metadata": 2,
    "owner": 2,
    "description": 1,
}
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
