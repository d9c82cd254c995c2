"""A dataset's run history as a small inline SVG: accepted and rejected rows per run, oldest left.

Server-side and static on purpose: the catalog's CSP allows no scripts and no inline styles, so
geometry is SVG presentation attributes and colours are classes in ``static/app.css``. Every
string from the catalog (run ids) is escaped here, because the template inserts the SVG as markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 28, 26  # room for the y labels, the legend and the x labels
MAX_BAR = 28


@dataclass(frozen=True)
class RunPoint:
    run_id: str
    started_at: str
    accepted: int
    rejected: int


def run_points(runs: list[dict[str, Any]]) -> list[RunPoint]:
    """The runs that published rows (their ``publish`` step counts), oldest first.

    Runs that skipped, failed before publishing or only crawled have no row counts and are left out."""
    points = []
    for r in runs:
        counts = (((r.get("steps") or {}).get("publish") or {}).get("counts")) or {}
        if "accepted" not in counts and "rejected" not in counts:
            continue
        points.append(RunPoint(run_id=str(r.get("run_id", "")), started_at=str(r.get("started_at") or ""),
                               accepted=int(counts.get("accepted") or 0), rejected=int(counts.get("rejected") or 0)))
    return sorted(points, key=lambda p: (p.started_at, p.run_id))


def nice_ceiling(n: int) -> int:
    """The smallest 1, 2 or 5 × 10^k at or above ``n`` (at least 1), so the axis top reads well."""
    if n <= 1:
        return 1
    exp = 10 ** math.floor(math.log10(n))
    return next(m * exp for m in (1, 2, 5, 10) if m * exp >= n)


def _short_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%d %b %H:%M")
    except ValueError:
        return iso[:16]


def _fmt(n: int) -> str:
    return f"{n:,}"


def describe(points: list[RunPoint]) -> str:
    """The chart's text alternative: what a sighted reader takes from it."""
    if not points:
        return "No run has published rows yet."
    last = points[-1]
    worst = max(points, key=lambda p: (p.rejected, p.started_at))
    text = (f"{len(points)} run(s) from {_short_time(points[0].started_at)} to {_short_time(last.started_at)} UTC. "
            f"Latest run {last.run_id}: {_fmt(last.accepted)} accepted, {_fmt(last.rejected)} rejected.")
    if worst.rejected:
        text += f" Most rejected: {_fmt(worst.rejected)} in run {worst.run_id}."
    return text


def runs_chart_svg(points: list[RunPoint], *, chart_id: str = "run-chart") -> Markup:
    """Stacked bars, one per run: accepted at the bottom, rejected on top, on one linear scale."""
    top = nice_ceiling(max((p.accepted + p.rejected for p in points), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    slot = plot_w / max(len(points), 1)
    bar = min(MAX_BAR, max(2.0, slot * 0.7))

    def h(n: int) -> float:
        # A non-zero count stays visible (1 px) even next to a much larger one.
        return 0.0 if n <= 0 else max(1.0, n / top * plot_h)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="run-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">Accepted and rejected rows per run</title>',
        f'<desc id="{chart_id}-desc">{escape(describe(points))}</desc>',
        # Legend, top left of the plot.
        f'<rect class="accepted" x="{LEFT}" y="6" width="10" height="10"/>'
        f'<text class="legend" x="{LEFT + 14}" y="15">accepted</text>'
        f'<rect class="rejected" x="{LEFT + 86}" y="6" width="10" height="10"/>'
        f'<text class="legend" x="{LEFT + 100}" y="15">rejected</text>',
        # Axis: the top value, a midline and zero.
        f'<line class="grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}"/>',
        f'<line class="grid" x1="{LEFT}" y1="{TOP + plot_h / 2:.1f}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h / 2:.1f}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>',
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{_fmt(top)}</text>',
        f'<text class="tick" x="{LEFT - 6}" y="{base + 4}" text-anchor="end">0</text>',
    ]
    for i, p in enumerate(points):
        x = LEFT + slot * i + (slot - bar) / 2
        ha, hr = h(p.accepted), h(p.rejected)
        rid = escape(p.run_id)
        parts.append(
            f'<g class="run" data-run="{rid}" data-accepted="{p.accepted}" data-rejected="{p.rejected}">'
            f'<title>{rid} ({escape(_short_time(p.started_at))}): {_fmt(p.accepted)} accepted, '
            f'{_fmt(p.rejected)} rejected</title>'
            f'<rect class="accepted" x="{x:.1f}" y="{base - ha:.1f}" width="{bar:.1f}" height="{ha:.1f}"/>'
            f'<rect class="rejected" x="{x:.1f}" y="{base - ha - hr:.1f}" width="{bar:.1f}" height="{hr:.1f}"/>'
            "</g>")
    if points:
        parts.append(f'<text class="tick" x="{LEFT}" y="{HEIGHT - 8}">{escape(_short_time(points[0].started_at))}</text>')
        if len(points) > 1:
            parts.append(f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">'
                         f'{escape(_short_time(points[-1].started_at))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def rule_failures(run: dict[str, Any]) -> list[tuple[str, int]] | None:
    """A run's rules that failed rows (reject message, rows), most first; None when the run recorded none."""
    counts = (((run.get("steps") or {}).get("publish") or {}).get("counts")) or {}
    per_rule = counts.get("per_rule")
    if per_rule is None:
        return None
    return sorted(((str(m), int(n)) for m, n in per_rule.items() if int(n or 0) > 0), key=lambda kv: (-kv[1], kv[0]))
