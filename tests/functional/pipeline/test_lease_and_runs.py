"""The per-dataset lease and the run records, on the real local endpoint, with real threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from datalake.local.provision import provision
from pipeline import components
from pipeline.exceptions import LeaseHeld, LeaseLost, NotDue
from pipeline.lease import LeaseStore
from pipeline.runs import RunStore


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def table(local_settings):
    provision(local_settings)
    return local_settings


def _leases(settings, clock, lease_s=60):
    return LeaseStore(settings.catalog_table, components.aws.client("dynamodb", settings), lease_s, clock)


def test_exactly_one_of_many_concurrent_starters_gets_the_lease(table):
    clock = Clock()
    leases = _leases(table, clock)
    leases.mark_changed("jobs", 1, due_at=clock.t - 1)
    barrier = threading.Barrier(8)

    def attempt(i: int) -> str:
        barrier.wait()
        try:
            return leases.acquire("jobs", f"run-{i}", automatic=True).owner
        except (LeaseHeld, NotDue):
            return ""

    with ThreadPoolExecutor(8) as pool:
        owners = [o for o in pool.map(attempt, range(8)) if o]

    assert len(owners) == 1
    assert leases.get("jobs")["owner"] == owners[0]


def test_an_automatic_start_waits_for_the_debounce(table):
    clock = Clock()
    leases = _leases(table, clock)
    leases.mark_changed("jobs", 1, due_at=clock.t + 5)
    with pytest.raises(NotDue):
        leases.acquire("jobs", "r1", automatic=True)
    assert leases.due(clock.t) == []
    clock.t += 6
    assert [i["dataset"] for i in leases.due()] == ["jobs"]
    assert leases.acquire("jobs", "r1", automatic=True).run_id == "r1"


def test_arrivals_during_a_run_cause_exactly_one_follow_up(table):
    clock = Clock()
    leases = _leases(table, clock)
    leases.mark_changed("jobs", 1, due_at=clock.t)
    lease = leases.acquire("jobs", "r1", automatic=True)
    for _ in range(3):  # three arrivals while the run works
        clock.t += 1
        leases.mark_changed("jobs", 1, due_at=clock.t + 2)
    assert leases.due(clock.t + 10) == []  # the lease is held: nothing starts meanwhile

    follow_up_due = leases.release("jobs", lease.owner, automatic=True)

    assert follow_up_due == clock.t + 2
    clock.t += 3
    second = leases.acquire("jobs", "r2", automatic=True)
    with pytest.raises(LeaseHeld):
        leases.acquire("jobs", "r3", automatic=True)
    assert leases.release("jobs", second.owner, automatic=True) is None  # quiet during r2: no third run
    assert leases.due(clock.t + 10_000) == []


def test_a_crashed_run_is_recovered_when_its_lease_expires(table):
    clock = Clock()
    leases = _leases(table, clock, lease_s=30)
    leases.mark_changed("jobs", 1, due_at=clock.t)
    crashed = leases.acquire("jobs", "r1", automatic=True)
    clock.t += 20
    leases.heartbeat("jobs", crashed.owner)  # alive at t+20, then it dies
    clock.t += 29
    assert leases.due() == []
    clock.t += 2  # lease expired, no arrival needed

    (item,) = leases.due()
    taken = leases.acquire("jobs", "r2", automatic=True)

    assert item["dataset"] == "jobs" and taken.taken_from == "r1"
    with pytest.raises(LeaseLost):
        leases.heartbeat("jobs", crashed.owner)  # the crashed run, should it wake up, must stop
    with pytest.raises(LeaseLost):
        leases.release("jobs", crashed.owner, automatic=True)


def test_a_manual_run_neither_needs_nor_consumes_a_pending_automatic_run(table):
    clock = Clock()
    leases = _leases(table, clock)
    leases.mark_changed("jobs", 1, due_at=clock.t + 5)
    manual = leases.acquire("jobs", "m1", automatic=False)
    with pytest.raises(LeaseHeld):
        leases.acquire("jobs", "m2", automatic=False)
    leases.release("jobs", manual.owner, automatic=False)
    clock.t += 6
    assert [i["dataset"] for i in leases.due()] == ["jobs"]


def test_run_records_keep_steps_attempts_and_errors(table):
    runs = RunStore(table.catalog_table, components.aws.client("dynamodb", table))
    runs.create("jobs", "20261125T100000-aaaaaa", "auto")
    runs.create("jobs", "20261125T110000-bbbbbb", "manual")
    rid = "20261125T110000-bbbbbb"
    assert runs.step_started("jobs", rid, "crawl") == 1
    runs.step_ended("jobs", rid, "crawl", counts={"files": 2})
    runs.step_started("jobs", rid, "validate")
    runs.step_ended("jobs", rid, "validate", outcome="error", error="boom")
    assert runs.step_started("jobs", rid, "validate") == 2
    runs.step_ended("jobs", rid, "validate", outcome="error", error="boom again")
    runs.finish("jobs", rid, "failed", error={"step": "validate", "reason": "boom again"})

    latest, older = runs.list("jobs")
    assert (latest["run_id"], older["run_id"]) == (rid, "20261125T100000-aaaaaa")
    assert latest["status"] == "failed" and latest["error"] == {"step": "validate", "reason": "boom again"}
    assert latest["steps"]["crawl"]["counts"] == {"files": 2} and latest["steps"]["crawl"]["outcome"] == "ok"
    assert latest["steps"]["validate"]["attempts"] == 2 and latest["steps"]["validate"]["error"] == "boom again"
    assert not runs.finish("jobs", rid, "succeeded", only_if_running=True)  # an ended run stays ended
    assert runs.get("jobs", rid)["status"] == "failed"


def test_a_step_longer_than_the_lease_keeps_it_with_heartbeats(table, monkeypatch):
    # A lease of 3 s and a step that works for 4.5 s: without heartbeats while it works, the lease
    # would have expired (a recovery run could start beside it); with them it is still held.
    import time

    from pipeline import tasks

    settings = table.model_copy(update={"pipeline_lease_s": 3})
    monkeypatch.setattr(tasks, "get_settings", lambda: settings)
    leases = components.lease_store(settings)
    runs = components.run_store(settings)
    lease = leases.acquire("jobs", "r-long", automatic=False)
    runs.create("jobs", "r-long", "manual")
    event = {"dataset": "jobs", "run_id": "r-long", "owner": lease.owner}

    def slow(_settings):
        time.sleep(4.5)
        return {"ok": 1}

    assert tasks._step("crawl", event, slow) == {"ok": 1}
    held = leases.get("jobs")
    assert held["owner"] == lease.owner and float(held["lease_expires"]) > time.time()
    with pytest.raises(LeaseHeld):
        leases.acquire("jobs", "r-rival", automatic=False)
