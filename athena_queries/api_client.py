"""Athena through its API with plain boto3: the path a user's own code takes.

``datalake query`` on a running local lake goes this way: the local endpoint answers the Athena API
with the local engine (``datalake/local/athena_api.py``), so the CLI, boto3 and awswrangler all get
the same answers, statistics and errors. Importing this module costs boto3 only, not DuckDB.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from athena_queries.exceptions import QueryError, QueryExecutionError
from athena_queries.result import QueryResult, QueryStatistics

if TYPE_CHECKING:
    from datalake_base.settings import Settings


class EndpointRunsNoSql(QueryError):
    """The endpoint accepted the Athena call but does not run SQL (plain moto, not the lake's endpoint)."""


def _value(text: str | None, typ: str) -> Any:
    """Athena's text form of a value -> Python, by the column's Athena type."""
    if text is None:
        return None
    if typ in ("tinyint", "smallint", "integer", "bigint"):
        return int(text)
    if typ in ("double", "float", "real"):
        return float(text)
    if typ == "decimal":
        return Decimal(text)
    if typ == "boolean":
        return text == "true"
    if typ == "date":
        return dt.date.fromisoformat(text)
    if typ.startswith("timestamp"):
        return dt.datetime.fromisoformat(text.split(" ")[0] + "T" + text.split(" ")[1])
    return text


class AthenaApiEngine:
    """StartQueryExecution, poll GetQueryExecution, page GetQueryResults."""

    engine = "athena-api"

    def __init__(self, athena_client: Any, *, output_location: str, workgroup: str = "primary",
                 require_local_engine: bool = False, poll_s: float = 0.05) -> None:
        self._athena = athena_client
        self._output = output_location
        self._workgroup = workgroup
        self._require_local = require_local_engine
        self._poll = poll_s

    def query(self, sql: str, *, database: str) -> QueryResult:
        started = time.perf_counter()
        resp = self._athena.start_query_execution(
            QueryString=sql, QueryExecutionContext={"Database": database}, WorkGroup=self._workgroup,
            ResultConfiguration={"OutputLocation": self._output})
        if self._require_local and "x-datalake-engine" not in resp["ResponseMetadata"].get("HTTPHeaders", {}):
            raise EndpointRunsNoSql("the endpoint does not run Athena SQL; query the engine directly")
        qid = resp["QueryExecutionId"]
        while True:
            got = self._athena.get_query_execution(QueryExecutionId=qid)
            ex = got["QueryExecution"]
            state = ex["Status"]["State"]
            if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            time.sleep(self._poll)
        if state != "SUCCEEDED":
            reason = ex["Status"].get("StateChangeReason") or state
            raise QueryExecutionError(reason.split("\n  Athena SQL:")[0], athena_sql=sql, engine_sql=f"(query {qid})")
        columns: list[str] = []
        types: list[str] = []
        rows: list[tuple] = []
        first = True
        for page in self._athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid):
            rs = page["ResultSet"]
            if not columns:
                info = rs["ResultSetMetadata"]["ColumnInfo"]
                columns, types = [c["Name"] for c in info], [c["Type"] for c in info]
            data = rs["Rows"]
            if first and ex.get("StatementType") == "DML" and data:
                data = data[1:]  # Athena's first row of a SELECT repeats the column names
            first = False
            rows += [tuple(_value(d.get("VarCharValue"), t) for d, t in zip(r["Data"], types)) for r in data]
        st = ex.get("Statistics") or {}
        result = QueryResult(columns=columns, rows=rows, engine=self.engine, elapsed_s=time.perf_counter() - started)
        if st:
            # files and partitions: the local endpoint's own header (Athena does not report them)
            header = got["ResponseMetadata"].get("HTTPHeaders", {}).get("x-datalake-statistics")
            extra = json.loads(header) if header else {}
            result.statistics = QueryStatistics(
                data_scanned_bytes=int(st.get("DataScannedInBytes", 0)), files_opened=int(extra.get("files_opened", 0)),
                partitions_total=int(extra.get("partitions_total", 0)),
                partitions_scanned=int(extra.get("partitions_scanned", 0)),
                planning_ms=int(st.get("QueryPlanningTimeInMillis", 0)),
                engine_ms=int(st.get("EngineExecutionTimeInMillis", 0)),
                total_ms=int(st.get("TotalExecutionTimeInMillis", 0)), tables=list(extra.get("tables", [])))
        return result


def run_query_via_api(settings: "Settings", sql: str) -> QueryResult:
    """Run ``sql`` through the local endpoint's Athena API (raises ``EndpointRunsNoSql`` on plain moto)."""
    from datalake_base import aws

    engine = AthenaApiEngine(aws.client("athena", settings), output_location=f"s3://{settings.lake_bucket}/athena-results/",
                             workgroup=settings.athena_workgroup, require_local_engine=True)
    return engine.query(sql, database=settings.glue_database)
