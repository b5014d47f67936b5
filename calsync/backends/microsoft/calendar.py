"""Microsoft 365 (Outlook calendar via Microsoft Graph) provider: msal + plain httpx.

Reading uses the calendarView delta function over a *chain window*: the requested window
widened to whole 7-day blocks, so the chain survives a week of cron runs as the window
rolls (a delta chain's window is fixed per token). The first run pages through the
whole view; later runs replay the stored deltaLink, which on a quiet calendar is a single
Graph request. When the requested window leaves the chain window, or Graph answers 410,
the chain restarts from scratch (which also reconciles any change delta missed).

Graph's delta gives series masters and exceptions in full and plain occurrences as
``id/type/start/end/seriesMasterId`` only, so an occurrence is the master's properties
with its own times. Occurrences the organizer deleted are absent from the view: the
master's ``patternedRecurrence`` is expanded over the window and slots with no instance
become ``removed`` occurrences (planned, never held).

Writing reads the occurrence's HTML body, hands it to the splice, and PATCHes the whole
body back with ``If-Match``; nothing outside calsync's block is touched. Requests per
mailbox are capped at 4 in flight; 429 and 5xx gateway answers are retried (GETs and
If-Match writes only) honouring ``Retry-After``, with an injectable sleep.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calsync.backends.base import Splice, Window, WriteResult, WriteStatus
from calsync.backends.retry import RetryPolicy, host_of, retry_after, unreachable
from calsync.core.model import (
    Attendee,
    AttendeeKind,
    Body,
    FetchResult,
    Occurrence,
    Response,
    Status,
)
from calsync.errors import AuthError, ConfigError, ProviderError
from calsync.ical.limits import SERIES_STEPS
from calsync.paths import require_private, write_private

if TYPE_CHECKING:
    import httpx

    from calsync.backends.docs_base import DocBackend
    from calsync.backends.microsoft.config import MicrosoftCalendar
    from calsync.core.model import Owner
    from calsync.core.state import KeyValue

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
SCOPES_READ_WRITE = ["Calendars.ReadWrite", "Files.ReadWrite"]
SCOPES_READ_ONLY = ["Calendars.Read"]
SETUP_HINT = "run `calsync setup microsoft` to log in again"

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})  # retried when the request is safe
MAX_IN_FLIGHT = 4  # Outlook's documented per-app, per-mailbox concurrency limit
PAGE_SIZE = 100
CHAIN_BLOCK = timedelta(days=7)
NODELTA_RETRY = timedelta(days=1)  # after delta was refused, ask for it again this much later
MASTER_TTL = timedelta(days=1)  # a series master fetched on its own is re-read this often
_EPOCH = datetime(2001, 1, 1, tzinfo=UTC)  # a Monday: chain windows start on Mondays (UTC)

_PREFER_READ = 'outlook.timezone="UTC", outlook.body-content-type="html"'

# Fields kept from a Graph event in the local cache (delta items carry many more). The
# body is kept only as :func:`calsync.core.privacy.keepable` reduces it (see _trim): writes
# read the event again, so the cache never holds people's text or a Teams passcode.
_KEEP = (
    "id", "type", "seriesMasterId", "iCalUId", "subject", "start", "end", "originalStart",
    "originalStartTimeZone", "isAllDay", "isCancelled", "isOrganizer", "organizer",
    "attendees", "recurrence", "@odata.etag",
)
_REDUCED = "calsync.reduced"  # marks a cached body that keepable() already reduced
CACHE_VERSION = 2  # of ms.delta: 2 = bodies reduced (older chains start again)


def scopes_for(read_only: bool) -> list[str]:
    """The least scopes: calendar read for read-only, calendar and files read/write otherwise.

    Never includes msal's reserved scopes (openid, profile, offline_access): msal adds them.
    """
    return list(SCOPES_READ_ONLY if read_only else SCOPES_READ_WRITE)


def ca_bundle() -> str | None:
    """The CA file the environment asks for: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE.

    requests lets the first two override an explicit ``verify`` (psf/requests#3829), so
    they win here too: msal (requests) and Graph (httpx) then trust the same CAs.
    """
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(var)
        if value:
            return value
    return None


def msal_http_client() -> Any:
    """A requests session for msal whose trust follows :func:`ca_bundle`."""
    import requests

    session = requests.Session()
    ca = ca_bundle()
    if ca:
        session.verify = ca
    return session


def build_msal_app(client_id: str, authority_url: str, tenant: str, cache: Any) -> Any:
    import msal

    kwargs: dict[str, Any] = {}
    if authority_url.rstrip("/") != DEFAULT_AUTHORITY:
        # An authority msal does not know (a proxy, a sovereign cloud, a test server):
        # skip the instance-discovery call to login.microsoftonline.com.
        kwargs["instance_discovery"] = False
    return msal.PublicClientApplication(
        client_id,
        authority=f"{authority_url.rstrip('/')}/{tenant}",
        token_cache=cache,
        http_client=msal_http_client(),
        **kwargs,
    )


@contextlib.contextmanager
def token_file_lock(path: Path) -> Iterator[None]:
    """Serialise load-refresh-save of one token cache across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class TokenSource:
    """Silent token acquisition from the 0600 msal cache; never prompts."""

    def __init__(self, cal: MicrosoftCalendar) -> None:
        if not cal.client_id:
            raise ConfigError(
                f"calendar {cal.name!r}: client_id is missing (run `calsync setup microsoft "
                "--client-id ID`, see docs/microsoft.md)"
            )
        if cal.token_file is None:
            raise ConfigError(f"calendar {cal.name!r}: token_file is missing")
        self.cal = cal
        self.path: Path = cal.token_file
        self.scopes = scopes_for(cal.read_only)
        self._app: Any = None
        self._cache: Any = None
        self.username: str | None = None

    def _load(self) -> None:
        import msal

        if not self.path.exists():
            raise AuthError(f"{self.cal.name}: not logged in to Microsoft; run "
                            "`calsync setup microsoft`")
        require_private(self.path, self.cal.name)
        cache = msal.SerializableTokenCache()
        try:
            cache.deserialize(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AuthError(f"{self.cal.name}: token file {self.path} is unreadable "
                            f"({type(exc).__name__}); {SETUP_HINT}") from None
        self._cache = cache
        try:
            self._app = build_msal_app(
                self.cal.client_id or "", self.cal.authority_url, self.cal.tenant, cache
            )
        except Exception as exc:  # ValueError from msal, requests' connection/TLS errors
            raise ProviderError(f"{self.cal.name}: Microsoft sign-in service unreachable "
                                f"({type(exc).__name__}): {_short(exc)}") from None

    def token(self, force_refresh: bool = False) -> str:
        with token_file_lock(self.path):
            if self._app is None or force_refresh:
                self._load()  # re-read: another process may have rotated the cache
            accounts = self._app.get_accounts()
            if not accounts:
                raise AuthError(f"{self.cal.name}: no Microsoft account in {self.path}; "
                                f"{SETUP_HINT}")
            if len(accounts) > 1:
                # only an older calsync's repeated setups left several: which one is meant
                # cannot be told, and the wrong one would keep failing (or read another
                # mailbox); setup writes a cache with the one account it logged in
                raise AuthError(f"{self.cal.name}: {len(accounts)} Microsoft accounts in "
                                f"{self.path}; {SETUP_HINT} with the account to use")
            account = accounts[0]
            self.username = (account.get("username") or "").lower() or None
            try:
                result = self._app.acquire_token_silent_with_error(
                    self.scopes, account=account, force_refresh=force_refresh
                )
            except Exception as exc:  # requests' connection/TLS errors during a refresh
                raise ProviderError(f"{self.cal.name}: Microsoft sign-in service unreachable "
                                    f"({type(exc).__name__}): {_short(exc)}") from None
            finally:
                self._save()
        if not result or "access_token" not in result:
            error = (result or {}).get("error", "no token in cache")
            desc = (result or {}).get("error_description", "") or ""
            code = desc.split(":", 1)[0] if desc.startswith("AADSTS") else ""
            why = "expired after 90 days unused" if "AADSTS700082" in desc else "was refused"
            raise AuthError(
                f"{self.cal.name}: the Microsoft login {why} ({error}"
                f"{', ' + code if code else ''}); {SETUP_HINT}"
            )
        token: str = result["access_token"]
        return token

    def _save(self) -> None:
        if self._cache is not None and self._cache.has_state_changed:
            write_private(self.path, self._cache.serialize())
            self._cache.has_state_changed = False


def _short(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0][:200]
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in type(exc).__name__:
        text += " (behind a proxy with its own CA? point SSL_CERT_FILE at a bundle with it)"
    return text


# --- HTTP with limits and retries ------------------------------------------------------

_SLOTS: dict[str, threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


def _mailbox_slots(key: str) -> threading.BoundedSemaphore:
    with _SLOTS_LOCK:
        if key not in _SLOTS:
            _SLOTS[key] = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        return _SLOTS[key]


class GraphError(ProviderError):
    def __init__(self, message: str, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Graph:
    """A small Graph client: bearer auth with one refresh on 401, limits, retries."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        *,
        sleep: Callable[[float], None] = time.sleep,
        policy: RetryPolicy | None = None,
        mailbox: str = "me",
        transport: Any = None,
    ) -> None:
        import httpx

        self.base = base_url.rstrip("/")
        self.tokens = tokens
        self.policy = policy or RetryPolicy(sleep=sleep)
        self.requests = 0  # count of HTTP requests sent to Graph (for `status` and benchmarks)
        self._token: str | None = None
        self._slots = _mailbox_slots(f"{self.base}|{tokens.cal.client_id}|{mailbox}")
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
        self.client.close()

    def url(self, path: str) -> str:
        return path if path.startswith("https://") or path.startswith("http://") else (
            self.base + path
        )

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
                    raise ProviderError(f"Microsoft Graph: TLS: {_short(exc)}") from None
                net_failures += 1
                delay = self.policy.delay(net_failures - 1, None)
                if retry and self.policy.another_network_try(net_failures, started, delay):
                    slept += delay
                    self.policy.sleep(delay)
                    continue
                what = f"Graph {method} {urllib.parse.urlsplit(self.url(path)).path}"
                host = host_of(self.url(path), self.base)
                raise ProviderError(
                    f"{self.tokens.cal.name}: {what}: "
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
            raise AuthError(f"{self.tokens.cal.name}: Microsoft Graph refused the login "
                            f"({code}); {SETUP_HINT}")
        text = f"Graph {method} {where}: HTTP {resp.status_code} {code} {message}".strip()
        return GraphError(text, resp.status_code, code)

    def get_json(self, path: str, **kw: Any) -> Any:
        return json_of(self.request("GET", path, **kw))


def json_of(resp: httpx.Response) -> Any:
    """The response's JSON body; a body that is not JSON is a ProviderError, not a crash."""
    try:
        return resp.json()
    except ValueError:
        where = urllib.parse.urlsplit(str(resp.request.url)).path
        raise ProviderError(f"Microsoft Graph {where}: HTTP {resp.status_code} with a body "
                            "that is not JSON") from None


# --- time zones and recurrence -----------------------------------------------------------


def zone(name: str | None) -> tzinfo:
    """A Graph time zone name (Windows or IANA) as a tzinfo; UTC when unknown."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name or name in ("UTC", "tzone://Microsoft/Utc"):
        return UTC
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    iana = WINDOWS_TO_OLSON.get(name, name)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def parse_graph_time(value: dict[str, Any] | None) -> datetime | None:
    """``{"dateTime": "2024-01-01T09:00:00.0000000", "timeZone": "UTC"}`` → aware datetime."""
    if not value or not value.get("dateTime"):
        return None
    text = str(value["dateTime"])
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone(value.get("timeZone")))
    return dt


def parse_offset_time(value: str | None) -> datetime | None:
    """``originalStart`` (an Edm.DateTimeOffset) → aware UTC datetime."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    dt = datetime.fromisoformat(text)
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


MAX_RECURRENCE_STEPS = SERIES_STEPS  # a rule walked further than this is refused, not expanded
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


def expand_recurrence(
    recurrence: dict[str, Any], first_start: datetime, tz: tzinfo, start: datetime,
    end: datetime,
) -> list[datetime]:
    """Slots (UTC) of a ``patternedRecurrence`` whose start falls in [start, end).

    ``first_start`` is the master's start; the series repeats at its local wall time in
    ``tz`` (the series' time zone), so daylight-saving changes keep the local time.
    """
    from dateutil import rrule

    pattern = recurrence.get("pattern") or {}
    rng = recurrence.get("range") or {}
    local_first = first_start.astimezone(tz)
    start_date = date.fromisoformat(rng["startDate"]) if rng.get("startDate") else (
        local_first.date()
    )
    dtstart = datetime.combine(start_date, local_first.time().replace(tzinfo=None))
    kind = pattern.get("type", "")
    interval = int(pattern.get("interval") or 1)
    days = [getattr(rrule, d[:2].upper()) for d in pattern.get("daysOfWeek") or [] if d in _DAYS]
    kw: dict[str, Any] = {"interval": interval, "dtstart": dtstart}
    index = _INDEX.get(str(pattern.get("index") or "first"), 1)
    if kind == "daily":
        freq = rrule.DAILY
    elif kind == "weekly":
        freq = rrule.WEEKLY
        kw["byweekday"] = days or [dtstart.weekday()]
        fdow = str(pattern.get("firstDayOfWeek") or "sunday")
        kw["wkst"] = _DAYS.index(fdow) if fdow in _DAYS else 6
    elif kind == "absoluteMonthly":
        freq = rrule.MONTHLY
        kw["bymonthday"] = int(pattern.get("dayOfMonth") or dtstart.day)
    elif kind == "relativeMonthly":
        freq = rrule.MONTHLY
        kw["byweekday"] = days
        kw["bysetpos"] = index
    elif kind == "absoluteYearly":
        freq = rrule.YEARLY
        kw["bymonth"] = int(pattern.get("month") or dtstart.month)
        kw["bymonthday"] = int(pattern.get("dayOfMonth") or dtstart.day)
    elif kind == "relativeYearly":
        freq = rrule.YEARLY
        kw["bymonth"] = int(pattern.get("month") or dtstart.month)
        kw["byweekday"] = days
        kw["bysetpos"] = index
    else:
        return []
    rtype = rng.get("type", "noEnd")
    if rtype == "numbered" and rng.get("numberOfOccurrences"):
        kw["count"] = int(rng["numberOfOccurrences"])
    elif rtype == "endDate" and rng.get("endDate"):
        kw["until"] = datetime.combine(date.fromisoformat(rng["endDate"]),
                                       datetime.max.time())
    out: list[datetime] = []
    lo = start.astimezone(tz).replace(tzinfo=None) - timedelta(days=2)
    hi = end.astimezone(tz).replace(tzinfo=None) + timedelta(days=2)
    if freq in (rrule.DAILY, rrule.WEEKLY):
        # Skip whole periods up to the window: same slots, without iterating years of them.
        # Each skipped period held exactly one instance per weekday, so COUNT drops by that.
        period = timedelta(days=interval * (7 if freq == rrule.WEEKLY else 1))
        skip = (lo - period - dtstart) // period
        if skip > 0:
            kw["dtstart"] = dtstart + skip * period
            if "count" in kw:
                kw["count"] -= skip * len(set(kw.get("byweekday") or [0]))
                if kw["count"] <= 0:
                    return []
    for steps, naive in enumerate(rrule.rrule(freq, **kw)):
        if naive > hi:
            break
        if steps >= MAX_RECURRENCE_STEPS:
            raise ValueError(f"too long to expand (over {MAX_RECURRENCE_STEPS:,} steps)")
        if naive < lo:
            continue
        slot = _localize(naive, tz).astimezone(UTC)
        if start <= slot < end:
            out.append(slot)
    return out


def _localize(naive: datetime, tz: tzinfo) -> datetime:
    """Attach ``tz``; a wall time inside a spring-forward gap moves forward, like Outlook."""
    aware = naive.replace(tzinfo=tz)
    back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != naive:  # nonexistent local time
        aware = naive.replace(tzinfo=tz, fold=1)
    return aware


# --- normalisation -------------------------------------------------------------------------

_RESPONSES = {
    "accepted": Response.ACCEPTED,
    "organizer": Response.ACCEPTED,
    "declined": Response.DECLINED,
    "tentativelyaccepted": Response.TENTATIVE,
    "notresponded": Response.NEEDS_ACTION,
    "none": Response.NEEDS_ACTION,
}


# What delta gives for a plain occurrence (docs-contrib#5602).
_PLAIN = {"id", "type", "seriesMasterId", "start", "end", "@odata.type", "originalStart"}


def _address(obj: dict[str, Any] | None) -> tuple[str, str | None]:
    ea = (obj or {}).get("emailAddress") or {}
    return str(ea.get("address") or "").strip().lower(), (ea.get("name") or None)


class Normaliser:
    def __init__(self, cal_name: str, owner_emails: set[str]) -> None:
        self.cal_name = cal_name
        self.owner_emails = owner_emails
        self._templates: dict[str, Occurrence | None] = {}

    def occurrence(
        self, item: dict[str, Any], master: dict[str, Any] | None
    ) -> Occurrence | None:
        """A Graph event (single, exception, or occurrence merged onto its master)."""
        if item.get("type") == "occurrence" and master is not None and set(item) <= _PLAIN:
            # A plain occurrence is its master with its own times: normalise the master's
            # part once per series.
            key = str(master.get("id"))
            template = self._templates.get(key)
            if template is None:
                template = self._build(item, master)
                self._templates[key] = template
            start = parse_graph_time(item.get("start"))
            end = parse_graph_time(item.get("end"))
            if template is None or start is None or end is None:
                return None
            if template.all_day:
                return self._build(item, master)
            tz = template.start.tzinfo or UTC
            original = parse_offset_time(item.get("originalStart")) or start.astimezone(UTC)
            return replace(template, ref=str(item["id"]), start=start.astimezone(tz),
                           end=end.astimezone(tz), recurrence_id=original)
        return self._build(item, master)

    def _build(self, item: dict[str, Any], master: dict[str, Any] | None) -> Occurrence | None:
        base = item
        if item.get("type") == "occurrence" and master is not None:
            base = {**master, **{k: v for k, v in item.items() if v is not None}}
            base["type"] = "occurrence"
            if "@odata.etag" not in item:
                base.pop("@odata.etag", None)
        start = parse_graph_time(base.get("start"))
        end = parse_graph_time(base.get("end"))
        if start is None or end is None:
            return None
        all_day = bool(base.get("isAllDay"))
        tz = zone(base.get("originalStartTimeZone"))
        if all_day:
            # Graph gives all-day events as midnight to midnight whatever the zone.
            start = datetime.combine(start.date(), datetime.min.time(), tzinfo=tz)
            end = datetime.combine(end.date(), datetime.min.time(), tzinfo=tz)
        else:
            start, end = start.astimezone(tz), end.astimezone(tz)
        organizer, org_name = _address(base.get("organizer"))
        is_org = base.get("isOrganizer")
        attendees: list[Attendee] = []
        seen: set[str] = set()
        for a in base.get("attendees") or []:
            addr, name = _address(a)
            if not addr or addr in seen:
                continue
            seen.add(addr)
            resp = str(((a.get("status") or {}).get("response")) or "none").lower()
            attendees.append(Attendee(
                email=addr,
                name=name,
                kind=AttendeeKind.RESOURCE if a.get("type") == "resource" else AttendeeKind.PERSON,
                response=_RESPONSES.get(resp, Response.UNKNOWN),
                is_self=addr in self.owner_emails,
            ))
        if organizer and organizer not in seen:
            # Graph leaves the organizer out of `attendees`; they take part all the same.
            attendees.insert(0, Attendee(
                email=organizer, name=org_name, response=Response.ACCEPTED,
                is_self=bool(is_org) or organizer in self.owner_emails,
            ))
        body = base.get("body") or {}
        series_id = base.get("seriesMasterId") if base.get("type") != "singleInstance" else None
        original = parse_offset_time(base.get("originalStart")) if series_id else None
        if series_id and original is None and item.get("type") == "occurrence":
            original = parse_graph_time(item.get("start"))
            original = original.astimezone(UTC) if original else None
        uid = str((master or {}).get("iCalUId") or base.get("iCalUId") or base.get("id"))
        return Occurrence(
            provider="microsoft",
            calendar=self.cal_name,
            ref=str(item["id"]),
            uid=uid,
            start=start,
            end=end,
            title=str(base.get("subject") or ""),
            series_id=series_id,
            recurrence_id=original,
            all_day=all_day,
            organizer=organizer or None,
            organizer_is_self=None if is_org is None else bool(is_org),
            attendees=tuple(attendees),
            status=Status.CANCELLED if base.get("isCancelled") else Status.CONFIRMED,
            description=Body(str(body.get("content") or ""),
                             html=str(body.get("contentType", "html")).lower() == "html"),
            etag=item.get("@odata.etag"),
        )

    def removed(self, master: dict[str, Any], slot: datetime) -> Occurrence | None:
        """An instance the organizer deleted from the series: planned once, never held."""
        start = parse_graph_time(master.get("start"))
        end = parse_graph_time(master.get("end"))
        if start is None or end is None:
            return None
        fake = {**master, "type": "exception", "id": f"{master['id']}@{slot.isoformat()}",
                "seriesMasterId": master["id"],
                "start": {"dateTime": slot.replace(tzinfo=None).isoformat(), "timeZone": "UTC"},
                "end": {"dateTime": (slot + (end - start)).replace(tzinfo=None).isoformat(),
                        "timeZone": "UTC"},
                "originalStart": slot.isoformat()}
        occ = self.occurrence(fake, None)
        if occ is None:
            return None
        return replace(occ, removed=True, writable=False, etag=None)


def _trim(item: dict[str, Any]) -> dict[str, Any]:
    """What the cache keeps of an event: metadata, and of the body only its checklist
    lines and calsync's block. Trimming a trimmed item changes nothing."""
    out = {k: item[k] for k in _KEEP if k in item}
    body = item.get("body")
    if isinstance(body, dict):
        if body.get(_REDUCED):
            out["body"] = body
        else:
            from calsync.core.privacy import keepable

            html = str(body.get("contentType", "html")).lower() == "html"
            kept = keepable(Body(str(body.get("content") or ""), html=html))
            out["body"] = {"contentType": "html" if html else "text", "content": kept.text,
                           _REDUCED: True}
    return out


def chain_window(window: Window) -> tuple[datetime, datetime]:
    """The requested window widened to whole 7-day blocks, plus one block of slack ahead."""
    start = window.start.astimezone(UTC)
    end = window.end.astimezone(UTC)
    blocks = (start - _EPOCH) // CHAIN_BLOCK
    lo = _EPOCH + blocks * CHAIN_BLOCK
    hi_blocks = -((_EPOCH - end) // CHAIN_BLOCK)  # ceiling
    hi = _EPOCH + hi_blocks * CHAIN_BLOCK + CHAIN_BLOCK
    return lo, hi


def _age(now: datetime, stamp: Any) -> timedelta:
    """How long ago an ISO ``stamp`` was; unreadable or in the future counts as long ago."""
    try:
        age = now - datetime.fromisoformat(str(stamp))
    except (ValueError, TypeError):
        return timedelta.max
    return age if age >= timedelta(0) else timedelta.max


def _near(sorted_times: list[datetime], t: datetime, within: timedelta) -> bool:
    import bisect

    i = bisect.bisect_left(sorted_times, t - within)
    return i < len(sorted_times) and sorted_times[i] <= t + within


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MicrosoftProvider:
    """One Outlook calendar through Microsoft Graph."""

    kind = "microsoft"

    def __init__(
        self,
        cal: MicrosoftCalendar,
        owner: Owner,
        state: KeyValue,
        now: datetime,
        *,
        sleep: Callable[[float], None] = time.sleep,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.cal = cal
        self.name = cal.name
        self.owner = owner
        self.state = state
        self.now = now
        self.tokens = TokenSource(cal)
        self.graph = Graph(cal.graph_url, self.tokens, sleep=sleep, policy=policy,
                           mailbox=cal.calendar or "me")
        self._calendar_path: str | None = None
        self._items: dict[str, dict[str, Any]] | None = None

    # -- paths ----------------------------------------------------------------------------

    def calendar_path(self) -> str:
        """``/me`` (main calendar) or ``/me/calendars/{id}`` for a named calendar."""
        if self._calendar_path is not None:
            return self._calendar_path
        name = self.cal.calendar
        if not name:
            self._calendar_path = "/me"
            return self._calendar_path
        cached = self.state.get("ms.calendar_id")
        if cached:
            ident, _, for_name = cached.partition("\n")
            if for_name == name:
                self._calendar_path = f"/me/calendars/{ident}"
                return self._calendar_path
        found = None
        url: str | None = "/me/calendars"
        params: dict[str, str] | None = {"$select": "id,name"}
        while url and found is None:
            page = self.graph.get_json(url, params=params)
            for c in page.get("value", []):
                if name in (c.get("id"), c.get("name")):
                    found = str(c["id"])
                    break
            url, params = page.get("@odata.nextLink"), None
        if found is None:
            raise ProviderError(f"{self.name}: no Outlook calendar named {name!r}")
        self.state.set("ms.calendar_id", f"{found}\n{name}")
        self._calendar_path = f"/me/calendars/{found}"
        return self._calendar_path

    # -- reading --------------------------------------------------------------------------

    def _load_items(self) -> dict[str, dict[str, Any]]:
        if self._items is None:
            raw = self.state.get("ms.items")
            self._items = json.loads(raw) if raw else {}
        return self._items

    def _sync(self, window: Window) -> None:
        lo, hi = chain_window(window)
        chain_raw = self.state.get("ms.delta")
        chain = json.loads(chain_raw) if chain_raw else None
        w_start, w_end = window.start.astimezone(UTC), window.end.astimezone(UTC)
        fresh = not (
            chain
            and datetime.fromisoformat(chain["start"]) <= w_start
            and w_end <= datetime.fromisoformat(chain["end"])
            and chain.get("calendar") == (self.cal.calendar or "")
            and chain.get("v") == CACHE_VERSION
        )
        items = self._load_items()
        changed = False
        if not fresh:
            assert chain is not None
            try:
                link, changed = self._replay(chain["link"], items)
            except GraphError as exc:
                if exc.status not in (410, 400) and exc.code not in ("syncStateNotFound",):
                    raise
                fresh = True  # the token expired: start a new chain
        if fresh and self._no_delta():
            self._items = self._view(window)  # learnt recently: this calendar has no delta
            return
        if fresh:
            items.clear()
            params = {"startDateTime": _iso(lo), "endDateTime": _iso(hi)}
            try:
                link, _ = self._replay(f"{self.calendar_path()}/calendarView/delta", items,
                                       params)
            except GraphError as exc:
                if exc.status not in (400, 404, 501):
                    raise
                # No delta for this calendar (Graph v1.0 offers it on some calendars only),
                # or a one-off refusal: read the plain calendar view of the run window, and
                # ask for delta again after NODELTA_RETRY.
                self.state.set("ms.delta", None)
                self.state.set("ms.items", None)
                self.state.set("ms.nodelta", json.dumps({
                    "calendar": self.cal.calendar or "",
                    "until": (self._now() + NODELTA_RETRY).isoformat()}))
                self._items = self._view(window)
                return
            self.state.set("ms.nodelta", None)
            chain = {"start": lo.isoformat(), "end": hi.isoformat(), "link": link,
                     "calendar": self.cal.calendar or "", "v": CACHE_VERSION}
            changed = True
        else:
            assert chain is not None
            chain["link"] = link
        self.state.set("ms.delta", json.dumps(chain))
        if changed:
            self.state.set("ms.items", json.dumps(items, separators=(",", ":")))

    def _now(self) -> datetime:
        return self.now if self.now.tzinfo is not None else self.now.replace(tzinfo=UTC)

    def _no_delta(self) -> bool:
        """Whether delta was refused for this calendar recently (within NODELTA_RETRY)."""
        raw = self.state.get("ms.nodelta")
        if not raw:
            return False
        try:
            rec = json.loads(raw)
            until = datetime.fromisoformat(rec["until"])
        except (ValueError, TypeError, KeyError):
            return False  # a record from an older calsync (kept forever): ask again now
        return rec.get("calendar") == (self.cal.calendar or "") and self._now() < until

    def _series_masters(
        self, items: dict[str, dict[str, Any]], warnings: list[str]
    ) -> dict[str, dict[str, Any]]:
        """Masters of the occurrences in ``items``: from the items, else from a cache.

        A master the view did not carry (a plain calendarView never does; delta may not) is
        fetched with ``GET /me/events/{id}`` once and kept in state (``ms.masters``) for
        MASTER_TTL, so a steady-state run stays one Graph request in both modes.
        """
        masters = {k: v for k, v in items.items() if v.get("type") == "seriesMaster"}
        missing = {
            str(v["seriesMasterId"]) for v in items.values()
            if v.get("type") in ("occurrence", "exception") and v.get("seriesMasterId")
            and v["seriesMasterId"] not in masters
        }
        raw = self.state.get("ms.masters")
        try:
            cache = json.loads(raw) if raw else {}
        except ValueError:
            cache = {}
        if not isinstance(cache, dict):
            cache = {}
        now = self._now()
        kept: dict[str, Any] = {}
        for master_id in sorted(missing):
            rec = cache.get(master_id)
            if isinstance(rec, dict) and _age(now, rec.get("at")) < MASTER_TTL:
                if isinstance(rec.get("item"), dict):  # an older cache kept whole bodies
                    rec = {**rec, "item": _trim(rec["item"])}
                    masters[master_id] = rec["item"]
                kept[master_id] = rec
                continue
            try:
                got = self.graph.get_json(
                    f"/me/events/{urllib.parse.quote(master_id, safe='')}",
                    headers={"Prefer": _PREFER_READ},
                )
            except GraphError as exc:
                if exc.status != 404:
                    raise
                warnings.append(f"series {master_id[:12]}… vanished; skipped")
                kept[master_id] = {"at": now.isoformat(), "item": None}
                continue
            masters[master_id] = _trim(got)
            kept[master_id] = {"at": now.isoformat(), "item": masters[master_id]}
        if kept != cache:  # masters no occurrence needs any more drop out
            self.state.set("ms.masters",
                           json.dumps(kept, separators=(",", ":")) if kept else None)
        return masters

    def _view(self, window: Window) -> dict[str, dict[str, Any]]:
        """Every event in the window from ``calendarView``, following ``@odata.nextLink``."""
        headers = {"Prefer": f"{_PREFER_READ}, odata.maxpagesize={PAGE_SIZE}"}
        params: dict[str, str] | None = {
            "startDateTime": _iso(window.start), "endDateTime": _iso(window.end)}
        items: dict[str, dict[str, Any]] = {}
        url: str | None = f"{self.calendar_path()}/calendarView"
        while url:
            page = self.graph.get_json(url, params=params, headers=headers)
            params = None
            for item in page.get("value", []):
                items[str(item.get("id"))] = _trim(item)
            url = page.get("@odata.nextLink")
        return items

    def _replay(
        self, url: str, items: dict[str, dict[str, Any]], params: dict[str, str] | None = None
    ) -> tuple[str, bool]:
        """Follow a delta round to its deltaLink, applying changes to ``items``."""
        headers = {"Prefer": f"{_PREFER_READ}, odata.maxpagesize={PAGE_SIZE}"}
        changed = False
        next_url: str | None = url
        while next_url:
            page = self.graph.get_json(next_url, params=params, headers=headers)
            params = None
            for item in page.get("value", []):
                changed = True
                ident = str(item.get("id"))
                if "@removed" in item:
                    items.pop(ident, None)
                else:
                    items[ident] = _trim(item)
            if "@odata.deltaLink" in page:
                return str(page["@odata.deltaLink"]), changed
            next_url = page.get("@odata.nextLink")
        raise ProviderError(f"{self.name}: Graph delta ended without a deltaLink")

    def fetch(self, window: Window) -> FetchResult:
        self._sync(window)
        items = self._load_items()
        result = FetchResult()
        owner = set(self.owner.emails)
        if self.tokens.username:
            owner.add(self.tokens.username)
        norm = Normaliser(self.name, owner)
        masters = self._series_masters(items, result.warnings)
        w_start, w_end = window.start.astimezone(UTC), window.end.astimezone(UTC)
        slots_seen: dict[str, set[datetime]] = {}
        for item in items.values():
            kind = item.get("type")
            if kind == "seriesMaster":
                continue
            master = masters.get(str(item.get("seriesMasterId"))) if kind != "singleInstance" \
                else None
            if kind == "occurrence" and master is None:
                continue
            try:
                occ = norm.occurrence(item, master)
            except (KeyError, ValueError, TypeError) as exc:
                result.warnings.append(f"event {str(item.get('id'))[:12]}…: {exc}")
                continue
            if occ is None:
                continue
            if occ.series_id and occ.recurrence_id is not None:
                slots_seen.setdefault(occ.series_id, set()).add(occ.recurrence_id)
            if occ.end > w_start and occ.start < w_end or (occ.start == occ.end and
                                                           w_start <= occ.start < w_end):
                result.occurrences.append(occ)
        for master_id, master in masters.items():
            recurrence = master.get("recurrence")
            first = parse_graph_time(master.get("start"))
            if not recurrence or first is None or master.get("isAllDay"):
                continue
            tz = self._series_zone(master)
            try:
                slots = expand_recurrence(recurrence, first, tz, w_start, w_end)
            except (KeyError, ValueError, TypeError) as exc:
                result.warnings.append(f"series {master_id[:12]}…: recurrence {exc}")
                continue
            seen = sorted(slots_seen.get(master_id, set()))
            for slot in slots:
                if slot < w_start or _near(seen, slot, timedelta(hours=3)):
                    # an instance holds this slot (an hour or two off is a zone the mapping
                    # got wrong, never a deleted meeting: no ghost cancellations)
                    continue
                occ = norm.removed(master, slot)
                if occ is not None:
                    result.occurrences.append(occ)
        result.occurrences.sort(key=lambda o: (o.start, o.ref))
        return result

    def _series_zone(self, master: dict[str, Any]) -> tzinfo:
        """The zone a series repeats in: its own, else its recurrence's, else the owner's."""
        rng = (master.get("recurrence") or {}).get("range") or {}
        for name in (master.get("originalStartTimeZone"), rng.get("recurrenceTimeZone"),
                     self.owner.timezone):
            if name and zone(name) is not UTC or name in ("UTC", "Etc/UTC"):
                return zone(name)
        return UTC

    # -- writing --------------------------------------------------------------------------

    def read_description(self, occurrence: Occurrence) -> Body | None:
        """The whole body as stored now (the cache keeps only part of it)."""
        if occurrence.removed:
            return None
        path = f"/me/events/{urllib.parse.quote(occurrence.ref, safe='')}"
        try:
            event = self.graph.get_json(path, params={"$select": "body"},
                                        headers={"Prefer": 'outlook.body-content-type="html"'})
        except GraphError as exc:
            if exc.status == 404:
                return None
            raise
        body = event.get("body") or {}
        return Body(str(body.get("content") or ""),
                    html=str(body.get("contentType", "html")).lower() == "html")

    def write_description(self, occurrence: Occurrence, splice: Splice, tag: str) -> WriteResult:
        if self.cal.read_only:
            return WriteResult(WriteStatus.FORBIDDEN, detail="calendar is read_only")
        if occurrence.removed:
            return WriteResult(WriteStatus.GONE, detail="occurrence was deleted")
        if not occurrence.owner_organizes(self.owner.emails):
            return WriteResult(WriteStatus.FORBIDDEN, detail="not the organizer")
        path = f"/me/events/{urllib.parse.quote(occurrence.ref, safe='')}"
        first_before: Body | None = None
        for attempt in (1, 2):
            try:
                event = self.graph.get_json(
                    path, params={"$select": "body,isOrganizer,type,onlineMeeting,subject"},
                    headers={"Prefer": 'outlook.body-content-type="html"'},
                )
            except GraphError as exc:
                if exc.status == 404:
                    return WriteResult(WriteStatus.GONE, detail="occurrence no longer exists")
                raise
            if event.get("type") == "seriesMaster":
                return WriteResult(WriteStatus.FORBIDDEN, detail="refusing to write a series master")
            if not event.get("isOrganizer"):
                return WriteResult(WriteStatus.FORBIDDEN, detail="not the organizer")
            body = event.get("body") or {}
            before = Body(str(body.get("content") or ""),
                          html=str(body.get("contentType", "html")).lower() == "html")
            first_before = first_before or before
            if self._same_as_written(occurrence.ref, tag, before.text):
                # Exchange may re-serialise the HTML it stores; this body is exactly what it
                # kept of our last write of this very block, so there is nothing to do.
                return WriteResult(WriteStatus.UNCHANGED, before=before, after=before)
            after = splice(before)
            if after is None or after == before:
                return WriteResult(WriteStatus.UNCHANGED, before=before, after=before)
            etag = event.get("@odata.etag")
            if not etag:
                # every write carries If-Match: without an ETag a PATCH could overwrite a
                # concurrent human edit, so nothing is written (the next run reads again)
                return WriteResult(WriteStatus.CONFLICT, before=before,
                                   detail="Graph gave no ETag for the event; not writing "
                                          "without If-Match")
            payload = {"body": {"contentType": "html" if after.html else "text",
                                "content": after.text}}
            resp = self.graph.request("PATCH", path, headers={"If-Match": str(etag)},
                                      json_body=payload, retry=True, ok=(412, 404, 403))
            if resp.status_code == 404:
                return WriteResult(WriteStatus.GONE, detail="occurrence no longer exists")
            if resp.status_code == 403:
                return WriteResult(WriteStatus.FORBIDDEN, before=before,
                                   detail="Graph refused the write (HTTP 403)")
            if resp.status_code == 412:
                if attempt == 1:
                    continue  # someone edited it in between: re-read and re-splice once
                return WriteResult(WriteStatus.CONFLICT, before=first_before,
                                   detail="changed by someone else twice; left alone")
            detail = ""
            old_join = ((event.get("onlineMeeting") or {}).get("joinUrl"))
            with contextlib.suppress(ValueError, AttributeError):
                updated = resp.json()
                new_join = ((updated.get("onlineMeeting") or {}).get("joinUrl"))
                if old_join and new_join != old_join:
                    detail = ("WARNING: the Teams join link changed after the update; "
                              "check the meeting in Outlook")
                stored = (updated.get("body") or {}).get("content")
                if isinstance(stored, str):
                    self._remember_written(occurrence.ref, tag, stored)
            return WriteResult(WriteStatus.WRITTEN, before=before, after=after, detail=detail)
        return WriteResult(WriteStatus.CONFLICT, before=first_before)  # pragma: no cover

    def _same_as_written(self, ref: str, tag: str, body: str) -> bool:
        raw = self.state.get(f"ms.written:{ref}")
        if not raw or not tag:
            return False
        rec = json.loads(raw)
        return bool(rec.get("tag") == tag and rec.get("sha") == _sha(body))

    def _remember_written(self, ref: str, tag: str, body: str) -> None:
        if tag:
            self.state.set(f"ms.written:{ref}", json.dumps({"tag": tag, "sha": _sha(body)}))

    def docs(self) -> DocBackend:
        from calsync.backends.microsoft.docs import OneDriveDocs

        return OneDriveDocs(self.graph, self.state, read_only=self.cal.read_only, now=self.now)

    def close(self) -> None:
        self.tokens._save()
        self.graph.close()
