"""The search-index contract every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

from catalog.search.types import FacetField, Kind, SearchHit, Status


class SearchIndex(ABC):
    """Full-text index over catalog documents (one per object version, one per dataset).

    Matching (identical on every backend, see docs/search.md): the text is split on whitespace
    into terms; every term must match at least one field. Identifier fields (dataset, column
    names, key) match a term as a case-insensitive substring; free-text fields (tags, metadata,
    owner, description) match when each word of the term starts a word of the field.
    A hit scores the sum over terms of the best field weight the term matched
    (dataset 10, columns 8, key 4, tags 3, metadata 2, owner 2, description 1); ties go to the
    newest ``arrival_time``, then the id. Empty text lists documents newest first.
    """

    @abstractmethod
    def ensure(self) -> None:
        """Create the index (mappings/tables) if missing. Idempotent."""

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
    def search(
        self,
        text: str,
        *,
        dataset: str | None = None,
        status: Status | str | None = None,
        kind: Kind | str | None = None,
        limit: int = 20,
    ) -> list[SearchHit]:
        """Documents matching ``text`` (untrusted; never parsed as query syntax) and the filters."""

    @abstractmethod
    def facets(self, field: FacetField) -> dict[str, int]:
        """Document count per value of ``field`` (documents without a value are left out)."""

    @abstractmethod
    def count(self) -> int:
        """Number of indexed documents."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. The index may not be used afterwards."""

    def __enter__(self) -> "SearchIndex":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
