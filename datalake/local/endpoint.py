"""The local AWS endpoint: a moto server on a loopback port, request logging off.

Two changes to moto's stock threaded server, both measured with bench/ingest (see docs/arrivals.md):
- HTTP/1.1 keep-alive: the stock handler speaks HTTP/1.0, so every boto3 call opened a new TCP
  connection;
- the host → backend lookup is memoised: moto re-lists its package directory and tries hundreds
  of URL patterns per request, under a global lock;
- SQS stays cheap under a backlog: moto computes every queue attribute (each an O(queue depth)
  scan) once per message received, and scans the queue twice per message deleted; with a backlog
  every receive got slower and the pipeline fell further behind. Both are replaced by equivalents
  that read the one attribute needed and stop at the message deleted;
- a DynamoDB-stream shard iterator is forgotten once GetRecords has used it (moto kept every
  iterator forever, so an idle lake polling its stream grew by megabytes an hour); callers use the
  NextShardIterator, as the API requires;
- DynamoDB writes are atomic per item, as in DynamoDB: moto checks a ConditionExpression and then
  writes without a lock, so two concurrent conditional writes could both succeed (two owners of one
  pipeline lease, measured with 8 threads). Its write operations run under one lock here.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server


class KeepAliveHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"


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
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    if receipt_handle in self.deleted_messages:
        return  # deleting twice is fine, as in SQS
    for i, message in enumerate(self._messages):
        if message.had_receipt_handle(receipt_handle):
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            self._messages = self._messages[:i] + self._messages[i + 1 :]
            return
    raise ReceiptHandleIsInvalid()


def _retention_ok(self: Any, queue_name: str, message: Any) -> bool:
    """moto 5.2's retention check without building all of the queue's attributes per message."""
    from moto.core.utils import unix_time

    period = int(self.get_queue(queue_name).message_retention_period)
    return period + message.sent_timestamp / 1000 > unix_time()


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


def _patch_moto() -> None:
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend
    from moto.sqs.models import Queue, SQSBackend

    DynamoDBStreamsBackend.get_records = _get_records_once  # type: ignore[method-assign]
    Queue.delete_message = _delete_message  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _retention_ok  # type: ignore[method-assign]
    patch_dynamodb_atomic()


def serve(host: str, port: int, journal: Path | None = None) -> BaseWSGIServer:
    """Start the endpoint in a background thread and return the server (``shutdown()`` stops it).

    With ``journal``, mutating requests are journaled once the daemon turns it on (``datalake.local.journal``).
    """
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _patch_moto()
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
