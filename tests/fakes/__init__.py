"""Loopback fakes of the Google and Microsoft endpoints calsync uses."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(handler: type[BaseHTTPRequestHandler],
          tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``handler`` on a free loopback port in a daemon thread; (server, base URL).

    ``poll_interval`` 0.02 s: ``shutdown()`` waits up to one interval, and the default
    0.5 s per fake made the suite several times slower.
    """
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    if tls is not None:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    scheme = "https" if tls is not None else "http"
    return srv, f"{scheme}://127.0.0.1:{srv.server_address[1]}"


def shut(srv: ThreadingHTTPServer | None) -> None:
    if srv is not None:
        srv.shutdown()
        srv.server_close()
