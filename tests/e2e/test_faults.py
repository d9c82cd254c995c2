"""The fault suite: kill -9 anything, lose nothing. A live lake (daemon, runtime, endpoint as real
processes), real notifications, and S3 itself as the oracle the catalog is compared with.

``DATALAKE_CHAOS_ARRIVALS`` sets the chaos run's size (CI default 300; the 1,000-arrival figure
in docs/reliability.md was run by hand with ``DATALAKE_CHAOS_ARRIVALS=1000``). Figures are printed
(``-s`` shows them).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from catalog.store import LIVE, CatalogStore
from datalake.local import lifecycle, processes
from datalake_base import aws
from datalake_base.settings import Settings
from ingestion.dlq import queue_url
from tests.fixtures.hostile import corpus
from tests.fixtures.lake import _reset, lake_environment, wait_for

pytestmark = pytest.mark.e2e

ARRIVALS = int(os.environ.get("DATALAKE_CHAOS_ARRIVALS", "300"))


@pytest.fixture
def lake(tmp_path):
    with lake_environment(tmp_path / "state", DATALAKE_SNAPSHOT_DRAIN_WAIT="1", DATALAKE_VISIBILITY_TIMEOUT="5",
                          DATALAKE_LOCAL_RETRY_BACKOFF="1", DATALAKE_RECONCILE_INTERVAL="0") as settings:
        lifecycle.up(settings, timeout=120)
        yield settings


def _clients(s: Settings) -> tuple[Any, Any, CatalogStore]:
    _reset()  # the endpoint may be a new process: fresh connections
    return aws.client("s3", s), aws.client("sqs", s), CatalogStore(s.catalog_table, aws.client("dynamodb", s))


def _daemon_pid(s: Settings) -> int:
    return int(json.loads((s.state_path / "daemon.json").read_text())["pid"])


def _endpoint_pid(s: Settings) -> int:
    return int(json.loads((s.state_path / processes.ENDPOINT_PID).read_text())["pid"])


def _kill9(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or processes._zombie(pid), timeout=20, every=0.05)


def compare(s: Settings) -> dict[str, int]:
    """The catalog against S3 (the oracle): lost, phantom and stale records, over every dataset."""
    s3, _, store = _clients(s)
    in_s3 = {o["Key"]: o["ETag"].strip('"') for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=s.landing_bucket) for o in page.get("Contents", [])}
    live: dict[str, dict[str, Any]] = {}
    for d in store.list_datasets():
        for r in store.list_objects(d["dataset"]):
            if r.get("status") in LIVE | {"ignored"}:
                live[r["key"]] = r
    lost = sum(1 for k in in_s3 if k not in live)
    phantom = sum(1 for k in live if k not in in_s3)
    stale = sum(1 for k, r in live.items() if k in in_s3 and r.get("etag") != in_s3[k])
    counted = sum(int(d.get("file_count") or 0) for d in store.list_datasets())
    return {"objects": len(in_s3), "lost": lost, "phantom": phantom, "stale": stale,
            "file_count_drift": counted - sum(1 for k in in_s3 if not (k.endswith("/") and live.get(k, {}).get(
                "status") == "ignored"))}


def _drained(s: Settings) -> dict[str, int] | None:
    _, sqs, _ = _clients(s)
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url(sqs, s.arrivals_queue), AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    if any(int(v) for v in attrs.values()):
        return None
    c = compare(s)
    return c if not (c["lost"] or c["phantom"] or c["stale"] or c["file_count_drift"]) else None


def _event_body(bucket: str, key: str, name: str, etag: str | None = None, size: int = 0) -> str:
    obj: dict[str, Any] = {"key": quote_plus(key)}
    if etag:
        obj.update(eTag=etag, size=size)
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"), "eventName": name,
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
    }]})


def _rss_kb(pid: int) -> int:
    """Peak resident set of a process and its children (the sandbox workers), from /proc."""
    total = 0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()] if Path(
        f"/proc/{pid}").exists() else []
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def test_chaos_run_loses_nothing_through_kill_9_of_runtime_and_endpoint(lake):
    s = lake
    rng = random.Random(8)
    started = time.monotonic()
    s3, sqs, _ = _clients(s)
    keys = [f"chaos/dt=2026-11-{rng.randint(1, 28):02d}/f{i}.csv" for i in range(ARRIVALS)]
    # Kill points: three kill -9 of the runtime (the daemon process that runs it), one of the endpoint.
    kills = {ARRIVALS * 2 // 10: "runtime", ARRIVALS * 4 // 10: "endpoint", ARRIVALS * 6 // 10: "runtime",
             ARRIVALS * 8 // 10: "runtime"}
    figures: dict[str, Any] = {"arrivals": ARRIVALS, "duplicated": 0, "reordered": 0, "deleted": 0, "overwritten": 0,
                               "kills": [], "peak_rss_mb": 0.0}
    for i, key in enumerate(keys):
        if i in kills:
            what = kills[i]
            figures["peak_rss_mb"] = max(figures["peak_rss_mb"], _rss_kb(_daemon_pid(s)) / 1024)
            pid = _daemon_pid(s) if what == "runtime" else _endpoint_pid(s)
            _kill9(pid)
            t0 = time.monotonic()
            if what == "runtime":
                # arrivals pile up meanwhile: the endpoint still takes writes
                st = lifecycle.status(s)
                assert not st.running and st.stray_endpoint_pid
            else:
                wait_for(lambda: not lifecycle.status(s).running, timeout=30)
            lifecycle.up(s, timeout=180)
            figures["kills"].append({"what": what, "at_arrival": i, "recovery_s": round(time.monotonic() - t0, 1)})
            s3, sqs, _ = _clients(s)
        body = f"id,n\n{i},{rng.random()}\n".encode()
        etag = s3.put_object(Bucket=s.landing_bucket, Key=key, Body=body)["ETag"].strip('"')
        q = queue_url(sqs, s.arrivals_queue)
        roll = rng.random()
        if roll < 0.20:  # a duplicated delivery of the same notification
            sqs.send_message(QueueUrl=q, MessageBody=_event_body(s.landing_bucket, key, "ObjectCreated:Put", etag, len(body)))
            figures["duplicated"] += 1
        elif roll < 0.25:  # a delete ...
            s3.delete_object(Bucket=s.landing_bucket, Key=key)
            figures["deleted"] += 1
            if rng.random() < 0.5:  # ... then its create delivered late (reordered)
                sqs.send_message(QueueUrl=q, MessageBody=_event_body(s.landing_bucket, key, "ObjectCreated:Put", etag))
                figures["reordered"] += 1
        elif roll < 0.30:  # an overwrite, with the first version's create delivered after it
            s3.put_object(Bucket=s.landing_bucket, Key=key, Body=body + b"99,overwritten\n")
            sqs.send_message(QueueUrl=q, MessageBody=_event_body(s.landing_bucket, key, "ObjectCreated:Put", etag))
            figures["overwritten"] += 1
            figures["reordered"] += 1
        elif roll < 0.35:  # a remove delivered for an object still there (an old delete, reordered)
            sqs.send_message(QueueUrl=q, MessageBody=_event_body(s.landing_bucket, key, "ObjectRemoved:Delete"))
            figures["reordered"] += 1
    figures["put_phase_s"] = round(time.monotonic() - started, 1)

    result = wait_for(lambda: _drained(s), timeout=300, every=2)
    figures["peak_rss_mb"] = round(max(figures["peak_rss_mb"], _rss_kb(_daemon_pid(s)) / 1024), 1)
    figures["total_s"] = round(time.monotonic() - started, 1)
    figures.update(result)
    print("\nCHAOS FIGURES", json.dumps(figures))
    assert (result["lost"], result["phantom"], result["stale"], result["file_count_drift"]) == (0, 0, 0, 0)
    assert figures["peak_rss_mb"] < 1500


def test_hostile_corpus_through_the_live_runtime_keeps_the_pipeline_going(lake):
    s = lake
    s3, _, store = _clients(s)
    cases = corpus("hostile-live")
    for c in cases:
        s3.put_object(Bucket=s.landing_bucket, Key=c.key, Body=c.body)
    s3.put_object(Bucket=s.landing_bucket, Key="after/ok.csv", Body=b"a,b\n1,2\n")  # the pipeline keeps going
    from catalog.naming import dataset_for_key

    def all_recorded():
        recs = {}
        for c in cases + []:
            r = store.get_object(dataset_for_key(c.key), s.landing_bucket, c.key, None)
            if not r:
                return None
            recs[c.key] = r
        return recs if store.get_object("after", s.landing_bucket, "after/ok.csv", None) else None

    recs = wait_for(all_recorded, timeout=180, every=1)
    wrong = [(c.name, recs[c.key]["status"], recs[c.key].get("status_reason")) for c in cases
             if recs[c.key]["status"] != c.status or (c.reason and c.reason not in (recs[c.key].get("status_reason") or ""))]
    rss = _rss_kb(_daemon_pid(s)) / 1024
    print(f"\nHOSTILE FIGURES kinds={len(cases)} wrong={len(wrong)} peak_rss_mb(daemon+workers)={rss:.0f}")
    assert not wrong, wrong
    assert lifecycle.status(s).running
    assert rss < 1500


def test_kill_9_of_the_endpoint_brings_back_every_acknowledged_write(lake):
    s = lake
    s3, _, store = _clients(s)
    rules = aws.client("dynamodb", s)
    acked = []
    for i in range(40):  # a burst, and the kill right after the last acknowledgement
        s3.put_object(Bucket=s.landing_bucket, Key=f"burst/f{i}.csv", Body=f"a,b\n{i},x\n".encode())
        acked.append(f"burst/f{i}.csv")
    rules.put_item(TableName=s.rules_table, Item={"id": {"S": "burst-a"}, "dataset_name": {"S": "burst"}})
    _kill9(_endpoint_pid(s))
    wait_for(lambda: not lifecycle.status(s).running, timeout=30)

    lifecycle.up(s, timeout=180)

    s3, _, store = _clients(s)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=s.landing_bucket, Prefix="burst/").get("Contents", [])}
    assert keys == set(acked)
    assert aws.client("dynamodb", s).get_item(TableName=s.rules_table, Key={"id": {"S": "burst-a"}}).get("Item")
    assert wait_for(lambda: _drained(s), timeout=120, every=1)["lost"] == 0


def test_kill_9_of_the_daemon_leaves_a_stray_endpoint_that_status_names_and_down_saves(lake):
    s = lake
    s3, _, _ = _clients(s)
    s3.put_object(Bucket=s.landing_bucket, Key="stray/a.csv", Body=b"a,b\n1,2\n")
    wait_for(lambda: _drained(s), timeout=60)
    endpoint = _endpoint_pid(s)
    _kill9(_daemon_pid(s))
    s3.put_object(Bucket=s.landing_bucket, Key="stray/b.csv", Body=b"a,b\n3,4\n")  # while no runtime runs

    st = lifecycle.status(s)
    assert not st.running and st.stray_endpoint_pid == endpoint
    assert lifecycle.down(s)  # saves the stray endpoint's lake, then stops it
    assert not processes.is_running(endpoint, processes.ENDPOINT_MODULE)
    assert lifecycle.status(s).stray_endpoint_pid is None

    lifecycle.up(s, timeout=180)
    c = wait_for(lambda: _drained(s), timeout=120, every=1)  # b.csv catalogued by the reconcile on start
    assert c["objects"] == 2 and c["lost"] == 0


def test_a_journal_past_its_limit_is_compacted_into_a_snapshot_and_nothing_is_lost(tmp_path):
    with lake_environment(tmp_path / "state", DATALAKE_SNAPSHOT_DRAIN_WAIT="1", DATALAKE_RECONCILE_INTERVAL="0",
                          DATALAKE_LOCAL_JOURNAL_COMPACT_BYTES=str(1024 * 1024)) as s:
        lifecycle.up(s, timeout=120)
        s3, _, _ = _clients(s)
        for i in range(12):  # 1.2 MB of writes: past the limit
            s3.put_object(Bucket=s.landing_bucket, Key=f"compact/f{i}.csv", Body=b"a,b\n" + b"1,2\n" * 25_000)
        journal_file = s.state_path / "journal.log"
        wait_for(lambda: (s.state_path / "snapshot").exists() and journal_file.stat().st_size < 1024 * 1024,
                 timeout=120)
        s3.put_object(Bucket=s.landing_bucket, Key="compact/after.csv", Body=b"a,b\n1,2\n")  # in the new journal
        _kill9(_endpoint_pid(s))
        wait_for(lambda: not lifecycle.status(s).running, timeout=30)

        lifecycle.up(s, timeout=180)

        c = wait_for(lambda: _drained(s), timeout=120, every=1)
        assert c["objects"] == 13 and c["lost"] == 0
