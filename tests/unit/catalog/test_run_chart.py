"""The run-history chart: an inline SVG whose bars are the runs' accepted and rejected rows."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from catalog.charts import HEIGHT, TOP, BOTTOM, nice_ceiling, rule_failures, run_points, runs_chart_svg
from pipeline.tasks import per_rule_failures

NS = {"s": "http://www.w3.org/2000/svg"}
PLOT_H = HEIGHT - TOP - BOTTOM


def run(run_id: str, started: str, counts: dict | None, status: str = "succeeded") -> dict:
    steps = {"crawl": {"outcome": "ok", "counts": {"files": 1}}}
    if counts is not None:
        steps["publish"] = {"outcome": "ok", "counts": counts}
    return {"run_id": run_id, "started_at": started, "status": status, "steps": steps}


RUNS = [  # newest first, as the store lists them
    run("r3", "2026-11-25T12:00:00.000Z", {"rows_in": 100, "accepted": 100, "rejected": 0, "per_rule": {"R:a": 0}}),
    run("r2", "2026-11-25T11:00:00.000Z", None, status="failed"),
    run("r1", "2026-11-25T10:00:00.000Z", {"rows_in": 400, "accepted": 300, "rejected": 100,
                                            "per_rule": {"R:a": 60, "R:b": 70, "R:c": 0}}),
]


def bars(svg: str) -> dict[str, dict[str, float]]:
    root = ET.fromstring(svg)
    out = {}
    for g in root.iterfind("s:g", NS):
        rects = {r.get("class"): float(r.get("height")) for r in g.iterfind("s:rect", NS)}
        out[g.get("data-run")] = {"accepted": rects["accepted"], "rejected": rects["rejected"],
                                  "x": float(g.find("s:rect", NS).get("x"))}
    return out


def test_only_runs_that_published_are_charted_oldest_first():
    assert [(p.run_id, p.accepted, p.rejected) for p in run_points(RUNS)] == [("r1", 300, 100), ("r3", 100, 0)]


def test_bar_heights_are_proportional_to_the_rows_on_a_shared_scale():
    svg = str(runs_chart_svg(run_points(RUNS)))
    b = bars(svg)

    assert list(b) == ["r1", "r3"] and b["r1"]["x"] < b["r3"]["x"]  # oldest on the left
    top = nice_ceiling(400)  # 500
    assert b["r1"]["accepted"] == pytest.approx(300 / top * PLOT_H, abs=0.1)
    assert b["r1"]["rejected"] == pytest.approx(100 / top * PLOT_H, abs=0.1)
    assert b["r3"]["accepted"] == pytest.approx(100 / top * PLOT_H, abs=0.1) and b["r3"]["rejected"] == 0
    assert ">500</text>" in svg  # the axis top, labelled


def test_the_chart_is_labelled_and_has_a_text_alternative():
    root = ET.fromstring(str(runs_chart_svg(run_points(RUNS))))
    assert root.get("role") == "img"
    title, desc = root.find("s:title", NS), root.find("s:desc", NS)
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "Latest run r3: 100 accepted, 0 rejected" in desc.text and "Most rejected: 100 in run r1" in desc.text
    assert root.find("s:g/s:title", NS).text.startswith("r1 (25 Nov 10:00): 300 accepted, 100 rejected")


def test_a_small_count_next_to_a_large_one_stays_visible():
    points = run_points([run("big", "2026-11-25T10:00:00Z", {"accepted": 1_000_000, "rejected": 1})])
    assert bars(str(runs_chart_svg(points)))["big"]["rejected"] >= 1.0


def test_run_ids_are_escaped_in_the_markup():
    points = run_points([run('<script>"x"</script>', "2026-11-25T10:00:00Z", {"accepted": 1, "rejected": 0})])
    svg = str(runs_chart_svg(points))
    assert "<script>" not in svg
    ET.fromstring(svg)  # still well-formed


@pytest.mark.parametrize(("n", "top"), [(0, 1), (1, 1), (7, 10), (10, 10), (11, 20), (400, 500), (501, 1000),
                                        (1_999, 2_000)])
def test_the_axis_top_is_a_round_number_at_or_above_the_largest_run(n, top):
    assert nice_ceiling(n) == top


def test_per_rule_failures_list_failing_rules_most_first_and_none_when_not_recorded():
    assert rule_failures(RUNS[2]) == [("R:b", 70), ("R:a", 60)]
    assert rule_failures(RUNS[0]) == []  # recorded, nothing failed
    assert rule_failures(RUNS[1]) is None  # never published


def test_the_publish_step_sums_failures_of_rules_sharing_a_reject_message():
    per_rule = [{"reject_msg": "R:a", "failed_rows": 2}, {"reject_msg": "R:b", "failed_rows": 0},
                {"reject_msg": "R:a", "failed_rows": 3}]
    assert per_rule_failures(per_rule) == {"R:a": 5, "R:b": 0}
