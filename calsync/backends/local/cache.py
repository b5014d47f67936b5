"""A cache of each calendar file's normalised read, so an unchanged file is not parsed again.

A cron run every 15 minutes mostly finds the file as it was. The entry holds the
occurrences of a *padded* window (a day before the asked one, a week after), so the
next runs, whose window moved on by minutes, are served from it by filtering. It is
keyed by the file's size, mtime, content hash and path, the owner's addresses and
zone, the calendar's name and mode, and the mode of the read; a hit imports no
iCalendar library. Our own writes change the file, so its entry no longer matches.
Entries live beside the state database, one small JSON file per calendar file, mode
0600, at most :data:`MAX_ENTRIES` of them (the least recently used go first). Like the
Google and Graph caches, an entry keeps of each description only what the core reads
from it (:func:`calsync.core.privacy.keepable`); the provider reads the whole one when
asked (``read_description``), and every write re-reads the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from calsync.core.model import Attendee, AttendeeKind, Body, Occurrence, Response, Status
from calsync.core.privacy import keepable

SCHEMA = 2
MAX_ENTRIES = 256
MAX_BYTES = 64 * 1024 * 1024  # a bigger read is not worth keeping on disk
BEFORE = timedelta(days=1)
AFTER = timedelta(days=7)


@dataclass(frozen=True)
class Key:
    """Everything a file's read depends on, besides the window."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    reading: str  # calendar, owner addresses and zone, mode

    def name(self) -> str:
        """The entry's file name: one per file and reading, so a changed file replaces its old entry."""
        return hashlib.sha256(f"{self.path}\0{self.reading}".encode()).hexdigest()[:32] + ".json"


def padded(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The window a miss reads: whole UTC days, a day before and a week after."""
    def midnight(t: datetime) -> datetime:
        return t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    return midnight(start) - BEFORE, midnight(end) + AFTER


def overlaps(occ: Occurrence, start: datetime, end: datetime) -> bool:
    """Whether the reader, asked for ``[start, end)``, returns ``occ`` (the expander's rule)."""
    if occ.removed or occ.start == occ.end:
        return start <= occ.start < end
    return occ.start < end and start < occ.end


class Cache:
    """The entries of one cache folder; a read or write that fails only costs speed."""
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, key: Key, start: datetime, end: datetime) -> tuple[list[Occurrence], list[str]] | None:
        """The cached read of ``[start, end)``, or None when no entry matches ``key`` and covers it."""
        path = self.folder / key.name()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("schema") != SCHEMA or data.get("key") != _key_json(key):
            return None
        a, b = datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])
        if not (a <= start and end <= b):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used
        try:
            occs = _decode(data["occurrences"])
        except (KeyError, TypeError, ValueError):
            return None
        return [o for o in occs if overlaps(o, start, end)], list(data["warnings"])

    def put(self, key: Key, span: tuple[datetime, datetime], occurrences: list[Occurrence],
            warnings: list[str]) -> None:
        """Keeps the read of ``span``, unless a zone cannot be named again or it is too big."""
        encoded = _encode(occurrences)
        if encoded is None:
            return  # a zone we cannot name again: not cached
        text = json.dumps({"schema": SCHEMA, "key": _key_json(key), "start": span[0].isoformat(),
                           "end": span[1].isoformat(), "warnings": warnings,
                           "occurrences": encoded}, separators=(",", ":"))
        if len(text) > MAX_BYTES:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            target = self.folder / key.name()
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, target)
            self._bound()
        except OSError:
            return  # a cache that cannot be written only costs speed

    def _bound(self) -> None:
        entries = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in entries[:-MAX_ENTRIES]:
            with contextlib.suppress(OSError):
                old.unlink()


def _key_json(key: Key) -> list[Any]:
    return [key.path, key.size, key.mtime_ns, key.sha256, key.reading]


def _dt_json(value: datetime) -> list[Any] | None:
    tz = value.tzinfo
    if isinstance(tz, ZoneInfo) and tz.key and ZoneInfo(tz.key) is tz:
        return [value.astimezone(UTC).isoformat(), tz.key]
    if isinstance(tz, timezone) and tz == timezone(value.utcoffset() or timedelta(0)) \
            and tz.tzname(None) == timezone(value.utcoffset() or timedelta(0)).tzname(None):
        return [value.isoformat(), None]
    return None


def _dt(raw: list[Any]) -> datetime:
    when, key = raw
    value = datetime.fromisoformat(when)
    return value.astimezone(ZoneInfo(key)) if key else value


def _encode(occurrences: list[Occurrence]) -> dict[str, Any] | None:
    """Occurrences as a table of shared templates (what the instances of a series have in
    common) and, per occurrence, its template, times and ref; None if a zone has no name."""
    templates: dict[str, int] = {}
    rows: list[list[Any]] = []
    for o in occurrences:
        times = [_dt_json(o.start), _dt_json(o.end),
                 _dt_json(o.recurrence_id) if o.recurrence_id else []]
        if any(t is None for t in times):
            return None
        template = json.dumps([
            o.provider, o.calendar, o.uid, o.title, o.series_id, o.all_day, o.organizer,
            o.organizer_is_self,
            [[a.email, a.name, a.kind.value, a.response.value, a.is_self] for a in o.attendees],
            o.status.value, o.removed, *_kept(o.description), o.etag, o.writable,
        ], separators=(",", ":"))
        rows.append([templates.setdefault(template, len(templates)), o.ref, *times])
    return {"templates": list(templates), "rows": rows}


def _kept(body: Body) -> tuple[str, bool]:
    kept = keepable(body)  # people's own text stays in their file, not in our cache
    return kept.text, kept.html


def _decode(data: dict[str, Any]) -> list[Occurrence]:
    templates = []
    for raw in data["templates"]:
        (provider, calendar, uid, title, series_id, all_day, organizer, organizer_is_self,
         attendees, status, removed, text, html, etag, writable) = json.loads(raw)
        templates.append({
            "provider": provider, "calendar": calendar, "uid": uid, "title": title,
            "series_id": series_id, "all_day": all_day, "organizer": organizer,
            "organizer_is_self": organizer_is_self,
            "attendees": tuple(Attendee(e, n, AttendeeKind(k), Response(r), s)
                               for e, n, k, r, s in attendees),
            "status": Status(status), "removed": removed, "description": Body(text, html),
            "etag": etag, "writable": writable,
        })
    return [Occurrence(ref=ref, start=_dt(s), end=_dt(e), recurrence_id=_dt(r) if r else None,
                       **templates[t])
            for t, ref, s, e, r in data["rows"]]
