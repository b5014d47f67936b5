"""httplib2 without its silent resend, for writes that cannot be guarded.

When a connection drops before the answer, httplib2 sends the request once more on a new
connection (it takes the drop for a stale keep-alive connection). For reads and If-Match
writes that is harmless. For ``files.create`` or ``permissions.create`` the first copy
may have been carried out already, and the resend makes a second doc or a second share
email. While :attr:`OnceHttp.once` is set, a request leaves at most once: a lost answer
becomes a ``ConnectionResetError`` for calsync's own handling (a later run finds the doc
by its ``appProperties`` tag, the share by ``permissions.list``).

Imported only when a Google service is built (httplib2 is heavy).
"""

from __future__ import annotations

from typing import Any

import httplib2


class OnceHttp(httplib2.Http):  # type: ignore[misc]
    """``httplib2.Http`` that, while ``once`` is set, sends a request at most once."""

    once = False  # set by the caller around one unguarded write

    def _conn_request(
        self, conn: Any, request_uri: str, method: str, body: Any, headers: Any
    ) -> Any:
        if not self.once:
            return super()._conn_request(conn, request_uri, method, body, headers)
        sent = False
        send, connect = conn.request, conn.connect

        def request(*args: Any, **kw: Any) -> Any:
            nonlocal sent
            sent = True  # even a partly sent request may have reached the server
            return send(*args, **kw)

        def reconnect(*args: Any, **kw: Any) -> Any:
            if sent:
                raise ConnectionResetError(
                    "the connection dropped after the request was sent"
                )
            return connect(*args, **kw)

        conn.request, conn.connect = request, reconnect
        try:
            return super()._conn_request(conn, request_uri, method, body, headers)
        finally:
            del conn.request, conn.connect
