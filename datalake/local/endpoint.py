"""The local AWS endpoint: a moto server on a loopback port, request logging off.

Two changes to moto's stock threaded server, both measured with bench/ingest (see docs/arrivals.md):
- HTTP/1.1 keep-alive: the stock handler speaks HTTP/1.0, so every boto3 call opened a new TCP
  connection;
- the host → backend lookup is memoised: moto re-lists its package directory and tries hundreds
  of URL patterns per request, under a global lock.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
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


def serve(host: str, port: int) -> BaseWSGIServer:
    """Start the endpoint in a background thread and return the server (``shutdown()`` stops it)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server(host, port, MemoisedDispatcher(), threaded=True, request_handler=KeepAliveHandler)
    threading.Thread(target=server.serve_forever, name="endpoint", daemon=True).start()
    return server


def main(host: str, port: int) -> None:
    server = serve(host, port)
    signal.signal(signal.SIGTERM, lambda *_: (server.shutdown(), sys.exit(0)))
    signal.pause()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
