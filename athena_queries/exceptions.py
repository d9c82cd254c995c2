"""Errors of the query layer. Each message names the offending value and the fix."""

from __future__ import annotations


class QueryError(Exception):
    """Base error of ``athena_queries``."""


class ReadOnlyQueryError(QueryError):
    """The statement would change data or the catalog (DDL/DML); only reads are allowed."""


class SqlParseError(QueryError):
    """The SQL could not be parsed as Athena (Trino) SQL."""


class TableNotFoundError(QueryError):
    """A table (or its database) is not in the Glue Data Catalog."""

    def __init__(self, database: str, table: str, detail: str = "") -> None:
        self.database, self.table = database, table
        msg = (
            f"table {database}.{table} is not in the Glue Data Catalog"
            + (f" ({detail})" if detail else "")
            + ": run `datalake crawl` to register raw datasets, or `datalake validate` to write and "
            "register accepted/rejected tables, then check the name with `SHOW TABLES IN "
            f"{database}`"
        )
        super().__init__(msg)


class UnsupportedFunctionError(QueryError):
    """An Athena function the local engine cannot translate."""

    def __init__(self, function: str, hint: str = "") -> None:
        self.function = function
        super().__init__(
            f"function {function}() is not supported by the local Athena stand-in"
            + (f": {hint}" if hint else "")
            + "; rewrite it with a supported equivalent (see docs/query_and_warehouse.md) or run "
            "with DATALAKE_QUERY_ENGINE=athena"
        )


class UnsupportedTableError(QueryError):
    """The Glue table's format (SerDe/classification) or type is not readable locally."""


class QueryExecutionError(QueryError):
    """The translated query failed in the embedded engine."""

    def __init__(self, message: str, *, athena_sql: str, engine_sql: str) -> None:
        self.athena_sql, self.engine_sql = athena_sql, engine_sql
        super().__init__(f"{message}\n  Athena SQL: {athena_sql}\n  DuckDB SQL: {engine_sql}")


class NamedQueryError(QueryError):
    """Unknown named query or a bad parameter for it."""
