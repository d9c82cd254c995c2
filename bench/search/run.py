"""Search benchmark: bulk indexing rate and query latency at catalog scale, in one run.

    .venv/bin/python bench/search/run.py                       # 100,000 files + 5,000 datasets, embedded
    .venv/bin/python bench/search/run.py --files 10000 --datasets 500 --opensearch

Queries are what analysts type, through ``SearchIndex.query`` exactly as the API calls it (first
page of 20, with the six facets counted): exact dataset names, name prefixes, column names,
typos, tag words, key fragments, misses, with and without a filter. OpenSearch is measured
against osmem-server (an in-memory emulator): its figures describe that emulator, not AWS.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from catalog.search.base import SearchIndex  # noqa: E402
from catalog.search.embedded import TantivySearchIndex  # noqa: E402

STEMS = ("jobs", "sales", "weather", "clicks", "orders", "users", "ledger", "events", "payroll", "inventory")
COLUMNS = ["id", "organization", "job_type", "location", "amount", "station", "temp_c", "user_id", "ts", "country",
           "currency", "sku", "quantity", "salary", "department"]
TEAMS = ["talent-analytics", "finance", "ops", "marketing", "platform"]
FACETS = ["format", "status", "owner", "tag", "partition_key", "quality"]


def dataset_names(n: int) -> list[str]:
    return [f"{STEMS[i % len(STEMS)]}_{i // len(STEMS)}" for i in range(n)]


def make_docs(n_files: int, n_datasets: int, seed: int = 7) -> list[tuple[str, dict]]:
    rnd = random.Random(seed)
    names = dataset_names(n_datasets)
    schemas = {ds: rnd.sample(COLUMNS, 5) for ds in names}
    docs: list[tuple[str, dict]] = []
    for ds in names:
        docs.append((f"dataset#{ds}", {
            "kind": "dataset", "dataset": ds, "columns": [{"name": c, "type": "string"} for c in schemas[ds]],
            "owner": rnd.choice(TEAMS), "tags": {"team": rnd.choice(TEAMS), "pii": rnd.choice(["true", "false"])},
            "description": rnd.choice(["Daily export from the billing system", "Sensor readings per station",
                                       "Job postings scraped from career sites", None]),
            "last_arrival": f"2026-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T00:00:00Z",
        }))
    for i in range(n_files):
        ds = rnd.choice(names)
        day = f"202{rnd.randint(3, 6)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        fmt = rnd.choice(["csv", "jsonl", "parquet"])
        key = f"raw/{ds}/ingest_date={day}/part_{i:06d}.{fmt}"
        rejected = rnd.choice([None, 0, 0, 3])
        docs.append((f"s3://landing/{key}", {
            "kind": "object", "dataset": ds, "bucket": "landing", "key": key, "format": fmt,
            "status": rnd.choice(["ingested", "validated", "quarantined"]),
            "columns": [{"name": c, "type": "string"} for c in schemas[ds]],
            "size": rnd.randint(1, 10**8), "arrival_time": f"{day}T{rnd.randint(0, 23):02d}:{i % 60:02d}:00Z",
            "partitions": {"ingest_date": day},
            "tags": {"team": rnd.choice(TEAMS)},
            "validation": None if rejected is None else {"run_id": "r", "accepted": 100, "rejected": rejected},
        }))
    return docs


def queries(n_datasets: int, n: int, seed: int = 1) -> list[tuple[str, dict]]:
    rnd = random.Random(seed)
    names = dataset_names(n_datasets)
    kinds = [
        lambda: rnd.choice(names),  # exact name
        lambda: rnd.choice(names)[:6],  # prefix
        lambda: rnd.choice(COLUMNS),  # column
        lambda: "orgnization",  # typo
        lambda: rnd.choice(["organisation", "salery", "inventroy"]),
        lambda: rnd.choice(["billing", "analytics", "sensor"]),  # description / tag words
        lambda: f"2025-{rnd.randint(1, 12):02d}",  # key fragment
        lambda: f"part_{rnd.randint(0, 99):02d}",
        lambda: "zzz-nothing",
        lambda: f"{rnd.choice(STEMS)} {rnd.choice(COLUMNS)}",  # two terms
        lambda: "",  # browse
    ]
    out = []
    for _ in range(n):
        text = rnd.choice(kinds)()
        filters = rnd.choice([{}, {}, {"status": "validated"}, {"format": "parquet"}, {"quality": "rejected_rows"}])
        out.append((text, filters))
    return out


def measure(name: str, index: SearchIndex, docs: list[tuple[str, dict]], qs: list[tuple[str, dict]]) -> None:
    index.ensure()
    t0 = time.perf_counter()
    index.upsert_many(docs)
    elapsed = time.perf_counter() - t0
    for text, filters in qs[:10]:  # warm caches, as a serving process would be
        index.query(text, filters=filters, facets=FACETS)
    latencies, cpu = [], []
    for text, filters in qs:
        t, c = time.perf_counter(), time.process_time()
        index.query(text, filters=filters, limit=20, facets=FACETS)
        latencies.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    q, qc = statistics.quantiles(latencies, n=100), statistics.quantiles(cpu, n=100)
    # CPU time shows the cost on an idle machine; wall time is what a user waited on this one
    # (the 1-minute load average says how busy it was).
    print(
        f"{name:<20} bulk index {len(docs) / elapsed:6.0f} docs/s ({elapsed:5.1f} s)   "
        f"query wall p50 {q[49]:6.2f} ms p95 {q[94]:6.2f} ms   cpu p50 {qc[49]:6.2f} ms p95 {qc[94]:6.2f} ms   "
        f"({len(docs)} docs, {len(qs)} queries with 6 facets, load avg {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--datasets", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--opensearch", action="store_true", help="also measure osmem-server (slow; use --files 10000)")
    args = parser.parse_args()
    docs = make_docs(args.files, args.datasets)
    qs = queries(args.datasets, args.queries)
    with tempfile.TemporaryDirectory() as tmp:
        with TantivySearchIndex(Path(tmp) / "search.tantivy") as index:
            measure("embedded (tantivy)", index, docs, qs)
    if args.opensearch:
        from osmem_server import OsmemServer

        from catalog.search.opensearch import OpenSearchIndex, build_opensearch_client

        with OsmemServer.start(japanese=False) as server:
            client = build_opensearch_client(server.url, aws_auth=False, region="us-east-1")
            index = OpenSearchIndex(client, f"bench-{uuid.uuid4().hex[:8]}", refresh=False)
            index.ensure()
            measure("opensearch (osmem)", _Refreshing(index), docs, qs)


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

    def query(self, text, **kw):  # type: ignore[no-untyped-def]
        return self.inner.query(text, **kw)

    def count(self) -> int:
        return self.inner.count()


if __name__ == "__main__":
    main()
