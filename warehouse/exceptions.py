"""Errors of the warehouse loader. Each message names the offending value and the fix."""

from __future__ import annotations


class WarehouseError(Exception):
    """Base error of ``warehouse``."""


class WarehouseConfigError(WarehouseError):
    """A setting the chosen warehouse backend needs is missing or invalid."""


class InvalidIdentifierError(WarehouseError):
    """A schema/table/column name that is not a plain SQL identifier."""


class LoadError(WarehouseError):
    """A COPY failed; nothing was loaded (the load is all-or-nothing).

    ``details`` holds the rows recorded in ``sys_load_error_detail`` (or read from Redshift's
    SYS_LOAD_ERROR_DETAIL / STL_LOAD_ERRORS) for this load.
    """

    def __init__(self, message: str, *, table: str, file: str | None = None, column: str | None = None,
                 details: list[dict] | None = None) -> None:
        self.table, self.file, self.column = table, file, column
        self.details = details or []
        super().__init__(message)


class ColumnCountMismatchError(LoadError):
    """The Parquet file has a different number of columns than the table (COPY maps by position)."""


class IncompatibleSchemaError(LoadError):
    """A Parquet column's type cannot be loaded into the table column at the same position."""


class BadValueError(LoadError):
    """A value does not fit its column (too long, out of range, null in NOT NULL)."""


class StatementError(WarehouseError):
    """A Redshift Data API statement failed, was aborted or timed out."""
