"""Catalog documents as the indexer produces them."""

from __future__ import annotations

from typing import Any


def object_doc(dataset: str, key: str, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "kind": "object",
        "dataset": dataset,
        "bucket": "datalake-landing",
        "key": key,
        "version_id": None,
        "format": "csv",
        "compression": None,
        "status": "ingested",
        "status_reason": None,
        "columns": [{"name": "id", "type": "bigint"}],
        "size": 1024,
        "row_count": 10,
        "arrival_time": "2026-01-02T03:04:05Z",
        "partitions": {},
        "tags": {},
        "metadata": {},
        "description": None,
        "owner": None,
        "validation": None,
    }
    doc.update(overrides)
    return doc


JOBS = object_doc(
    "job_reqs",
    "raw/job_reqs/ingest_date=2026-01-15/part_0001.csv",
    columns=[
        {"name": "uniq_id", "type": "string"},
        {"name": "organization", "type": "string"},
        {"name": "job_type", "type": "string"},
        {"name": "location", "type": "string"},
    ],
    partitions={"ingest_date": "2026-01-15"},
    tags={"team": "talent-analytics", "pii": "false"},
    arrival_time="2026-01-15T08:00:00Z",
)
SALES = object_doc(
    "sales",
    "raw/sales/2024-03/orders.parquet",
    format="parquet",
    columns=[{"name": "order_id", "type": "bigint"}, {"name": "amount", "type": "double"}],
    status="quarantined",
    status_reason="schema mismatch",
    description="Daily orders exported by the billing system",
    owner="finance-team",
    arrival_time="2026-01-10T08:00:00Z",
)
WEATHER = object_doc(
    "weather",
    "raw/weather/stations.jsonl",
    format="jsonl",
    columns=[{"name": "station", "type": "string"}, {"name": "temp_c", "type": "double"}],
    status="validated",
    description="Readings mention the organization that operates each station",
    metadata={"source": "noaa-feed"},
    arrival_time="2026-01-12T08:00:00Z",
)
JOBS_DATASET = {
    "kind": "dataset",
    "dataset": "job_reqs",
    "description": "Job postings scraped from career sites",
    "owner": "people-data",
    "tags": {"domain": "hr"},
    "columns": JOBS["columns"],
    "arrival_time": "2026-01-01T00:00:00Z",
}

ALL = {
    "s3://datalake-landing/raw/job_reqs/ingest_date=2026-01-15/part_0001.csv": JOBS,
    "s3://datalake-landing/raw/sales/2024-03/orders.parquet": SALES,
    "s3://datalake-landing/raw/weather/stations.jsonl": WEATHER,
    "dataset#job_reqs": JOBS_DATASET,
}
JOBS_ID, SALES_ID, WEATHER_ID, JOBS_DATASET_ID = ALL
