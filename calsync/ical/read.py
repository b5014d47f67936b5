"""VCALENDAR text → normalised occurrences in a window: the one reader every iCalendar
source uses (local files today, CalDAV later).

Recurrences are expanded only inside the requested window (recurring-ical-events), so
a years-long series costs what the window holds. EXDATEs inside the window come back as
*removed* occurrences: they were planned and did not happen, which is what cadence
counts. One broken event is skipped with a warning naming its UID; text that is not
iCalendar at all fails with the file's name. Pure: no file system, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import icalendar
import recurring_ical_events

from calsync.core.model import Occurrence, Status
from calsync.errors import CalendarFileError
from calsync.ical.limits import Budget, Load, rule_load
from calsync.ical.normalise import IcsRef, Memo, Reading, as_list, aware, occurrence, synthetic_uid

Span = tuple[datetime, datetime]


@dataclass
class Read:
    """What one calendar text held in the window, and the events it skipped and why.

    ``window_bound`` is set when a warning depends on the window itself (a series too big
    for it, one the expander failed on): such a read is valid for exactly that window.
    """

    occurrences: list[Occurrence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    window_bound: bool = False


def parse_calendar(text: str, path: Path) -> icalendar.Calendar:
    """The text's VCALENDAR (several concatenated ones merged); CalendarFileError if there is none."""
    if "BEGIN:VCALENDAR" not in text[:4096].upper():
        raise CalendarFileError(f"{path}: not an iCalendar file (no BEGIN:VCALENDAR)")
    try:
        cals = icalendar.Calendar.from_ical(text, multiple=True)
    except (ValueError, IndexError, KeyError) as exc:
        raise CalendarFileError(f"{path}: malformed iCalendar: {exc}") from None
    if not cals:
        raise CalendarFileError(f"{path}: no VCALENDAR in file")
    cal = cals[0]
    for extra in cals[1:]:  # some exporters concatenate calendars
        for comp in extra.subcomponents:
            cal.add_component(comp)
    return cal


def read_calendar(text: str, path: Path, reading: Reading, window: Span) -> Read:
    """Parse ``text`` (raising :class:`CalendarFileError` if it is no calendar) and read it."""
    result = Read()
    result.occurrences = list(_occurrences(parse_calendar(text, path), path, reading,
                                           window, result))
    return result


def _occurrences(
    cal: icalendar.Calendar, file: Path, reading: Reading, window: Span, result: Read
) -> Iterator[Occurrence]:
    warnings = result.warnings
    good: list[Any] = []
    for comp in cal.subcomponents:
        if comp.name == "VEVENT":
            problem = _broken(comp)
            if problem:
                warnings.append(f"{file}: skipped event UID={comp.get('UID', '?')}: {problem}")
                continue
        good.append(comp)
    warnings.extend(_unknown_zones(good, file, reading))
    runaway = _runaway(good, file, reading, window, result)
    if runaway:
        good = [c for c in good if id(c) not in runaway
                and not (c.name == "VEVENT" and c.get("UID") is not None
                         and str(c.get("UID")) in runaway.values())]
    cal.subcomponents = good
    events = [c for c in good if c.name == "VEVENT"]
    recurring = {
        str(c.get("UID"))
        for c in events
        if c.get("RRULE") or c.get("RDATE") or c.get("RECURRENCE-ID")
    }
    seen: set[tuple[str, datetime]] = set()  # aware datetimes compare as instants
    memo: Memo = {}
    for comp, uid in _expand(cal, events, file, reading, window, result):
        occ = occurrence(reading, comp, uid, uid in recurring, file, memo)
        key = (uid, occ.recurrence_id or occ.start)
        if key not in seen:
            seen.add(key)
            yield occ
    for master in events:
        if master.get("RECURRENCE-ID") is None and master.get("EXDATE") is not None:
            yield from _removed(master, file, reading, window, seen, cal)


def _runaway(
    comps: list[Any], file: Path, reading: Reading, window: Span, result: Read
) -> dict[int, str]:
    """Series whose rule is too big to expand (by id of the master), warned by UID."""
    budget = Budget(window)
    skipped: dict[int, str] = {}
    for comp in comps:
        rules = as_list(comp.get("RRULE")) if comp.name == "VEVENT" else []
        if not rules or comp.get("RECURRENCE-ID") is not None:
            continue
        prop = comp["DTSTART"]
        start = aware(reading, prop.dt, prop.params.get("TZID"))
        loads: list[Load] = []
        problem: str | None = None
        for rule in rules:
            load = rule_load(rule, start, window, start.tzinfo or reading.default_tz)
            if isinstance(load, str):
                problem = load
                break
            loads.append(load)
        problem = problem or budget.admit(loads)
        if problem:
            uid = str(comp.get("UID", "?"))
            result.warnings.append(f"{file}: skipped series UID={uid}: {problem}")
            result.window_bound = True
            skipped[id(comp)] = uid
    return skipped


