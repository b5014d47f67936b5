"""Microsoft 365 (Outlook calendar via Microsoft Graph): the provider.

It reads through :class:`~calsync.backends.microsoft.sync.CalendarSync` (the delta-kept
local copy), normalises events (:mod:`.normalise`) and turns slots of a series with no
instance (the organizer deleted them) into ``removed`` occurrences, found by expanding the
master's own recurrence (:mod:`.recurrence`). Writing reads the occurrence's HTML body,
hands it to the splice, and PATCHes the whole body back with ``If-Match``; nothing
outside calsync's block is touched, and only events the owner organizes are written.
Other people's busy times come from getSchedule (:mod:`.schedule`), asked only when a
make-up slot is wanted.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
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
from calsync.backends.microsoft.auth import TokenSource
from calsync.backends.microsoft.docs import OneDriveDocs
from calsync.backends.microsoft.graph import Graph, quote_id
from calsync.backends.microsoft.normalise import Normaliser, body_of, parse_graph_time
from calsync.backends.microsoft.recurrence import expand_recurrence
from calsync.backends.microsoft.schedule import get_busy
from calsync.backends.microsoft.sync import CalendarSync
from calsync.core.model import Body, FetchResult, Occurrence
from calsync.errors import GraphError
from calsync.ical.zones import zone

if TYPE_CHECKING:
    from calsync.backends.microsoft.config import MicrosoftCalendar
    from calsync.backends.retry import RetryPolicy
    from calsync.core.model import Owner
    from calsync.core.state import KeyValue

_HTML = {"Prefer": 'outlook.body-content-type="html"'}
_WRITE_SELECT = "body,isOrganizer,isCancelled,type,onlineMeeting,subject"
FREEBUSY_HINT = ("make-up slots avoid only your own meetings; if your account should see "
                 "colleagues' free/busy, run `calsync setup microsoft` again and consent")


def _near(sorted_times: list[datetime], t: datetime, within: timedelta) -> bool:
    i = bisect.bisect_left(sorted_times, t - within)
    return i < len(sorted_times) and sorted_times[i] <= t + within


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


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
        transport: Any = None,
    ) -> None:
        self.cal = cal
        self.name = cal.name
        self.owner = owner
        self.state = state
        self.now = now
        self.tokens = TokenSource(cal)
        self.graph = Graph(cal.graph_url, self.tokens, sleep=sleep, policy=policy,
                           mailbox=cal.mailbox, transport=transport)
        self.sync = CalendarSync(self.graph, state, cal.name, cal.calendar, now)
        self._warnings: list[str] = []  # the last fetch's, which busy() may add to

    # -- reading --------------------------------------------------------------------------

    def changed(self, window: Window) -> bool:
        """One delta round for ``window``; whether it brought any change (:class:`Polls`)."""
        return self.sync.changed(window)

    def fetch(self, window: Window) -> FetchResult:
        """Every occurrence overlapping the window, deleted instances as ``removed``."""
        items = self.sync.items(window)
        result = FetchResult()
        self._warnings = result.warnings
        owner = set(self.owner.emails)
        if self.tokens.username:
            owner.add(self.tokens.username)
        norm = Normaliser(self.name, owner)
        masters = self.sync.series_masters(items, result.warnings)
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
            result.occurrences.extend(self._removed(
                norm, master_id, master, sorted(slots_seen.get(master_id, set())),
                w_start, w_end, result.warnings))
        result.occurrences.sort(key=lambda o: (o.start, o.ref))
        return result

    def _removed(self, norm: Normaliser, master_id: str, master: dict[str, Any],
                 seen: list[datetime], w_start: datetime, w_end: datetime,
                 warnings: list[str]) -> list[Occurrence]:
        """Slots of a series in the window that no instance holds: deleted instances."""
        recurrence = master.get("recurrence")
        first = parse_graph_time(master.get("start"))
        if not recurrence or first is None or master.get("isAllDay"):
            return []
        try:
            slots = expand_recurrence(recurrence, first, self._series_zone(master), w_start, w_end)
        except (KeyError, ValueError, TypeError) as exc:
            warnings.append(f"series {master_id[:12]}…: recurrence {exc}")
            return []
        out = []
        for slot in slots:
            if slot < w_start or _near(seen, slot, timedelta(hours=3)):
                # an instance holds this slot (an hour or two off is a zone the mapping
                # got wrong, never a deleted meeting: no ghost cancellations)
                continue
            occ = norm.removed(master, slot)
            if occ is not None:
                out.append(occ)
        return out

    def _series_zone(self, master: dict[str, Any]) -> tzinfo:
        """The zone a series repeats in: its own, else its recurrence's, else the owner's."""
        rng = (master.get("recurrence") or {}).get("range") or {}
        for name in (master.get("originalStartTimeZone"), rng.get("recurrenceTimeZone"),
                     self.owner.timezone):
            if name and zone(name) is not UTC or name in ("UTC", "Etc/UTC"):
                return zone(name)
        return UTC

    def busy(self, emails: Sequence[str], start: datetime, end: datetime) -> dict[str, list[Interval]]:
        """Busy intervals per address from getSchedule (see :mod:`.schedule`).

        A refusal (HTTP 403: a login or tenant without free/busy access) is one warning on
        the last fetch and no entries, so make-up slots fall back to the owner's own busy
        times and the run goes on.
        """
        if not emails:
            return {}
        try:
            return get_busy(self.graph, emails, start, end)
        except GraphError as exc:
            if exc.status not in (403,):
                raise
            self._warnings.append(f"{self.name}: Microsoft Graph refused free/busy "
                                  f"(HTTP {exc.status} {exc.code}); {FREEBUSY_HINT}")
            return {}

    # -- writing --------------------------------------------------------------------------

    def _current(self, occurrence: Occurrence, select: str) -> dict[str, Any] | None:
        """The event as stored now (its HTML body and ``select``ed fields); None if gone."""
        path = f"{self.graph.mailbox}/events/{quote_id(occurrence.ref)}"
        try:
            event: dict[str, Any] = self.graph.get_json(path, params={"$select": select},
                                                        headers=_HTML)
        except GraphError as exc:
            if exc.status == 404:
                return None
            raise
        return event

    def read_description(self, occurrence: Occurrence) -> Body | None:
        """The whole body as stored now (the cache keeps only part of it)."""
        if occurrence.removed:
            return None
        event = self._current(occurrence, "body")
        return None if event is None else body_of(event)

    def write_description(
        self, occurrence: Occurrence, splice: Splice, tag: str, attach: DocRef | None = None
    ) -> WriteResult:
        """Splice the body of one occurrence the owner organizes; If-Match, one re-try."""
        if self.cal.read_only:
            return WriteResult(WriteStatus.FORBIDDEN, detail="calendar is read_only")
        if occurrence.cancelled:
            return WriteResult(WriteStatus.GONE, detail="occurrence was deleted or cancelled")
        if not occurrence.owner_organizes(self.owner.emails):
            return WriteResult(WriteStatus.FORBIDDEN, detail="not the organizer")
        path = f"{self.graph.mailbox}/events/{quote_id(occurrence.ref)}"
        first_before: Body | None = None
        for attempt in (1, 2):
            event = self._current(occurrence, _WRITE_SELECT)
            if event is None:
                return WriteResult(WriteStatus.GONE, detail="occurrence no longer exists")
            if event.get("isCancelled"):
                return WriteResult(WriteStatus.GONE, detail="occurrence was cancelled")
            if event.get("type") == "seriesMaster":
                return WriteResult(WriteStatus.FORBIDDEN, detail="refusing to write a series master")
            if not event.get("isOrganizer"):
                return WriteResult(WriteStatus.FORBIDDEN, detail="not the organizer")
            before = body_of(event)
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
            return WriteResult(WriteStatus.WRITTEN, before=before, after=after,
                               detail=self._after_write(occurrence.ref, tag, event, resp))
        return WriteResult(WriteStatus.CONFLICT, before=first_before)  # pragma: no cover

    def book(self, request: BookRequest) -> BookResult:
        """A one-off make-up 1on1 (:mod:`calsync.backends.microsoft.book`)."""
        from calsync.backends.microsoft.book import book_graph

        if self.cal.read_only:  # refused before the calendar's path is looked up
            return book_graph(self.graph, "", True, "UTC", request)
        return book_graph(self.graph, self.sync.calendar_path(), False,
                          self.owner.timezone or "UTC", request)

    def _after_write(self, ref: str, tag: str, event: dict[str, Any], resp: Any) -> str:
        """Remember what Exchange stored; a warning when the Teams join link changed."""
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
                self._remember_written(ref, tag, stored)
        return detail

    def _same_as_written(self, ref: str, tag: str, body: str) -> bool:
        raw = self.state.get(f"ms.written:{ref}")
        if not raw or not tag:
            return False
        rec = json.loads(raw)
        return bool(rec.get("tag") == tag and rec.get("sha") == _sha(body))

    def _remember_written(self, ref: str, tag: str, body: str) -> None:
        if tag:
            self.state.set(f"ms.written:{ref}", json.dumps({"tag": tag, "sha": _sha(body)}))

    def docs(self) -> OneDriveDocs:
        """The pair docs in the same mailbox's OneDrive, on the same login."""
        return OneDriveDocs(self.graph, self.state, read_only=self.cal.read_only, now=self.now)

    def close(self) -> None:
        """Save a rotated login and close the connections."""
        self.tokens.save()
        self.graph.close()
