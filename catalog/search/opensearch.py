"""OpenSearch backend (AWS OpenSearch Service, or any OpenSearch-protocol server).

Mapping (``dynamic: false``, so arbitrary tags/metadata never change or break the mapping):
identifier fields (dataset, key, column names) are keywords with a lower-casing normalizer,
matched by escaped ``term``/``prefix``/``wildcard`` queries; ``search_fields`` holds what
``_query`` derives for every backend: names and their words (typo tolerance: ``fuzzy``), the
words of tags/metadata/owner/description (edge n-grams: word prefixes), the filter/facet values
and the tie-break ``sortkey``. Every tier is a ``constant_score`` with its weight inside a
``dis_max`` per term, so scores and order equal the embedded backend's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlparse

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import NotFoundError, RequestError, TransportError

from catalog.search._query import (
    MAX_WORD_CHARS,
    TIER_WEIGHTS,
    TIERS,
    Tier,
    check_facets,
    check_filters,
    check_page,
    filter_values,
    fuzzy_distance,
    highlight,
    name_values,
    normalize_document,
    parse_terms,
    sort_key,
    text_words,
    words,
)
from catalog.search.base import SearchIndex
from catalog.search.exceptions import (
    BulkIndexError,
    IndexMissingError,
    InvalidDocumentError,
    InvalidQueryError,
    SchemaMismatchError,
    SearchUnavailableError,
)
from catalog.search.types import FILTER_FIELDS, FacetField, SearchHit, SearchPage

Refresh = bool | Literal["wait_for"]
SCHEMA_VERSION = 2
_DERIVED = "search_fields"  # derived text stored beside the document, stripped on read

_LC = {"type": "keyword", "normalizer": "lowercase"}
_PREFIX_TEXT = {"type": "text", "analyzer": "word_prefix", "search_analyzer": "word"}

SETTINGS: dict[str, Any] = {
    "analysis": {
        "tokenizer": {
            # Words are runs of letters and digits; each is indexed with all its prefixes.
            "word_prefix": {
                "type": "edge_ngram",
                "min_gram": 1,
                "max_gram": MAX_WORD_CHARS,
                "token_chars": ["letter", "digit"],
            },
        },
        "normalizer": {"lowercase": {"type": "custom", "filter": ["lowercase"]}},
        "analyzer": {
            "word_prefix": {"type": "custom", "tokenizer": "word_prefix", "filter": ["lowercase"]},
            # Queries arrive pre-split into words (see _query.words) and are sent as terms.
            "word": {"type": "custom", "tokenizer": "keyword", "filter": ["lowercase"]},
        },
    }
}

MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "_meta": {"schema_version": SCHEMA_VERSION},
    "properties": {
        "kind": {"type": "keyword"},
        "status": {"type": "keyword"},
        "format": {"type": "keyword"},
        "compression": {"type": "keyword"},
        "bucket": {"type": "keyword"},
        "dataset": {"type": "keyword", "fields": {"lc": _LC}},
        "key": {"type": "keyword", "fields": {"lc": _LC}},
        "columns": {
            "type": "nested",
            "properties": {"name": {"type": "keyword", "fields": {"lc": _LC}}, "type": {"type": "keyword"}},
        },
        "owner": {"type": "keyword", "fields": {"words": _PREFIX_TEXT}},
        "description": _PREFIX_TEXT,
        "arrival_time": {"type": "keyword"},  # ISO strings sort correctly; never fails to parse
        "size": {"type": "long"},
        "row_count": {"type": "long"},
        _DERIVED: {
            "properties": {
                "doc_id": {"type": "keyword"},
                "sortkey": {"type": "keyword"},
                "names": {"type": "keyword"},
                "text": _PREFIX_TEXT,
                "filters": {"properties": {f: {"type": "keyword"} for f in FILTER_FIELDS}},
            }
        },
    },
}


def build_opensearch_client(
    url: str,
    *,
    aws_auth: bool,
    region: str,
    session: Any | None = None,
    service: Literal["es", "aoss"] = "es",
    timeout_s: float = 30.0,
) -> OpenSearch:
    """A client for ``url``. With ``aws_auth`` requests are SigV4-signed with the boto3
    session's credentials (``service`` "es" for OpenSearch Service, "aoss" for Serverless)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SearchUnavailableError(
            f"DATALAKE_OPENSEARCH_URL={url!r} is not a URL; use https://host:443 (AWS) or http://127.0.0.1:9200 (local)"
        )
    use_ssl = parsed.scheme == "https"
    host = {"host": parsed.hostname, "port": parsed.port or (443 if use_ssl else 80), "scheme": parsed.scheme}
    kwargs: dict[str, Any] = {"hosts": [host], "use_ssl": use_ssl, "verify_certs": use_ssl, "timeout": timeout_s}
    if aws_auth:
        import boto3
        from opensearchpy import AWSV4SignerAuth, RequestsHttpConnection

        credentials = (session or boto3.session.Session()).get_credentials()
        if credentials is None:
            raise SearchUnavailableError(
                f"no AWS credentials to sign requests to {url}; configure a profile/role or disable SigV4 for local URLs"
            )
        kwargs.update(http_auth=AWSV4SignerAuth(credentials, region, service), connection_class=RequestsHttpConnection)
    elif parsed.username:
        kwargs["http_auth"] = (parsed.username, parsed.password or "")
    return OpenSearch(**kwargs)


