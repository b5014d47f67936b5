"""Loopback fakes of the Google and Microsoft endpoints calsync uses."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    """A client that gives up mid-answer (a timeout, a fault test's reset) is normal for a
    server; only the fake's own errors are printed, so a test that asserts no traceback in
    the output sees calsync's, not the server thread's."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def serve(handler: type[BaseHTTPRequestHandler],
          tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``handler`` on a free loopback port in a daemon thread; (server, base URL).

    ``poll_interval`` 0.02 s: ``shutdown()`` waits up to one interval, and the default
    0.5 s per fake made the suite several times slower.
    """
    srv = _Server(("127.0.0.1", 0), handler)
    if tls is not None:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    scheme = "https" if tls is not None else "http"
    return srv, f"{scheme}://127.0.0.1:{srv.server_address[1]}"


def shut(srv: ThreadingHTTPServer | None) -> None:
    if srv is not None:
        srv.shutdown()
        srv.server_close()


class BadServer:
    """A loopback TCP server that never answers HTTP: ``reset`` accepts each connection
    and resets it at once (RST, SO_LINGER 0); ``silent`` accepts and then says nothing,
    keeping the connection open, as a hung server or a black-holing proxy does."""

    def __init__(self, mode: str) -> None:
        import socket

        assert mode in ("reset", "silent")
        self.mode = mode
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self.port = self._sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import socket
        import struct

        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            if self.mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                self._held.append(conn)

    def __enter__(self) -> BadServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._sock.close()
