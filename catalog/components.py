"""Builds the catalog's adapters from settings (the composition root of this stage)."""

from __future__ import annotations

from catalog.store import CatalogStore
from catalog.users import UserStore
from datalake_base import aws
from datalake_base.settings import Settings, get_settings


def catalog_store(settings: Settings | None = None) -> CatalogStore:
    s = settings or get_settings()
    return CatalogStore(s.catalog_table, aws.client("dynamodb", s))


def user_store(settings: Settings | None = None) -> UserStore:
    """Users, sessions and the audit log live in the catalog table (see catalog/users.py)."""
    s = settings or get_settings()
    return UserStore(s.catalog_table, aws.client("dynamodb", s))
