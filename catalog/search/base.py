"""The search-index contract every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from catalog.search.types import FacetField, Kind, SearchHit, SearchPage, Status


class SearchIndex(ABC):
    """Full-text index over catalog documents (one per object version, one per dataset).

    Ranking (identical on every backend, see docs/search.md): the text is split on whitespace
    into terms; every term must match the document somewhere. Each term scores the best tier it
    reaches (``_query.TIER_WEIGHTS``: exact dataset name 100, name prefix 60, inside the name 40,
    inside a column name 20, a name within typo distance 10, words of tags/metadata/owner/
    description 5, inside the file key 2); a hit scores the sum. Equal scores list datasets
    before files, then the newest arrival, then the id. Empty text lists documents in that
    tie-break order.
    """

    @abstractmethod
    def ensure(self) -> None:
        """Create the index (mappings/files) if missing. Idempotent."""

    @abstractmethod
    def upsert(self, doc_id: str, doc: dict[str, Any]) -> None:
        """Index ``doc`` under ``doc_id``, replacing any previous version."""

    @abstractmethod
    def upsert_many(self, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Bulk upsert; returns how many were indexed. Raises BulkIndexError after writing the rest."""

    @abstractmethod
    def delete(self, doc_id: str) -> None:
        """Remove a document. Deleting a missing id is not an error."""

    @abstractmethod
    def get(self, doc_id: str) -> dict[str, Any] | None:
        """The stored document, or None."""

    @abstractmethod
    def query(
        self,
        text: str,
        *,
        filters: Mapping[str, str | Sequence[str]] | None = None,
        offset: int = 0,
        limit: int = 20,
        facets: Sequence[FacetField] = (),
    ) -> SearchPage:
        """A page of hits for ``text`` (untrusted; never parsed as query syntax) under ``filters``
        (field -> value or values; OR within a field, AND across fields; an unknown field raises
        UnknownFilterError), with the total match count and counts per value of each facet."""

    @abstractmethod
    def count(self) -> int:
        """Number of indexed documents."""

    def apply(self, ops: Sequence[tuple[str, str, dict[str, Any] | None]]) -> None:
        """Upserts (``("upsert", id, doc)``) and deletes (``("delete", id, None)``) in order.
        Backends may write them at once; an invalid document raises before anything is written
        where the backend can check first."""
        for op, doc_id, doc in ops:
            if op == "delete":
                self.delete(doc_id)
            else:
                self.upsert(doc_id, doc or {})

    def clear(self) -> None:  # noqa: B027 - optional hook
        """Remove every document (a rebuild starts here)."""
        raise NotImplementedError

    def search(
        self,
        text: str,
        *,
        dataset: str | None = None,
        status: Status | str | None = None,
        kind: Kind | str | None = None,
        limit: int = 20,
    ) -> list[SearchHit]:
        """The first ``limit`` hits under the common filters (a shorthand for ``query``)."""
        filters = {k: v for k, v in (("dataset", dataset), ("status", status), ("kind", kind)) if v is not None}
        return self.query(text, filters=filters, limit=limit).hits

    def facets(self, field: FacetField) -> dict[str, int]:
        """Document count per value of ``field`` over the whole index (no value: left out)."""
        return self.query("", limit=1, facets=[field]).facets[field]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. The index may not be used afterwards."""

    def __enter__(self) -> "SearchIndex":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
