"""Types shared by the search backends: the indexed document, hits and enums."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["object", "dataset"]
Status = Literal["received", "ingested", "quarantined", "validated", "loaded", "deleted"]
Format = Literal["csv", "jsonl", "parquet"]
FacetField = Literal["kind", "dataset", "status", "format", "owner", "tag", "partition_key", "quality"]
# Exact-value fields: each is a filter (``filters={"format": ["csv"]}``) and a facet with counts.
# ``tag`` values are "key=value"; ``quality`` is quarantined / passed / rejected_rows / not_validated.
FACET_FIELDS: tuple[FacetField, ...] = ("kind", "dataset", "status", "format", "owner", "tag", "partition_key", "quality")
FILTER_FIELDS = FACET_FIELDS


class Column(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    type: str = "unknown"


class CatalogDocument(BaseModel):
    """The document the indexer sends for one catalog record (object version or dataset).

    Unknown extra fields are kept (stored, returned by ``get``) but not searched.
    """

    model_config = ConfigDict(extra="allow")

    kind: Kind
    dataset: str = Field(min_length=1)
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    format: Format | None = None
    compression: str | None = None
    status: Status | None = None
    status_reason: str | None = None
    columns: list[Column] = Field(default_factory=list)
    size: int | None = None
    row_count: int | None = None
    arrival_time: str | None = None
    partitions: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    owner: str | None = None
    validation: dict[str, Any] | None = None


class SearchHit(BaseModel):
    """One search result. ``score`` is comparable across backends (see docs/search.md)."""

    id: str
    score: float
    doc: dict[str, Any]
    # field -> fragments with matches wrapped in <em>…</em> (text is HTML-escaped)
    highlights: dict[str, list[str]] = Field(default_factory=dict)


class SearchPage(BaseModel):
    """One page of ranked hits, how many documents matched in all, and facet counts over them."""

    hits: list[SearchHit]
    total: int
    offset: int = 0
    limit: int = 20
    # field -> value -> number of matching documents (over every match, not just this page)
    facets: dict[str, dict[str, int]] = Field(default_factory=dict)
