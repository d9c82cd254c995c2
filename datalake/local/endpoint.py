"""The local AWS endpoint: a moto server on a loopback port, request logging off.

Changes to moto 5.2.5 and its werkzeug server, each measured with bench/ingest (docs/arrivals.md):
- HTTP/1.1 keep-alive (``KeepAliveHandler``): werkzeug 2.1+ closes every connection, so every boto3
  call paid a TCP connect and the endpoint a thread start; Nagle is off on kept connections;
- the host → backend lookup is memoised: moto re-lists its package directory and tries hundreds
  of URL patterns per request, under a global lock;
- SQS stays cheap under a backlog: moto built every queue attribute (several O(depth) scans) for
  each message sent and received, read the clock through two datetimes twice per queued message on
  every receive, and scanned the queue twice per message deleted. Attributes are now computed one
  name at a time, the clock read once per receive, and a delete stops at its message;
- GetRecords is answered with ``json.dumps`` (the records are already in the wire format): moto's
  model-driven serializer cost about 1 ms per record;
- an item's size is summed once when it is built, not once per attribute (quadratic);
- a DynamoDB-stream shard iterator is forgotten once GetRecords has used it (moto kept every
  iterator forever, so an idle lake polling its stream grew by megabytes an hour); callers use the
  NextShardIterator, as the API requires;
- DynamoDB writes are atomic per item, as in DynamoDB: moto checks a ConditionExpression and then
  writes without a lock, so two concurrent conditional writes could both succeed (two owners of one
  pipeline lease, measured with 8 threads). Its write operations run under one lock here.
All are pinned to moto 5.2.5 (MOTO_ORIGINALS keeps what they replace) and re-checked on upgrade.
"""
from __future__ import annotations

import calendar
import json
import logging
import selectors
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from moto.core.utils import camelcase_to_underscores, unix_time
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.sqs.exceptions import ReceiptHandleIsInvalid
import werkzeug.serving
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.exceptions import ClientDisconnected
from werkzeug.wsgi import LimitedStream


_connection = threading.local()  # per connection thread: is this response keeping the connection open?


class _DrainSelector:
    """werkzeug.serving's ``selectors`` module as its request handler sees it.

    After every response werkzeug reads whatever is left on the socket, for 10 ms, assuming the
    connection is about to close; on a kept-alive connection that would swallow the client's next
    request. So the drain sees nothing to read while a connection is kept alive (its body was read to
    its Content-Length already) and behaves as before otherwise.
    """

    EVENT_READ = selectors.EVENT_READ

    class DefaultSelector:
        def __init__(self) -> None:
            self._real = selectors.DefaultSelector()

        def register(self, *args: Any, **kwargs: Any) -> Any:
            return self._real.register(*args, **kwargs)

        def select(self, timeout: float | None = None) -> list[Any]:
            return [] if getattr(_connection, "keep_alive", False) else self._real.select(timeout)

        def close(self) -> None:
            self._real.close()


class KeepAliveHandler(MotoRequestHandler):
    """HTTP/1.1 keep-alive on werkzeug's server, which since 2.1 closes every connection.

    A new TCP connection per request cost the endpoint a thread start and the client a connect, on
    every AWS call. A request keeps its connection when its body is delimited by Content-Length (or
    it has none); a chunked upload still closes it, since werkzeug cannot tell where its trailers end.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a response is written in two sends: Nagle + delayed ACK add 40 ms

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = self.headers.get("Content-Length")
        _connection.keep_alive = (not self.close_connection and not chunked
                                  and (length is None or length.strip().isdigit()))
        if _connection.keep_alive:
            self._body = environ["wsgi.input"] = LimitedStream(self.rfile, int(length or 0))
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Request logging is off (werkzeug's logger is at ERROR), so do not build the line either."""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value == "close" and getattr(_connection, "keep_alive", False):
            return
        super().send_header(keyword, value)

    def run_wsgi(self) -> None:
        try:
            super().run_wsgi()
            if getattr(_connection, "keep_alive", False):
                self._body.exhaust()  # the part of the body the app did not read
        except (OSError, ClientDisconnected):
            _connection.keep_alive = False  # the client went away mid-request: nothing to answer
        finally:
            if not getattr(_connection, "keep_alive", False):
                self.close_connection = True
            _connection.keep_alive = False


class MemoisedDispatcher(DomainDispatcherApplication):
    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._backend_for_host: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        try:
            return self._backend_for_host[host]
        except KeyError:
            backend = super().get_backend_for_host(host)
            self._backend_for_host[host] = backend
            return backend


def _delete_message(self: Any, receipt_handle: str) -> None:
    """moto 5.2's ``Queue.delete_message`` with one early-exit pass instead of two full scans."""
    if receipt_handle in self.deleted_messages:
        return  # deleting twice is fine, as in SQS
    for i, message in enumerate(self._messages):
        if message.had_receipt_handle(receipt_handle):
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            self._messages = self._messages[:i] + self._messages[i + 1 :]
            return
    raise ReceiptHandleIsInvalid()


