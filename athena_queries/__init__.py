"""Athena queries over the lake, with an embedded local stand-in (see docs/query_and_warehouse.md)."""

from athena_queries.engine import (
    AthenaEngine,
    LocalAthena,
    QueryEngine,
    QueryResult,
    build_query_engine,
    s3_filesystem,
)
from athena_queries.exceptions import (
    NamedQueryError,
    QueryError,
    QueryExecutionError,
    ReadOnlyQueryError,
    SqlParseError,
    TableNotFoundError,
    UnsupportedFunctionError,
    UnsupportedTableError,
)
from athena_queries.named import list_named_queries, load_named_query

__all__ = [
    "AthenaEngine",
    "LocalAthena",
    "NamedQueryError",
    "QueryEngine",
    "QueryError",
    "QueryExecutionError",
    "QueryResult",
    "ReadOnlyQueryError",
    "SqlParseError",
    "TableNotFoundError",
    "UnsupportedFunctionError",
    "UnsupportedTableError",
    "build_query_engine",
    "list_named_queries",
    "load_named_query",
    "s3_filesystem",
]
