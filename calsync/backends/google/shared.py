"""What the sessions of many logins share in an organisation run: built APIs, connections.

Building an API from its discovery document generates every method (milliseconds per
owner, ~20 ms for Drive's ``files``), so each resource is built once per organisation
and every owner's requests are made from it, sent on the owner's own authorized http
(``HttpRequest.execute(http=...)``). httplib2 is not thread-safe: each worker thread
has its own connection pool, reused by every owner that thread runs. Every request sent
(tokens included) is counted.
"""

from __future__ import annotations

import threading
from typing import Any

import httplib2

from calsync.backends.once_http import OnceHttp


class Counter:
    """A thread-safe count of requests sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1


class _CountingHttp(OnceHttp):
    """A thread's connection pool; counts each request it sends."""

    def __init__(self, counter: Counter, **kw: Any) -> None:
        super().__init__(**kw)
        self._counter = counter

    def request(self, *args: Any, **kw: Any) -> Any:
        self._counter.add()
        return super().request(*args, **kw)


class SharedHttp:
    """Built resources (one per API collection) and one connection pool per thread."""

    def __init__(self, api_url: str | None, timeout: float) -> None:
        self.api_url = api_url
        self.timeout = timeout
        self._lock = threading.Lock()
        self._resources: dict[str, Any] = {}
        self._local = threading.local()
        self._pools: list[_CountingHttp] = []
        self._counter = Counter()

    def http(self) -> OnceHttp:
        """This thread's connection pool."""
        pool = getattr(self._local, "pool", None)
        if pool is None:
            httplib2.RETRIES = 1  # calsync's own retries are the only ones (client.Session)
            pool = _CountingHttp(self._counter, timeout=self.timeout)
            self._local.pool = pool
            with self._lock:
                self._pools.append(pool)
        return pool

    def resource(self, api: str, version: str, name: str) -> Any:
        """``api``/``version``'s collection ``name``, built once for every owner."""
        key = f"{api}:{version}:{name}"
        svc = self._resources.get(key)
        if svc is not None:
            return svc
        with self._lock:
            if key not in self._resources:
                self._resources[key] = getattr(self._build(api, version), name)()
            return self._resources[key]

    def _build(self, api: str, version: str) -> Any:
        from googleapiclient.discovery import build_from_document

        from calsync.backends.google.discovery import discovery

        # never sent on: each request goes out on its owner's authorized http
        return build_from_document(discovery(api, version, self.api_url), http=httplib2.Http())

    def requests(self) -> int:
        """HTTP requests sent so far on every thread's pool."""
        return self._counter.value

    def close(self) -> None:
        with self._lock:
            pools, self._pools = self._pools, []
        for pool in pools:
            pool.close()
