"""Warehouse loads (Redshift COPY) with an embedded local stand-in (see docs/query_and_warehouse.md)."""

from warehouse.base import LoadResult, Warehouse, build_warehouse
from warehouse.exceptions import (
    BadValueError,
    ColumnCountMismatchError,
    IncompatibleSchemaError,
    InvalidIdentifierError,
    LoadError,
    StatementError,
    WarehouseConfigError,
    WarehouseError,
)
from warehouse.local import LocalWarehouse
from warehouse.manifest import build_manifest, manifest_json
from warehouse.redshift import RedshiftWarehouse
from warehouse.types import redshift_type

__all__ = [
    "BadValueError",
    "ColumnCountMismatchError",
    "IncompatibleSchemaError",
    "InvalidIdentifierError",
    "LoadError",
    "LoadResult",
    "LocalWarehouse",
    "RedshiftWarehouse",
    "StatementError",
    "Warehouse",
    "WarehouseConfigError",
    "WarehouseError",
    "build_manifest",
    "build_warehouse",
    "manifest_json",
    "redshift_type",
]
