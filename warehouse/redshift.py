"""Amazon Redshift through the Redshift Data API: COPY ... FORMAT AS PARQUET from a manifest.

One load is one ``batch_execute_statement`` (a single transaction): create schema/table if absent,
COPY from the manifest, record the files in the load ledger, and return ``pg_last_copy_count()``.
Files already in the ledger are left out of the manifest, so re-running a load adds nothing.
Rejected rows are not copied: ``ensure_external_schema`` maps the Glue database as a Spectrum
schema (``dq_rejected``), so ``rejected_<dataset>`` is queried where it lies in S3.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from warehouse.base import LoadResult
from warehouse.exceptions import LoadError, StatementError, WarehouseConfigError
from warehouse.manifest import manifest_json
from warehouse.types import check_identifier, copy_target, quote

log = logging.getLogger(__name__)

META = "datalake_meta"
LEDGER_DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {META}",
    f"CREATE TABLE IF NOT EXISTS {META}.load_ledger (schema_name VARCHAR(127), table_name VARCHAR(127), "
    "file_uri VARCHAR(1024), content_length BIGINT, load_id VARCHAR(64), loaded_at TIMESTAMP DEFAULT SYSDATE)",
]
_RUNNING = {"SUBMITTED", "PICKED", "STARTED"}


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise WarehouseConfigError(f"{uri!r} is not an s3://bucket/key URI")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


class RedshiftWarehouse:
    engine = "redshift"

    def __init__(
        self,
        redshift_data_client: Any,
        *,
        database: str,
        iam_role_arn: str,
        s3_client: Any,
        manifest_prefix: str,
        workgroup: str | None = None,
        cluster: str | None = None,
        db_user: str | None = None,
        secret_arn: str | None = None,
        poll_interval_s: float = 1.0,
        timeout_s: float = 1800.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if bool(workgroup) == bool(cluster):
            raise WarehouseConfigError("RedshiftWarehouse needs exactly one of workgroup (serverless) or cluster "
                                       f"(provisioned); got workgroup={workgroup!r}, cluster={cluster!r}")
        if not iam_role_arn or not iam_role_arn.startswith("arn:"):
            raise WarehouseConfigError(f"iam_role_arn {iam_role_arn!r} is not an IAM role ARN; set "
                                       "DATALAKE_REDSHIFT_COPY_ROLE_ARN to the role Redshift assumes to read the lake")
        self._rsd = redshift_data_client
        self._s3 = s3_client
        self.database, self.workgroup, self.cluster = database, workgroup, cluster
        self.db_user, self.secret_arn = db_user, secret_arn
        self.iam_role_arn = iam_role_arn
        self.manifest_prefix = manifest_prefix.rstrip("/")
        self._poll, self._timeout, self._sleep = poll_interval_s, timeout_s, sleep

    # --- Data API plumbing --------------------------------------------------------------------------
    def _target(self) -> dict[str, str]:
        kw = {"Database": self.database}
        if self.workgroup:
            kw["WorkgroupName"] = self.workgroup
        else:
            kw["ClusterIdentifier"] = self.cluster  # type: ignore[assignment]
        if self.secret_arn:
            kw["SecretArn"] = self.secret_arn
        elif self.db_user:
            kw["DbUser"] = self.db_user
        return kw

    def _wait(self, statement_id: str) -> dict:
        deadline = time.monotonic() + self._timeout
        while True:
            desc = self._rsd.describe_statement(Id=statement_id)
            status = desc["Status"]
            if status == "FINISHED":
                return desc
            if status in ("FAILED", "ABORTED"):
                raise StatementError(f"statement {statement_id} {status}: {desc.get('Error', '')}")
            if time.monotonic() > deadline:
                self._rsd.cancel_statement(Id=statement_id)
                raise StatementError(f"statement {statement_id} still {status} after {self._timeout}s; cancelled")
            self._sleep(self._poll)

    def _execute(self, sql: str, parameters: list[dict] | None = None) -> dict:
        kw: dict[str, Any] = {**self._target(), "Sql": sql}
        if parameters:
            kw["Parameters"] = parameters
        return self._wait(self._rsd.execute_statement(**kw)["Id"])

    def _batch(self, sqls: list[str]) -> dict:
        return self._wait(self._rsd.batch_execute_statement(**self._target(), Sqls=sqls)["Id"])

    def _records(self, statement_id: str) -> tuple[list[str], list[tuple]]:
        columns: list[str] = []
        rows: list[tuple] = []
        kw: dict[str, Any] = {"Id": statement_id}
        while True:
            page = self._rsd.get_statement_result(**kw)
            columns = columns or [c["name"] for c in page.get("ColumnMetadata", [])]
            for rec in page.get("Records", []):
                rows.append(tuple(None if f.get("isNull") else next(iter(f.values())) for f in rec))
            if not page.get("NextToken"):
                return columns, rows
            kw["NextToken"] = page["NextToken"]

    # --- public ---------------------------------------------------------------------------------------
    def query(self, sql: str) -> Any:
        from athena_queries.engine import QueryResult

        started = time.perf_counter()
        desc = self._execute(sql)
        columns, rows = self._records(desc["Id"]) if desc.get("HasResultSet") else ([], [])
        return QueryResult(columns=columns, rows=rows, engine=self.engine, elapsed_s=time.perf_counter() - started)

    def copy_parquet(self, *, schema: str, table: str, s3_uris: list[str], columns: list[tuple[str, str]],
                     replace_key: str | None = None) -> LoadResult:
        started = time.perf_counter()
        schema, table, cols = copy_target(schema, table, columns)
        qualified = f"{schema}.{table}"
        uris = list(dict.fromkeys(s3_uris))

        self._batch(LEDGER_DDL)
        desc = self._execute(
            f"SELECT file_uri FROM {META}.load_ledger WHERE schema_name = :schema AND table_name = :table",
            [{"name": "schema", "value": schema}, {"name": "table", "value": table}],
        )
        loaded = {r[0] for r in self._records(desc["Id"])[1]}
        pending = [u for u in uris if u not in loaded]
        skipped = [u for u in uris if u in loaded]
        if not pending:
            return LoadResult(qualified, 0, 0, time.perf_counter() - started, skipped)

        sizes = []
        for uri in pending:
            bucket, key = _split_s3(uri)
            sizes.append((uri, int(self._s3.head_object(Bucket=bucket, Key=key)["ContentLength"])))
        load_id = hashlib.sha256(json.dumps([qualified, sizes]).encode()).hexdigest()[:16]
        manifest_uri = f"{self.manifest_prefix}/{schema}.{table}/{load_id}.manifest"
        m_bucket, m_key = _split_s3(manifest_uri)
        self._s3.put_object(Bucket=m_bucket, Key=m_key, Body=manifest_json(sizes).encode(),
                            ContentType="application/json")

        sqls = self.copy_statements(schema, table, cols, manifest_uri, sizes, load_id, replace_key)
        try:
            done = self._batch(sqls)
        except StatementError as err:
            details = self._load_errors(manifest_uri)
            first = details[0] if details else {}
            raise LoadError(
                f"COPY {qualified} from {manifest_uri} failed: {err}"
                + (f"; first load error: {first}" if first else "")
                + ". Nothing was loaded (the batch is one transaction); fix the files and re-run",
                table=qualified, file=first.get("file_name"), column=first.get("column_name"), details=details,
            ) from err
        count_id = done["SubStatements"][-1]["Id"] if done.get("SubStatements") else f"{done['Id']}:{len(sqls)}"
        rows = int(self._records(count_id)[1][0][0])
        return LoadResult(qualified, rows, len(pending), time.perf_counter() - started, skipped, load_id)

    def copy_statements(self, schema: str, table: str, cols: list[tuple[str, str]], manifest_uri: str,
                        sizes: list[tuple[str, int]], load_id: str, replace_key: str | None = None) -> list[str]:
        """The single-transaction batch for one load (exposed for review and tests).

        With ``replace_key`` the COPY goes to a staging table and merges: target rows sharing a key
        with the staged rows are deleted, then the staged rows inserted (Redshift's staged upsert).
        """
        target = f"{quote(schema)}.{quote(table)}"
        ddl_cols = ", ".join(f"{quote(n)} {t.upper()}" for n, t in cols)
        ledger_rows = ", ".join(
            f"({_literal(schema)}, {_literal(table)}, {_literal(u)}, {size}, {_literal(load_id)})" for u, size in sizes
        )
        copy_into = target
        merge: list[str] = []
        if replace_key:
            key = quote(check_identifier("column", replace_key))
            copy_into = quote(f"stage_{table}")
            merge = [
                f"DELETE FROM {target} USING {copy_into} WHERE {target}.{key} = {copy_into}.{key}",
                f"INSERT INTO {target} SELECT * FROM {copy_into}",
            ]
        return [
            f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}",
            f"CREATE TABLE IF NOT EXISTS {target} ({ddl_cols})",
            *([f"CREATE TEMP TABLE {copy_into} (LIKE {target})"] if replace_key else []),
            f"COPY {copy_into} FROM {_literal(manifest_uri)} IAM_ROLE {_literal(self.iam_role_arn)} "
            "FORMAT AS PARQUET MANIFEST",
            *merge,
            f"INSERT INTO {META}.load_ledger (schema_name, table_name, file_uri, content_length, load_id) "
            f"VALUES {ledger_rows}",
            "SELECT pg_last_copy_count()",
        ]

    def delete_missing(self, *, schema: str, table: str, key_column: str, keep: list[str]) -> int:
        self._batch(self.prune_statements(schema, table, key_column, keep))
        return -1  # the Data API does not report a batch's row counts per statement

    def prune_statements(self, schema: str, table: str, key_column: str, keep: list[str]) -> list[str]:
        """One transaction: the keys to keep in a temp table, then delete every other row."""
        target = f"{quote(check_identifier('schema', schema))}.{quote(check_identifier('table', table))}"
        key = quote(check_identifier("column", key_column))
        sqls = ["CREATE TEMP TABLE keep_keys (k VARCHAR(65535))"]
        chunk: list[str] = []
        for k in keep:  # statements stay well under the Data API's 100 KB limit
            chunk.append(f"({_literal(k)})")
            if sum(len(c) for c in chunk) > 60_000:
                sqls.append(f"INSERT INTO keep_keys VALUES {', '.join(chunk)}")
                chunk = []
        if chunk:
            sqls.append(f"INSERT INTO keep_keys VALUES {', '.join(chunk)}")
        sqls.append(f"DELETE FROM {target} WHERE {key} IS NULL OR {key} NOT IN (SELECT k FROM keep_keys)")
        return sqls

    def external_schema_statement(self, schema: str, glue_database: str) -> str:
        """Spectrum schema over a Glue database (exposed for review and tests): its tables (the
        ``rejected_*`` ones are why it exists) become queryable in place, nothing is copied."""
        schema = check_identifier("schema", schema)
        if not glue_database or not all(c.isalnum() or c == "_" for c in glue_database):
            raise WarehouseConfigError(f"Glue database {glue_database!r} is not a plain identifier (letters, digits, _); "
                                       "set DATALAKE_GLUE_DATABASE to the database the crawler and validation write")
        return (f"CREATE EXTERNAL SCHEMA IF NOT EXISTS {quote(schema)} FROM DATA CATALOG "
                f"DATABASE {_literal(glue_database)} IAM_ROLE {_literal(self.iam_role_arn)}")

    def ensure_external_schema(self, *, schema: str, glue_database: str) -> None:
        """Create the Spectrum schema if absent (idempotent); the COPY role needs Glue catalog read."""
        self._execute(self.external_schema_statement(schema, glue_database))

    def _load_errors(self, manifest_uri: str) -> list[dict]:
        """Recent load errors: SYS_LOAD_ERROR_DETAIL (serverless) or STL_LOAD_ERRORS (provisioned)."""
        if self.workgroup:
            sql = ("SELECT query_id, start_time, file_name, line_number, column_name, column_type, error_code, "
                   "error_message FROM sys_load_error_detail ORDER BY start_time DESC LIMIT 10")
        else:
            sql = ("SELECT query, starttime, TRIM(filename), line_number, TRIM(colname), TRIM(type), err_code, "
                   "TRIM(err_reason) FROM stl_load_errors ORDER BY starttime DESC LIMIT 10")
        try:
            desc = self._execute(sql)
            columns, rows = self._records(desc["Id"])
        except Exception as err:  # the COPY error itself is the one to report
            log.warning("could not read load errors after a failed COPY from %s: %s", manifest_uri, err)
            return []
        names = ["query_id", "start_time", "file_name", "line_number", "column_name", "column_type", "error_code",
                 "error_message"]
        return [dict(zip(names, r)) for r in rows]
