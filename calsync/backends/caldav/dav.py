"""The WebDAV/CalDAV requests calsync sends, on httpx, and their multistatus answers.

Basic auth over the configured URL; 429 and 503 are retried (every request here is a
read or an ``If-Match`` write, so a retry applies at most once) honouring
``Retry-After``. A refused login is an :class:`AuthError` (exit 3), a server that does
not answer a :class:`ProviderError` naming the host (exit 4); other statuses go back
to the caller, which knows what a 404 or a 412 means for its request.
"""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx

from calsync.backends.retry import RetryPolicy, host_of, retry_after, unreachable
from calsync.errors import AuthError, ProviderError

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_NS = {"D": DAV, "C": CALDAV}


def tag(ns: str, name: str) -> str:
    """ElementTree's ``{namespace}name`` form."""
    return f"{{{ns}}}{name}"


@dataclass
class Item:
    """One ``DAV:response`` of a multistatus: its href, status and the props found."""

    href: str
    status: int | None = None  # the response's own status (a removed member: 404)
    props: dict[str, ET.Element] = field(default_factory=dict)

    def text(self, ns: str, name: str) -> str | None:
        """The text of prop ``{ns}name`` ("" when empty); None when the server did not return it."""
        el = self.props.get(tag(ns, name))
        return None if el is None else (el.text or "")

    def hrefs(self, ns: str, name: str) -> list[str]:
        """The ``DAV:href`` values inside prop ``{ns}name`` (principal, calendar home)."""
        el = self.props.get(tag(ns, name))
        return [] if el is None else [h.text.strip() for h in el.iter(tag(DAV, "href")) if h.text]

    def has(self, ns: str, name: str, child: tuple[str, str]) -> bool:
        """Whether prop ``{ns}name`` holds the element ``child`` (a resourcetype of calendar)."""
        el = self.props.get(tag(ns, name))
        return el is not None and el.find(tag(*child)) is not None


@dataclass
class Multistatus:
    """A parsed 207 answer: its responses and, for sync-collection, the new sync token."""

    items: list[Item]
    sync_token: str | None = None