def _expand(
    cal: icalendar.Calendar, events: list[Any], file: Path, reading: Reading, window: Span,
    result: Read,
) -> Iterator[tuple[Any, str]]:
    # Floating times are read in the window's zone by the expander: give it the owner's.
    start, end = (t.astimezone(reading.default_tz) for t in window)
    try:
        expanded = list(recurring_ical_events.of(cal).between(start, end))
    except Exception:  # a series the expander cannot handle: isolate it by UID
        result.window_bound = True
        expanded = []
        by_uid: dict[str, list[Any]] = {}
        for comp in events:
            by_uid.setdefault(str(comp.get("UID", "")), []).append(comp)
        zones = [c for c in cal.subcomponents if c.name == "VTIMEZONE"]
        for uid, comps in by_uid.items():
            one = icalendar.Calendar()
            for k, v in cal.items():
                one[k] = v
            for c in zones + comps:
                one.add_component(c)
            try:
                expanded += recurring_ical_events.of(one).between(start, end)
            except Exception as exc:
                result.warnings.append(f"{file}: skipped event UID={uid or '?'}: {exc}")
    for comp in expanded:
        uid = comp.get("UID")
        yield comp, str(uid) if uid is not None else synthetic_uid(comp)


def _removed(
    master: Any, file: Path, reading: Reading, window: Span, seen: set[tuple[str, datetime]],
    cal: Any,
) -> Iterator[Occurrence]:
    """Instances the series planned in the window and an EXDATE took out again."""
    uid = str(master.get("UID"))
    template = occurrence(reading, master, uid, True, file)
    length = template.duration
    starts = [aware(reading, v, None, template.start.tzinfo) for v in _exdates(master)]
    starts = [s for s in starts if window[0] <= s < window[1]]
    if not starts:
        return
    planned = _rule_starts(master, cal, reading, window)  # an EXDATE off the rule removed nothing
    for start in starts:
        key = (uid, start)
        if start not in planned or key in seen:
            continue
        seen.add(key)
        yield Occurrence(
            provider=reading.kind,
            calendar=reading.calendar,
            ref=IcsRef(str(file), uid, None).dumps(),
            uid=uid,
            start=start,
            end=start + length,
            title=template.title,
            series_id=uid,
            recurrence_id=start,
            all_day=template.all_day,
            organizer=template.organizer,
            organizer_is_self=template.organizer_is_self,
            attendees=template.attendees,
            status=Status.CANCELLED,
            removed=True,
            writable=False,
        )


def _rule_starts(master: Any, cal: Any, reading: Reading, window: Span) -> set[datetime]:
    """Starts of the series' own instances in the window, before any EXDATE."""
    bare = icalendar.Calendar()
    for comp in cal.subcomponents:
        if comp.name == "VTIMEZONE":
            bare.add_component(comp)
    rule = icalendar.Event.from_ical(master.to_ical())
    rule.pop("EXDATE", None)
    bare.add_component(rule)
    start, end = (t.astimezone(reading.default_tz) for t in window)
    try:
        found = recurring_ical_events.of(bare).between(start, end)
    except Exception:
        return set()
    return {aware(reading, c["DTSTART"].dt, c["DTSTART"].params.get("TZID")) for c in found}


def _broken(comp: Any) -> str | None:
    if comp.get("DTSTART") is None:
        return "no DTSTART"
    errors = getattr(comp, "errors", None)
    if errors and [p for p, _ in errors] == ["RRULE"]:
        # Exchange writes "BYDAY=MO, TU, WE"; the rule is clear without the spaces.
        try:
            comp["RRULE"] = icalendar.vRecur.from_ical(str(comp["RRULE"]).replace(" ", ""))
            errors.clear()
        except ValueError:
            pass
    if errors:
        prop, reason = errors[0]
        return f"bad {prop}: {reason}"
    return None


def _unknown_zones(comps: list[Any], file: Path, reading: Reading) -> list[str]:
    """One warning per event and TZID that names no zone we know (read as the owner's)."""
    found: dict[tuple[str, str], None] = {}
    for comp in comps:
        if comp.name != "VEVENT":
            continue
        for key in ("DTSTART", "DTEND", "RECURRENCE-ID"):
            prop = comp.get(key)
            tzid = getattr(prop, "params", {}).get("TZID") if prop is not None else None
            value = getattr(prop, "dt", None)
            if tzid and isinstance(value, datetime) and value.tzinfo is None:
                found.setdefault((str(comp.get("UID", "?")), str(tzid)), None)
    return [f"{file}: event UID={uid}: unknown time zone TZID={tzid!r}; read as {reading.default_tz}"
            for uid, tzid in found]


def _exdates(master: Any) -> Iterable[date | datetime]:
    for prop in as_list(master.get("EXDATE")):
        for item in getattr(prop, "dts", []):
            yield item.dt
