"""Query engines behind one interface: Athena in AWS, an embedded DuckDB stand-in locally.

``LocalAthena`` answers Athena (Trino) SQL the way Athena does: table names resolve through the
Glue Data Catalog, data is read from the table's S3 location (only the partitions a query needs),
and the SQL is translated to DuckDB by sqlglot plus the fixes in ``_sql.py``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
from sqlglot import exp

from athena_queries import _sql, _tables, _trino
from athena_queries._tables import GlueTable, ScanInfo
from athena_queries.result import QueryResult, QueryStatistics
from athena_queries.exceptions import (
    QueryExecutionError,
    TableNotFoundError,
    UnsupportedFunctionError,
)

if TYPE_CHECKING:

    from datalake_base.settings import Settings

log = logging.getLogger(__name__)

_DEFAULT_CATALOGS = {"awsdatacatalog"}


@runtime_checkable
class QueryEngine(Protocol):
    def query(self, sql: str, *, database: str) -> QueryResult: ...


FileSystemSource = pafs.FileSystem | Callable[[], pafs.FileSystem]


class LocalAthena:
    """Embedded Athena stand-in: Glue catalog + S3 objects + DuckDB.

    ``s3_filesystem`` is a pyarrow filesystem (or a zero-argument factory for one) that reads the
    lake; ``cache_dir``, when set, keeps local copies of the objects read (keyed by path, size and
    mtime) so repeated queries do not re-download them.
    """

    engine = "local"

    def __init__(self, *, glue_client: Any, s3_filesystem: FileSystemSource, cache_dir: Path | None = None) -> None:
        self._engine_started: float | None = None
        self._glue = glue_client
        self._fs_source = s3_filesystem
        self._fs: pafs.FileSystem | None = None
        self._cache_dir = Path(cache_dir) if cache_dir else None
        self.last_scans: list[ScanInfo] = []

    @property
    def filesystem(self) -> pafs.FileSystem:
        if self._fs is None:
            src = self._fs_source
            self._fs = src if isinstance(src, pafs.FileSystem) else src()
        return self._fs

    # --- public -----------------------------------------------------------------------------------
    def query(self, sql: str, *, database: str) -> QueryResult:
        started = time.perf_counter()
        self.last_scans = []
        self._engine_started = None
        stmt = _sql.parse_read_only(sql)
        if stmt.kind == "show":
            table = self._show(stmt.show or "", database)
        elif stmt.kind == "describe":
            table = self._describe(stmt.tree, database)  # type: ignore[arg-type]
        else:
            table = self._select(stmt.tree, sql, database)  # type: ignore[arg-type]
        done = time.perf_counter()
        result = QueryResult.from_arrow(table, engine=self.engine, elapsed_s=done - started)
        engine_start = self._engine_started or done
        planning_ms, engine_ms = round((engine_start - started) * 1000), round((done - engine_start) * 1000)
        result.statistics = QueryStatistics(
            data_scanned_bytes=sum(s.bytes_scanned for s in self.last_scans),
            files_opened=sum(len(s.files) for s in self.last_scans),
            partitions_total=sum(s.partitions_total for s in self.last_scans),
            partitions_scanned=sum(s.partitions_selected for s in self.last_scans),
            planning_ms=planning_ms, engine_ms=engine_ms,
            total_ms=planning_ms + engine_ms,  # as Athena reports: the parts add up (each rounded once)
            tables=[{"table": f"{s.database}.{s.table}", "partitions_total": s.partitions_total,
                     "partitions_scanned": s.partitions_selected, "files": len(s.files),
                     "data_scanned_bytes": s.bytes_scanned} for s in self.last_scans])
        return result

    # --- SELECT -----------------------------------------------------------------------------------
    def _select(self, tree: exp.Expression, athena_sql: str, database: str) -> pa.Table:
        refs = _table_refs(tree)
        glue_tables: dict[tuple[str, str], GlueTable] = {}
        for ref in refs:
            key = _qualify(ref, database)
            if key not in glue_tables:
                glue_tables[key] = _tables.get_glue_table(self._glue, *key)
        date_columns = {
            f.name for t in glue_tables.values() for f in t.schema if pa.types.is_date(f.type)
        }
        typed = _trino.annotate(tree, {k: t.schema for k, t in glue_tables.items()}, database)
        _trino.check_types(typed)
        read_columns = _columns_read(typed, glue_tables, database)
        fixed = _sql.athena_fixes(_trino.rewrite(typed), date_columns=date_columns)
        con = duckdb.connect()
        engine_sql = ""
        try:
            _trino.install(con)
            partitions_cache: dict[tuple[str, str], list[_tables.Partition]] = {}
            for n, ref in enumerate(_table_refs(fixed)):
                key = _qualify(ref, database)
                gt = glue_tables[key]
                parts = None
                total = selected = 0
                if len(gt.partition_schema):
                    if key not in partitions_cache:
                        partitions_cache[key] = _tables.list_partitions(self._glue, gt, self.filesystem)
                    all_parts = partitions_cache[key]
                    preds = _partition_predicates(ref, gt.partition_schema.names)
                    parts = _tables.prune(all_parts, gt.partition_schema, preds)
                    total, selected = len(all_parts), len(parts)
                dataset, uris = _tables.build_dataset(gt, parts, self.filesystem, self._cache_dir)
                scanned = _tables.scanned_bytes(dataset, gt, read_columns.get(ref.alias_or_name.lower()))
                self.last_scans.append(ScanInfo(gt.database, gt.name, total, selected, uris, scanned))
                reg = re.sub(r"[^a-z0-9_]", "_", f"__t{n}_{gt.database}_{gt.name}".lower())
                # Text formats have no projection/filter pushdown worth keeping, and pyarrow's JSON
                # reader does blocking S3 calls from inside DuckDB's scan (stalls an in-process
                # endpoint): read the selected files up front instead.
                source = _tables.apply_serde(dataset.to_table(), gt) if gt.format in ("csv", "json") else dataset
                con.register(reg, source)
                new = exp.to_table(reg)
                new.set("alias", ref.args.get("alias") or exp.TableAlias(this=exp.to_identifier(ref.name)))
                ref.replace(new)
            engine_sql = _sql.to_duckdb(fixed)
            log.debug("athena sql %r -> duckdb %r", athena_sql, engine_sql)
            self._engine_started = time.perf_counter()
            return con.sql(engine_sql).to_arrow_table()
        except duckdb.Error as err:
            fn = _sql.missing_function(str(err))
            if fn:
                raise UnsupportedFunctionError(fn, "DuckDB has no function of that name") from err
            raise QueryExecutionError(f"query failed: {err}", athena_sql=athena_sql, engine_sql=engine_sql) from err
        finally:
            con.close()

    # --- SHOW / DESCRIBE ----------------------------------------------------------------------------
    def _show(self, rest: str, database: str) -> pa.Table:
        words = rest.split()
        head = words[0].upper() if words else ""
        like = _like_pattern(rest)
        if head in ("DATABASES", "SCHEMAS"):
            names = [d["Name"] for p in self._glue.get_paginator("get_databases").paginate() for d in p["DatabaseList"]]
            return pa.table({"database_name": sorted(n for n in names if like(n))})
        if head == "TABLES":
            db = words[2].strip("`\"") if len(words) > 2 and words[1].upper() in ("IN", "FROM") else database
            try:
                names = [
                    t["Name"]
                    for p in self._glue.get_paginator("get_tables").paginate(DatabaseName=db.lower())
                    for t in p["TableList"]
                ]
            except self._glue.exceptions.EntityNotFoundException as err:
                raise TableNotFoundError(db, "*", "database not found") from err
            return pa.table({"tab_name": sorted(n for n in names if like(n))})
        if head == "PARTITIONS" and len(words) > 1:
            gt = self._resolve_name(words[1], database)
            parts = _tables.list_partitions(self._glue, gt, self.filesystem)
            text = ["/".join(f"{k}={'' if v is None else v}" for k, v in zip(gt.partition_schema.names, p.values))
                    for p in parts]
            return pa.table({"partition": sorted(text)})
        if head == "COLUMNS" and len(words) > 2 and words[1].upper() in ("IN", "FROM"):
            name = words[2] if len(words) < 5 else f"{words[4]}.{words[2]}"
            gt = self._resolve_name(name, database)
            return pa.table({"field": gt.schema.names})
        raise _sql.ReadOnlyQueryError(
            f"SHOW {rest!r} is not supported locally; use SHOW DATABASES, SHOW TABLES [IN db], "
            "SHOW PARTITIONS t, SHOW COLUMNS IN t or DESCRIBE t"
        )

    def _describe(self, tree: exp.Describe, database: str) -> pa.Table:
        ref = tree.this
        if not isinstance(ref, exp.Table):
            raise _sql.SqlParseError(f"DESCRIBE needs a table name, got {ref.sql()!r}")
        gt = _tables.get_glue_table(self._glue, *_qualify(ref, database))
        fields = [(f, "") for f in gt.data_schema] + [(f, "partition key") for f in gt.partition_schema]
        return pa.table({
            "col_name": [f.name for f, _ in fields],
            "data_type": [_trino.hive_type(f.type) for f, _ in fields],
            "comment": [c for _, c in fields],
        })

    def _resolve_name(self, name: str, database: str) -> GlueTable:
        ref = exp.to_table(name.strip("`"))
        return _tables.get_glue_table(self._glue, *_qualify(ref, database))


def _columns_read(tree: exp.Expression, tables: dict[tuple[str, str], GlueTable],
                  database: str) -> dict[str, set[str] | None]:
    """Per table alias, the columns the query reads (None: all of them, e.g. ``SELECT *``)."""
    refs = _table_refs(tree)
    aliases = {ref.alias_or_name.lower(): tables[_qualify(ref, database)] for ref in refs
               if _qualify(ref, database) in tables}
    out: dict[str, set[str] | None] = {a: set() for a in aliases}
    for star in tree.find_all(exp.Star):
        if not isinstance(star.parent, exp.Count):
            owner = star.parent.table.lower() if isinstance(star.parent, exp.Column) and star.parent.table else None
            for a in aliases:
                if owner in (None, a):
                    out[a] = None
    for col in tree.find_all(exp.Column):
        name, owner = col.name.lower(), col.table.lower() if col.table else None
        for a, gt in aliases.items():
            cols = out[a]
            if cols is not None and owner in (None, a) and name in {n.lower() for n in gt.schema.names}:
                cols.add(name)
    return out


def _like_pattern(rest: str) -> Callable[[str], bool]:
    m = re.search(r"LIKE\s+'([^']*)'", rest, re.IGNORECASE) or re.search(r"'([^']*)'\s*$", rest)
    if not m:
        return lambda _name: True
    # Athena SHOW ... LIKE takes a regex-ish pattern where * is any string and | separates choices.
    alts = [re.escape(a).replace(r"\*", ".*") for a in m.group(1).split("|")]
    pattern = re.compile("^(?:" + "|".join(alts) + ")$", re.IGNORECASE)
    return lambda name: bool(pattern.match(name))


def _cte_names(tree: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def _table_refs(tree: exp.Expression) -> list[exp.Table]:
    """Catalog table references, in tree order (CTE references and table functions left out)."""
    ctes = _cte_names(tree)
    refs = []
    for t in tree.find_all(exp.Table):
        if not t.name or isinstance(t.this, exp.Func):
            continue
        if not t.db and t.name.lower() in ctes:
            continue
        refs.append(t)
    return refs


def _qualify(ref: exp.Table, database: str) -> tuple[str, str]:
    catalog = ref.catalog.lower() if ref.catalog else ""
    if catalog and catalog not in _DEFAULT_CATALOGS:
        raise TableNotFoundError(
            ref.db or database, ref.name, f"catalog {ref.catalog!r} is not the Glue catalog AwsDataCatalog"
        )
    return (ref.db or database).lower(), ref.name.lower()


def _partition_predicates(ref: exp.Table, partition_cols: list[str]) -> list[str]:
    """WHERE conjuncts of the table's own SELECT that only read its partition columns (DuckDB SQL).

    Only inner/cross joins qualify: on the null-supplying side of an outer join, removing rows
    before the join would change which rows come out NULL-extended.
    """
    select = ref.parent_select
    holder = ref.parent
    if select is None or not isinstance(holder, (exp.From, exp.Join)) or holder.parent is not select:
        return []
    where = select.args.get("where")
    if where is None:
        return []
    joins = select.args.get("joins") or []
    if any(j.side for j in joins):
        return []
    sources = [select.args.get("from_") or select.args.get("from")] + joins
    other_cols: set[str] = set()
    tables = 0
    for s in sources:
        node = s.this if s is not None else None
        if isinstance(node, exp.Table):
            tables += 1
        elif isinstance(node, exp.Unnest):
            alias = node.args.get("alias")
            other_cols |= {c.name.lower() for c in (alias.columns if alias else [])}
            if alias and not alias.columns and alias.this:
                other_cols.add(alias.name.lower())
        elif node is not None:
            other_cols |= {n.lower() for n in getattr(node, "named_selects", [])} or {"*"}
    me = ref.alias_or_name.lower()
    parts = {c.lower() for c in partition_cols}
    out = []
    for conj in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        if conj.find(exp.Subquery, exp.Select, exp.AggFunc, exp.Window, exp.Placeholder):
            continue
        columns = list(conj.find_all(exp.Column))
        if not columns:
            continue
        ok = True
        for c in columns:
            name = c.name.lower()
            if name not in parts:
                ok = False
            elif c.table:
                ok = ok and c.table.lower() == me
            else:
                ok = ok and tables == 1 and name not in other_cols and "*" not in other_cols
        if not ok:
            continue
        clean = conj.copy()
        for c in clean.find_all(exp.Column):
            for part in ("table", "db", "catalog"):
                c.set(part, None)
        out.append(_sql.to_duckdb(clean))
    return out


class AthenaEngine:
    """Amazon Athena through awswrangler; same read-only guard as the local engine."""

    engine = "athena"

    def __init__(
        self,
        *,
        boto3_session: Any,
        workgroup: str = "primary",
        s3_output: str | None = None,
        ctas_approach: bool = False,
    ) -> None:
        self._session = boto3_session
        self._workgroup = workgroup
        self._s3_output = s3_output
        self._ctas = ctas_approach

    def query(self, sql: str, *, database: str) -> QueryResult:
        import awswrangler as wr

        started = time.perf_counter()
        _sql.parse_read_only(sql)
        df = wr.athena.read_sql_query(
            sql,
            database=database,
            workgroup=self._workgroup,
            s3_output=self._s3_output,
            ctas_approach=self._ctas,
            boto3_session=self._session,
        )
        table = pa.Table.from_pandas(df, preserve_index=False)
        result = QueryResult.from_arrow(table, engine=self.engine, elapsed_s=time.perf_counter() - started)
        stats = (getattr(df, "query_metadata", None) or {}).get("Statistics") or {}
        if stats:  # Athena's own figures (files and partitions are not reported by Athena)
            result.statistics = QueryStatistics(
                data_scanned_bytes=int(stats.get("DataScannedInBytes", 0)), files_opened=0, partitions_total=0,
                partitions_scanned=0, planning_ms=int(stats.get("QueryPlanningTimeInMillis", 0)),
                engine_ms=int(stats.get("EngineExecutionTimeInMillis", 0)),
                total_ms=int(stats.get("TotalExecutionTimeInMillis", 0)))
        return result


def s3_filesystem(settings: "Settings") -> pafs.S3FileSystem:
    """pyarrow S3 filesystem for the lake: the local endpoint over http in local mode."""
    from datalake_base import aws

    endpoint = settings.effective_endpoint
    if not endpoint:
        # AWS: pyarrow's default credential chain refreshes temporary credentials itself.
        return pafs.S3FileSystem(region=settings.region)
    creds = aws.session(settings).get_credentials()
    frozen = creds.get_frozen_credentials() if creds else None
    url = urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
    return pafs.S3FileSystem(
        access_key=frozen.access_key if frozen else None,
        secret_key=frozen.secret_key if frozen else None,
        session_token=frozen.token if frozen else None,
        region=settings.region,
        endpoint_override=url.netloc,
        scheme=url.scheme or "http",
    )


def build_query_engine(settings: "Settings") -> QueryEngine:
    """The engine DATALAKE_QUERY_ENGINE selects: ``local`` (embedded) or ``athena``."""
    from datalake_base import aws

    if settings.query_engine == "athena":
        return AthenaEngine(boto3_session=aws.session(settings), workgroup=settings.athena_workgroup)
    return LocalAthena(glue_client=aws.client("glue", settings), s3_filesystem=lambda: s3_filesystem(settings))


def run_query(settings: Settings, sql: str) -> Any:
    """Run ``sql`` on the configured engine (Athena, or the local one) in the lake's Glue database."""
    return build_query_engine(settings).query(sql, database=settings.glue_database)