class DavError(ProviderError):
    """A status the caller did not expect; ``status`` and ``body`` say which."""

    def __init__(self, message: str, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body

    def precondition(self, ns: str, name: str) -> bool:
        """Whether the error body names this precondition (``DAV:valid-sync-token``)."""
        try:
            root = ET.fromstring(self.body)
        except ET.ParseError:
            return False
        return root.find(f".//{tag(ns, name)}") is not None or root.tag == tag(ns, name)


class DavClient:
    """One login on one server; counts the requests it sends (tests, benchmarks)."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        label: str,
        *,
        policy: RetryPolicy | None = None,
        on_request: Callable[[str, str], None] | None = None,
    ) -> None:
        self.base = url
        self.label = label  # the calendar's name, first in every message
        self.username = username
        self.policy = policy or RetryPolicy()
        self.on_request = on_request
        self.requests = 0
        self.client = httpx.Client(
            auth=httpx.BasicAuth(username, password),
            timeout=httpx.Timeout(self.policy.timeout),
            follow_redirects=True,  # /.well-known/caldav answers with a redirect
        )

    def close(self) -> None:
        """Closes the HTTP connection."""
        self.client.close()

    def url(self, href: str) -> str:
        """An href from the server (a path, usually) as an absolute URL."""
        return urllib.parse.urljoin(self.base, href)

    def request(self, method: str, href: str, *, body: str | bytes | None = None,
                headers: dict[str, str] | None = None) -> httpx.Response:
        """One request, retried on 429/5xx and network failures; 401 raises AuthError, else returned."""
        url = self.url(href)
        content = body.encode("utf-8") if isinstance(body, str) else body
        attempt, net_failures, slept = 0, 0, 0.0
        started = self.policy.clock()
        while True:
            attempt += 1
            try:
                self.requests += 1
                if self.on_request is not None:
                    self.on_request(method, url)
                resp = self.client.request(method, url, content=content, headers=headers)
            except httpx.TransportError as exc:
                net_failures += 1
                delay = self.policy.delay(net_failures - 1, None)
                if self.policy.another_network_try(net_failures, started, delay):
                    self.policy.sleep(delay)
                    continue
                host = host_of(url, self.base)
                raise ProviderError(f"{self.label}: CalDAV {method}: "
                                    f"{unreachable(host, exc, net_failures, started)}") from None
            if resp.status_code == 401:
                raise AuthError(
                    f"{self.label}: the CalDAV server refused the login of {self.username!r} "
                    f"(HTTP 401); check the password, then run `calsync setup caldav "
                    f"{self.base} --username {self.username}`")
            if resp.status_code in RETRY_STATUSES and attempt < self.policy.tries:
                delay = self.policy.delay(attempt - 1, retry_after(resp.headers.get("Retry-After")))
                if slept + delay <= self.policy.budget:
                    slept += delay
                    self.policy.sleep(delay)
                    continue
            return resp

    def error(self, method: str, href: str, resp: httpx.Response) -> DavError:
        """A DavError for an unexpected answer, naming the calendar, method, path and status."""
        path = urllib.parse.urlsplit(self.url(href)).path
        return DavError(f"{self.label}: CalDAV {method} {path}: HTTP {resp.status_code}",
                        resp.status_code, resp.text[:4000])

    def xml(self, method: str, href: str, body: str, depth: str) -> Multistatus:
        """A PROPFIND or REPORT whose answer must be a 207 multistatus."""
        resp = self.request(method, href, body=body, headers={
            "Depth": depth, "Content-Type": 'application/xml; charset="utf-8"'})
        if resp.status_code != 207:
            raise self.error(method, href, resp)
        return parse_multistatus(resp.content, self.label)

    def propfind(self, href: str, props: Iterable[tuple[str, str]], depth: str = "0") -> Multistatus:
        """PROPFIND ``props`` of ``href`` (``depth`` "1" for its members too)."""
        return self.xml("PROPFIND", href, propfind_body(props), depth)


def parse_multistatus(data: bytes, label: str) -> Multistatus:
    """The responses of a multistatus body, keeping only props whose propstat is 200."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ProviderError(f"{label}: the CalDAV server sent malformed XML ({exc})") from None
    items = []
    for resp in root.findall("D:response", _NS):
        href = (resp.findtext("D:href", "", _NS) or "").strip()
        item = Item(urllib.parse.urlsplit(href).path or href, _status(resp.findtext("D:status", None, _NS)))
        for propstat in resp.findall("D:propstat", _NS):
            if _status(propstat.findtext("D:status", None, _NS)) != 200:
                continue
            for prop in propstat.findall("D:prop", _NS):
                for child in prop:
                    item.props[child.tag] = child
        items.append(item)
    token = root.findtext("D:sync-token", None, _NS)
    return Multistatus(items, token.strip() if token else None)


def _status(line: str | None) -> int | None:
    """``HTTP/1.1 404 Not Found`` → 404."""
    parts = (line or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _props_xml(props: Iterable[tuple[str, str]]) -> str:
    prefix = {DAV: "D", CALDAV: "C"}
    return "".join(f"<{prefix[ns]}:{name}/>" for ns, name in props)


def _doc(root: str, inner: str) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<{root} xmlns:D="{DAV}" xmlns:C="{CALDAV}">'
            f"{inner}</{root}>")


def propfind_body(props: Iterable[tuple[str, str]]) -> str:
    """A PROPFIND request body asking for ``props``."""
    return _doc("D:propfind", f"<D:prop>{_props_xml(props)}</D:prop>")


def sync_collection_body(token: str | None) -> str:
    """RFC 6578: members changed since ``token`` (all of them without one), with ETags."""
    return _doc("D:sync-collection", f"<D:sync-token>{_escape(token or '')}</D:sync-token>"
                "<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>")


def multiget_body(hrefs: Iterable[str]) -> str:
    """RFC 4791 calendar-multiget: the ETag and calendar data of each of ``hrefs``."""
    refs = "".join(f"<D:href>{_escape(h)}</D:href>" for h in hrefs)
    return _doc("C:calendar-multiget", f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{refs}")


def query_body(start: str, end: str) -> str:
    """RFC 4791 calendar-query: the events overlapping ``[start, end)`` (UTC stamps)."""
    return _doc("C:calendar-query", "<D:prop><D:getetag/></D:prop><C:filter>"
                '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                f'<C:time-range start="{start}" end="{end}"/>'
                "</C:comp-filter></C:comp-filter></C:filter>")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
