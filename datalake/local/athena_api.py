"""The Athena and Redshift Data APIs on the local endpoint, answered by the local engines.

moto accepts ``StartQueryExecution`` and ``ExecuteStatement`` but runs no SQL, so a user's own
boto3 / awswrangler / ``aws athena`` code got empty results locally. This WSGI middleware sits in
front of moto and answers the query operations itself (everything else, e.g. workgroups, goes on
to moto):

* Athena: ``StartQueryExecution`` runs the statement on ``LocalAthena`` (the same engine as
  ``datalake query``) and writes the result CSV to ``<OutputLocation>/<id>.csv`` as Athena does
  (every value quoted, NULL empty); a CTAS (``CREATE TABLE .. WITH (external_location=..,
  format='PARQUET') AS SELECT``, awswrangler's ``ctas_approach``) writes Parquet to the external
  location, registers the Glue table and writes the data manifest. ``GetQueryExecution`` reports
  the state and Athena-shaped ``Statistics``; ``GetQueryResults`` pages the rows with ``ColumnInfo``.
* Redshift Data API: ``ExecuteStatement`` / ``DescribeStatement`` / ``GetStatementResult`` run the
  SQL on the local warehouse (Redshift SQL, translated).

Statements run synchronously inside the Start/Execute call; callers poll as they would in AWS and
find them finished.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import threading
import time
import uuid
from decimal import Decimal
from typing import Any, Callable

log = logging.getLogger(__name__)

_ATHENA_OPS = {"StartQueryExecution", "GetQueryExecution", "GetQueryResults", "StopQueryExecution",
               "BatchGetQueryExecution"}
_REDSHIFT_OPS = {"ExecuteStatement", "DescribeStatement", "GetStatementResult", "CancelStatement"}


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- value formatting -------------------------------------------------------------------------------
def athena_type(t: Any) -> tuple[str, int, int]:
    """(ColumnInfo Type, Precision, Scale) of an Arrow type, as Athena reports result columns."""
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "boolean", 0, 0
    for check, name, p in ((pa.types.is_int8, "tinyint", 3), (pa.types.is_int16, "smallint", 5),
                           (pa.types.is_int32, "integer", 10), (pa.types.is_int64, "bigint", 19)):
        if check(t):
            return name, p, 0
    if pa.types.is_float32(t):
        return "float", 24, 0
    if pa.types.is_float64(t):
        return "double", 53, 0
    if pa.types.is_decimal(t):
        return "decimal", t.precision, t.scale
    if pa.types.is_date(t):
        return "date", 0, 0
    if pa.types.is_timestamp(t):
        return "timestamp", 3, 0
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "array", 0, 0
    if pa.types.is_map(t):
        return "map", 0, 0
    if pa.types.is_struct(t):
        return "row", 0, 0
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "varbinary", 0, 0
    return "varchar", 2147483647, 0


def athena_text(v: Any) -> str | None:
    """A value as Athena prints it in result files and GetQueryResults (None for NULL)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.") + f"{v.microsecond // 1000:03d}"
    if isinstance(v, (dt.date, Decimal)):
        return str(v)
    if isinstance(v, list):
        if v and all(isinstance(x, tuple) and len(x) == 2 for x in v):  # a map, as pyarrow gives it
            return "{" + ", ".join(f"{athena_text(k)}={athena_text(x)}" for k, x in v) + "}"
        return "[" + ", ".join("null" if x is None else str(athena_text(x)) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={athena_text(x)}" for k, x in v.items()) + "}"
    return str(v)


def athena_csv(columns: list[str], rows: list[tuple]) -> bytes:
    """Athena's result file: header and every non-NULL value double-quoted, NULL an empty field."""
    out = io.StringIO()

    def q(s: str | None) -> str:
        return "" if s is None else '"' + s.replace('"', '""') + '"'

    out.write(",".join(q(c) for c in columns) + "\n")
    for r in rows:
        out.write(",".join(q(athena_text(v)) for v in r) + "\n")
    return out.getvalue().encode("utf-8")


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


# --- the middleware -----------------------------------------------------------------------------------
class LocalQueryApi:
    """WSGI middleware answering ``AmazonAthena.*`` / ``RedshiftData.*`` query calls (see module doc)."""

    def __init__(self, app: Callable, endpoint_url: str) -> None:
        self.app = app
        self.endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._athena: dict[str, dict[str, Any]] = {}
        self._statements: dict[str, dict[str, Any]] = {}
        self._clients: dict[str, Any] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        service, _, op = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
        if not ((service == "AmazonAthena" and op in _ATHENA_OPS) or (service == "RedshiftData" and op in _REDSHIFT_OPS)):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b"{}"
        try:
            handler = getattr(self, f"_{'athena' if service == 'AmazonAthena' else 'rs'}_{op}")
            status, payload = "200 OK", handler(json.loads(body or b"{}"))
        except ApiError as err:
            status, payload = "400 Bad Request", {"__type": err.code, "Message": err.message, "message": err.message}
        extra = payload.pop("__headers", {}) if isinstance(payload, dict) else {}
        data = json.dumps(payload, default=str).encode()
        start_response(status, [*extra.items(), ("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data))),
                                ("x-amzn-RequestId", str(uuid.uuid4())),
                                # tells clients SQL really runs here (moto alone answers these calls with nothing)
                                ("x-datalake-engine", "local")])
        return [data]

    # --- shared ---------------------------------------------------------------------------------------
    def _settings(self) -> Any:
        from datalake_base.settings import get_settings

        # the endpoint is this process: its own URL, whatever the environment says
        return get_settings().model_copy(update={"endpoint_url": self.endpoint_url, "mode": "local"})

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            from datalake_base import aws

            s = self._settings()
            self._clients[service] = aws.session(s).client(service, endpoint_url=self.endpoint_url,
                                                           region_name=s.region)
        return self._clients[service]

    def _engine(self) -> Any:
        from athena_queries.engine import LocalAthena, s3_filesystem

        s = self._settings()
        return LocalAthena(glue_client=self._client("glue"), s3_filesystem=lambda: s3_filesystem(s))

    # --- Athena ---------------------------------------------------------------------------------------
    def _athena_StartQueryExecution(self, req: dict[str, Any]) -> dict[str, Any]:
        sql = req.get("QueryString") or ""
        if not sql.strip():
            raise ApiError("InvalidRequestException", "QueryString is required")
        qid = str(uuid.uuid4())
        ctx = req.get("QueryExecutionContext") or {}
        s = self._settings()
        database = (ctx.get("Database") or s.glue_database).lower()
        output = ((req.get("ResultConfiguration") or {}).get("OutputLocation")
                  or self._workgroup_output(req.get("WorkGroup") or "primary")
                  or f"s3://{s.lake_bucket}/athena-results/")
        output = output.rstrip("/")
        ex: dict[str, Any] = {"QueryExecutionId": qid, "Query": sql, "StatementType": "DML",
                              "ResultConfiguration": {"OutputLocation": f"{output}/{qid}.csv"},
                              "QueryExecutionContext": {"Database": database, "Catalog": "AwsDataCatalog"},
                              "WorkGroup": req.get("WorkGroup") or "primary",
                              "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3",
                                                "EffectiveEngineVersion": "Athena engine version 3"},
                              "Status": {"State": "RUNNING", "SubmissionDateTime": time.time()},
                              "Statistics": {}}
        with self._lock:
            self._athena[qid] = ex
        try:
            self._run_athena(ex, sql, database, output, qid)
            ex["Status"]["State"] = "SUCCEEDED"
        except Exception as err:  # the query failed, as Athena reports it: FAILED with the reason
            log.info("local Athena query %s failed: %s", qid, err)
            ex["Status"].update(State="FAILED", StateChangeReason=str(err),
                                AthenaError={"ErrorCategory": 2, "ErrorType": 1000, "Retryable": False,
                                             "ErrorMessage": str(err)})
        ex["Status"]["CompletionDateTime"] = time.time()
        return {"QueryExecutionId": qid}

    def _workgroup_output(self, workgroup: str) -> str | None:
        try:
            wg = self._client("athena").get_work_group(WorkGroup=workgroup)["WorkGroup"]
        except Exception:
            return None
        return ((wg.get("Configuration") or {}).get("ResultConfiguration") or {}).get("OutputLocation")

    def _run_athena(self, ex: dict[str, Any], sql: str, database: str, output: str, qid: str) -> None:
        import sqlglot
        from sqlglot import exp

        s3 = self._client("s3")
        try:
            tree = sqlglot.parse_one(sql, read="athena")
        except Exception:
            tree = None
        if isinstance(tree, exp.Create) and isinstance(tree.expression, (exp.Select, exp.SetOperation)):
            ex["StatementType"] = "DDL"
            self._ctas(ex, tree, database, output, qid)
            return
        result = self._engine().query(sql, database=database)
        columns, rows = result.columns, result.rows
        types = [athena_type(f.type) for f in result.to_arrow().schema]
        bucket, key = _split_s3(ex["ResultConfiguration"]["OutputLocation"])
        s3.put_object(Bucket=bucket, Key=key, Body=athena_csv(columns, rows))
        ex["_result"] = {"columns": columns, "types": types, "rows": rows}
        ex["Statistics"] = self._statistics(result)

    def _ctas(self, ex: dict[str, Any], tree: Any, database: str, output: str, qid: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from sqlglot import exp

        from athena_queries._trino import hive_type

        props = {}
        for p in tree.find_all(exp.Property):
            props[p.name.lower()] = p.args["value"].name if p.args.get("value") is not None else None
        fmt = (props.get("format") or "PARQUET").upper()
        if fmt != "PARQUET":
            raise ApiError("InvalidRequestException", f"CTAS format {fmt!r} is not supported locally; use format='PARQUET'")
        table = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        db = (table.db or database).lower()
        name = table.name.lower()
        location = (props.get("external_location") or f"{output}/tables/{qid}").rstrip("/")
        result = self._engine().query(tree.expression.sql(dialect="athena"), database=database)
        arrow = result.to_arrow()
        # plain string columns (DuckDB may hand back string views), as Athena's writer would store them
        arrow = arrow.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_string_view(f.type) else f
                                      for f in arrow.schema]))
        s3 = self._client("s3")
        files = []
        if arrow.num_rows:
            buf = io.BytesIO()
            pq.write_table(arrow, buf, compression="snappy")
            bucket, prefix = _split_s3(location)
            key = f"{prefix}/{qid}_00000.parquet".lstrip("/")
            s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
            files.append(f"s3://{bucket}/{key}")
        self._client("glue").create_table(DatabaseName=db, TableInput={
            "Name": name, "TableType": "EXTERNAL_TABLE", "Parameters": {"classification": "parquet"},
            "StorageDescriptor": {
                "Columns": [{"Name": f.name, "Type": hive_type(f.type)} for f in arrow.schema],
                "Location": location + "/",
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}})
        out_loc = f"{output}/tables/{qid}"
        manifest = f"{out_loc}-manifest.csv"
        bucket, key = _split_s3(manifest)
        s3.put_object(Bucket=bucket, Key=key, Body=("".join(f"{f}\n" for f in files)).encode())
        ex["ResultConfiguration"]["OutputLocation"] = out_loc
        ex["_result"] = {"columns": ["rows"], "types": [("bigint", 19, 0)], "rows": [(arrow.num_rows,)]}
        ex["Statistics"] = {**self._statistics(result), "DataManifestLocation": manifest}

    @staticmethod
    def _statistics(result: Any) -> dict[str, Any]:
        if result.statistics is None:
            return {}
        # Athena's fields; what Athena does not report travels in a header (boto3 drops unknown members)
        return {**result.statistics.to_athena(), "_local": result.statistics.to_dict()}

    def _public(self, ex: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in ex.items() if not k.startswith("_")}
        out["Statistics"] = {k: v for k, v in (ex.get("Statistics") or {}).items() if not k.startswith("_")}
        return out

    def _get(self, qid: str | None) -> dict[str, Any]:
        with self._lock:
            ex = self._athena.get(qid or "")
        if ex is None:
            raise ApiError("InvalidRequestException", f"QueryExecution {qid} was not found")
        return ex

    def _athena_GetQueryExecution(self, req: dict[str, Any]) -> dict[str, Any]:
        ex = self._get(req.get("QueryExecutionId"))
        local = (ex.get("Statistics") or {}).get("_local")
        headers = {"x-datalake-statistics": json.dumps(local)} if local else {}
        return {"QueryExecution": self._public(ex), "__headers": headers}

    def _athena_BatchGetQueryExecution(self, req: dict[str, Any]) -> dict[str, Any]:
        found, missing = [], []
        for qid in req.get("QueryExecutionIds") or []:
            with self._lock:
                ex = self._athena.get(qid)
            if ex is None:
                missing.append({"QueryExecutionId": qid, "ErrorCode": "InvalidRequestException"})
            else:
                found.append(self._public(ex))
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    def _athena_StopQueryExecution(self, req: dict[str, Any]) -> dict[str, Any]:
        self._get(req.get("QueryExecutionId"))  # already finished: nothing to stop
        return {}

    def _athena_GetQueryResults(self, req: dict[str, Any]) -> dict[str, Any]:
        ex = self._get(req.get("QueryExecutionId"))
        state = ex["Status"]["State"]
        if state != "SUCCEEDED":
            raise ApiError("InvalidRequestException", f"Query has not yet finished. Current state: {state}"
                           if state == "RUNNING" else f"Query {state}: {ex['Status'].get('StateChangeReason')}")
        res = ex["_result"]
        header = [{"Data": [{"VarCharValue": c} for c in res["columns"]]}] if ex["StatementType"] == "DML" else []
        all_rows = header + [{"Data": [{} if athena_text(v) is None else {"VarCharValue": athena_text(v)} for v in r]}
                             for r in res["rows"]]
        start = int(req.get("NextToken") or 0)
        size = min(int(req.get("MaxResults") or 1000), 1000)
        page = all_rows[start:start + size]
        out: dict[str, Any] = {"UpdateCount": 0, "ResultSet": {"Rows": page, "ResultSetMetadata": {"ColumnInfo": [
            {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c, "Label": c, "Type": t,
             "Precision": p, "Scale": sc, "Nullable": "UNKNOWN", "CaseSensitive": t == "varchar"}
            for c, (t, p, sc) in zip(res["columns"], res["types"])]}}}
        if start + size < len(all_rows):
            out["NextToken"] = str(start + size)
        return out

    # --- Redshift Data API ----------------------------------------------------------------------------
    def _rs_ExecuteStatement(self, req: dict[str, Any]) -> dict[str, Any]:
        from warehouse import build_warehouse

        sql = req.get("Sql") or ""
        if not sql.strip():
            raise ApiError("ValidationException", "Sql is required")
        sid = str(uuid.uuid4())
        now = time.time()
        st: dict[str, Any] = {"Id": sid, "QueryString": sql, "Status": "STARTED", "CreatedAt": now,
                              "Database": req.get("Database") or "dev", "HasResultSet": False, "ResultRows": -1,
                              "ResultSize": -1, "RedshiftPid": 0, "RedshiftQueryId": 0}
        for k in ("WorkgroupName", "ClusterIdentifier", "DbUser", "SecretArn"):
            if req.get(k):
                st[k] = req[k]
        with self._lock:
            self._statements[sid] = st
        started = time.perf_counter()
        try:
            result = build_warehouse(self._settings()).query(sql)
            arrow = result.to_arrow()
            st.update(Status="FINISHED", HasResultSet=bool(result.columns), ResultRows=len(result.rows),
                      _result={"columns": result.columns, "types": [f.type for f in arrow.schema],
                               "rows": result.rows})
        except Exception as err:
            st.update(Status="FAILED", Error=str(err))
        st["Duration"] = int((time.perf_counter() - started) * 1e9)
        st["UpdatedAt"] = time.time()
        return {"Id": sid, "CreatedAt": now, "Database": st["Database"],
                **{k: st[k] for k in ("WorkgroupName", "ClusterIdentifier", "DbUser") if k in st}}

    def _statement(self, sid: str | None) -> dict[str, Any]:
        with self._lock:
            st = self._statements.get(sid or "")
        if st is None:
            raise ApiError("ResourceNotFoundException", f"Query does not exist: {sid}")
        return st

    def _rs_DescribeStatement(self, req: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in self._statement(req.get("Id")).items() if not k.startswith("_")}

    def _rs_CancelStatement(self, req: dict[str, Any]) -> dict[str, Any]:
        self._statement(req.get("Id"))
        return {"Status": False}

    def _rs_GetStatementResult(self, req: dict[str, Any]) -> dict[str, Any]:
        st = self._statement(req.get("Id"))
        if st["Status"] != "FINISHED":
            raise ApiError("ValidationException", f"Query {st['Id']} is {st['Status']}: {st.get('Error', '')}")
        if not st.get("HasResultSet"):
            raise ApiError("ResourceNotFoundException", f"Query {st['Id']} does not have result. Please check "
                                                        "the query status and whether it returns rows")
        res = st["_result"]
        records = [[_rs_field(v) for v in r] for r in res["rows"]]
        start = int(req.get("NextToken") or 0)
        page = records[start:start + 1000]
        out: dict[str, Any] = {"Records": page, "TotalNumRows": len(records), "ColumnMetadata": [
            {"name": c, "label": c, "typeName": _rs_type(t), "nullable": 1, "isCaseSensitive": _rs_type(t) == "varchar",
             "isSigned": _rs_type(t) in ("int2", "int4", "int8", "float8", "numeric"), "schemaName": "", "tableName": ""}
            for c, t in zip(res["columns"], res["types"])]}
        if start + 1000 < len(records):
            out["NextToken"] = str(start + 1000)
        return out


def _rs_type(t: Any) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_int16(t) or pa.types.is_int8(t):
        return "int2"
    if pa.types.is_int32(t):
        return "int4"
    if pa.types.is_int64(t):
        return "int8"
    if pa.types.is_floating(t):
        return "float8"
    if pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    return "varchar"


def _rs_field(v: Any) -> dict[str, Any]:
    """A value as the Data API's Field union (Decimal as a string, as Redshift returns numeric)."""
    if v is None:
        return {"isNull": True}
    if isinstance(v, bool):
        return {"booleanValue": v}
    if isinstance(v, int):
        return {"longValue": v}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, dt.datetime):
        return {"stringValue": v.strftime("%Y-%m-%d %H:%M:%S")}
    return {"stringValue": str(v)}
