"""Rebuild the search index from the catalog table: after switching backends, losing the
embedded index, or changing the index schema, this is the one step to run (`datalake reindex`).

The index is cleared first and refilled in batches, so searches during a rebuild see a growing
subset. The stream indexer may keep writing meanwhile; a record it updates while the scan has
already passed it is corrected by its next change (or by running the rebuild again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from catalog.indexer import doc_id, to_search_doc
from catalog.search import BulkIndexError, SearchIndex
from catalog.store import CatalogStore

# Called as (documents done, estimated total or None) after every batch.
OnProgress = Callable[[int, int | None], None]


@dataclass
class ReindexResult:
    indexed: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def catalog_documents(store: CatalogStore) -> Iterator[tuple[str, dict[str, Any]]]:
    for item in store.scan_items():
        yield doc_id(item), to_search_doc(item)


def reindex(store: CatalogStore, index: SearchIndex, *, on_progress: OnProgress | None = None,
            batch: int = 1000) -> ReindexResult:
    """Replace the index's documents with the catalog's. Bad documents are reported, not fatal."""
    total = store.estimated_count()
    index.ensure()
    index.clear()
    result = ReindexResult()
    docs = catalog_documents(store)
    done = 0
    while chunk := list(islice(docs, batch)):
        try:
            result.indexed += index.upsert_many(chunk)
        except BulkIndexError as e:
            result.indexed += e.indexed
            result.failed.update(e.failed)
        done += len(chunk)
        if on_progress:
            # The table's count is an estimate (it includes other item kinds): never below done.
            on_progress(done, max(total, done) if total else None)
    if on_progress:
        on_progress(done, done)  # finished: the bar ends full
    return result
