"""``provider = "caldav"``: one calendar collection on a CalDAV server.

Reading keeps a reduced copy of the collection current (:mod:`.sync`) and reads every
resource's text with the same reader as local .ics files, so an event means the same
through CalDAV as through an export. Writing GETs the one resource, makes the same
text-level edit as for a file (:func:`calsync.ical.edit.edit_text`: one VEVENT's
DESCRIPTION, or a new RECURRENCE-ID override) and PUTs it back with ``If-Match`` on the
ETag just read; a 412 (someone saved in between) reads and splices once more, then
gives up for this run. Events the owner does not organize are never written.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from calsync.backends.base import DocRef, Splice, Window, WriteResult, WriteStatus
from calsync.backends.caldav.cache import reduce
from calsync.backends.caldav.dav import DavClient, DavError
from calsync.backends.caldav.discover import calendars, choose
from calsync.backends.caldav.secret import load_password
from calsync.backends.caldav.sync import Copy, Syncer
from calsync.core.model import Body, FetchResult, Occurrence
from calsync.errors import CalendarFileError, ProviderError
from calsync.ical.normalise import IcsRef, Reading, zone

if TYPE_CHECKING:
    from calsync.backends.caldav.config import CaldavCalendar
    from calsync.core.model import Owner
    from calsync.core.state import KeyValue

_PUT_HEADERS = {"Content-Type": "text/calendar; charset=utf-8"}


class CaldavProvider:
    """The Calendar provider for one CalDAV collection: synced reads, ETag-guarded writes."""

    kind = "caldav"

    def __init__(self, cal: CaldavCalendar, owner: Owner, state: KeyValue, now: datetime,
                 *, client: DavClient | None = None) -> None:
        self.cal = cal
        self.name = cal.name
        self.read_only = cal.read_only
        self.state = state
        self.now = now
        self.owner = owner
        self._client = client
        self.copy = Copy.load(state, f"{cal.url}|{cal.calendar or ''}")
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        # the same reader as local .ics files, labelling what it reads as CalDAV's
        self.reading = Reading(cal.name, owner.emails, zone(owner.timezone) or local,
                               cal.read_only, self.kind)
        self._dirty = False
        self.mode = ""  # how the last fetch asked: "sync" or "query"

    @property
    def client(self) -> DavClient:
        """The server login, opened on first use so a run that needs no request makes none."""
        if self._client is None:
            self._client = DavClient(self.cal.url, self.cal.username, load_password(self.cal),
                                     self.cal.name)
        return self._client

    # -- reading -------------------------------------------------------------------------

    def collection(self) -> str:
        """The collection's URL: found once (discovery), then kept in the state."""
        if self.copy.collection is None:
            own, found = calendars(self.client, self.cal.url)
            self.copy.collection = choose(self.name, own, found, self.cal.calendar).url
            self._dirty = True
        return self.copy.collection

    def fetch(self, window: Window) -> FetchResult:
        """Brings the copy up to date, then reads the occurrences in ``window`` from it."""
        self._refresh(window)
        from calsync.ical.read import read_calendar

        result = FetchResult()
        for href, (_, text) in sorted(self.copy.items.items()):
            try:
                read = read_calendar(text, Path(href), self.reading, (window.start, window.end))
            except CalendarFileError as exc:
                result.warnings.append(f"skipped resource: {exc}")
                continue
            result.occurrences.extend(read.occurrences)
            result.warnings.extend(read.warnings)
        return result

    def _refresh(self, window: Window) -> None:
        collection = self.collection()
        syncer = Syncer(self.client, self.copy, self.now)
        try:
            syncer.refresh(collection, window.start, window.end)
        except DavError as exc:
            if exc.status not in (404, 410) or self.cal.url in (collection, collection + "/"):
                raise
            self.copy = Copy(self.copy.source)  # the discovered collection moved: find it again
            syncer = Syncer(self.client, self.copy, self.now)
            syncer.refresh(self.collection(), window.start, window.end)
        self.mode = syncer.mode
        self._dirty = True

    def read_description(self, occurrence: Occurrence) -> Body | None:
        """The whole description (the copy keeps only part of it), read from the server."""
        seen: list[Body] = []

        def keep(body: Body) -> None:
            seen.append(body)

        got = self._get(occurrence)
        if isinstance(got, WriteResult):
            return None
        _, text = got
        self._edit(text, occurrence, keep)
        return seen[0] if seen else None

    # -- writing -------------------------------------------------------------------------

    def write_description(self, occurrence: Occurrence, splice: Splice, tag: str,
                          attach: DocRef | None = None) -> WriteResult:
        """See :class:`calsync.backends.base.Calendar`; ``attach`` is ignored (docs are
        Markdown files beside the calendar, linked from the agenda)."""
        if self.read_only:
            return WriteResult(WriteStatus.FORBIDDEN, detail="calendar is read_only")
        if occurrence.cancelled:
            return WriteResult(WriteStatus.GONE, detail="the occurrence was removed or cancelled")
        if not occurrence.writable:
            return WriteResult(WriteStatus.FORBIDDEN, detail="event has no UID")
        if not occurrence.owner_organizes(self.owner.emails):
            return WriteResult(WriteStatus.FORBIDDEN, detail=f"organized by {occurrence.organizer}")
        href = IcsRef.loads(occurrence.ref).file
        for _ in range(2):
            got = self._get(occurrence)
            if isinstance(got, WriteResult):
                return got
            etag, text = got
            outcome = self._edit(text, occurrence, splice)
            if isinstance(outcome, WriteResult):
                return outcome
            new_text, before, after = outcome
            resp = self.client.request("PUT", href, body=new_text,
                                       headers={**_PUT_HEADERS, "If-Match": etag})
            if resp.status_code == 412:
                continue  # saved by someone else since our GET: read and splice again
            if resp.status_code in (404, 410):
                self._forget(href)
                return WriteResult(WriteStatus.GONE, detail="the event was deleted on the server")
            if resp.status_code == 403:
                return WriteResult(WriteStatus.FORBIDDEN, detail="the server refused the write")
            if resp.status_code >= 300:
                raise self.client.error("PUT", href, resp)
            new_etag = resp.headers.get("ETag")
            # Without an ETag the server changed what we sent: the next sync fetches it.
            self.copy.items[href] = (new_etag or "", reduce(new_text))
            self._dirty = True
            return WriteResult(WriteStatus.WRITTEN, before=before, after=after)
        return WriteResult(WriteStatus.CONFLICT,
                           detail="the event changed on the server twice while we wrote")

    def _get(self, occurrence: Occurrence) -> tuple[str, str] | WriteResult:
        """``(ETag, text)`` of the occurrence's resource as the server has it now."""
        href = IcsRef.loads(occurrence.ref).file
        resp = self.client.request("GET", href)
        if resp.status_code in (404, 410):
            self._forget(href)
            return WriteResult(WriteStatus.GONE, detail="the event was deleted on the server")
        if resp.status_code != 200:
            raise self.client.error("GET", href, resp)
        etag = resp.headers.get("ETag")
        if not etag or etag.startswith("W/"):
            return WriteResult(WriteStatus.CONFLICT,
                               detail="the server gives no strong ETag; calsync writes only with one")
        try:
            return etag, resp.content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ProviderError(f"{self.name}: {href} is not UTF-8") from None

    def _edit(self, text: str, occurrence: Occurrence, splice: Splice
              ) -> tuple[str, Body, Body] | WriteResult:
        from calsync.ical.edit import edit_text

        ref = IcsRef.loads(occurrence.ref)
        rid = datetime.fromisoformat(ref.recurrence_id) if ref.recurrence_id else None
        return edit_text(text, ref.uid, rid, occurrence, splice)

    def _forget(self, href: str) -> None:
        if self.copy.items.pop(href, None) is not None:
            self._dirty = True

    def close(self) -> None:
        """Saves the copy if it changed and closes the connection."""
        if self._dirty:
            self.copy.save(self.state)
        if self._client is not None:
            self._client.close()
