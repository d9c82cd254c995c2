"""The composition root: builds adapters from settings. Handlers and the CLI get their parts here."""

from __future__ import annotations

from functools import lru_cache

from catalog.store import CatalogStore
from datalake import aws
from datalake.settings import Settings, get_settings
from ingestion.service import Arrivals


def catalog_store(settings: Settings | None = None) -> CatalogStore:
    s = settings or get_settings()
    return CatalogStore(s.catalog_table, aws.client("dynamodb", s))


def arrivals(settings: Settings | None = None) -> Arrivals:
    s = settings or get_settings()
    return Arrivals(
        aws.client("s3", s),
        catalog_store(s),
        max_object_bytes=s.max_object_bytes,
        profile_byte_budget=s.profile_byte_budget,
        profile_head_bytes=s.profile_head_bytes,
    )


@lru_cache(maxsize=1)
def cached_arrivals() -> Arrivals:
    """One per Lambda container (or local runtime process): clients are reused across invocations."""
    return arrivals()
