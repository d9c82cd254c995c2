"""The warehouse interface shared by the local stand-in and Redshift."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from athena_queries.engine import QueryResult
    from datalake_base.settings import Settings


@dataclass
class LoadResult:
    table: str
    rows_loaded: int
    files: int
    elapsed_s: float
    skipped_files: list[str] = field(default_factory=list)  # already in the load ledger
    load_id: str = ""


@runtime_checkable
class Warehouse(Protocol):
    def copy_parquet(self, *, schema: str, table: str, s3_uris: list[str], columns: list[tuple[str, str]],
                     replace_key: str | None = None) -> LoadResult: ...

    def query(self, sql: str) -> "QueryResult": ...

    def delete_missing(self, *, schema: str, table: str, key_column: str, keep: list[str]) -> int:
        """Delete rows whose ``key_column`` is not in ``keep`` (sources deleted since they were loaded)."""
        ...


def build_warehouse(settings: "Settings") -> Warehouse:
    """The warehouse DATALAKE_WAREHOUSE selects: ``local`` (DuckDB in the state dir) or ``redshift``."""
    from datalake_base import aws
    from warehouse.exceptions import WarehouseConfigError

    if settings.warehouse == "redshift":
        from warehouse.redshift import RedshiftWarehouse

        missing = [name for name, value in (
            ("DATALAKE_REDSHIFT_WORKGROUP", settings.redshift_workgroup),
            ("DATALAKE_REDSHIFT_COPY_ROLE_ARN", settings.redshift_copy_role_arn),
        ) if not value]
        if missing:
            raise WarehouseConfigError(f"DATALAKE_WAREHOUSE=redshift needs {', '.join(missing)}; set them or use DATALAKE_WAREHOUSE=local")
        return RedshiftWarehouse(
            aws.client("redshift-data", settings),
            workgroup=settings.redshift_workgroup,
            database=settings.redshift_database,
            iam_role_arn=settings.redshift_copy_role_arn,  # type: ignore[arg-type]
            s3_client=aws.client("s3", settings),
            manifest_prefix=f"s3://{settings.lake_bucket}/_manifests/redshift",
        )
    from athena_queries.engine import s3_filesystem
    from warehouse.local import LocalWarehouse

    return LocalWarehouse(settings.state_path / "warehouse.duckdb", lambda: s3_filesystem(settings))
