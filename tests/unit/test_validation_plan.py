"""Which partitions a validation run covers: changed files or rules, never more."""

from __future__ import annotations

from pipeline.steps import fingerprint, plan_validation


def rec(key: str, day: str, etag: str = "e1") -> dict:
    return {"key": key, "etag": etag, "version_id": None, "arrival_time": f"{day}T10:00:00Z"}


A1, A2, B1 = rec("a1", "2026-11-01"), rec("a2", "2026-11-01"), rec("b1", "2026-11-02")


def done(*recs: dict, digest: str = "r1") -> dict:
    return {"fingerprint": fingerprint(list(recs)), "rules_digest": digest}


def test_a_first_run_covers_every_partition():
    assert plan_validation([A1, A2, B1], {}, "r1") == (["2026-11-01", "2026-11-02"], [])


def test_unchanged_partitions_are_skipped_and_changed_ones_run():
    previous = {"2026-11-01": done(A1, A2), "2026-11-02": done(B1)}
    assert plan_validation([A1, A2, B1], previous, "r1") == ([], [])
    assert plan_validation([A1, rec("a2", "2026-11-01", "e2"), B1], previous, "r1") == (["2026-11-01"], [])
    assert plan_validation([A1, B1], previous, "r1") == (["2026-11-01"], [])  # a file deleted


def test_new_rules_or_full_rerun_every_partition_and_emptied_ones_are_dropped():
    previous = {"2026-11-01": done(A1, A2), "2026-11-02": done(B1)}
    assert plan_validation([A1, A2, B1], previous, "r2") == (["2026-11-01", "2026-11-02"], [])
    assert plan_validation([A1, A2, B1], previous, "r1", full=True) == (["2026-11-01", "2026-11-02"], [])
    assert plan_validation([A1, A2], previous, "r1") == ([], ["2026-11-02"])
