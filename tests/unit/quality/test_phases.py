"""PhaseClock: seconds per phase, overlapping phases, events for a display."""

from __future__ import annotations

import threading
import time

from quality_rules.phases import PhaseClock


def test_phases_accumulate_overlap_and_notify():
    events = []
    clock = PhaseClock(lambda name, event, seconds, detail: events.append((name, event, round(seconds, 2), detail)))
    with clock.phase("a", "first"):
        t = threading.Thread(target=lambda: clock.record("b", 0.05))
        with clock.phase("c"):
            t.start()
            time.sleep(0.05)
            t.join()
    with clock.phase("a"):
        time.sleep(0.02)
    d = clock.to_dict()
    assert list(d) == ["a", "c", "b"]
    assert d["a"] >= 0.07 and 0.05 <= d["c"] < d["a"] and d["b"] == 0.05
    assert sum(d.values()) > clock.wall_s  # b overlapped a and c
    assert events[0] == ("a", "start", 0.0, "first")
    assert [(n, e) for n, e, _, _ in events] == [("a", "start"), ("c", "start"), ("b", "end"), ("c", "end"),
                                                 ("a", "end"), ("a", "start"), ("a", "end")]


def test_a_phase_that_raises_still_ends():
    ended = []
    clock = PhaseClock(lambda name, event, seconds, detail: ended.append(name) if event == "end" else None)
    try:
        with clock.phase("x"):
            raise ValueError("boom")
    except ValueError:
        pass
    assert ended == ["x"] and clock.seconds("x") >= 0
