"""The Microsoft Graph client: bearer auth, per-mailbox limits, retries, error mapping.

Requests per mailbox are capped at 4 in flight (Outlook's documented per-app, per-mailbox
concurrency limit); 429 and 5xx gateway answers are retried (GETs and If-Match writes only)
honouring ``Retry-After``, with an injectable sleep and an injectable httpx transport.
Every path is built from :attr:`Graph.mailbox`: ``/me`` for the signed-in user, or
``/users/{id}`` when a mailbox is configured (an app-only organisation run reads others'
mailboxes that way). An error answer becomes a :class:`~calsync.errors.GraphError`
carrying the status and Graph's code (a :class:`MailboxError` when the mailbox itself is
missing or unlicensed); a refused fresh token becomes an AuthError. An organisation run
hands every owner's Graph the tenant's shared token source and ``httpx.Client``.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from calsync.backends.microsoft.auth import ca_bundle, short_error
from calsync.backends.retry import RetryPolicy, host_of, retry_after, unreachable
from calsync.errors import AuthError, GraphError, ProviderError

if TYPE_CHECKING:
    import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})  # retried when the request is safe
MAX_IN_FLIGHT = 4  # Outlook's documented per-app, per-mailbox concurrency limit

MAILBOX_CODES = {  # Graph's codes for a mailbox that is not there → what it means
    "MailboxNotEnabledForRESTAPI": "the mailbox has no Exchange Online licence or calendar",
    "ErrorInvalidUser": "no such user in the organisation's directory",
}

_SLOTS: dict[str, threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


def _mailbox_slots(key: str) -> threading.BoundedSemaphore:
    with _SLOTS_LOCK:
        if key not in _SLOTS:
            _SLOTS[key] = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        return _SLOTS[key]


def mailbox_prefix(mailbox: str | None) -> str:
    """``/me`` for the signed-in user, ``/users/{id}`` for a configured mailbox (an object
    id or a user principal name)."""
    if not mailbox or mailbox == "me":
        return "/me"
    return f"/users/{urllib.parse.quote(mailbox, safe='@')}"


def quote_id(ident: str) -> str:
    """A Graph item id as one path segment (ids may hold ``/`` and ``+``)."""
    return urllib.parse.quote(ident, safe="")


class Identity(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def client_id(self) -> str | None: ...


class Tokens(Protocol):
    """Where Graph gets its bearer tokens: a user's login or an app's (app-only)."""

    hint: str  # what to do when Graph refuses a fresh token
    username: str | None  # the signed-in user's address, when there is one

    @property
    def cal(self) -> Identity: ...
    def token(self, force_refresh: bool = False) -> str: ...
    def save(self) -> None: ...


class MailboxError(GraphError):
    """The owner's mailbox is missing or has no Exchange Online licence (that owner only)."""


