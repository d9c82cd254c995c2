"""Builds the arrivals service from settings. The handler, reconcile and the CLI get it here."""

from __future__ import annotations

from functools import lru_cache

from catalog.components import catalog_store
from datalake_base import aws
from datalake_base.settings import Settings, get_settings
from ingestion.sandbox import Sandbox
from ingestion.service import Arrivals


def arrivals(settings: Settings | None = None) -> Arrivals:
    s = settings or get_settings()
    profiler = None
    if s.profile_isolation == "process":
        profiler = Sandbox(endpoint_url=s.effective_endpoint, region=s.region, mode=s.mode,
                           budget=s.profile_byte_budget, max_object_bytes=s.max_object_bytes,
                           timeout_s=s.profile_timeout_s, memory_mb=s.profile_memory_mb,
                           max_nesting=s.profile_max_nesting)
    return Arrivals(
        aws.client("s3", s),
        catalog_store(s),
        max_object_bytes=s.max_object_bytes,
        profile_byte_budget=s.profile_byte_budget,
        profile_head_bytes=s.profile_head_bytes,
        profiler=profiler,
    )


@lru_cache(maxsize=1)
def cached_arrivals() -> Arrivals:
    """One per Lambda container (or local runtime process): clients are reused across invocations."""
    return arrivals()