class OpenSearchIndex(SearchIndex):
    def __init__(self, client: OpenSearch, index: str, *, refresh: Refresh = False) -> None:
        """``refresh``: False (fastest; searches see writes within the refresh interval), True or
        "wait_for" (a search right after a write sees it; what tests use)."""
        self.client = client
        self.index = index
        self.refresh = refresh

    # --- plumbing ----------------------------------------------------------------------------

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NotFoundError as e:
            if e.error == "index_not_found_exception":
                raise IndexMissingError(self.index) from e
            raise
        except OSConnectionError as e:
            raise SearchUnavailableError(
                f"cannot reach OpenSearch for index {self.index!r}: {e}; check DATALAKE_OPENSEARCH_URL and the network"
            ) from e

    # --- schema ------------------------------------------------------------------------------

    def ensure(self) -> None:
        if not self._call(self.client.indices.exists, index=self.index):
            try:
                self._call(self.client.indices.create, index=self.index, body={"settings": SETTINGS, "mappings": MAPPINGS})
                return
            except RequestError as e:
                if e.error != "resource_already_exists_exception":  # another process won the race
                    raise
        mapping = self._call(self.client.indices.get_mapping, index=self.index)
        meta = next(iter(mapping.values()), {}).get("mappings", {}).get("_meta", {})
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise SchemaMismatchError(
                f"OpenSearch index {self.index!r} has schema version {meta.get('schema_version')!r}, this code needs "
                f"{SCHEMA_VERSION}; set DATALAKE_SEARCH_INDEX to a new name and re-run the indexer, or delete the index"
            )

    # --- writes ------------------------------------------------------------------------------

    def upsert(self, doc_id: str, doc: dict[str, Any]) -> None:
        source = _source(doc_id, normalize_document(doc_id, doc))
        self._call(self.client.index, index=self.index, id=doc_id, body=source, refresh=self.refresh)

    def upsert_many(self, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        failed: dict[str, str] = {}

        def actions() -> Iterator[dict[str, Any]]:
            for doc_id, doc in docs:
                try:
                    source = _source(doc_id, normalize_document(doc_id, doc))
                except InvalidDocumentError as e:
                    failed[str(doc_id)] = e.problem
                    continue
                yield {"_op_type": "index", "_index": self.index, "_id": doc_id, "_source": source}

        indexed, errors = self._call(
            helpers.bulk, self.client, actions(), chunk_size=500, raise_on_error=False,
            raise_on_exception=False, refresh=self.refresh,
        )
        for err in errors:  # type: ignore[union-attr]
            item = next(iter(err.values()))
            if (item.get("error") or {}).get("type") == "index_not_found_exception":
                raise IndexMissingError(self.index)
            failed[str(item.get("_id"))] = str(item.get("error"))
        if failed:
            raise BulkIndexError(failed, indexed)
        return indexed

    def delete(self, doc_id: str) -> None:
        try:
            self._call(self.client.delete, index=self.index, id=doc_id, refresh=self.refresh)
        except (NotFoundError, IndexMissingError):
            pass  # already gone

    # --- reads -------------------------------------------------------------------------------

    def get(self, doc_id: str) -> dict[str, Any] | None:
        try:
            res = self._call(self.client.get, index=self.index, id=doc_id, _source_excludes=[_DERIVED])
        except NotFoundError:
            return None
        return res["_source"] if res.get("found") else None

    def count(self) -> int:
        return int(self._call(self.client.count, index=self.index)["count"])

    def clear(self) -> None:
        self._call(self.client.delete_by_query, index=self.index, body={"query": {"match_all": {}}},
                   refresh=bool(self.refresh), conflicts="proceed")

    def query(
        self,
        text: str,
        *,
        filters: Mapping[str, str | Sequence[str]] | None = None,
        offset: int = 0,
        limit: int = 20,
        facets: Sequence[FacetField] = (),
    ) -> SearchPage:
        offset, limit = check_page(offset, limit)
        wanted = check_facets(facets)
        filt = [{"terms": {f"{_DERIVED}.filters.{f}": vs}} for f, vs in check_filters(filters).items()]
        terms = parse_terms(text)
        tiebreak = {f"{_DERIVED}.sortkey": {"order": "asc"}}
        if terms:
            query = {"bool": {"must": [_term_query(t) for t in terms], "filter": filt}}
            sort: list[Any] = [{"_score": {"order": "desc"}}, tiebreak]
        else:
            query = {"bool": {"filter": filt}} if filt else {"match_all": {}}
            sort = [tiebreak]
        body: dict[str, Any] = {
            "query": query, "sort": sort, "from": offset, "size": limit, "track_scores": True,
            "track_total_hits": True, "_source": {"excludes": [_DERIVED]},
        }
        if wanted:
            body["aggs"] = {f: {"terms": {"field": f"{_DERIVED}.filters.{f}", "size": 1000}} for f in wanted}
        try:
            res = self._call(self.client.search, index=self.index, body=body)
        except TransportError as e:
            raise InvalidQueryError(f"OpenSearch rejected the query for {text!r}: {e}; report this as a bug") from e
        hits = []
        for h in res["hits"]["hits"]:
            doc = h["_source"]
            score = float(h.get("_score") or 0.0) if terms else 0.0
            hits.append(SearchHit(id=h["_id"], score=score, doc=doc, highlights=highlight(doc, terms)))
        total = res["hits"]["total"]
        total = int(total["value"] if isinstance(total, dict) else total)
        aggs = res.get("aggregations") or {}
        counts = {
            f: {b["key"]: int(b["doc_count"]) for b in sorted(aggs.get(f, {}).get("buckets", []),
                                                             key=lambda b: (-b["doc_count"], b["key"]))}
            for f in wanted
        }
        return SearchPage(hits=hits, total=total, offset=offset, limit=limit, facets=counts)


def _source(doc_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, _DERIVED: {
        "doc_id": doc_id, "sortkey": sort_key(doc_id, doc), "names": name_values(doc),
        "text": " ".join(text_words(doc)), "filters": filter_values(doc),
    }}


def _wildcard_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _tier_clause(term: str, tier: Tier) -> dict[str, Any] | None:
    """The query for documents where ``term`` reaches ``tier`` (None: cannot apply)."""
    pattern = f"*{_wildcard_escape(term)}*"

    def substring(field: str) -> dict[str, Any]:
        return {"wildcard": {field: {"value": pattern, "case_insensitive": True}}}

    if tier == "name_exact":
        return {"term": {"dataset.lc": term}}
    if tier == "name_prefix":
        return {"prefix": {"dataset.lc": {"value": term}}}
    if tier == "name_substring":
        return substring("dataset.lc")
    if tier == "column":
        return {"nested": {"path": "columns", "query": substring("columns.name.lc")}}
    if tier == "name_fuzzy":
        distance = fuzzy_distance(term)
        if not distance:
            return None
        return {"fuzzy": {f"{_DERIVED}.names": {"value": term, "fuzziness": distance, "transpositions": True,
                                                 "prefix_length": 0, "max_expansions": 1000}}}
    if tier == "text":
        ws = words(term)
        return {"bool": {"filter": [{"term": {f"{_DERIVED}.text": w}} for w in ws]}} if ws else None
    return substring("key.lc")


def _term_query(term: str) -> dict[str, Any]:
    """One term: the best tier it reaches (dis_max of constant scores)."""
    queries = [
        {"constant_score": {"filter": clause, "boost": TIER_WEIGHTS[tier]}}
        for tier in TIERS
        if (clause := _tier_clause(term, tier)) is not None
    ]
    return {"dis_max": {"tie_breaker": 0.0, "queries": queries}}
