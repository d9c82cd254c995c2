"""Search index micro-benchmark: bulk indexing rate and query latency, both backends.

    .venv/bin/python bench/search/run.py [--docs 10000] [--queries 300]

OpenSearch is measured against osmem-server (an in-memory OpenSearch-protocol server): its
figures describe that emulator, not AWS OpenSearch Service, and are given only for contrast.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from catalog.search.base import SearchIndex  # noqa: E402
from catalog.search.embedded import SqliteSearchIndex  # noqa: E402

DATASETS = [f"{w}_{n}" for w in ("jobs", "sales", "weather", "clicks", "orders", "users", "ledger", "events") for n in range(25)]
COLUMNS = ["id", "organization", "job_type", "location", "amount", "station", "temp_c", "user_id", "ts", "country"]
QUERIES = ["jobs", "sales_1", "2024-03", "part_00", "organiz", "ingest_date=2025", "temp", "billing", "analytics", "zzz"]


def make_docs(n: int, seed: int = 7) -> list[tuple[str, dict]]:
    rnd = random.Random(seed)
    docs = []
    for i in range(n):
        ds = rnd.choice(DATASETS)
        day = f"202{rnd.randint(3, 6)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        key = f"raw/{ds}/ingest_date={day}/part_{i:05d}.{rnd.choice(['csv', 'jsonl', 'parquet'])}"
        docs.append(
            (
                f"s3://landing/{key}",
                {
                    "kind": "object", "dataset": ds, "bucket": "landing", "key": key,
                    "format": key.rsplit(".", 1)[1], "status": rnd.choice(["ingested", "validated", "quarantined"]),
                    "columns": [{"name": c, "type": "string"} for c in rnd.sample(COLUMNS, 4)],
                    "size": rnd.randint(1, 10**8), "arrival_time": f"{day}T00:00:{i % 60:02d}Z",
                    "tags": {"team": rnd.choice(["talent-analytics", "finance", "ops"])},
                    "description": rnd.choice([None, "Daily export from the billing system", "Sensor readings"]),
                },
            )
        )
    return docs


def measure(name: str, index: SearchIndex, docs: list[tuple[str, dict]], n_queries: int) -> None:
    index.ensure()
    t0 = time.perf_counter()
    index.upsert_many(docs)
    elapsed = time.perf_counter() - t0
    rnd = random.Random(1)
    latencies = []
    for _ in range(n_queries):
        text = rnd.choice(QUERIES)
        status = rnd.choice([None, None, "validated"])
        t = time.perf_counter()
        index.search(text, status=status, limit=20)
        latencies.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<22} bulk index {len(docs) / elapsed:8.0f} docs/s   "
        f"query p50 {q[49]:7.2f} ms  p95 {q[94]:7.2f} ms   ({len(docs)} docs, {n_queries} queries)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--skip-opensearch", action="store_true")
    args = parser.parse_args()
    docs = make_docs(args.docs)
    with tempfile.TemporaryDirectory() as tmp:
        for tokenizer in ("trigram", "unicode61"):
            with SqliteSearchIndex(Path(tmp) / f"{tokenizer}.sqlite3", tokenizer=tokenizer) as index:
                measure(f"embedded ({tokenizer})", index, docs, args.queries)
    if not args.skip_opensearch:
        from osmem_server import OsmemServer

        from catalog.search.opensearch import OpenSearchIndex, build_opensearch_client

        with OsmemServer.start(japanese=False) as server:
            client = build_opensearch_client(server.url, aws_auth=False, region="us-east-1")
            index = OpenSearchIndex(client, f"bench-{uuid.uuid4().hex[:8]}", refresh=False)
            index.ensure()
            index.upsert_many(docs[:1])
            client.indices.refresh(index=index.index)
            measure("opensearch (osmem)", _Refreshing(index), docs, args.queries)


class _Refreshing(SearchIndex):
    """Refresh once after the bulk load, as a real indexer's refresh interval would."""

    def __init__(self, inner: "SearchIndex") -> None:
        self.inner = inner

    def ensure(self) -> None:
        self.inner.ensure()

    def upsert(self, doc_id, doc):  # type: ignore[no-untyped-def]
        self.inner.upsert(doc_id, doc)

    def upsert_many(self, docs):  # type: ignore[no-untyped-def]
        n = self.inner.upsert_many(docs)
        self.inner.client.indices.refresh(index=self.inner.index)  # type: ignore[attr-defined]
        return n

    def delete(self, doc_id):  # type: ignore[no-untyped-def]
        self.inner.delete(doc_id)

    def get(self, doc_id):  # type: ignore[no-untyped-def]
        return self.inner.get(doc_id)

    def search(self, text, **kw):  # type: ignore[no-untyped-def]
        return self.inner.search(text, **kw)

    def facets(self, field):  # type: ignore[no-untyped-def]
        return self.inner.facets(field)

    def count(self) -> int:
        return self.inner.count()


if __name__ == "__main__":
    main()
