"""Time the phases of a validation run and tell a display when each starts and ends.

A run is a few named phases (``stage``, ``flag_and_write``, ``ge_report``, ``publish``,
``catalog_update``...). ``PhaseClock`` measures each with a monotonic clock and calls a listener
on every start and end, so a CLI can show a live list of phases while a caller that only wants
numbers reads ``to_dict()``. Phases may run at the same time (the GE report alongside the
split): each has its own start and end, and ``wall_s`` is the clock's own elapsed time, so the
sum of the phases may exceed it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

PhaseEvent = Literal["start", "end"]
# listener(phase, event, seconds so far or in total, detail)
PhaseListener = Callable[[str, PhaseEvent, float, str], None]

VALIDATE_PHASES = ("stage", "flag_and_write", "ge_report", "publish", "catalog_update")


@dataclass
class _Span:
    start: float
    end: float | None = None


class PhaseClock:
    """Seconds per named phase; a phase entered twice accumulates."""

    def __init__(self, listener: PhaseListener | None = None) -> None:
        self._listener = listener
        self._spans: dict[str, list[_Span]] = {}
        self._lock = threading.Lock()
        self._t0 = time.monotonic()

    def _notify(self, name: str, event: PhaseEvent, seconds: float, detail: str) -> None:
        if self._listener is not None:
            self._listener(name, event, seconds, detail)

    @contextmanager
    def phase(self, name: str, detail: str = "") -> Iterator[None]:
        span = _Span(time.monotonic())
        with self._lock:
            self._spans.setdefault(name, []).append(span)
        self._notify(name, "start", 0.0, detail)
        try:
            yield
        finally:
            span.end = time.monotonic()
            self._notify(name, "end", self.seconds(name), detail)

    def record(self, name: str, seconds: float, detail: str = "") -> None:
        """A phase timed elsewhere (e.g. inside the engine), added as if it had just ended."""
        now = time.monotonic()
        with self._lock:
            self._spans.setdefault(name, []).append(_Span(now - seconds, now))
        self._notify(name, "end", self.seconds(name), detail)

    def seconds(self, name: str) -> float:
        now = time.monotonic()
        with self._lock:
            return sum((s.end if s.end is not None else now) - s.start for s in self._spans.get(name, []))

    def to_dict(self) -> dict[str, float]:
        with self._lock:
            names = list(self._spans)
        return {n: round(self.seconds(n), 3) for n in names}

    @property
    def wall_s(self) -> float:
        return round(time.monotonic() - self._t0, 3)


__all__ = ["VALIDATE_PHASES", "PhaseClock", "PhaseEvent", "PhaseListener"]
