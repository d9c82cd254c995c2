"""Overlap reading, flagging and writing of record batches on separate threads.

Parquet/CSV decoding and Parquet encoding run in Arrow's C++ with the GIL released, while rule
evaluation that needs Python (``re`` per distinct value) holds it: a reader thread that stays a
batch or two ahead and a writer thread that filters and encodes behind let both cores work.
Queues are bounded, so memory stays a few batches, and order is kept (one thread each).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
_END = object()


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield ``items`` in order while a thread produces up to ``depth`` ahead; re-raises its errors."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=produce, name="dq-read", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


class OrderedWorker:
    """Runs submitted jobs one at a time, in order, on one thread, with at most ``depth`` pending."""

    def __init__(self, depth: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dq-write")
        self._pending: deque[Future[Any]] = deque()
        self._depth = depth

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()  # back-pressure; re-raises a failed write
        self._pending.append(self._pool.submit(fn, *args))

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        try:
            self.drain()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "OrderedWorker":
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.close()
        else:  # an error upstream: stop without surfacing a second one
            self._pool.shutdown(wait=True, cancel_futures=True)


class RowGroupBuffer:
    """Collects record batches and writes them as one Parquet row group once ``rows`` are in.

    The split's batches are filtered halves (~30k rows each): written as they come, each would be
    its own row group, and small row groups cost encoding time (new dictionaries and pages per
    group: 0.61 s vs 0.51 s CPU for 1M job rows at 32k vs 128k rows per group).
    """

    def __init__(self, writer: Any, rows: int) -> None:
        self._writer, self._rows = writer, rows
        self._batches: list[Any] = []
        self._n = 0

    def write(self, batch: Any) -> None:
        self._batches.append(batch)
        self._n += batch.num_rows
        if self._n >= self._rows:
            self.flush()

    def flush(self) -> None:
        if self._batches:
            import pyarrow as pa

            self._writer.write_table(pa.Table.from_batches(self._batches), row_group_size=max(self._n, 1))
            self._batches, self._n = [], 0
