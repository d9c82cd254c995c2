"""Choosing and configuring the backend from settings."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
import requests
from opensearchpy import AWSV4SignerAuth

from catalog.search import SearchUnavailableError, build_search_index, sigv4_needed
from catalog.search.embedded import TantivySearchIndex
from catalog.search.opensearch import OpenSearchIndex, _term_query, _wildcard_escape, build_opensearch_client
from datalake_base.settings import Settings


def test_embedded_backend_lives_in_the_state_directory(tmp_path: Path) -> None:
    index = build_search_index(Settings(search_backend="embedded", state_dir=tmp_path))
    assert isinstance(index, TantivySearchIndex)
    assert index.path == tmp_path.resolve() / "search.tantivy"


def test_opensearch_backend_uses_the_configured_url_and_index() -> None:
    settings = Settings(search_backend="opensearch", opensearch_url="http://127.0.0.1:9200", search_index="cat")
    index = build_search_index(settings)
    assert isinstance(index, OpenSearchIndex) and index.index == "cat"
    assert index.client.transport.kwargs.get("http_auth") is None


@pytest.mark.parametrize(
    ("url", "signed"),
    [
        ("https://search-lake-abc.us-east-1.es.amazonaws.com", True),
        ("https://abc123.us-east-1.aoss.amazonaws.com:443", True),
        ("http://127.0.0.1:9200", False),
        ("https://search.internal.example.com", False),
    ],
)
def test_only_aws_hosted_endpoints_are_signed(url: str, signed: bool) -> None:
    assert sigv4_needed(url) is signed


def test_aws_client_signs_with_session_credentials() -> None:
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="s", region_name="eu-west-1")
    client = build_opensearch_client(
        "https://search-lake.eu-west-1.es.amazonaws.com", aws_auth=True, region="eu-west-1", session=session
    )
    auth = client.transport.kwargs["http_auth"]
    assert isinstance(auth, AWSV4SignerAuth)
    assert auth.service == "es"
    request = requests.Request("GET", "https://search-lake.eu-west-1.es.amazonaws.com/_search").prepare()
    signed = auth(request)
    assert "AKIDEXAMPLE/" in signed.headers["Authorization"]
    assert "/eu-west-1/es/aws4_request" in signed.headers["Authorization"]


def test_a_url_that_is_not_a_url_is_rejected_with_the_fix() -> None:
    with pytest.raises(SearchUnavailableError, match="https://host:443"):
        build_opensearch_client("search-lake:443", aws_auth=False, region="us-east-1")


def test_wildcard_metacharacters_are_escaped() -> None:
    assert _wildcard_escape("a*b?c\\") == "a\\*b\\?c\\\\"


def test_a_term_without_words_skips_the_text_tier_and_short_terms_skip_typos() -> None:
    assert len(_term_query("*")["dis_max"]["queries"]) == 5  # name x3, column, key
    assert len(_term_query("jobs")["dis_max"]["queries"]) == 6  # + text; too short for typos
    assert len(_term_query("orders")["dis_max"]["queries"]) == 7
