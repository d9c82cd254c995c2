"""Athena queries over the lake, with an embedded local stand-in (see docs/query_and_warehouse.md).

Exports are resolved lazily: the engine pulls in DuckDB, pyarrow and sqlglot, which a command that
only talks to the Athena API (``datalake query`` on a running lake) never needs to import.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "AthenaEngine": "athena_queries.engine", "LocalAthena": "athena_queries.engine",
    "QueryEngine": "athena_queries.engine", "build_query_engine": "athena_queries.engine",
    "s3_filesystem": "athena_queries.engine",
    "QueryResult": "athena_queries.result", "QueryStatistics": "athena_queries.result",
    "NamedQueryError": "athena_queries.exceptions", "QueryError": "athena_queries.exceptions",
    "QueryExecutionError": "athena_queries.exceptions", "ReadOnlyQueryError": "athena_queries.exceptions",
    "SqlParseError": "athena_queries.exceptions", "TableNotFoundError": "athena_queries.exceptions",
    "UnsupportedFunctionError": "athena_queries.exceptions", "UnsupportedTableError": "athena_queries.exceptions",
    "list_named_queries": "athena_queries.named", "load_named_query": "athena_queries.named",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'athena_queries' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
