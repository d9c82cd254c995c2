"""The local AWS endpoint: a moto server on a loopback port, request logging off."""

from __future__ import annotations

import logging
import signal
import sys


def main(host: str, port: int) -> None:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    signal.signal(signal.SIGTERM, lambda *_: (server.stop(), sys.exit(0)))
    signal.pause()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
