"""SQL through the Redshift Data API with plain boto3: ``datalake warehouse query`` on a running local
lake goes this way (the endpoint answers with the local warehouse), like a user's own code."""

from __future__ import annotations

import time
from typing import Any

from athena_queries.result import QueryResult
from warehouse.exceptions import StatementError, WarehouseError


class EndpointRunsNoSql(WarehouseError):
    """The endpoint accepted ExecuteStatement but runs no SQL (plain moto, not the lake's endpoint)."""


def query_via_data_api(client: Any, sql: str, *, database: str, workgroup: str | None = None,
                       cluster: str | None = None, require_local_engine: bool = False,
                       poll_s: float = 0.05) -> QueryResult:
    started = time.perf_counter()
    target: dict[str, str] = {"Database": database}
    if cluster:
        target["ClusterIdentifier"] = cluster
    else:
        target["WorkgroupName"] = workgroup or "default"
    resp = client.execute_statement(Sql=sql, **target)
    if require_local_engine and "x-datalake-engine" not in resp["ResponseMetadata"].get("HTTPHeaders", {}):
        raise EndpointRunsNoSql("the endpoint does not run Redshift SQL; query the warehouse directly")
    sid = resp["Id"]
    while True:
        desc = client.describe_statement(Id=sid)
        if desc["Status"] in ("FINISHED", "FAILED", "ABORTED"):
            break
        time.sleep(poll_s)
    if desc["Status"] != "FINISHED":
        raise StatementError(f"statement {sid} {desc['Status']}: {desc.get('Error', '')}")
    columns: list[str] = []
    rows: list[tuple] = []
    if desc.get("HasResultSet"):
        kw: dict[str, Any] = {"Id": sid}
        while True:
            page = client.get_statement_result(**kw)
            columns = columns or [c["name"] for c in page.get("ColumnMetadata", [])]
            rows += [tuple(None if f.get("isNull") else next(iter(f.values())) for f in rec)
                     for rec in page.get("Records", [])]
            if not page.get("NextToken"):
                break
            kw["NextToken"] = page["NextToken"]
    return QueryResult(columns=columns, rows=rows, engine="redshift-data-api", elapsed_s=time.perf_counter() - started)
