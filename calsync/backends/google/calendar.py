"""Google Calendar (API v3) behind the provider seam, through google-api-python-client.

Reading: the first run lists the window (plus a margin ahead) with ``singleEvents=true``
and ``showDeleted=true`` and keeps the events and the ``nextSyncToken`` in ``state``; later
runs send only the sync token, so a run with nothing changed costs one list request. A
410 means the token expired: drop it and list the window again. Incremental results are
not windowed, so they are filtered to the synced span here.

Writing: only where the calendar's owner is the organizer; ``events.patch`` of the one
instance with ``If-Match`` on its ETag, ``sendUpdates`` set explicitly, and the block's
hash in ``extendedProperties.private``. A 412 means someone edited the event meanwhile:
read it again, splice again, try once more.

The client libraries cost ~150 ms to import, so they are imported inside functions.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calsync.backends.base import DocRef, Splice, Window, WriteResult, WriteStatus
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
from calsync.errors import AuthError, CalsyncError, ProviderError

if TYPE_CHECKING:
    from calsync.backends.google.config import GoogleCalendar
    from calsync.backends.google.docs import GoogleDocBackend
    from calsync.core.model import Owner
    from calsync.core.state import KeyValue

# Scopes: the least the features need (google.md §10). Read-only calendars never write,
# and create no docs, so they ask for the read-only events scope only.
SCOPES = (
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/drive.file",
)
READ_ONLY_SCOPES = ("https://www.googleapis.com/auth/calendar.events.readonly",)

TAG_KEY = "calsync-hash"  # extendedProperties.private key holding the block's hash
SYNC_MARGIN = timedelta(days=60)  # list this far past the window, so the window can slide
PAGE_SIZE = 2500  # the API's maximum
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# 403 reasons meaning the login lacks a scope (e.g. drive.file unchecked on the consent screen)
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
# Loggers of the client libraries: they warn on every non-2xx answer ("Encountered 403
# Forbidden with reason ..."), which Python's last-resort handler prints to stderr.
QUIET_LOGGERS = ("googleapiclient", "google_auth_httplib2")

SETUP_HINT = (
    "run `calsync setup google` to log in again. If this happens about every 7 days, the "
    "OAuth consent screen of your Google Cloud project is in \"Testing\" status, where "
    "Google expires logins after 7 days: set its publishing status to \"In production\" "
    "(or make it an Internal app in a Workspace organisation)"
)

# Event fields kept in the local cache; the rest of Google's payload is not needed. The
# description is kept only as :func:`calsync.core.privacy.keepable` reduces it (see _trim):
# writes read the event again, so the cache never holds people's text.
_KEEP = (
    "id", "status", "summary", "start", "end", "recurringEventId",
    "originalStartTime", "organizer", "attendees", "etag", "iCalUID", "attendeesOmitted",
)
# 2: descriptions reduced (an older cache holding whole ones is dropped and listed again)
_CACHE_VERSION = 2
_K_HTML = "calsync.html"  # in a cached event: whether its full description was HTML

_HTML = re.compile(
    r"<(?:br|p|div|a|b|i|u|ul|ol|li|span|strong|em|html|body|h[1-6]|table|tr|td)\b[^>]*>"
    r"|</[a-z][a-z0-9]*>|&(?:nbsp|amp|lt|gt|quot|#\d+);",
    re.IGNORECASE,
)


def looks_like_html(text: str) -> bool:
    """Google descriptions are "HTML, but sometimes plain text": decide by the content."""
    return bool(_HTML.search(text))


def error_reason(exc: Any) -> str | None:
    """The machine reason of a Google error (``error.errors[0].reason``), if any."""
    try:
        data = json.loads(exc.content)
        err = data["error"]
        errors = err.get("errors") or []
        if errors:
            return str(errors[0]["reason"])
        details = err.get("details") or []
        for d in details:
            if isinstance(d, dict) and d.get("reason"):
                return str(d["reason"])
        status = err.get("status")
        return str(status) if status else None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


def disabled_api_hint(exc: Any, api: str) -> str | None:
    """Google's answer when the API is not enabled in the OAuth client's project."""
    if error_reason(exc) in ("accessNotConfigured", "SERVICE_DISABLED"):
        return (
            f"the {api} is not enabled in the Google Cloud project of your OAuth client: "
            "enable it under APIs & Services → Library (see docs/google.md)"
        )
    return None


def error_message(exc: Any) -> str:
    try:
        return str(json.loads(exc.content)["error"]["message"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return str(getattr(exc, "reason", "") or "")


def http_error(exc: Any, label: str, what: str, api: str = "Google Calendar API") -> CalsyncError:
    """A Google ``HttpError`` as calsync's error: the one mapping for the calendar
    provider and the doc backend. A refused or under-scoped login is an
    :class:`AuthError` (exit 3, "run ``calsync setup google``"); the rest is a
    :class:`ProviderError` (exit 4).
    """
    status = exc.status_code
    reason = error_reason(exc)
    if status == 401:
        return AuthError(f"{label}: Google refused the login (401); {SETUP_HINT}")
    if status == 403 and reason in SCOPE_REASONS:
        return AuthError(
            f"{label}: the Google login lacks the needed permission ({reason}); "
            "run `calsync setup google` and allow all the access it asks for on Google's "
            "consent screen"
        )
    hint = disabled_api_hint(exc, api)
    if hint:
        return ProviderError(f"{label}: {hint}")
    return ProviderError(
        f"{label}: {what}: Google answered HTTP {status}"
        f"{f' {reason}' if reason else ''}: {error_message(exc)}"
    )


def quiet_client_loggers() -> None:
    """Keep the client libraries' warnings off stderr (cron silence, ``--quiet``): calsync
    reports every failure itself. Only their own loggers: the root logger is left alone."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.ERROR:
            logger.setLevel(logging.ERROR)


