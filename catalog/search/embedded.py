"""SQLite FTS5 backend: the default search index in local mode.

One file under the state directory. WAL mode lets the local runtime's indexer write while the
CLI (another process) reads. Each thread gets its own connection; writes in this process are
serialized by a lock and, across processes, by SQLite's own locking with a busy timeout.

FTS5's ``trigram`` tokenizer (SQLite >= 3.34) gives substring matching for every term of three
characters or more; shorter terms and all scoring use ``instr`` over the lower-cased indexed
text. Without ``trigram`` the index falls back to ``unicode61`` with prefix queries for words in
free-text fields and ``instr`` (a scan) for substrings of identifier fields.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from catalog.search._query import (
    FIELD_WEIGHTS,
    IDENT_FIELDS,
    SEARCH_FIELDS,
    TEXT_FIELDS,
    check_limit,
    highlight,
    normalize_document,
    parse_terms,
    searchable_values,
    words,
)
from catalog.search.base import SearchIndex
from catalog.search.exceptions import BulkIndexError, InvalidDocumentError, InvalidQueryError, SchemaMismatchError, SearchUnavailableError
from catalog.search.types import FACET_FIELDS, FacetField, SearchHit

Tokenizer = Literal["trigram", "unicode61"]
SCHEMA_VERSION = "1"
_BATCH = 500
_FTS_COLUMNS = ", ".join(SEARCH_FIELDS)
_SCHEMA = (
    """CREATE TABLE docs (
        rid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        kind TEXT, dataset TEXT, status TEXT, format TEXT, arrival_time TEXT,
        body TEXT NOT NULL
    )""",
    "CREATE INDEX docs_dataset ON docs(dataset)",
    "CREATE INDEX docs_status ON docs(status)",
    "CREATE INDEX docs_format ON docs(format)",
    "CREATE INDEX docs_recent ON docs(arrival_time DESC, id)",
)


def trigram_available() -> bool:
    """Whether this SQLite build has FTS5 with the trigram tokenizer."""
    try:
        with sqlite3.connect(":memory:") as probe:
            probe.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram')")
        return True
    except sqlite3.OperationalError:
        return False


def _set_wal(conn: sqlite3.Connection, attempts: int = 50) -> None:
    """Switch to WAL, retrying: the switch needs a lock that SQLite's busy timeout does not wait for,
    so connections opened at the same moment (threads, or the CLI beside the runtime) can see
    "database is locked" once."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


