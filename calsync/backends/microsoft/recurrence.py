"""Microsoft's own recurrence: a ``patternedRecurrence`` expanded into its slots.

Graph's calendar view leaves out the instances an organizer deleted; expanding the
master's pattern over the window finds the slots with no instance, which the provider
reports as ``removed`` (planned, never held). The pattern is JSON, not RRULE: each type
maps onto a dateutil rule walked on local wall time in the series' zone, so a
daylight-saving change keeps the meeting's local time, as Outlook does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from calsync.ical.limits import SERIES_STEPS

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
