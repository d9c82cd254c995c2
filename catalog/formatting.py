"""How the UI writes sizes, counts and times for people (pure functions, also Jinja filters)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def human_size(n: Any) -> str:
    """1536 -> '1.5 KB' (powers of 1024, one decimal below 10)."""
    if n is None or n == "":
        return "–"
    size = float(n)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{int(size)} B"
            return f"{size:.1f} {unit}" if abs(size) < 10 else f"{size:.0f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def human_count(n: Any) -> str:
    """12160 -> '12,160'; missing -> '–'."""
    if n is None or n == "":
        return "–"
    return f"{int(n):,}"


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def human_time(value: Any, now: datetime | None = None) -> str:
    """An ISO timestamp as '5 min ago', '3 h ago', 'yesterday', '12 Mar', '12 Mar 2024'."""
    t = parse_time(value)
    if t is None:
        return "–" if not value else str(value)
    now = now or datetime.now(timezone.utc)
    seconds = (now - t).total_seconds()
    if -60 < seconds < 60:
        return "just now"
    if 0 < seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if 0 < seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if 0 < seconds < 2 * 86400:
        return "yesterday"
    if 0 < seconds < 7 * 86400:
        return f"{int(seconds // 86400)} days ago"
    return f"{t.day} {t:%b}" if t.year == now.year else f"{t.day} {t:%b %Y}"


def exact_time(value: Any) -> str:
    """The full UTC time, for a tooltip next to ``human_time``."""
    t = parse_time(value)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if t else ""
