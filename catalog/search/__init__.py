"""The catalog's search index: one contract (``SearchIndex``), two backends.

``embedded`` (default, local mode): a tantivy index in ``<state_dir>/search.tantivy/``.
``opensearch``: an OpenSearch index (AWS OpenSearch Service or a local OpenSearch server).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from catalog.search.base import SearchIndex
from catalog.search.exceptions import (
    BulkIndexError,
    IndexMissingError,
    InvalidDocumentError,
    InvalidQueryError,
    SchemaMismatchError,
    SearchError,
    SearchUnavailableError,
    UnknownFilterError,
)
from catalog.search.types import FACET_FIELDS, FILTER_FIELDS, CatalogDocument, FacetField, SearchHit, SearchPage

if TYPE_CHECKING:
    from datalake_base.settings import Settings

__all__ = [
    "BulkIndexError",
    "CatalogDocument",
    "FACET_FIELDS",
    "FILTER_FIELDS",
    "FacetField",
    "IndexMissingError",
    "InvalidDocumentError",
    "InvalidQueryError",
    "SchemaMismatchError",
    "SearchError",
    "SearchHit",
    "SearchIndex",
    "SearchPage",
    "SearchUnavailableError",
    "UnknownFilterError",
    "build_search_index",
    "sigv4_needed",
]

EMBEDDED_DIR = "search.tantivy"


def sigv4_needed(url: str) -> bool:
    """Sign requests for AWS-hosted endpoints (``*.amazonaws.com``); plain for anything else."""
    host = (urlparse(url).hostname or "").lower()
    return host.endswith(".amazonaws.com")


def build_search_index(settings: "Settings") -> SearchIndex:
    """The backend ``settings.search_backend`` names. Call ``ensure()`` before the first write."""
    if settings.search_backend == "embedded":
        from catalog.search.embedded import TantivySearchIndex

        return TantivySearchIndex(settings.state_path / EMBEDDED_DIR)
    if settings.search_backend == "opensearch":
        from catalog.search.opensearch import OpenSearchIndex, build_opensearch_client

        url = settings.opensearch_url
        if not url:
            raise SearchUnavailableError(
                "DATALAKE_SEARCH_BACKEND=opensearch needs DATALAKE_OPENSEARCH_URL (https://host:443)"
            )
        aws_auth = sigv4_needed(url)
        session = None
        if aws_auth:
            from datalake_base import aws

            session = aws.session(settings)
        service = "aoss" if ".aoss." in url else "es"
        client = build_opensearch_client(url, aws_auth=aws_auth, region=settings.region, session=session, service=service)
        return OpenSearchIndex(client, settings.search_index)
    raise SearchUnavailableError(
        f"unknown DATALAKE_SEARCH_BACKEND={settings.search_backend!r}; use 'embedded' or 'opensearch'"
    )