def _visible_messages(self: Any) -> list[Any]:
    """moto 5.2's ``Queue.messages`` reading the clock once per call, not twice per message (its clock
    goes through two datetimes each time: under a backlog every ReceiveMessage scanned it all)."""
    now = time.time() * 1000.0
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _retention_ok(self: Any, queue_name: str, message: Any) -> bool:
    """moto 5.2's retention check without building all of the queue's attributes per message."""
    period = int(self.get_queue(queue_name).message_retention_period)
    return period + message.sent_timestamp / 1000 > unix_time()


class _LazyQueueAttributes(Mapping[str, Any]):
    """``Queue.attributes`` computed one name at a time (moto builds all of them, several O(depth))."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def _names(self) -> list[str]:
        q = self._queue
        names = list(q.BASE_ATTRIBUTES)
        if q.fifo_queue:
            names += q.FIFO_ATTRIBUTES
        if q.kms_master_key_id:
            names += q.KMS_ATTRIBUTES
        return names

    def __getitem__(self, name: str) -> Any:
        if name not in self._names():
            raise KeyError(name)
        q = self._queue
        value = getattr(q, camelcase_to_underscores(name))
        if name == "RedrivePolicy" and q.redrive_policy:
            value = json.dumps(q.redrive_policy)
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(self._names()))

    def __len__(self) -> int:
        return len(dict.fromkeys(self._names()))


def _epoch(value: Any) -> Any:
    """A stream record's datetime as the JSON protocol sends it (moto's serializer's unix timestamp)."""
    if isinstance(value, datetime):
        base = calendar.timegm(value.timetuple())
        return base + (value.microsecond // 1000) / 1000.0 if value.microsecond else base
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _get_records_response(self: Any) -> str:
    """GetRecords answered with ``json.dumps``: moto's records are already in the wire format, and its
    model-driven serializer spent about 1 ms per record, the endpoint's largest cost under arrivals."""
    limit = self._get_param("Limit")
    result = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
    return json.dumps(result, default=_epoch)


def _item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    """moto 5.2's ``Item.__init__`` summing the item's size once, not once per attribute set (its
    size-limited dict re-measures the whole item on every insert: quadratic, a quarter of a PutItem)."""
    self.hash_key, self.range_key = hash_key, range_key
    built = LimitedSizeDict.__new__(LimitedSizeDict)
    size = 0
    for key, value in attrs.items():
        typed = DynamoType(value)
        size += bytesize(key) + typed.size()
        if size > 405000:  # moto's bound for DynamoDB's 400 KB item limit
            raise ItemSizeTooLarge
        dict.__setitem__(built, key, typed)
    self.attrs = built


def _get_records_once(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
    shard_iterator = self.shard_iterators.pop(iterator_arn)
    return shard_iterator.get(limit)


_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_dynamodb_lock = threading.RLock()


def patch_dynamodb_atomic() -> None:
    """Run moto's DynamoDB write operations one at a time (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _DYNAMODB_WRITES:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_datalake_atomic", False):
            continue

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _dynamodb_lock:
                return __original(self, *args, **kwargs)

        locked._datalake_atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)


# moto's own implementations of everything ``patch_moto`` replaces, by "Class.name" (tests compare).
MOTO_ORIGINALS: dict[str, Any] = {}


def patch_moto() -> None:
    """Apply every change to moto listed in the module docstring (idempotent)."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.sqs.models import Queue, SQSBackend

    replacements: list[tuple[type, str, Any]] = [
        (DynamoDBStreamsBackend, "get_records", _get_records_once),
        (DynamoDBStreamsHandler, "get_records", _get_records_response),
        (Queue, "attributes", property(_LazyQueueAttributes)),
        (Queue, "messages", property(_visible_messages)),
        (Queue, "delete_message", _delete_message),
        (SQSBackend, "is_message_valid_based_on_retention_period", _retention_ok),
        (Item, "__init__", _item_init),
    ]
    for owner, name, replacement in replacements:
        MOTO_ORIGINALS.setdefault(f"{owner.__name__}.{name}", owner.__dict__[name])
        setattr(owner, name, replacement)
    patch_dynamodb_atomic()


def serve(host: str, port: int, journal: Path | None = None) -> BaseWSGIServer:
    """Start the endpoint in a background thread and return the server (``shutdown()`` stops it).

    With ``journal``, mutating requests are journaled once the daemon turns it on (``datalake.local.journal``).
    """
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    werkzeug.serving.selectors = _DrainSelector  # type: ignore[assignment]  # see KeepAliveHandler
    patch_moto()
    from datalake.local.athena_api import LocalQueryApi  # Athena / Redshift Data API run SQL locally

    app: Any = MemoisedDispatcher()
    if journal is not None:
        from datalake.local.journal import Journal, JournalMiddleware

        from datalake_base.settings import get_settings

        app = JournalMiddleware(app, Journal(journal, fsync=get_settings().local_journal_fsync))
    # Outside the journal: a query is not a mutation to replay; the result CSV it writes comes back
    # through this server as an S3 PUT and is journaled like any other.
    app = LocalQueryApi(app, f"http://{host}:{port}")
    server = make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)
    threading.Thread(target=server.serve_forever, name="endpoint", daemon=True).start()
    return server


def main(host: str, port: int, journal: Path | None = None) -> None:
    server = serve(host, port, journal)
    signal.signal(signal.SIGTERM, lambda *_: (server.shutdown(), sys.exit(0)))
    signal.pause()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)
