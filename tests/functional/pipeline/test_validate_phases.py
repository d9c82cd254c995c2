"""`validate` reports its phases as they start and end, and its result carries the seconds of each."""

from __future__ import annotations

from pipeline.steps import validate_dataset
from quality_rules.phases import VALIDATE_PHASES, PhaseClock
from tests.functional.pipeline.test_validate_and_load import lake  # noqa: F401 - the fixture


def test_validate_times_every_phase_and_tells_the_display(lake):  # noqa: F811
    events: list[tuple[str, str]] = []
    clock = PhaseClock(lambda name, event, seconds, detail: events.append((name, event)))

    result = validate_dataset(lake, "jobs", engine="arrow", full=True, clock=clock)

    assert set(result.phases) == set(VALIDATE_PHASES)
    assert all(v > 0 for v in result.phases.values())
    for name in VALIDATE_PHASES:  # each phase starts, then ends
        assert events.index((name, "start")) < events.index((name, "end"))
    starts = [n for n, e in events if e == "start"]
    assert starts.index("stage") < starts.index("flag_and_write") < starts.index("publish") < starts.index(
        "catalog_update")
    assert result.wall_s >= result.outcome.duration_s > 0
    assert set(result.outcome.phases) == {"flag_and_write", "ge_report"}