class Graph:
    """A small Graph client: bearer auth with one refresh on 401, limits, retries."""

    def __init__(
        self,
        base_url: str,
        tokens: Tokens,
        *,
        sleep: Callable[[float], None] = time.sleep,
        policy: RetryPolicy | None = None,
        mailbox: str | None = None,
        transport: Any = None,
        client: httpx.Client | None = None,
        name: str | None = None,
    ) -> None:
        import httpx

        self.base = base_url.rstrip("/")
        self.tokens = tokens
        self.name = name or tokens.cal.name
        self.mailbox = mailbox_prefix(mailbox)
        self.policy = policy or RetryPolicy(sleep=sleep)
        self.requests = 0  # count of HTTP requests sent to Graph (for `status` and benchmarks)
        self._token: str | None = None
        self._slots = _mailbox_slots(f"{self.base}|{tokens.cal.client_id}|{self.mailbox}")
        self._owns_client = client is None
        if client is not None:  # shared by an organisation's owners: one pool, one TLS set-up
            self.client = client
            return
        verify: Any = True
        ca = ca_bundle()
        if ca:
            import ssl

            verify = ssl.create_default_context(cafile=ca)
        self.client = httpx.Client(
            verify=verify, timeout=httpx.Timeout(self.policy.timeout), transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the HTTP connections (a shared client stays open for the others)."""
        if self._owns_client:
            self.client.close()

    def url(self, path: str) -> str:
        """An absolute URL for a path under the base (absolute URLs pass through)."""
        return path if path.startswith("https://") or path.startswith("http://") else (
            self.base + path
        )

    def pages(self, path: str, params: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Each page of a collection, following ``@odata.nextLink`` (which holds the query)."""
        url: str | None = path
        while url:
            page = self.get_json(url, params=params, headers=headers)
            params = None
            yield page
            url = page.get("@odata.nextLink")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        retry: bool | None = None,
        ok: tuple[int, ...] = (),
        auth: bool = True,
    ) -> httpx.Response:
        """Send one request; retry throttling and gateway errors when it is safe.

        Safe means a GET, or a write guarded by ``If-Match`` (a retried write then either
        applies once or fails with 412). Statuses in ``ok`` are returned, not raised.
        ``auth=False`` sends no bearer token (a pre-authenticated download URL).
        """
        import httpx

        headers = dict(headers or {})
        if retry is None:
            retry = method == "GET" or any(k.lower() == "if-match" for k in headers)
        slept = 0.0
        refreshed = False
        attempt = 0
        net_failures = 0
        started = self.policy.clock()
        while True:
            attempt += 1
            if auth:
                if self._token is None:
                    self._token = self.tokens.token()
                headers["Authorization"] = f"Bearer {self._token}"
            try:
                with self._slots:
                    self.requests += 1
                    resp = self.client.request(
                        method, self.url(path), params=params, headers=headers,
                        json=json_body, content=content,
                    )
            except httpx.TransportError as exc:
                if isinstance(exc, httpx.ConnectError) and "CERTIFICATE" in str(exc):
                    raise ProviderError(f"Microsoft Graph: TLS: {short_error(exc)}") from None
                net_failures += 1
                delay = self.policy.delay(net_failures - 1, None)
                if retry and self.policy.another_network_try(net_failures, started, delay):
                    slept += delay
                    self.policy.sleep(delay)
                    continue
                what = f"Graph {method} {urllib.parse.urlsplit(self.url(path)).path}"
                host = host_of(self.url(path), self.base)
                raise ProviderError(
                    f"{self.name}: {what}: "
                    f"{unreachable(host, exc, net_failures, started, self.policy.clock)}"
                    f"{'' if retry else ' (a write that cannot be guarded is not retried)'}"
                ) from None
            status = resp.status_code
            if status == 401 and auth and not refreshed:
                refreshed = True
                self._token = self.tokens.token(force_refresh=True)
                continue
            if status in RETRY_STATUSES and retry and attempt < self.policy.tries:
                delay = self.policy.delay(attempt - 1, retry_after(resp.headers.get("Retry-After")))
                if slept + delay <= self.policy.budget:
                    slept += delay
                    self.policy.sleep(delay)
                    continue
            if status < 400 or status in ok:
                return resp
            raise self._error(method, path, resp, auth)

    def _error(self, method: str, path: str, resp: httpx.Response,
               auth: bool = True) -> GraphError:
        code, message = "", ""
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            err = resp.json().get("error", {})
            code, message = str(err.get("code", "")), str(err.get("message", ""))
        where = urllib.parse.urlsplit(self.url(path)).path
        if resp.status_code == 401 and auth:  # refused a fresh token: consent withdrawn
            raise AuthError(f"{self.name}: Microsoft Graph refused the login "
                            f"({code}); {self.tokens.hint}")
        if code in MAILBOX_CODES and self.mailbox != "/me":
            return MailboxError(f"{self.name}: {MAILBOX_CODES[code]} ({code})",
                                resp.status_code, code)
        text = f"Graph {method} {where}: HTTP {resp.status_code} {code} {message}".strip()
        return GraphError(text, resp.status_code, code)

    def get_json(self, path: str, **kw: Any) -> Any:
        """GET and decode JSON (see :meth:`request` for the keywords)."""
        return json_of(self.request("GET", path, **kw))


def json_of(resp: httpx.Response) -> Any:
    """The response's JSON body; a body that is not JSON is a ProviderError, not a crash."""
    try:
        return resp.json()
    except ValueError:
        where = urllib.parse.urlsplit(str(resp.request.url)).path
        raise ProviderError(f"Microsoft Graph {where}: HTTP {resp.status_code} with a body "
                            "that is not JSON") from None
