"""Google Calendar (API v3) behind the provider seam, through google-api-python-client.

Reading: the first run lists the window (plus a margin ahead) with ``singleEvents=true``
and ``showDeleted=true`` and keeps the events and the ``nextSyncToken`` in ``state``
(:mod:`calsync.backends.google.cache`); later runs send only the sync token, so a run with
nothing changed costs one list request. A 410 means the token expired: drop it and list
the window again. Incremental results are not windowed, so they are filtered to the
synced span here.

Writing: only where the calendar's owner is the organizer; ``events.patch`` of the one
instance with ``If-Match`` on its ETag, ``sendUpdates`` set explicitly, and the block's
hash in ``extendedProperties.private``. A 412 means someone edited the event meanwhile:
read it again, splice again, try once more.

Free/busy: :meth:`GoogleProvider.busy` asks ``freeBusy.query`` for the counterparts of
skipped meetings only (:mod:`calsync.backends.google.freebusy`).

Which calendar (``calendar_id``, ``primary`` by default) and whose login (a
:class:`~calsync.backends.google.auth.Login`) are given to the provider; the client
libraries cost ~150 ms to import, so they are imported inside functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from calsync.backends.base import (
    BookRequest,
    BookResult,
    DocRef,
    Interval,
    Splice,
    Window,
    WriteResult,
    WriteStatus,
)
from calsync.backends.google import freebusy
from calsync.backends.google.auth import FREEBUSY_SCOPES, Login, TokenFileLogin
from calsync.backends.google.cache import EventCache
from calsync.backends.google.client import (
    SCOPE_REASONS,
    Session,
    error_message,
    error_reason,
    http_error,
)
from calsync.backends.google.normalise import day, iso, looks_like_html, normalise, zone
from calsync.backends.retry import RetryPolicy
from calsync.core.model import Body, FetchResult, Occurrence
from calsync.errors import AuthError, CalsyncError, ProviderError

if TYPE_CHECKING:
    from calsync.backends.google.config import GoogleCalendar
    from calsync.backends.google.docs import GoogleDocBackend
    from calsync.backends.google.shared import SharedHttp
    from calsync.core.model import Owner
    from calsync.core.state import KeyValue

TAG_KEY = "calsync-hash"  # extendedProperties.private key holding the block's hash
SYNC_MARGIN = timedelta(days=60)  # list this far past the window, so the window can slide
PAGE_SIZE = 2500  # the API's maximum
# Why Google refused a write, in words, by its 403 reason
_REFUSALS = {
    "forbiddenForNonOrganizer": "only the organizer can change it",
    "insufficientPermissions": "the login lacks write access; run "
    "`calsync setup google` (without --read-only)",
    "requiredAccessLevel": "you have no write access to this calendar",
}


class _Gone(Exception):
    """The sync token expired (410)."""


def _refused(exc: Any) -> str:
    reason = error_reason(exc) or "forbidden"
    return f"Google refused ({reason}): {_REFUSALS.get(reason, error_message(exc))}"


class GoogleProvider:
    """One Google calendar: read through the sync cache, write one instance at a time.

    ``login`` is where the credentials come from (default: the token file ``calsync
    setup google`` saved); ``shared``: built APIs and connections shared with the other
    owners of an organisation run. A warning found after :meth:`fetch` (a login without the
    free/busy scope) joins that fetch's ``warnings``, which the run reports.
    """

    kind = "google"

    def __init__(
        self,
        cal: GoogleCalendar,
        owner: Owner,
        state: KeyValue,
        now: datetime,
        *,
        retry: RetryPolicy | None = None,
        login: Login | None = None,
        shared: SharedHttp | None = None,
    ) -> None:
        self.cal = cal
        self.name = cal.name
        self.owner = owner
        self.state = state
        self.now = now
        if login is None:
            if cal.token_file is None:  # config always fills a default
                raise AuthError(f"{cal.name}: no token_file; run `calsync setup google`")
            login = TokenFileLogin(cal.token_file, cal.name)
        self.login = login
        self.session = Session(login, cal.api_url, retry or RetryPolicy(), cal.name, shared)
        self.cache = EventCache(state, cal.calendar_id, zone(owner.timezone) or UTC, self._get)
        self._docs: GoogleDocBackend | None = None
        self._fetched: FetchResult | None = None
        self._synced: tuple[Window, bool] | None = None  # the window synced, and whether it changed
        self.requests = 0  # API requests this run (benchmarks, tests)

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

    def changed(self, window: Window) -> bool:
        """Sync the cache for ``window`` once per run; whether any event changed (:class:`Polls`)."""
        if self._synced is None or self._synced[0] != window:
            self._synced = (window, self._sync(window))
            self.cache.save()
        return self._synced[1]

    def _sync(self, window: Window) -> bool:
        """Bring the cache up to date: the sync token when it covers the window, else a
        full listing of the window plus :data:`SYNC_MARGIN`; whether anything changed."""
        cache = self.cache
        cache.load()
        meta = cache.meta
        if meta.get("token"):
            lo, hi = datetime.fromisoformat(meta["start"]), datetime.fromisoformat(meta["end"])
            if lo <= window.start and window.end <= hi:
                try:
                    items, token, tz = self._list(syncToken=meta["token"])
                except _Gone:
                    pass
                else:
                    cache.apply(items, lo, hi)
                    cache.prune_truncated(items)
                    meta["token"] = token or meta["token"]
                    meta["tz"] = tz or meta.get("tz")
                    return bool(items)
        lo, hi = window.start, window.end + SYNC_MARGIN
        items, token, tz = self._list(timeMin=iso(lo), timeMax=iso(hi), showDeleted=True)
        cache.reset(lo, hi, token, tz)
        cache.apply(items, lo, hi)
        return True

    def fetch(self, window: Window) -> FetchResult:
        """Sync the cache (incrementally when its token still covers ``window``), then normalise."""
        self.changed(window)
        result = FetchResult()
        self._fetched = result
        tz_default = self.cache.tz
        # cheap pre-filter on the ISO date strings; the exact test follows below
        lo_day = (window.start - timedelta(days=2)).date().isoformat()
        hi_day = (window.end + timedelta(days=2)).date().isoformat()
        for event in self.cache.events.values():
            s_day = day(event.get("start") or event.get("originalStartTime"))
            e_day = day(event.get("end")) or s_day
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
        """The description patched with If-Match on the event's ETag; re-read and spliced once on a 412."""
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
        self.cache.load()
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
                    return WriteResult(WriteStatus.FORBIDDEN, before=before, detail=_refused(exc))
                raise self._error(exc, "writing the agenda") from None
            self.cache.put(updated)
            new_text = updated.get("description") or ""
            return WriteResult(
                WriteStatus.WRITTEN, before=before, after=Body(new_text, looks_like_html(new_text))
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def book(self, request: BookRequest) -> BookResult:
        """A one-off make-up 1on1 (:mod:`calsync.backends.google.book`)."""
        from calsync.backends.google.book import book_google

        self.requests += 1
        return book_google(self._api(), self.session, self.cal, self.owner.timezone or "UTC",
                           request, self._error)

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

    # -- free/busy ----------------------------------------------------------------------
    def busy(self, emails: Sequence[str], start: datetime, end: datetime) -> dict[str, list[Interval]]:
        """The counterparts' busy times from ``freeBusy.query`` (one request per 50).

        A login without a free/busy scope (made before calsync asked for it, or with the
        box unchecked on the consent screen) is no error: nothing is asked, or Google's
        403 is taken as that, and one warning says how to allow it.
        """
        from googleapiclient.errors import HttpError

        granted = self.login.granted()
        if granted is not None and not granted & FREEBUSY_SCOPES:
            self._warn(self._no_freebusy())
            return {}
        tz = self.owner.timezone or "UTC"
        out: dict[str, list[Interval]] = {}
        for batch in freebusy.batches(emails):
            api = self.session.resource("calendar", "v3", "freebusy")
            req = api.query(body=freebusy.query_body(batch, start, end, tz))
            self.requests += 1
            try:
                resp = self.session.execute(req, retry=True, what="reading free/busy")
            except HttpError as exc:
                if exc.status_code == 403 and error_reason(exc) in SCOPE_REASONS:
                    self._warn(self._no_freebusy())
                    return out
                raise http_error(exc, self.name, "reading free/busy") from None
            out.update(freebusy.parse(resp, start, end))
        return out

    def _no_freebusy(self) -> str:
        command = "calsync setup google"
        if self.cal.calendar_id != "primary":
            command += f" --calendar-id {self.cal.calendar_id}"
        if self.cal.read_only:
            command += " --read-only"
        return (f"{self.name}: make-up slots avoid only your own busy times: the Google login "
                "may not read other people's free/busy (calendar.events.freebusy); run "
                f"`{command}` again and allow it")

    def _warn(self, text: str) -> None:
        if self._fetched is not None and text not in self._fetched.warnings:
            self._fetched.warnings.append(text)

    # -- docs and lifecycle -------------------------------------------------------------
    def docs(self) -> GoogleDocBackend:
        """The pair docs as Google Docs on this calendar's login, made on first use."""
        if self._docs is None:
            from calsync.backends.google.docs import GoogleDocBackend

            self._docs = GoogleDocBackend(self.session, self.state, self.cal, self.now)
        return self._docs

    def close(self) -> None:
        """Save the event cache and a refreshed login."""
        self.cache.save()
        self.session.save()
