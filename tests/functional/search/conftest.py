"""Search backends for the contract tests: the embedded tantivy index and OpenSearch.

OpenSearch runs as a real ``osmem-server`` process (an OpenSearch-protocol server from PyPI) on
a free loopback port, started once per session; each test gets its own index.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
from osmem_server import OsmemServer

from catalog.search.base import SearchIndex
from catalog.search.embedded import TantivySearchIndex
from catalog.search.opensearch import OpenSearchIndex, build_opensearch_client

BACKENDS = ["embedded", "opensearch"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    server = OsmemServer.start(addr=f"127.0.0.1:{_free_port()}", japanese=False)
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def opensearch_index(opensearch_url: str) -> Iterator[OpenSearchIndex]:
    client = build_opensearch_client(opensearch_url, aws_auth=False, region="us-east-1")
    index = OpenSearchIndex(client, f"catalog-{uuid.uuid4().hex[:12]}", refresh=True)
    index.ensure()
    yield index
    client.indices.delete(index=index.index, ignore_unavailable=True)
    client.close()


@pytest.fixture(params=BACKENDS)
def search_index(request: pytest.FixtureRequest, tmp_path) -> Iterator[SearchIndex]:
    if request.param == "opensearch":
        yield request.getfixturevalue("opensearch_index")
        return
    index = TantivySearchIndex(tmp_path / "search.tantivy")
    index.ensure()
    yield index
    index.close()