class _Gone(Exception):
    """The sync token expired (410)."""


class Session:
    """One Google login: credentials, the HTTP transport and the built services.

    Shared by the calendar provider and the doc backend, so both use one token and one
    retry policy. Services are built from the static discovery documents shipped with
    google-api-python-client, with ``rootUrl`` replaced by ``api_url`` when configured.
    """

    def __init__(
        self,
        token_file: Path,
        api_url: str | None,
        retry: RetryPolicy,
        label: str,
    ) -> None:
        self.token_file = token_file
        self.api_url = api_url
        self.retry = retry
        self.label = label  # the calendar's name, for messages
        quiet_client_loggers()
        self._creds: Any = None
        self._saved_token: str | None = None
        self._info: dict[str, Any] = {}
        self._http: Any = None
        self._raw_http: Any = None  # the OnceHttp under the login
        self._services: dict[str, Any] = {}

    # -- credentials -------------------------------------------------------------------
    def credentials(self) -> Any:
        if self._creds is not None:
            return self._creds
        from calsync.paths import require_private

        require_private(self.token_file, self.label)
        try:
            info = json.loads(self.token_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AuthError(
                f"{self.label}: no Google login saved at {self.token_file}; "
                "run `calsync setup google`"
            ) from None
        except (OSError, ValueError) as exc:
            raise AuthError(
                f"{self.label}: cannot read the Google login at {self.token_file} "
                f"({type(exc).__name__}); run `calsync setup google`"
            ) from None
        if not isinstance(info, dict):
            raise AuthError(
                f"{self.label}: the Google login at {self.token_file} is not a login saved by "
                f"calsync (JSON {type(info).__name__}, not an object); "
                "run `calsync setup google`"
            )
        missing = [k for k in ("refresh_token", "client_id", "client_secret") if not info.get(k)]
        if missing:
            raise AuthError(
                f"{self.label}: the Google login at {self.token_file} lacks "
                f"{', '.join(missing) or 'fields'}; run `calsync setup google`"
            )
        from google.oauth2.credentials import Credentials

        expiry = None
        if info.get("expiry"):
            try:
                parsed = datetime.fromisoformat(str(info["expiry"]).rstrip("Z"))
                # google-auth compares against naive UTC
                expiry = parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
            except ValueError:
                expiry = None
        # Built by hand: Credentials.from_authorized_user_info ignores the file's token_uri.
        self._creds = Credentials(  # type: ignore[no-untyped-call]
            token=info.get("token"),
            refresh_token=info["refresh_token"],
            token_uri=info.get("token_uri") or "https://oauth2.googleapis.com/token",
            client_id=info["client_id"],
            client_secret=info["client_secret"],
            scopes=info.get("scopes"),
            expiry=expiry,
        )
        self._info = info
        self._saved_token = info.get("token")
        return self._creds

    def save(self) -> None:
        """Write a refreshed access token back to the token file (0600, atomic)."""
        creds = self._creds
        if creds is None or creds.token == self._saved_token or not creds.token:
            return
        from calsync.paths import write_private

        info = dict(self._info)
        info.update(json.loads(creds.to_json()))
        write_private(self.token_file, json.dumps(info, indent=2) + "\n")
        self._info = info
        self._saved_token = creds.token

    # -- services -----------------------------------------------------------------------
    def service(self, api: str, version: str) -> Any:
        key = f"{api}:{version}"
        if key in self._services:
            return self._services[key]
        import google_auth_httplib2
        import httplib2
        from googleapiclient.discovery import build_from_document
        from googleapiclient.discovery_cache import get_static_doc

        from calsync.backends.once_http import OnceHttp

        if self._http is None:
            # httplib2 would silently try a failed connection once more; calsync's own
            # retries (counted, bounded, named in the error) are the only ones
            httplib2.RETRIES = 1
            self._raw_http = OnceHttp(timeout=self.retry.timeout)
            self._http = google_auth_httplib2.AuthorizedHttp(
                self.credentials(), http=self._raw_http
            )
        raw = get_static_doc(api, version)
        if raw is None:  # pragma: no cover - shipped with the library
            raise ProviderError(f"no discovery document for {api} {version}")
        doc = json.loads(raw)
        if self.api_url:
            doc["rootUrl"] = self.api_url.rstrip("/") + "/"
        svc = build_from_document(doc, http=self._http)
        self._services[key] = svc
        return svc

    def resource(self, api: str, version: str, name: str) -> Any:
        """A service's collection (``events``, ``files``...), built once: each build
        generates every method with its docstring (~20 ms for Drive's ``files``)."""
        key = f"{api}:{version}:{name}"
        if key not in self._services:
            self._services[key] = getattr(self.service(api, version), name)()
        return self._services[key]

    # -- execution ----------------------------------------------------------------------
    def execute(self, request: Any, *, retry: bool, what: str) -> Any:
        """Run one request. ``retry`` only for reads and If-Match-guarded writes."""
        import httplib2
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import Error as ClientError
        from googleapiclient.errors import HttpError

        policy = self.retry
        slept = 0.0
        attempt = 0
        net_failures = 0
        started = policy.clock()
        while True:
            try:
                result = self._send(request, once=not retry)
                self.save()
                if isinstance(result, str) and "alt=json" in str(request.uri):
                    # the client hands back what it could not parse (a proxy's login page)
                    raise ProviderError(
                        f"{self.label}: {what}: Google's answer was not JSON "
                        f"({result[:60]!r}); check api_url and any proxy"
                    )
                return result
            except RefreshError as exc:
                if getattr(exc, "retryable", False):
                    # the token endpoint was unwell (google-auth already retried): not a
                    # login problem, so not "log in again"
                    raise ProviderError(
                        f"{self.label}: Google's token endpoint failed temporarily; "
                        "will try again next run"
                    ) from None
                raise self.auth_error(exc) from None
            except HttpError as exc:
                status = int(exc.status_code or exc.resp.status)
                reason = error_reason(exc)
                transient = status in RETRY_STATUSES or (
                    status == 403 and reason in RATE_LIMIT_REASONS
                )
                if not (retry and transient):
                    raise
                wait = policy.delay(attempt, retry_after(exc.resp.get("retry-after")))
                failure: str = f"HTTP {status} {reason or ''}".strip()
            except ClientError as exc:  # not an HTTP error: a malformed answer, a bad upload
                raise ProviderError(
                    f"{self.label}: {what}: unexpected answer from Google ({type(exc).__name__})"
                ) from None
            except (OSError, TransportError, httplib2.HttpLib2Error) as exc:
                net_failures += 1
                wait = policy.delay(net_failures - 1, None)
                if not (retry and policy.another_network_try(net_failures, started, wait)):
                    host = host_of(str(getattr(request, "uri", "")) or self.api_url or "",
                                   "https://www.googleapis.com")
                    raise ProviderError(
                        f"{self.label}: {what}: "
                        f"{unreachable(host, exc, net_failures, started, policy.clock)}"
                        f"{'' if retry else ' (a write that cannot be guarded is not retried)'}"
                    ) from None
                policy.sleep(wait)
                slept += wait
                continue
            attempt += 1
            if attempt >= policy.tries or slept + wait > policy.budget:
                raise ProviderError(
                    f"{self.label}: {what}: still failing after {attempt} tries ({failure}); "
                    "giving up for this run"
                )
            policy.sleep(wait)
            slept += wait

    def _send(self, request: Any, *, once: bool) -> Any:
        """One try of ``request``; ``once``: never sent a second time by httplib2 either."""
        raw = self._raw_http
        if raw is not None:
            raw.once = once
        try:
            return request.execute(num_retries=0)
        finally:
            if raw is not None:
                raw.once = False

    def auth_error(self, exc: Exception) -> AuthError:
        text = str(exc.args[0]) if exc.args else ""
        kind = "refused" if "invalid_grant" in text else "failed"
        # the server's words name the cause ("Token has been expired or revoked"); no secrets
        summary = re.sub(r"\s+", " ", text)[:160]
        return AuthError(f"{self.label}: Google refresh of the login {kind} ({summary}); {SETUP_HINT}")


# -- normalisation ----------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _when(value: dict[str, Any] | None, default_tz: tzinfo) -> tuple[datetime, bool] | None:
    """A Google EventDateTime as an aware datetime (in the event's own zone), and all-day."""
    if not value:
        return None
    if value.get("dateTime"):
        dt = datetime.fromisoformat(value["dateTime"])
        zone = _zone(value.get("timeZone"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=zone or default_tz)
        elif zone is not None:
            dt = dt.astimezone(zone)
        return dt, False
    if value.get("date"):
        d = date.fromisoformat(value["date"])
        zone = _zone(value.get("timeZone")) or default_tz
        return datetime(d.year, d.month, d.day, tzinfo=zone), True
    return None


_RESPONSES = {
    "accepted": Response.ACCEPTED,
    "declined": Response.DECLINED,
    "tentative": Response.TENTATIVE,
    "needsAction": Response.NEEDS_ACTION,
}
_STATUSES = {"confirmed": Status.CONFIRMED, "tentative": Status.TENTATIVE, "cancelled": Status.CANCELLED}


def normalise(
    event: dict[str, Any], calendar: str, default_tz: tzinfo, read_only: bool = False
) -> Occurrence | None:
    """One Google event (an instance or a single event) as an :class:`Occurrence`."""
    start = _when(event.get("start"), default_tz) or _when(
        event.get("originalStartTime"), default_tz
    )
    if start is None:
        return None
    end = _when(event.get("end"), default_tz)
    end_dt = end[0] if end else start[0]
    attendees = []
    for a in event.get("attendees") or []:
        addr = str(a.get("email") or "").strip().lower()
        if not addr:
            continue
        attendees.append(
            Attendee(
                email=addr,
                name=a.get("displayName") or None,
                kind=AttendeeKind.RESOURCE if a.get("resource") else AttendeeKind.PERSON,
                response=_RESPONSES.get(a.get("responseStatus", ""), Response.UNKNOWN),
                is_self=bool(a.get("self")),
            )
        )
    if event.get("attendeesOmitted"):
        # Google left some guests out of this copy: never mistake it for a 1on1
        attendees.append(Attendee("attendees-omitted@calsync.invalid", kind=AttendeeKind.GROUP))
    organizer = event.get("organizer") or {}
    status = _STATUSES.get(event.get("status", "confirmed"), Status.CONFIRMED)
    series = event.get("recurringEventId")
    original = _when(event.get("originalStartTime"), default_tz)
    text = event.get("description") or ""
    html = event[_K_HTML] if _K_HTML in event else looks_like_html(text)
    return Occurrence(
        provider="google",
        calendar=calendar,
        ref=event["id"],
        uid=event.get("iCalUID") or event["id"],
        start=start[0],
        end=end_dt,
        title=event.get("summary") or "",
        series_id=series,
        recurrence_id=original[0] if original else None,
        all_day=start[1],
        organizer=(organizer.get("email") or "").lower() or None,
        organizer_is_self=bool(organizer.get("self")),
        attendees=tuple(attendees),
        status=status,
        # a cancelled instance of a series is an occurrence taken out of it
        removed=status is Status.CANCELLED and series is not None,
        description=Body(text, html=bool(html)),
        etag=event.get("etag"),
        writable=not read_only and status is not Status.CANCELLED,
    )


def _day(value: dict[str, Any] | None) -> str | None:
    if not value:
        return None
    text = value.get("dateTime") or value.get("date")
    return str(text)[:10] if text else None


def _trim(event: dict[str, Any]) -> dict[str, Any]:
    """What the cache keeps of an event: metadata, and of the description only its
    checklist lines and calsync's block (never people's other text)."""
    out = {k: event[k] for k in _KEEP if k in event}
    if _K_HTML in event:  # already trimmed
        out["description"], out[_K_HTML] = event.get("description") or "", event[_K_HTML]
    elif event.get("description"):
        from calsync.core.privacy import keepable

        text = str(event["description"])
        kept = keepable(Body(text, html=looks_like_html(text)))
        out["description"], out[_K_HTML] = kept.text, kept.html
    return out


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the provider -----------------------------------------------------------------------


class GoogleProvider:
    kind = "google"

    def __init__(
        self,
        cal: GoogleCalendar,
        owner: Owner,
        state: KeyValue,
        now: datetime,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.cal = cal
        self.name = cal.name
        self.owner = owner
        self.state = state
        self.now = now
        if cal.token_file is None:  # config always fills a default
            raise AuthError(f"{cal.name}: no token_file; run `calsync setup google`")
        self.session = Session(cal.token_file, cal.api_url, retry or RetryPolicy(), cal.name)
        self._events: dict[str, dict[str, Any]] | None = None
        self._meta: dict[str, Any] = {}
        self._dirty = False
        self._docs: GoogleDocBackend | None = None
        self.requests = 0  # API requests this run (benchmarks, tests)

    # -- state --------------------------------------------------------------------------
    _K_META = "google.sync"  # calendar id, span, token, time zone (small; written each run)
    _K_EVENTS = "google.events"  # the cached events (large; written only when changed)

    def _load(self) -> None:
        if self._events is not None:
            return
        self._meta, self._events = {}, {}
        raw = self.state.get(self._K_META)
        raw_events = self.state.get(self._K_EVENTS)
        if not raw or not raw_events:
            return
        try:
            meta = json.loads(raw)
            events = json.loads(raw_events)
        except ValueError:
            return
        if (
            isinstance(meta, dict)
            and isinstance(events, dict)
            and meta.get("v") == _CACHE_VERSION
            and meta.get("calendar_id") == self.cal.calendar_id
            and meta.get("sync_id") == events.get("sync_id")
        ):
            self._meta = meta
            self._events = events.get("events") or {}

    def _save(self) -> None:
        if self._events is None:
            return
        if self._dirty:
            self.state.set(
                self._K_EVENTS,
                json.dumps({"sync_id": self._meta.get("sync_id"), "events": self._events},
                           separators=(",", ":")),
            )
            self._dirty = False
        self.state.set(self._K_META, json.dumps(self._meta, separators=(",", ":")))

    @property
    def _calendar_tz(self) -> tzinfo:
        return _zone(self._meta.get("tz")) or _zone(self.owner.timezone) or UTC

    # -- reading ------------------------------------------------------------------------
    def _api(self) -> Any:
        return self.session.resource("calendar", "v3", "events")

    def _list(self, **params: Any) -> tuple[list[dict[str, Any]], str | None, str | None]:
        from googleapiclient.errors import HttpError

        events = self._api()
        req = events.list(
            calendarId=self.cal.calendar_id, singleEvents=True, maxResults=PAGE_SIZE, **params
        )
        items: list[dict[str, Any]] = []
        token = tz = None
        while req is not None:
            self.requests += 1
            try:
                resp = self.session.execute(req, retry=True, what="listing events")
            except HttpError as exc:
                if exc.status_code == 410:
                    raise _Gone() from None
                raise self._error(exc, "listing events") from None
            items.extend(resp.get("items") or [])
            token = resp.get("nextSyncToken") or token
            tz = resp.get("timeZone") or tz
            req = events.list_next(req, resp)
        return items, token, tz

    def _span(self, event: dict[str, Any]) -> tuple[datetime, datetime] | None:
        start = _when(event.get("start"), self._calendar_tz) or _when(
            event.get("originalStartTime"), self._calendar_tz
        )
        if start is None:
            return None
        end = _when(event.get("end"), self._calendar_tz)
        return start[0], (end[0] if end else start[0])

    def _apply(self, items: Iterable[dict[str, Any]], lo: datetime, hi: datetime) -> None:
        assert self._events is not None
        minimal: list[dict[str, Any]] = []
        for item in items:
            eid = item.get("id")
            if not eid:
                continue
            cached = self._events.get(eid)
            if item.get("status") == "cancelled":
                if cached is not None:
                    merged = dict(cached)
                    merged.update(_trim(item))
                    self._events[eid] = merged
                    self._dirty = True
                    continue
                if not item.get("recurringEventId"):
                    # a deleted single event we never saw, or a whole series deleted
                    for other in self._events.values():
                        if other.get("recurringEventId") == eid:
                            other["status"] = "cancelled"
                            self._dirty = True
                    continue
                if not item.get("start"):
                    minimal.append(item)  # filled in from its siblings, once all are in
                    continue
            self._keep(eid, item, lo, hi)
        if minimal:
            wanted = {item["recurringEventId"] for item in minimal}
            by_series: dict[str, list[dict[str, Any]]] = {}
            for other in self._events.values():
                sid = other.get("recurringEventId")
                if isinstance(sid, str) and sid in wanted and other.get("status") != "cancelled":
                    by_series.setdefault(sid, []).append(other)
            for item in minimal:
                filled = self._from_siblings(item, by_series.get(item["recurringEventId"], []))
                self._keep(item["id"], filled, lo, hi)

    def _keep(self, eid: str, item: dict[str, Any], lo: datetime, hi: datetime) -> None:
        """Cache an event that overlaps the synced span; forget it otherwise."""
        assert self._events is not None
        span = self._span(item)
        if span is None or span[1] <= lo or span[0] >= hi:
            if self._events.pop(eid, None) is not None:
                self._dirty = True
            return
        self._events[eid] = _trim(item)
        self._dirty = True

    def _from_siblings(
        self, item: dict[str, Any], instances: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """A cancelled instance as listed: only id, status, recurringEventId and
        originalStartTime (google.md §3). Its title, people and length come from the
        series' other instances: those not moved, with the most common title and length,
        nearest in time; failing those, from the series master (one request).
        """
        if not item.get("originalStartTime"):
            return item
        original = _when(item["originalStartTime"], self._calendar_tz)
        out = dict(item)
        out["start"] = dict(item["originalStartTime"])
        out["end"] = dict(item["originalStartTime"])
        if original is None:
            return out
        siblings = []
        for other in instances:  # the series' other instances, not cancelled
            span = self._span(other)
            if span is None:
                continue
            moved = other.get("originalStartTime") not in (None, other.get("start"))
            siblings.append((other, span[1] - span[0], moved, abs(span[0] - original[0])))
        if not siblings:
            # no other instance to learn from: the series master says (one request)
            master = self._get(item["recurringEventId"])
            span = self._span(master) if master and master.get("status") != "cancelled" else None
            if master is None or span is None:
                return out
            siblings.append((master, span[1] - span[0], False, timedelta(0)))
        counts: dict[tuple[str, timedelta], int] = {}
        for other, length, _, _ in siblings:
            sig = (str(other.get("summary") or ""), length)
            counts[sig] = counts.get(sig, 0) + 1
        best, length, _, _ = min(
            siblings,
            key=lambda s: (s[2], -counts[(str(s[0].get("summary") or ""), s[1])], s[3],
                           str(s[0].get("id"))),
        )
        for key in ("summary", "organizer", "attendees", "attendeesOmitted", "iCalUID"):
            if key in best and key not in out:
                out[key] = best[key]
        if original[1]:  # all-day: whole days
            days = max(length.days, 1)
            out["end"] = {"date": (original[0].date() + timedelta(days=days)).isoformat()}
        else:
            out["end"] = {"dateTime": (original[0] + length).isoformat()}
        return out

    def _prune_truncated(self, items: list[dict[str, Any]]) -> None:
        """Tell instances cut off by a series edit from instances someone cancelled.

        Both arrive in an incremental sync as cancelled instances. A "this and following"
        edit (or deleting a series) ends the old series: its later instances no longer
        exist, they were not cancelled meetings. Reading the series master (one request per
        series that lost instances, only in such runs) tells which is which.
        """
        assert self._events is not None
        series = {i["recurringEventId"] for i in items
                  if i.get("status") == "cancelled" and i.get("recurringEventId")}
        for sid in sorted(series):
            master = self._get(sid)
            drop_after: datetime | None = None
            if master is None or master.get("status") == "cancelled":
                drop_after = datetime.min.replace(tzinfo=UTC)
            else:
                for rule in master.get("recurrence") or []:
                    m = re.search(r"UNTIL=(\d{8})(T\d{6}Z?)?", rule)
                    if rule.startswith("RRULE") and m:
                        if m.group(2):
                            drop_after = datetime.strptime(
                                m.group(1) + m.group(2).rstrip("Z"), "%Y%m%dT%H%M%S"
                            ).replace(tzinfo=UTC)
                        else:
                            d = date.fromisoformat(
                                f"{m.group(1)[:4]}-{m.group(1)[4:6]}-{m.group(1)[6:]}")
                            drop_after = datetime(d.year, d.month, d.day,
                                                  tzinfo=self._calendar_tz) + timedelta(days=1)
            if drop_after is None:
                continue
            for eid, ev in list(self._events.items()):
                if ev.get("recurringEventId") != sid or ev.get("status") != "cancelled":
                    continue
                original = _when(ev.get("originalStartTime"), self._calendar_tz)
                if original is not None and original[0] > drop_after:
                    del self._events[eid]
                    self._dirty = True

    def fetch(self, window: Window) -> FetchResult:
        self._load()
        assert self._events is not None
        meta = self._meta
        full = True
        if meta.get("token"):
            lo, hi = datetime.fromisoformat(meta["start"]), datetime.fromisoformat(meta["end"])
            if lo <= window.start and window.end <= hi:
                full = False
                try:
                    items, token, tz = self._list(syncToken=meta["token"])
                except _Gone:
                    full = True
                else:
                    self._apply(items, lo, hi)
                    self._prune_truncated(items)
                    meta["token"] = token or meta["token"]
                    meta["tz"] = tz or meta.get("tz")
        if full:
            lo, hi = window.start, window.end + SYNC_MARGIN
            items, token, tz = self._list(
                timeMin=_iso(lo), timeMax=_iso(hi), showDeleted=True
            )
            self._events = {}
            self._meta = meta = {
                "v": _CACHE_VERSION,
                "calendar_id": self.cal.calendar_id,
                "sync_id": f"{_iso(datetime.now(UTC))}-{random.getrandbits(32):08x}",
                "start": lo.isoformat(),
                "end": hi.isoformat(),
                "token": token,
                "tz": tz,
            }
            self._apply(items, lo, hi)
            self._dirty = True
        self._save()
        result = FetchResult()
        tz_default = self._calendar_tz
        # cheap pre-filter on the ISO date strings; the exact test follows below
        lo_day = (window.start - timedelta(days=2)).date().isoformat()
        hi_day = (window.end + timedelta(days=2)).date().isoformat()
        for event in self._events.values():
            s_day = _day(event.get("start") or event.get("originalStartTime"))
            e_day = _day(event.get("end")) or s_day
            if s_day and e_day and (s_day > hi_day or e_day < lo_day):
                continue
            try:
                occ = normalise(event, self.name, tz_default, self.cal.read_only)
            except (KeyError, ValueError, TypeError) as exc:
                result.warnings.append(
                    f"{self.name}: skipped event {event.get('id')}: {type(exc).__name__}: {exc}"
                )
                continue
            if occ is None:
                continue
            if occ.start < window.end and (occ.end > window.start or occ.start >= window.start):
                result.occurrences.append(occ)
        result.occurrences.sort(key=lambda o: (o.start, o.ref))
        return result

    # -- writing ------------------------------------------------------------------------
    def _get(self, event_id: str) -> dict[str, Any] | None:
        from googleapiclient.errors import HttpError

        req = self._api().get(calendarId=self.cal.calendar_id, eventId=event_id)
        self.requests += 1
        try:
            event: dict[str, Any] = self.session.execute(req, retry=True, what="reading an event")
        except HttpError as exc:
            if exc.status_code in (404, 410):
                return None
            raise self._error(exc, "reading an event") from None
        return event

    def read_description(self, occurrence: Occurrence) -> Body | None:
        """The whole description as stored now (the cache keeps only part of it)."""
        event = self._get(occurrence.ref)
        if event is None:
            return None
        text = event.get("description") or ""
        return Body(text, html=looks_like_html(text))

    def write_description(
        self, occurrence: Occurrence, splice: Splice, tag: str, attach: DocRef | None = None
    ) -> WriteResult:
        from googleapiclient.errors import HttpError

        if self.cal.read_only:
            return WriteResult(WriteStatus.FORBIDDEN, detail=f"{self.name} is read_only")
        if not occurrence.owner_organizes(self.owner.emails):
            return WriteResult(
                WriteStatus.FORBIDDEN,
                detail=(
                    f"not the organizer of {occurrence.title!r} "
                    f"(organizer: {occurrence.organizer or 'unknown'}); on Google only the "
                    "organizer can change the description"
                ),
            )
        self._load()
        assert self._events is not None
        # the cache keeps no whole description: read the body to splice, with its ETag
        event = self._get(occurrence.ref)
        if event is None:
            return WriteResult(WriteStatus.GONE, detail="the event no longer exists")
        for attempt in range(2):
            if event.get("status") == "cancelled":
                return WriteResult(WriteStatus.GONE, detail="the occurrence was cancelled")
            text = event.get("description") or ""
            before = Body(text, html=looks_like_html(text))
            after = splice(before)
            if after is None or after == before:
                return WriteResult(WriteStatus.UNCHANGED, before=before, after=before)
            body: dict[str, Any] = {
                "description": after.text,
                "extendedProperties": {"private": {TAG_KEY: tag}},
            }
            if not event.get("etag"):
                # every write carries If-Match: without an ETag a PATCH could overwrite a
                # concurrent human edit, so nothing is written (the next run reads again)
                return WriteResult(WriteStatus.CONFLICT, before=before,
                                   detail="Google gave no ETag for the event; not writing "
                                          "without If-Match")
            attachments = self._attachments(event, attach)
            if attachments is not None:
                body["attachments"] = attachments
            req = self._api().patch(
                calendarId=self.cal.calendar_id,
                eventId=occurrence.ref,
                body=body,
                sendUpdates=self.cal.send_updates,
                supportsAttachments=attachments is not None,
            )
            req.headers["If-Match"] = event["etag"]
            self.requests += 1
            try:
                # guarded by If-Match, so a retry cannot overwrite someone else's edit
                updated = self.session.execute(req, retry=True, what="writing the agenda")
            except HttpError as exc:
                status = exc.status_code
                if status == 412:
                    if attempt == 0:
                        fresh = self._get(occurrence.ref)
                        if fresh is None:
                            return WriteResult(WriteStatus.GONE, detail="the event was deleted")
                        event = fresh
                        continue
                    return WriteResult(
                        WriteStatus.CONFLICT,
                        before=before,
                        detail="the event changed while calsync was writing, twice; left alone",
                    )
                if status in (404, 410):
                    return WriteResult(WriteStatus.GONE, detail="the event no longer exists")
                if status == 403:
                    reason = error_reason(exc) or "forbidden"
                    hint = {
                        "forbiddenForNonOrganizer": "only the organizer can change it",
                        "insufficientPermissions": "the login lacks write access; run "
                        "`calsync setup google` (without --read-only)",
                        "requiredAccessLevel": "you have no write access to this calendar",
                    }.get(reason, error_message(exc))
                    return WriteResult(
                        WriteStatus.FORBIDDEN, before=before, detail=f"Google refused ({reason}): {hint}"
                    )
                raise self._error(exc, "writing the agenda") from None
            self._events[occurrence.ref] = _trim(updated)
            self._dirty = True
            new_text = updated.get("description") or ""
            return WriteResult(
                WriteStatus.WRITTEN, before=before, after=Body(new_text, looks_like_html(new_text))
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _attachments(self, event: dict[str, Any], doc: DocRef | None) -> list[dict[str, Any]] | None:
        """The event's attachments plus the pair's doc the app named, or None to leave them."""
        if not self.cal.attach_doc or doc is None:
            return None
        current = list(event.get("attachments") or [])
        if any(a.get("fileId") == doc.id or a.get("fileUrl") == doc.url for a in current):
            return None
        if len(current) >= 25:  # the API's limit per event
            return None
        known = self._docs.known() if self._docs is not None else []
        title = next((k.title for k in known if k.id == doc.id), "1on1 notes")
        current.append(
            {"fileUrl": doc.url, "title": title, "mimeType": "application/vnd.google-apps.document"}
        )
        return current

    def _error(self, exc: Any, what: str) -> CalsyncError:
        if exc.status_code == 404:
            return ProviderError(
                f"{self.name}: Google calendar {self.cal.calendar_id!r} not found or not shared "
                "with this login (check calendar_id)"
            )
        return http_error(exc, self.name, what)

    # -- docs and lifecycle -------------------------------------------------------------
    def docs(self) -> GoogleDocBackend:
        if self._docs is None:
            from calsync.backends.google.docs import GoogleDocBackend

            self._docs = GoogleDocBackend(self.session, self.state, self.cal, self.now)
        return self._docs

    def close(self) -> None:
        self._save()
        self.session.save()
