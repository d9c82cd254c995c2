"""A catalog search request as the API and the UI receive it, and the page they answer with.

Pure functions over the ``SearchIndex`` contract: parameters are parsed once (so the API and the
UI agree on what a filter is and refuse the same unknown ones), and the ranked hits are also
returned grouped by dataset, the way analysts read them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from catalog.search import FACET_FIELDS, FILTER_FIELDS, SearchIndex, UnknownFilterError
from catalog.search._query import group_by_dataset

# Query-string names that are not filters.
CONTROL_PARAMS = ("q", "page", "per_page")
MAX_PER_PAGE = 100
FACETS_SHOWN = ("format", "status", "quality", "owner", "tag", "partition_key", "kind")


class BadSearchRequest(ValueError):
    """A search parameter has a wrong value; the message says which and what is allowed."""


@dataclass(frozen=True)
class SearchRequest:
    q: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)
    page: int = 1
    per_page: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def parse_search_params(params: Iterable[tuple[str, str]]) -> SearchRequest:
    """``?q=..&page=2&per_page=20&format=csv&format=parquet&tag=team=finance`` -> SearchRequest.

    A parameter that is neither a control nor a filter field raises UnknownFilterError, so a
    typo such as ``?fromat=csv`` is a 400 naming the valid filters, never a silent no-op."""
    q, page, per_page = "", 1, 20
    filters: dict[str, list[str]] = {}
    for name, value in params:
        if name == "q":
            q = value
        elif name in ("page", "per_page"):
            try:
                n = int(value)
            except ValueError:
                raise BadSearchRequest(f"{name} must be a whole number, got {value!r}") from None
            if name == "page":
                page = n
            else:
                per_page = n
        elif name in FILTER_FIELDS:
            if value != "":
                filters.setdefault(name, []).append(value)
        else:
            raise UnknownFilterError(name)
    if page < 1:
        raise BadSearchRequest(f"page must be 1 or more, got {page}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise BadSearchRequest(f"per_page must be from 1 to {MAX_PER_PAGE}, got {per_page}")
    return SearchRequest(q=q, filters=filters, page=page, per_page=per_page)


def run_search(index: SearchIndex, req: SearchRequest, *, allowed_datasets: Iterable[str] | None = None) -> dict[str, Any]:
    """One page of results with totals, facets and the hits grouped by dataset.

    ``allowed_datasets`` trims everything (hits, totals, facets) to those datasets; None: all."""
    filters = dict(req.filters)
    if allowed_datasets is not None:
        allowed = set(allowed_datasets)
        wanted = set(filters.get("dataset", allowed)) & allowed
        filters["dataset"] = sorted(wanted) or ["\x00none"]  # no dataset may be seen: match nothing
    page = index.query(req.q, filters=filters, offset=req.offset, limit=req.per_page, facets=list(FACETS_SHOWN))
    hits = [_hit(h) for h in page.hits]
    groups = [
        {**g, "hit": _hit(g["hit"]) if g["hit"] else None, "files": [_hit(f) for f in g["files"]]}
        for g in group_by_dataset(page.hits)
    ]
    return {
        "query": req.q,
        "filters": req.filters,
        "total": page.total,
        "page": req.page,
        "per_page": req.per_page,
        "pages": max(1, math.ceil(page.total / req.per_page)),
        "facets": {f: page.facets.get(f, {}) for f in FACETS_SHOWN},
        "hits": hits,
        "groups": groups,
    }


def _hit(h: Any) -> dict[str, Any]:
    return {"id": h.id, "score": h.score, "doc": h.doc, "highlights": h.highlights}


__all__ = ["FACET_FIELDS", "BadSearchRequest", "SearchRequest", "parse_search_params", "run_search"]
