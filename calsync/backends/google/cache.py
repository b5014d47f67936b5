"""The synced events of one Google calendar, kept in the run's state between runs.

A full listing replaces the cache (:meth:`EventCache.reset`); an incremental one (sync
token) is merged in (:meth:`EventCache.apply`): changed events replace their copy,
events that left the synced span are forgotten, and a cancelled instance, which Google
lists with only its id, series and original start, takes its title, people and length
from the series' other instances. Series cut off by a "this and following" edit are told
from cancelled meetings by their master (:meth:`EventCache.prune_truncated`). Masters
are read through the ``master`` callable, so this module sends no request itself.

Two state keys: the small ``google.sync`` (calendar id, span, token, zone; written each
run) and the large ``google.events`` (written only when something changed), tied by a
``sync_id`` so a crash between the two writes is noticed and the calendar listed again.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from calsync.backends.google.normalise import iso, span, trim, when, zone

if TYPE_CHECKING:
    from calsync.core.state import KeyValue

# 2: descriptions reduced (an older cache holding whole ones is dropped and listed again)
CACHE_VERSION = 2
K_META = "google.sync"
K_EVENTS = "google.events"

Event = dict[str, Any]


def _tie(sync_id: Any) -> str:
    """How the stored events begin: their ``sync_id`` first, as :meth:`EventCache.save`
    writes them, so a torn pair of keys is seen without parsing the events."""
    return '{"sync_id":' + json.dumps(sync_id, separators=(",", ":")) + ","


class EventCache:
    """One Google calendar's synced events, loaded from and saved to the run's state."""

    def __init__(
        self,
        state: KeyValue,
        calendar_id: str,
        fallback_tz: tzinfo,
        master: Callable[[str], Event | None],
    ) -> None:
        self.state = state
        self.calendar_id = calendar_id
        self.fallback_tz = fallback_tz  # the owner's zone, until Google names the calendar's
        self.master = master
        self._events: dict[str, Event] | None = {}
        self._raw: str | None = None  # the stored events, parsed on first use
        self.meta: dict[str, Any] = {}
        self.dirty = False
        self._loaded = False

    @property
    def events(self) -> dict[str, Event]:
        """The cached events by id, read from the state when first needed (a sync that
        brings no change never parses them)."""
        if self._events is None:
            try:
                parsed = json.loads(self._raw or "{}")
                found = parsed.get("events") if isinstance(parsed, dict) else None
            except ValueError:
                found = None
            self._events = found if isinstance(found, dict) else {}
            self._raw = None
        return self._events

    @events.setter
    def events(self, value: dict[str, Event]) -> None:
        self._events, self._raw = value, None

    @property
    def tz(self) -> tzinfo:
        """The calendar's zone, for floating and all-day times."""
        return zone(self.meta.get("tz")) or self.fallback_tz

    def span(self, event: Event) -> tuple[datetime, datetime] | None:
        """The event's start and end (floating and all-day times in the calendar's zone); None without one."""
        return span(event, self.tz)

    # -- state --------------------------------------------------------------------------
    def load(self) -> None:
        """Read the cache once per run; a stale, foreign or torn one counts as empty."""
        if self._loaded:
            return
        self._loaded = True
        raw = self.state.get(K_META)
        raw_events = self.state.get(K_EVENTS)
        if not raw or not raw_events:
            return
        try:
            meta = json.loads(raw)
        except ValueError:
            return
        if (
            isinstance(meta, dict)
            and meta.get("v") == CACHE_VERSION
            and meta.get("calendar_id") == self.calendar_id
            and raw_events.startswith(_tie(meta.get("sync_id")))
        ):
            self.meta = meta
            self._events, self._raw = None, raw_events

    def save(self) -> None:
        """Write the cache back: the events only when they changed, the sync record every time."""
        if not self._loaded:
            return
        if self.dirty:
            self.state.set(
                K_EVENTS,
                json.dumps({"sync_id": self.meta.get("sync_id"), "events": self.events},
                           separators=(",", ":")),
            )
            self.dirty = False
        self.state.set(K_META, json.dumps(self.meta, separators=(",", ":")))

    def reset(self, lo: datetime, hi: datetime, token: str | None, tz: str | None) -> None:
        """Start over after a full listing of ``[lo, hi)``."""
        self._loaded = True
        self.events = {}
        self.meta = {
            "v": CACHE_VERSION,
            "calendar_id": self.calendar_id,
            "sync_id": f"{iso(datetime.now(UTC))}-{random.getrandbits(32):08x}",
            "start": lo.isoformat(),
            "end": hi.isoformat(),
            "token": token,
            "tz": tz,
        }
        self.dirty = True

    def put(self, event: Event) -> None:
        """An event as written by calsync (its new ETag and block)."""
        self.events[event["id"]] = trim(event)
        self.dirty = True

    # -- merging ------------------------------------------------------------------------
    def apply(self, items: Iterable[Event], lo: datetime, hi: datetime) -> None:
        """Merge listed events into the cache, keeping only those overlapping ``[lo, hi)``."""
        minimal: list[Event] = []
        for item in items:
            eid = item.get("id")
            if not eid:
                continue
            cached = self.events.get(eid)
            if item.get("status") == "cancelled":
                if cached is not None:
                    merged = dict(cached)
                    merged.update(trim(item))
                    self.events[eid] = merged
                    self.dirty = True
                    continue
                if not item.get("recurringEventId"):
                    # a deleted single event we never saw, or a whole series deleted
                    for other in self.events.values():
                        if other.get("recurringEventId") == eid:
                            other["status"] = "cancelled"
                            self.dirty = True
                    continue
                if not item.get("start"):
                    minimal.append(item)  # filled in from its siblings, once all are in
                    continue
            self._keep(eid, item, lo, hi)
        if minimal:
            wanted = {item["recurringEventId"] for item in minimal}
            by_series: dict[str, list[Event]] = {}
            for other in self.events.values():
                sid = other.get("recurringEventId")
                if isinstance(sid, str) and sid in wanted and other.get("status") != "cancelled":
                    by_series.setdefault(sid, []).append(other)
            for item in minimal:
                filled = self._from_siblings(item, by_series.get(item["recurringEventId"], []))
                self._keep(item["id"], filled, lo, hi)

    def _keep(self, eid: str, item: Event, lo: datetime, hi: datetime) -> None:
        """Cache an event that overlaps the synced span; forget it otherwise."""
        found = self.span(item)
        if found is None or found[1] <= lo or found[0] >= hi:
            if self.events.pop(eid, None) is not None:
                self.dirty = True
            return
        self.events[eid] = trim(item)
        self.dirty = True

    def _from_siblings(self, item: Event, instances: list[Event]) -> Event:
        """A cancelled instance as listed: only id, status, recurringEventId and
        originalStartTime (google.md §3). Its title, people and length come from the
        series' other instances: those not moved, with the most common title and length,
        nearest in time; failing those, from the series master (one request).
        """
        if not item.get("originalStartTime"):
            return item
        original = when(item["originalStartTime"], self.tz)
        out = dict(item)
        out["start"] = dict(item["originalStartTime"])
        out["end"] = dict(item["originalStartTime"])
        if original is None:
            return out
        siblings = []
        for other in instances:  # the series' other instances, not cancelled
            found = self.span(other)
            if found is None:
                continue
            moved = other.get("originalStartTime") not in (None, other.get("start"))
            siblings.append((other, found[1] - found[0], moved, abs(found[0] - original[0])))
        if not siblings:
            # no other instance to learn from: the series master says (one request)
            master = self.master(item["recurringEventId"])
            found = self.span(master) if master and master.get("status") != "cancelled" else None
            if master is None or found is None:
                return out
            siblings.append((master, found[1] - found[0], False, timedelta(0)))
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

    def prune_truncated(self, items: list[Event]) -> None:
        """Tell instances cut off by a series edit from instances someone cancelled.

        Both arrive in an incremental sync as cancelled instances. A "this and following"
        edit (or deleting a series) ends the old series: its later instances no longer
        exist, they were not cancelled meetings. Reading the series master (one request per
        series that lost instances, only in such runs) tells which is which.
        """
        series = {i["recurringEventId"] for i in items
                  if i.get("status") == "cancelled" and i.get("recurringEventId")}
        for sid in sorted(series):
            drop_after = self._series_end(self.master(sid))
            if drop_after is None:
                continue
            for eid, ev in list(self.events.items()):
                if ev.get("recurringEventId") != sid or ev.get("status") != "cancelled":
                    continue
                original = when(ev.get("originalStartTime"), self.tz)
                if original is not None and original[0] > drop_after:
                    del self.events[eid]
                    self.dirty = True

    def _series_end(self, master: Event | None) -> datetime | None:
        """Where a series now ends (its RRULE's UNTIL; gone: the beginning of time)."""
        if master is None or master.get("status") == "cancelled":
            return datetime.min.replace(tzinfo=UTC)
        drop_after: datetime | None = None
        for rule in master.get("recurrence") or []:
            m = re.search(r"UNTIL=(\d{8})(T\d{6}Z?)?", rule)
            if rule.startswith("RRULE") and m:
                if m.group(2):
                    drop_after = datetime.strptime(
                        m.group(1) + m.group(2).rstrip("Z"), "%Y%m%dT%H%M%S"
                    ).replace(tzinfo=UTC)
                else:
                    d = date.fromisoformat(f"{m.group(1)[:4]}-{m.group(1)[4:6]}-{m.group(1)[6:]}")
                    drop_after = datetime(d.year, d.month, d.day, tzinfo=self.tz) + timedelta(days=1)
        return drop_after
