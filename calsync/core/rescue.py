"""Make-up slots: when a planned 1on1 was skipped (cancelled, declined, removed) and
nothing else with that person is planned soon, propose a few free times instead.

Pure functions: the caller gives the busy intervals (for a file calendar, the owner's
own events; the counterpart's calendar is not visible there). Slots are of the usual
length, inside working hours in the owner's zone, on the half hour, the first free one
of each working day, so a few distinct days are offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from calsync.core.hours import WorkingHours
from calsync.core.model import Cadence, MarkKind, Occurrence, Response

STEP = timedelta(minutes=30)


@dataclass(frozen=True)
class Skipped:
    """A planned meeting that did not happen, and why (cancelled, declined, removed)."""

    start: datetime  # the planned meeting that did not happen
    kind: MarkKind


def skipped(cadence: Cadence, now: datetime, within: timedelta) -> Skipped | None:
    """The latest meeting skipped in the last ``within`` (or cancelled ahead inside it),
    when no held or live meeting with the person follows it within ``within`` of now."""
    lost = (MarkKind.CANCELLED, MarkKind.DECLINED, MarkKind.REMOVED)
    recent = [m for m in cadence.marks
              if m.kind in lost and now - within <= m.start <= now + within]
    if not recent:
        return None
    last = recent[-1]
    live = (MarkKind.HELD, MarkKind.PLANNED)
    if any(m.kind in live and last.start < m.start <= now + within for m in cadence.marks):
        return None  # held after it, or planned soon: nothing to rescue
    return Skipped(last.start, last.kind)


def owner_busy(occurrences: list[Occurrence], owner: tuple[str, ...]) -> list[tuple[datetime, datetime]]:
    """The owner's busy intervals: timed events that are not cancelled and that the
    owner did not decline."""
    busy = []
    for occ in occurrences:
        if occ.cancelled or occ.all_day:
            continue
        me = [a for a in occ.attendees if a.is_self or a.email in owner]
        if me and all(a.response is Response.DECLINED for a in me):
            continue
        busy.append((occ.start, occ.end))
    return sorted(busy)


def slots(busy: list[tuple[datetime, datetime]], now: datetime, until: datetime,
          length: timedelta, hours: WorkingHours, zone: tzinfo, limit: int = 3) -> list[datetime]:
    """Up to ``limit`` free starts after ``now``: the first free half hour of each working
    day in ``zone`` up to ``until``, clear of every busy interval."""
    found: list[datetime] = []
    day: date = now.astimezone(zone).date()
    while len(found) < limit and datetime.combine(day, time(0), zone) < until:
        if day.weekday() in hours.days:
            at = datetime.combine(day, hours.start, zone)
            close = datetime.combine(day, hours.end, zone)
            while at + length <= close and at + length <= until:
                if at >= now and not any(s < at + length and at < e for s, e in busy):
                    found.append(at)
                    break
                at += STEP  # same zone: wall-clock arithmetic, so DST days keep 09:00
        day += timedelta(days=1)
    return found

