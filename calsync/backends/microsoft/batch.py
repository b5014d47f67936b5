"""httpx transports for an organisation run: Graph requests of many owners in ``$batch`` calls.

:class:`BatchTransport` takes the requests that many threads send through one shared
``httpx.Client`` and combines them into ``POST {graph}/$batch`` calls of up to 20
sub-requests (URLs relative to the Graph base; absolute ``nextLink``/``deltaLink`` URLs
are made relative), with at most ``concurrency`` batches in flight. Each caller gets its
own sub-response back as an ``httpx.Response`` (status, headers such as ``Retry-After``,
body), so a 429 or 503 inside a batch reaches ``Graph.request``'s retry for that
sub-request alone. A batch goes out when 20 are waiting or ``linger`` seconds after its
first request arrived, so a lone request is held only that long.

JSON writes go in batches too: ``If-Match`` is a sub-request header that Graph checks
for that sub-request, and a 412 comes back as its own status, so the re-read-and-splice
path works unchanged; it saves a round trip per write. Requests a batch cannot carry
(binary uploads, URLs outside the Graph base such as pre-authenticated downloads) go
directly, within the same bound. :class:`BoundedTransport` (``batch = false``) sends
everything directly, at most ``concurrency`` at once. Per-mailbox limits stay in
:class:`~calsync.backends.microsoft.graph.Graph` (4 in flight per mailbox).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

BATCH_SIZE = 20  # Graph's limit of sub-requests per $batch
LINGER = 0.004  # seconds a batch waits for company after its first request
_DROP = frozenset({"host", "content-length", "authorization", "accept-encoding", "connection",
                   "user-agent", "accept", "transfer-encoding"})
_NOT_COPIED = frozenset({"content-length", "content-encoding", "transfer-encoding",
                         "connection"})


def answer(request: httpx.Request, status: int, headers: Any, content: bytes) -> httpx.Response:
    """A finished response for ``request`` (headers that describe the wire dropped)."""
    kept = [(k, v) for k, v in dict(headers or {}).items() if k.lower() not in _NOT_COPIED]
    return httpx.Response(status, headers=kept, content=content, request=request)


class BoundedTransport(httpx.BaseTransport):
    """Every request directly, at most ``concurrency`` in flight; counts what it sends."""

    def __init__(self, inner: httpx.BaseTransport, concurrency: int) -> None:
        self.inner = inner
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._lock = threading.Lock()
        self.sent = 0  # HTTP requests sent
        self.sub_requests = 0  # Graph requests carried (directly: the same)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._slots:
            with self._lock:
                self.sent += 1
                self.sub_requests += 1
            resp = self.inner.handle_request(request)
            try:
                content = resp.read()
            finally:
                resp.close()
            return answer(request, resp.status_code, resp.headers, content)

    def close(self) -> None:
        self.inner.close()


@dataclass
class _Pending:
    request: httpx.Request
    sub: dict[str, Any]
    auth: str
    at: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    response: httpx.Response | None = None
    error: BaseException | None = None


class BatchTransport(BoundedTransport):
    """Requests of many threads combined into Graph ``$batch`` calls (module docstring)."""

    def __init__(self, inner: httpx.BaseTransport, base_url: str, concurrency: int,
                 linger: float = LINGER) -> None:
        super().__init__(inner, concurrency)
        base = httpx.URL(base_url.rstrip("/"))
        self._origin = (base.scheme, base.host, base.port)
        self._prefix = base.raw_path.rstrip(b"/")
        self._batch_url = str(base) + "/$batch"
        self.linger = linger
        self.batches = 0
        self._queue: list[_Pending] = []
        self._cond = threading.Condition()
        self._closed = False
        self._senders = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="graph-batch")
        self._batch_slots = threading.BoundedSemaphore(max(1, concurrency))
        self._thread: threading.Thread | None = None

    # -- callers --------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sub = self._sub_request(request)
        if sub is None:
            return super().handle_request(request)
        pending = _Pending(request, sub, request.headers.get("Authorization", ""))
        with self._cond:
            if self._closed:
                raise httpx.TransportError("the Graph batch transport is closed")
            self._queue.append(pending)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="graph-batcher")
                self._thread.start()
            self._cond.notify_all()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.response is not None
        return pending.response

    def _sub_request(self, request: httpx.Request) -> dict[str, Any] | None:
        """The request as a ``$batch`` entry, or None when it must go directly."""
        url = request.url
        path = url.raw_path
        if (url.scheme, url.host, url.port) != self._origin or not path.startswith(
                self._prefix + b"/") or path.startswith(self._prefix + b"/$batch"):
            return None
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw
                   if k.decode("latin-1").lower() not in _DROP}
        sub: dict[str, Any] = {"method": request.method,
                               "url": path[len(self._prefix):].decode("ascii")}
        content = request.read()
        if content:
            if "json" not in request.headers.get("Content-Type", ""):
                return None  # a binary upload: Graph would want it base64, so send it as is
            try:
                sub["body"] = json.loads(content)
            except ValueError:
                return None
        if headers:
            sub["headers"] = headers
        return sub

    # -- the batcher ----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                deadline = self._queue[0].at + self.linger
                while len(self._queue) < BATCH_SIZE and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            self._batch_slots.acquire()  # a sender is free; meanwhile the queue fills up
            with self._cond:
                auth = self._queue[0].auth
                batch = [p for p in self._queue if p.auth == auth][:BATCH_SIZE]
                taken = {id(p) for p in batch}
                self._queue = [p for p in self._queue if id(p) not in taken]
            try:
                self._senders.submit(self._send, batch)
            except RuntimeError as exc:  # shut down meanwhile
                self._batch_slots.release()
                self._fail(batch, httpx.TransportError(str(exc)))

    def _fail(self, batch: list[_Pending], error: BaseException) -> None:
        for p in batch:
            p.error = error
            p.done.set()

    def _send(self, batch: list[_Pending]) -> None:
        try:
            self._send_batch(batch)
        except BaseException as exc:  # a transport error: each caller sees it (and retries)
            self._fail([p for p in batch if not p.done.is_set()], exc)
        finally:
            self._batch_slots.release()

    def _send_batch(self, batch: list[_Pending]) -> None:
        payload = {"requests": [{"id": str(i), **p.sub} for i, p in enumerate(batch)]}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if batch[0].auth:
            headers["Authorization"] = batch[0].auth
        request = httpx.Request("POST", self._batch_url, headers=headers,
                                content=json.dumps(payload).encode(),
                                extensions=dict(batch[0].request.extensions))
        with self._lock:
            self.sent += 1
            self.batches += 1
            self.sub_requests += len(batch)
        resp = self.inner.handle_request(request)
        try:
            content = resp.read()
        finally:
            resp.close()
        if resp.status_code != 200:  # the batch itself refused (401, 429, 5xx): each caller
            for p in batch:           # gets that answer, and its own retry deals with it
                p.response = answer(p.request, resp.status_code, resp.headers, content)
                p.done.set()
            return
        try:
            subs = {str(r.get("id")): r for r in json.loads(content).get("responses", [])}
        except (ValueError, AttributeError):
            subs = {}
        for i, p in enumerate(batch):
            p.response = sub_response(p.request, subs.get(str(i)))
            p.done.set()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        self._senders.shutdown(wait=True)
        super().close()


def sub_response(request: httpx.Request, sub: dict[str, Any] | None) -> httpx.Response:
    """One sub-response as an ``httpx.Response``; a missing one is a retryable 502."""
    if not isinstance(sub, dict):
        missing = {"error": {"code": "BatchResponseMissing",
                             "message": "the $batch answer had no response for this request"}}
        return answer(request, 502, {"Content-Type": "application/json"},
                      json.dumps(missing).encode())
    headers = {str(k): str(v) for k, v in (sub.get("headers") or {}).items()}
    body = sub.get("body")
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if body is None:
        content = b""
    elif isinstance(body, str) and "json" not in ctype:
        try:
            content = base64.b64decode(body, validate=True)
        except ValueError:
            content = body.encode()
    else:
        content = json.dumps(body).encode()
        if not ctype:
            headers["Content-Type"] = "application/json"
    return answer(request, int(sub.get("status", 502)), headers, content)
