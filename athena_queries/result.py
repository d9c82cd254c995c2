"""Query results and statistics: light (no engine imports), shared by every engine and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


@dataclass
class QueryStatistics:
    """What a query cost, in Athena's terms (GetQueryExecution's ``Statistics``) plus what it opened."""

    data_scanned_bytes: int
    files_opened: int
    partitions_total: int
    partitions_scanned: int
    planning_ms: int
    engine_ms: int
    total_ms: int
    tables: list[dict[str, Any]] = field(default_factory=list)

    @property
    def partitions_pruned(self) -> int:
        return self.partitions_total - self.partitions_scanned

    def to_dict(self) -> dict[str, Any]:
        return {"data_scanned_bytes": self.data_scanned_bytes, "files_opened": self.files_opened,
                "partitions_total": self.partitions_total, "partitions_scanned": self.partitions_scanned,
                "partitions_pruned": self.partitions_pruned, "planning_ms": self.planning_ms,
                "engine_ms": self.engine_ms, "total_ms": self.total_ms, "tables": self.tables}

    def to_athena(self) -> dict[str, Any]:
        """The shape of Athena's ``QueryExecution.Statistics``."""
        return {"EngineExecutionTimeInMillis": self.engine_ms, "DataScannedInBytes": self.data_scanned_bytes,
                "TotalExecutionTimeInMillis": self.total_ms, "QueryQueueTimeInMillis": 0,
                "QueryPlanningTimeInMillis": self.planning_ms, "ServiceProcessingTimeInMillis": 0}


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    engine: str
    elapsed_s: float
    arrow: "pa.Table | None" = field(default=None, repr=False)
    statistics: QueryStatistics | None = None

    def to_arrow(self) -> "pa.Table":
        import pyarrow as pa

        if self.arrow is not None:
            return self.arrow
        return pa.Table.from_pylist([dict(zip(self.columns, r)) for r in self.rows]) if self.rows else pa.table(
            {c: pa.array([], pa.null()) for c in self.columns}
        )

    def to_pandas(self) -> "pd.DataFrame":
        if self.arrow is not None:
            return self.arrow.to_pandas()
        import pandas as pd

        return pd.DataFrame.from_records(self.rows, columns=self.columns)

    @classmethod
    def from_arrow(cls, table: "pa.Table", *, engine: str, elapsed_s: float) -> "QueryResult":
        cols = [c.to_pylist() for c in table.columns]
        rows = list(zip(*cols)) if cols else []
        return cls(columns=list(table.column_names), rows=rows, engine=engine, elapsed_s=elapsed_s, arrow=table)
