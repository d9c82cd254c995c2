"""Errors raised by the search index. Each message names the offending value and the fix."""

from __future__ import annotations


class SearchError(Exception):
    """Base class of every error raised by ``catalog.search``."""


class InvalidDocumentError(SearchError, ValueError):
    """A document does not have the shape the index expects (see docs/search.md)."""

    def __init__(self, doc_id: str, problem: str) -> None:
        self.doc_id = doc_id
        self.problem = problem
        super().__init__(
            f"search document {doc_id!r} is invalid: {problem}; "
            "send the documented shape (docs/search.md, 'Document shape')"
        )


class InvalidQueryError(SearchError, ValueError):
    """A query argument is out of range (the text itself is never invalid: it is escaped)."""


class UnknownFilterError(InvalidQueryError):
    """A filter names a field the index cannot filter on; the API answers 400 with the valid ones."""

    def __init__(self, field: str) -> None:
        from catalog.search.types import FILTER_FIELDS

        self.field = field
        self.valid = list(FILTER_FIELDS)
        super().__init__(f"unknown filter {field!r}; filter on one of: {', '.join(FILTER_FIELDS)}")


class BulkIndexError(SearchError):
    """Some documents of a bulk write failed; the others were written.

    ``failed`` maps each failed id to its reason, ``indexed`` counts the successes, so a caller
    can report partial batch failures instead of retrying the whole batch.
    """

    def __init__(self, failed: dict[str, str], indexed: int) -> None:
        self.failed = failed
        self.indexed = indexed
        sample = "; ".join(f"{k!r}: {v}" for k, v in list(failed.items())[:3])
        super().__init__(
            f"{len(failed)} of {len(failed) + indexed} documents were not indexed ({sample}); "
            "fix those documents and upsert them again (the others are indexed)"
        )


class SearchUnavailableError(SearchError):
    """The backend cannot be reached or opened."""


class IndexMissingError(SearchError):
    """The index does not exist yet."""

    def __init__(self, index: str) -> None:
        self.index = index
        super().__init__(
            f"search index {index!r} does not exist; create it with SearchIndex.ensure() "
            "(the indexer does this on start) or check DATALAKE_SEARCH_INDEX"
        )


class SchemaMismatchError(SearchError):
    """An existing index was created with another mapping/schema version."""
