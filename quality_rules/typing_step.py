"""Typed accepted data for text sources: cast by the Glue schema, rows that fail the cast rejected.

CSV is validated as text (rules see what the file says); the accepted rows are then cast to the
types the crawler gave the raw table, so the warehouse and Athena get numbers and timestamps, not
strings. A row with a non-empty value that does not parse as its column's type moves to the
rejected side with the reason ``REJECT:type:<column>:<type>`` (empty fields become NULL, as
LazySimpleSerDe reads them). Works on the split's output files, so both engines share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from quality_rules.storage import Store


def type_reason(column: str, typ: pa.DataType) -> str:
    return f"REJECT:type:{column}:{typ}"


@dataclass
class TypingResult:
    moved: dict[str, int] = field(default_factory=dict)  # source key -> rows moved to rejected
    failed: dict[str, int] = field(default_factory=dict)  # column -> rows whose value failed the cast


def cast_with_failures(col: pa.ChunkedArray | pa.Array, typ: pa.DataType) -> tuple[pa.Array, pa.Array]:
    """(cast values, failed mask): blank -> NULL; a value that does not parse -> NULL and failed."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return arr.cast(typ), pa.array([False] * len(arr))
    text = pc.utf8_trim_whitespace(arr)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, arr.type), text)
    try:
        return pc.cast(text, typ), pa.array([False] * len(arr))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values, failed = [], []
        for v in text.to_pylist():
            try:
                values.append(None if v is None else pa.scalar(v, pa.string()).cast(typ).as_py())
                failed.append(False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                values.append(None)
                failed.append(True)
        return pa.array(values, typ), pa.array(failed)


def apply_types(stage: Store, pairs: list[tuple[str, str, str]], types: dict[str, pa.DataType]) -> TypingResult:
    """Cast each accepted file's typed columns in place; failing rows go to the rejected file.

    ``pairs`` are (source key, accepted path, rejected path) relative to ``stage``.
    """
    result = TypingResult()
    for key, acc_rel, rej_rel in pairs:
        acc = pq.read_table(stage.path(acc_rel), filesystem=stage.fs)
        rej = pq.read_table(stage.path(rej_rel), filesystem=stage.fs)
        typed_cols = [c for c in acc.column_names if c in types and not pa.types.is_string(types[c])]
        if not typed_cols or acc.num_rows == 0:
            if typed_cols:  # empty: still write the typed schema, so every file of the table agrees
                pq.write_table(acc.cast(_typed_schema(acc.schema, types)), stage.path(acc_rel), filesystem=stage.fs, compression="snappy")
            continue
        casts: dict[str, pa.Array] = {}
        reasons: list[list[str]] = [[] for _ in range(acc.num_rows)]
        for c in typed_cols:
            values, failed = cast_with_failures(acc.column(c), types[c])
            casts[c] = values
            bad = failed.to_pylist()
            if any(bad):
                result.failed[c] = result.failed.get(c, 0) + sum(bad)
                for i, b in enumerate(bad):
                    if b:
                        reasons[i].append(type_reason(c, types[c]))
        moved = pa.array([bool(r) for r in reasons])
        if pc.any(moved).as_py():
            out = acc.filter(moved)
            moved_reasons = [r for r in reasons if r]
            out = out.append_column("comments", pa.array(["|".join(r) for r in moved_reasons], pa.string()))
            out = out.append_column("reject_reasons", pa.array(moved_reasons, pa.list_(pa.string())))
            rej = pa.concat_tables([rej, out.select(rej.column_names).cast(rej.schema)])
            pq.write_table(rej, stage.path(rej_rel), filesystem=stage.fs, compression="snappy")
            result.moved[key] = len(moved_reasons)
        keep = pc.invert(moved)
        typed = acc.filter(keep)
        for c in typed_cols:
            typed = typed.set_column(typed.column_names.index(c), c, casts[c].filter(keep))
        pq.write_table(typed, stage.path(acc_rel), filesystem=stage.fs, compression="snappy")
    return result


def _typed_schema(schema: pa.Schema, types: dict[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(f.name, types.get(f.name, f.type)) for f in schema])


def describe(types: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in types.items()}
