"""A DuckDB file standing in for Redshift, loaded with COPY's semantics (see docs/query_and_warehouse.md).

* columns map by position; a column-count mismatch fails ("Spectrum Scan Error");
* Parquet types must be compatible with the table's Redshift types (int64 -> INTEGER fails);
* one bad value fails the whole load: everything runs in one transaction and is rolled back;
* errors are recorded in ``sys_load_error_detail`` (after the rollback, so they survive it);
* the table (and schema) is created with the given Redshift types if absent;
* a load ledger (``datalake_meta.load_ledger``) records every loaded file URI per table, and files
  already in it are skipped, so re-running a load never duplicates rows.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from warehouse.base import LoadResult
from warehouse.exceptions import (
    BadValueError,
    ColumnCountMismatchError,
    IncompatibleSchemaError,
    LoadError,
    WarehouseError,
)
from warehouse.types import check_identifier, copy_target, duckdb_type, parquet_compatible, parse_redshift_type, quote

log = logging.getLogger(__name__)

META = "datalake_meta"
_SETUP = [
    f"CREATE SCHEMA IF NOT EXISTS {META}",
    f"""CREATE TABLE IF NOT EXISTS {META}.load_ledger (
        schema_name VARCHAR, table_name VARCHAR, file_uri VARCHAR, content_length BIGINT,
        rows_loaded BIGINT, load_id VARCHAR, loaded_at TIMESTAMP,
        PRIMARY KEY (schema_name, table_name, file_uri))""",
    f"""CREATE TABLE IF NOT EXISTS {META}.table_columns (
        schema_name VARCHAR, table_name VARCHAR, position INTEGER, column_name VARCHAR, redshift_type VARCHAR,
        PRIMARY KEY (schema_name, table_name, position))""",
    """CREATE TABLE IF NOT EXISTS sys_load_error_detail (
        query_id VARCHAR, start_time TIMESTAMP, table_name VARCHAR, file_name VARCHAR, line_number BIGINT,
        column_name VARCHAR, column_type VARCHAR, error_code INTEGER, error_message VARCHAR,
        raw_field_value VARCHAR)""",
]

# Error codes as Redshift reports them (Spectrum scan errors for columnar COPY, 1204 for length).
E_SCAN, E_LENGTH, E_VALUE = 15007, 1204, 1216


class LocalWarehouse:
    engine = "local-warehouse"

    def __init__(self, path: Path, s3_filesystem: pafs.FileSystem | Callable[[], pafs.FileSystem]) -> None:
        self.path = Path(path)
        self._fs_source = s3_filesystem
        self._fs: pafs.FileSystem | None = None

    @property
    def filesystem(self) -> pafs.FileSystem:
        if self._fs is None:
            src = self._fs_source
            self._fs = src if isinstance(src, pafs.FileSystem) else src()
        return self._fs

    def _connect(self) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path))
        for stmt in _SETUP:
            con.execute(stmt)
        return con

    # --- COPY -----------------------------------------------------------------------------------------
    def copy_parquet(self, *, schema: str, table: str, s3_uris: list[str], columns: list[tuple[str, str]],
                     replace_key: str | None = None) -> LoadResult:
        """COPY with Redshift's semantics. ``replace_key`` makes a reload replace rows: target rows whose
        key value appears in an incoming file are deleted in the same transaction (the staged merge)."""
        started = time.perf_counter()
        schema, table, cols = copy_target(schema, table, columns)
        qualified = f"{schema}.{table}"
        uris = list(dict.fromkeys(s3_uris))
        load_id = uuid.uuid4().hex[:16]
        con = self._connect()
        try:
            loaded = {r[0] for r in con.execute(
                f"SELECT file_uri FROM {META}.load_ledger WHERE schema_name = ? AND table_name = ?", [schema, table]
            ).fetchall()}
            pending = [u for u in uris if u not in loaded]
            skipped = [u for u in uris if u in loaded]
            if not pending:
                log.info("copy %s: all %d file(s) already loaded; nothing to do", qualified, len(uris))
                return LoadResult(qualified, 0, 0, time.perf_counter() - started, skipped, load_id)
            con.execute("BEGIN TRANSACTION")
            try:
                target = self._ensure_table(con, schema, table, cols)
                rows = 0
                for uri in pending:
                    rows += self._load_file(con, qualified, uri, target, load_id, schema, table, replace_key)
                con.execute("COMMIT")
            except BaseException as err:
                con.execute("ROLLBACK")
                if isinstance(err, LoadError):
                    self._record(con, load_id, err)
                elif isinstance(err, duckdb.Error):
                    wrapped = BadValueError(
                        f"COPY {qualified} failed: {err}; nothing was loaded. Fix the data and re-run the load",
                        table=qualified, details=[{"error_code": E_VALUE, "error_message": str(err)}],
                    )
                    self._record(con, load_id, wrapped)
                    raise wrapped from err
                raise
            log.info("copy %s: %d row(s) from %d file(s), %d skipped", qualified, rows, len(pending), len(skipped))
            return LoadResult(qualified, rows, len(pending), time.perf_counter() - started, skipped, load_id)
        finally:
            con.close()

    def _ensure_table(self, con, schema: str, table: str, cols: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The table's columns as (name, Redshift type), creating schema and table if absent."""
        known = con.execute(
            f"SELECT column_name, redshift_type FROM {META}.table_columns WHERE schema_name = ? AND table_name = ? "
            "ORDER BY position", [schema, table]).fetchall()
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
        ).fetchall()[0][0]
        if exists and known:
            return [(n, t) for n, t in known]
        if exists:  # created outside the loader: read DuckDB's types back
            desc = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND "
                "table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()
            return [(n, {"VARCHAR": "VARCHAR(65535)", "FLOAT": "REAL", "DOUBLE": "DOUBLE PRECISION",
                         "BLOB": "VARBYTE"}.get(t, t)) for n, t in desc]
        if not cols:
            raise WarehouseError(f"table {schema}.{table} does not exist and no columns were given to create it; "
                                 "pass columns=[(name, redshift_type), ...]")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        body = ", ".join(f"{quote(n)} {duckdb_type(t)}" for n, t in cols)
        con.execute(f"CREATE TABLE {quote(schema)}.{quote(table)} ({body})")
        con.executemany(f"INSERT INTO {META}.table_columns VALUES (?, ?, ?, ?, ?)",
                        [[schema, table, i, n, t] for i, (n, t) in enumerate(cols)])
        return cols

    def _load_file(self, con, qualified: str, uri: str, target: list[tuple[str, str]], load_id: str,
                   schema: str, table: str, replace_key: str | None = None) -> int:
        path = uri.split("://", 1)[-1]
        try:
            info = self.filesystem.get_file_info(path)
            data = pq.read_table(path, filesystem=self.filesystem)
        except (OSError, pa.ArrowException) as err:
            raise LoadError(
                f"COPY {qualified}: cannot read {uri} ({err}); the manifest entry is mandatory, so the whole "
                "load failed. Check the URI, or re-run validation to re-write the file",
                table=qualified, file=uri,
                details=[{"file_name": uri, "error_code": E_SCAN, "error_message": str(err)}],
            ) from err
        if data.num_columns != len(target):
            msg = (f"Spectrum Scan Error: file {uri} has {data.num_columns} column(s) but table {qualified} has "
                   f"{len(target)}; COPY FORMAT AS PARQUET maps columns by position and the counts must match. "
                   "Write the file with exactly the table's columns, in table order")
            raise ColumnCountMismatchError(msg, table=qualified, file=uri, details=[
                {"file_name": uri, "error_code": E_SCAN, "error_message": msg}])
        selects = []
        for i, (field, (name, rtype)) in enumerate(zip(data.schema, target)):
            if not parquet_compatible(field.type, rtype):
                msg = (f"Spectrum Scan Error: file {uri} has an incompatible Parquet schema for column {name!r} "
                       f"(position {i + 1}): Parquet {field.name}: {field.type}, table type {rtype}. Cast the column "
                       "when writing the Parquet, or change the table column type")
                raise IncompatibleSchemaError(msg, table=qualified, file=uri, column=name, details=[
                    {"file_name": uri, "column_name": name, "column_type": rtype, "error_code": E_SCAN,
                     "error_message": msg}])
            self._check_values(data.column(i), uri, qualified, name, rtype)
            selects.append(f"CAST(c{i} AS {duckdb_type(rtype)})")
        src = data.rename_columns([f"c{i}" for i in range(data.num_columns)])
        con.register("__copy_src", src)
        try:
            if replace_key:
                names = [n for n, _ in target]
                if replace_key not in names:
                    raise WarehouseError(f"replace key {replace_key!r} is not a column of {qualified} ({names})")
                k = names.index(replace_key)
                con.execute(f"DELETE FROM {quote(schema)}.{quote(table)} WHERE {quote(replace_key)} IN "
                            f"(SELECT DISTINCT c{k} FROM __copy_src)")
            con.execute(f"INSERT INTO {quote(schema)}.{quote(table)} SELECT {', '.join(selects)} FROM __copy_src")
        finally:
            con.unregister("__copy_src")
        con.execute(f"INSERT INTO {META}.load_ledger VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [schema, table, uri, info.size, data.num_rows, load_id, datetime.now(timezone.utc).replace(tzinfo=None)])
        return data.num_rows

    @staticmethod
    def _check_values(column: pa.ChunkedArray, uri: str, qualified: str, name: str, rtype: str) -> None:
        base, length, _ = parse_redshift_type(rtype)
        if base not in ("VARCHAR", "CHAR") or length is None:
            return
        values = column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column
        # Redshift measures VARCHAR/CHAR lengths in bytes, not characters.
        too_long = pc.greater(pc.binary_length(values), length)
        idx = pc.index(too_long, True).as_py()
        if idx is None or idx < 0:
            return
        raw = values[idx].as_py()
        msg = (f"String length exceeds DDL length: file {uri}, row {idx + 1}, column {name!r} ({rtype}) holds "
               f"{len(raw.encode())} bytes. Widen the column (e.g. VARCHAR(65535)) or truncate the value upstream")
        raise BadValueError(msg, table=qualified, file=uri, column=name, details=[
            {"file_name": uri, "line_number": idx + 1, "column_name": name, "column_type": rtype,
             "error_code": E_LENGTH, "error_message": msg, "raw_field_value": raw[:1024]}])

    @staticmethod
    def _record(con, load_id: str, err: LoadError) -> None:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        rows = []
        for d in err.details or [{"error_message": str(err)}]:
            rows.append([load_id, now, err.table, d.get("file_name", err.file), d.get("line_number"),
                         d.get("column_name", err.column), d.get("column_type"), d.get("error_code", E_VALUE),
                         d.get("error_message", str(err))[:4096], d.get("raw_field_value")])
        con.executemany("INSERT INTO sys_load_error_detail VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        err.details = [dict(zip(("query_id", "start_time", "table_name", "file_name", "line_number", "column_name",
                                 "column_type", "error_code", "error_message", "raw_field_value"), r)) for r in rows]

    def delete_missing(self, *, schema: str, table: str, key_column: str, keep: list[str]) -> int:
        schema, table = check_identifier("schema", schema), check_identifier("table", table)
        key = check_identifier("column", key_column)
        con = self._connect()
        try:
            exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND "
                                 "table_name = ?", [schema, table]).fetchall()[0][0]
            if not exists:
                return 0
            con.register("__keep", pa.table({"k": pa.array(keep, pa.string())}))
            try:
                con.execute("BEGIN TRANSACTION")
                deleted = con.execute(f"DELETE FROM {quote(schema)}.{quote(table)} WHERE {quote(key)} IS NULL OR "
                                      f"{quote(key)} NOT IN (SELECT k FROM __keep)").fetchall()[0][0]
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.unregister("__keep")
            return int(deleted)
        finally:
            con.close()

    # --- queries --------------------------------------------------------------------------------------
    def query(self, sql: str) -> Any:
        """Run Redshift SQL (translated to DuckDB by sqlglot) and return a QueryResult."""
        import sqlglot

        from athena_queries.engine import QueryResult

        started = time.perf_counter()
        duck_sql = ";\n".join(sqlglot.transpile(sql, read="redshift", write="duckdb"))
        con = self._connect()
        try:
            # Redshift: integer / integer truncates toward zero; any division by zero is an error
            con.execute("SET integer_division = true")
            con.execute("SET error_on_division_by_zero = true")
            table = con.sql(duck_sql).to_arrow_table()
        except duckdb.Error as err:
            raise WarehouseError(f"query failed: {err}\n  Redshift SQL: {sql}\n  DuckDB SQL: {duck_sql}") from err
        finally:
            con.close()
        return QueryResult.from_arrow(table, engine=self.engine, elapsed_s=time.perf_counter() - started)