class SqliteSearchIndex(SearchIndex):
    def __init__(
        self,
        path: Path | str,
        *,
        tokenizer: Literal["auto", "trigram", "unicode61"] = "auto",
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self._requested = tokenizer
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()  # guards _conns and serializes this process's writers
        self._tokenizer: Tokenizer | None = None

    # --- connections -------------------------------------------------------------------------

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer of the index file (decided when it was created)."""
        if self._tokenizer is None:
            self.ensure()
        assert self._tokenizer is not None
        return self._tokenizer

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
                )
            except (sqlite3.Error, OSError) as e:
                raise SearchUnavailableError(
                    f"cannot open the search index file {self.path}: {e}; check DATALAKE_STATE_DIR is writable"
                ) from e
            _set_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with self._lock:
            # IMMEDIATE takes the write lock up front: no deadlock upgrading a read transaction.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    # --- schema ------------------------------------------------------------------------------

    def ensure(self) -> None:
        with self._write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            meta = dict(conn.execute("SELECT k, v FROM meta").fetchall())
            if meta:
                if meta.get("schema_version") != SCHEMA_VERSION:
                    raise SchemaMismatchError(
                        f"search index file {self.path} has schema version {meta.get('schema_version')!r}, "
                        f"this code needs {SCHEMA_VERSION!r}; delete the file and let the indexer rebuild it"
                    )
                tokenizer = meta["tokenizer"]
                if tokenizer == "trigram" and not trigram_available():
                    raise SearchUnavailableError(
                        f"search index file {self.path} uses the FTS5 trigram tokenizer, which this SQLite "
                        f"({sqlite3.sqlite_version}) lacks; delete the file to rebuild it with unicode61"
                    )
                self._tokenizer = tokenizer  # type: ignore[assignment]
                return
            tokenizer = self._choose_tokenizer()
            tokenize = "trigram" if tokenizer == "trigram" else "unicode61 remove_diacritics 0"
            # One statement at a time: executescript() would commit the open transaction.
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(
                f"CREATE VIRTUAL TABLE docs_fts USING fts5({_FTS_COLUMNS}, tokenize='{tokenize}')"
            )
            conn.executemany(
                "INSERT INTO meta (k, v) VALUES (?, ?)",
                [("schema_version", SCHEMA_VERSION), ("tokenizer", tokenizer)],
            )
            self._tokenizer = tokenizer

    def _choose_tokenizer(self) -> Tokenizer:
        has_trigram = trigram_available()
        if self._requested == "trigram" and not has_trigram:
            raise SearchUnavailableError(
                f"SQLite {sqlite3.sqlite_version} has no FTS5 trigram tokenizer; use tokenizer='auto' or 'unicode61'"
            )
        if self._requested == "auto":
            return "trigram" if has_trigram else "unicode61"
        return self._requested

    def _ready(self) -> sqlite3.Connection:
        if self._tokenizer is None:
            self.ensure()
        return self._conn()

    # --- writes ------------------------------------------------------------------------------

    def upsert(self, doc_id: str, doc: dict[str, Any]) -> None:
        row = _row(doc_id, normalize_document(doc_id, doc))
        self._ready()
        with self._write() as conn:
            _upsert_row(conn, row)

    def upsert_many(self, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        self._ready()
        failed: dict[str, str] = {}
        indexed = 0
        it = iter(docs)
        while chunk := list(islice(it, _BATCH)):
            rows = []
            for doc_id, doc in chunk:
                try:
                    rows.append(_row(doc_id, normalize_document(doc_id, doc)))
                except InvalidDocumentError as e:
                    failed[str(doc_id)] = e.problem
            with self._write() as conn:
                for row in rows:
                    _upsert_row(conn, row)
            indexed += len(rows)
        if failed:
            raise BulkIndexError(failed, indexed)
        return indexed

    def delete(self, doc_id: str) -> None:
        self._ready()
        with self._write() as conn:
            for (rid,) in conn.execute("DELETE FROM docs WHERE id = ? RETURNING rid", (doc_id,)).fetchall():
                conn.execute("DELETE FROM docs_fts WHERE rowid = ?", (rid,))

    # --- reads -------------------------------------------------------------------------------

    def get(self, doc_id: str) -> dict[str, Any] | None:
        row = self._ready().execute("SELECT body FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def count(self) -> int:
        return self._ready().execute("SELECT count(*) FROM docs").fetchone()[0]

    def facets(self, field: FacetField) -> dict[str, int]:
        if field not in FACET_FIELDS:
            raise InvalidQueryError(f"cannot facet on {field!r}; use one of {', '.join(FACET_FIELDS)}")
        rows = self._ready().execute(
            f"SELECT {field}, count(*) FROM docs WHERE {field} IS NOT NULL GROUP BY {field} ORDER BY 2 DESC, 1"
        )
        return dict(rows.fetchall())

    def search(
        self,
        text: str,
        *,
        dataset: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 20,
    ) -> list[SearchHit]:
        check_limit(limit)
        terms = parse_terms(text)
        conn = self._ready()
        filters, fparams = [], []
        for column, value in (("dataset", dataset), ("status", status), ("kind", kind)):
            if value is not None:
                filters.append(f"d.{column} = ?")
                fparams.append(value)
        if not terms:
            where = " AND ".join(filters) or "1"
            rows = conn.execute(
                f"SELECT d.id, d.body, 0 FROM docs d WHERE {where} "
                "ORDER BY d.arrival_time DESC, d.id LIMIT ?",
                (*fparams, limit),
            ).fetchall()
        else:
            sql, params = self._text_query(terms, filters)
            rows = conn.execute(sql, (*params, *fparams, limit)).fetchall()
        hits = []
        for doc_id, body, score in rows:
            doc = json.loads(body)
            hits.append(SearchHit(id=doc_id, score=float(score), doc=doc, highlights=highlight(doc, terms)))
        return hits

    def _text_query(self, terms: list[str], filters: list[str]) -> tuple[str, list[Any]]:
        """SQL selecting (id, body, score) for ``terms``; every value is a bound parameter."""
        score_parts: list[str] = []
        score_params: list[Any] = []
        conds: list[str] = []
        cond_params: list[Any] = []
        match_phrases: list[str] = []
        for term in terms:
            # score: best weight among the fields this term matches
            cases = []
            for field in SEARCH_FIELDS:
                needles = [term] if field in IDENT_FIELDS else words(term)
                if not needles:
                    continue
                test = " AND ".join(f"instr(f.{field}, ?) > 0" for _ in needles)
                cases.append(f"CASE WHEN {test} THEN {FIELD_WEIGHTS[field]} ELSE 0 END")
                score_params.extend(needles)
            score_parts.append(f"max({', '.join(cases)}, 0)" if len(cases) > 1 else f"max({cases[0]}, 0)")

            if self.tokenizer == "trigram":
                if len(term) >= 3:
                    # A quoted string is a substring match with trigram; quotes are doubled inside.
                    match_phrases.append('"' + term.replace('"', '""') + '"')
                else:
                    conds.append("(" + " OR ".join(f"instr(f.{c}, ?) > 0" for c in SEARCH_FIELDS) + ")")
                    cond_params.extend([term] * len(SEARCH_FIELDS))
            else:
                alts = [f"instr(f.{c}, ?) > 0" for c in IDENT_FIELDS]
                cond_params.extend([term] * len(IDENT_FIELDS))
                ws = words(term)
                if ws:
                    prefix = " AND ".join('"' + w.replace('"', '""') + '"*' for w in ws)
                    alts.append("f.rowid IN (SELECT rowid FROM docs_fts WHERE docs_fts MATCH ?)")
                    cond_params.append("{" + " ".join(TEXT_FIELDS) + "} : (" + prefix + ")")
                conds.append("(" + " OR ".join(alts) + ")")
        params: list[Any] = list(score_params)
        if match_phrases:
            conds.insert(0, "docs_fts MATCH ?")
            cond_params.insert(0, " AND ".join(match_phrases))
        params.extend(cond_params)
        where = " AND ".join(conds + filters)
        score = " + ".join(score_parts)
        sql = (
            f"SELECT d.id, d.body, {score} AS score FROM docs_fts f JOIN docs d ON d.rid = f.rowid "
            f"WHERE {where} ORDER BY score DESC, d.arrival_time DESC, d.id LIMIT ?"
        )
        return sql, params


def _row(doc_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    fts = {field: "\n".join(v for v in values if v).lower() for field, values in searchable_values(doc).items()}
    return {
        "id": doc_id,
        "kind": doc.get("kind"),
        "dataset": doc.get("dataset"),
        "status": doc.get("status"),
        "format": doc.get("format"),
        "arrival_time": doc.get("arrival_time"),
        "body": json.dumps(doc, ensure_ascii=False, separators=(",", ":")),
        "fts": fts,
    }


def _upsert_row(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    (rid,) = conn.execute(
        """
        INSERT INTO docs (id, kind, dataset, status, format, arrival_time, body)
        VALUES (:id, :kind, :dataset, :status, :format, :arrival_time, :body)
        ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, dataset = excluded.dataset,
            status = excluded.status, format = excluded.format,
            arrival_time = excluded.arrival_time, body = excluded.body
        RETURNING rid
        """,
        row,
    ).fetchone()
    conn.execute("DELETE FROM docs_fts WHERE rowid = ?", (rid,))
    conn.execute(
        f"INSERT INTO docs_fts (rowid, {_FTS_COLUMNS}) VALUES (?, {', '.join('?' * len(SEARCH_FIELDS))})",
        (rid, *(row["fts"][f] for f in SEARCH_FIELDS)),
    )
