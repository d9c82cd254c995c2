"""Query results as JSON: numbers stay numbers (sums, decimals), as the Athena console shows them."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any


def json_value(v: Any) -> Any:
    """A JSON-safe value: Decimal -> int/float, non-finite doubles -> "Infinity"/"NaN" (JSON has none),
    timestamps in Trino's text form (millisecond precision), nested lists/maps converted too."""
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, Decimal):
        if not v.is_finite():
            return str(v)
        return int(v) if v == v.to_integral_value() and v.as_tuple().exponent >= 0 else float(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.") + f"{v.microsecond // 1000:03d}"
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        # pyarrow gives a map as a list of (key, value) tuples
        if v and all(isinstance(x, tuple) and len(x) == 2 for x in v):
            return {str(k): json_value(x) for k, x in v}
        return [json_value(x) for x in v]
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def json_records(columns: list[str], rows: list[tuple]) -> list[dict[str, Any]]:
    return [{c: json_value(v) for c, v in zip(columns, r)} for r in rows]
