"""What a dataset page shows beyond the catalog record: rejected rows (paged, by rule, as CSV),
sample accepted rows, a ready-to-copy Athena query and the lineage of the data.

Rows are read with Athena SQL through an injected ``query`` function (the local engine in local
mode, Athena in AWS: ``athena_queries.engine.run_query``), over the Glue tables the validation
step registers: ``accepted_<ds>`` and ``rejected_<ds>`` (source columns + ``source_key``,
``source_row``; rejected also ``comments``, ``reject_reasons``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

from catalog.naming import glue_identifier

Query = Callable[[str], Any]  # sql -> athena_queries.engine.QueryResult (columns, rows)
MAX_PAGE = 200
CSV_LIMIT = 100_000


class UnknownRuleError(ValueError):
    """A rejected-rows filter names a rule message the dataset's last validation does not know."""

    def __init__(self, rule: str, known: list[str]) -> None:
        self.rule, self.known = rule, known
        super().__init__(f"no rule {rule!r} failed rows in the last validation; use one of: "
                         f"{', '.join(known) or '(none: no rows were rejected)'}")


def known_rules(dataset_record: dict[str, Any]) -> list[str]:
    """The reject messages of the last validation, most failures first."""
    per_rule = ((dataset_record or {}).get("validation") or {}).get("per_rule") or {}
    return [m for m, _ in sorted(per_rule.items(), key=lambda kv: (-int(kv[1] or 0), kv[0]))]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rejected_where(rule: str | None, known: list[str]) -> str:
    if rule is None:
        return ""
    if rule not in known:  # only messages the validation produced: user text never becomes SQL by itself
        raise UnknownRuleError(rule, known)
    return f" WHERE contains(reject_reasons, {_literal(rule)})"


def rejected_rows(query: Query, dataset: str, dataset_record: dict[str, Any], *, rule: str | None = None,
                  offset: int = 0, limit: int = 50) -> dict[str, Any]:
    """A page of rejected rows (optionally only those failing ``rule``), in source order, with the total."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValueError(f"limit must be 1-{MAX_PAGE} and offset 0 or more, got limit={limit}, offset={offset}")
    table = f"rejected_{glue_identifier(dataset)}"
    where = _rejected_where(rule, known_rules(dataset_record))
    total = query(f"SELECT count(*) AS n FROM {table}{where}").rows[0][0]
    page = query(f"SELECT * FROM {table}{where} ORDER BY source_key, source_row LIMIT {limit} OFFSET {offset}")
    return {"columns": page.columns, "rows": [list(r) for r in page.rows], "total": int(total),
            "offset": offset, "limit": limit, "rule": rule}


def rejected_csv(query: Query, dataset: str, dataset_record: dict[str, Any], *, rule: str | None = None) -> Iterator[str]:
    """The rejected rows as CSV text chunks (header first; lists joined by '|'), at most CSV_LIMIT rows."""
    table = f"rejected_{glue_identifier(dataset)}"
    where = _rejected_where(rule, known_rules(dataset_record))
    result = query(f"SELECT * FROM {table}{where} ORDER BY source_key, source_row LIMIT {CSV_LIMIT}")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(result.columns)
    for i, row in enumerate(result.rows, 1):
        writer.writerow(["|".join(map(str, v)) if isinstance(v, (list, tuple)) else v for v in row])
        if i % 1000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def sample_accepted(query: Query, dataset: str, limit: int = 10) -> dict[str, Any]:
    result = query(f"SELECT * FROM accepted_{glue_identifier(dataset)} ORDER BY source_key, source_row LIMIT {int(limit)}")
    return {"columns": result.columns, "rows": [list(r) for r in result.rows]}


def athena_snippet(database: str, dataset: str) -> str:
    """A query an analyst can paste into Athena: the newest day's accepted rows."""
    t = f'"{database}"."accepted_{glue_identifier(dataset)}"'
    return (f"SELECT *\nFROM {t}\nWHERE ingest_date = (SELECT max(ingest_date) FROM {t})\nLIMIT 100;")


def lineage(database: str, lake_bucket: str, dataset: str, dataset_record: dict[str, Any],
            files: list[dict[str, Any]]) -> dict[str, Any]:
    """Source files -> accepted/rejected tables (and their S3 prefixes) -> warehouse table."""
    ident = glue_identifier(dataset)
    validated = bool((dataset_record or {}).get("validation"))
    return {
        "sources": [{"bucket": f.get("bucket"), "key": f.get("key"), "status": f.get("status")} for f in files],
        "tables": [
            {"side": side, "table": f"{database}.{side}_{ident}", "location": f"s3://{lake_bucket}/{side}/dataset={dataset}/",
             "exists": validated}
            for side in ("accepted", "rejected")
        ],
        "warehouse": (dataset_record or {}).get("warehouse_table"),
    }


def column_profile(query: Query, dataset: str, columns: list[str], sample: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Per accepted column: null share, distinct estimate, min, max, a few sample values.

    One aggregate query over ``accepted_<ds>`` (``approx_distinct`` is HyperLogLog in Athena)."""
    cols = [c for c in columns if c and '"' not in c]
    if not cols:
        return {}
    parts = ["count(*)"]
    for c in cols:
        q = f'"{c}"'
        parts += [f"count({q})", f"approx_distinct({q})", f"min(CAST({q} AS varchar))", f"max(CAST({q} AS varchar))"]
    row = query(f"SELECT {', '.join(parts)} FROM accepted_{glue_identifier(dataset)}").rows[0]
    total = int(row[0] or 0)
    samples: dict[str, list[Any]] = {}
    if sample:
        for i, c in enumerate(sample["columns"]):
            seen: list[Any] = []
            for r in sample["rows"]:
                if r[i] is not None and r[i] not in seen and len(seen) < 3:
                    seen.append(r[i])
            samples[c] = seen
    out = {}
    for i, c in enumerate(cols):
        non_null, distinct, lo, hi = row[1 + 4 * i : 5 + 4 * i]
        out[c] = {"null_share": (total - int(non_null or 0)) / total if total else None,
                  "distinct": int(distinct or 0), "min": lo, "max": hi, "samples": samples.get(c, [])}
    return out
