"""prefetch and OrderedWorker: order kept, errors surface in the caller, queues bounded."""

from __future__ import annotations

import threading
import time

import pytest

from quality_rules.streams import OrderedWorker, prefetch


def test_prefetch_keeps_order_and_stays_bounded():
    produced = []

    def items():
        for i in range(50):
            produced.append(i)
            yield i

    seen = []
    for i in prefetch(items(), depth=2):
        time.sleep(0.001)
        assert len(produced) - len(seen) <= 4  # depth in the queue + one in hand + one being made
        seen.append(i)
    assert seen == list(range(50))


def test_prefetch_reraises_the_producer_error():
    def items():
        yield 1
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        list(prefetch(items()))


def test_prefetch_stops_the_producer_when_the_consumer_stops():
    def items():
        i = 0
        while True:
            yield i
            i += 1

    for i in prefetch(items()):
        if i == 3:
            break
    assert not [t for t in threading.enumerate() if t.name == "dq-read"]


def test_ordered_worker_runs_in_order_and_surfaces_errors():
    out = []
    with OrderedWorker(depth=2) as w:
        for i in range(20):
            w.submit(out.append, i)
    assert out == list(range(20))

    def boom(_):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with OrderedWorker() as w:
            w.submit(boom, 1)
            for i in range(5):
                w.submit(out.append, i)


def test_row_group_buffer_writes_few_large_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from quality_rules.streams import RowGroupBuffer

    batches = [pa.record_batch({"x": list(range(i * 3, i * 3 + 3))}) for i in range(7)]
    with pq.ParquetWriter(tmp_path / "t.parquet", batches[0].schema) as w:
        buf = RowGroupBuffer(w, rows=7)
        for b in batches:
            buf.write(b)
        buf.flush()
    pf = pq.ParquetFile(tmp_path / "t.parquet")
    assert [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)] == [9, 9, 3]
    assert pf.read().column("x").to_pylist() == list(range(21))
