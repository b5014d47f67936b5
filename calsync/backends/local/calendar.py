"""Local iCalendar files: the embedded default that needs no account.

Reads one .ics file or a folder of them and expands recurrences only inside the
requested window (recurring-ical-events), so a years-long series costs what the
window holds. EXDATEs inside the window come back as *removed* occurrences: they
were planned and did not happen, which is what cadence counts. One broken event is
skipped with a warning naming its UID; a file that is not iCalendar at all fails
with its name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events

from calsync.backends.base import BookRequest, BookResult, DocRef, Splice, Window, WriteResult
from calsync.backends.local.config import IcsCalendar
from calsync.core.model import (
    Attendee,
    AttendeeKind,
    Body,
    FetchResult,
    Occurrence,
    Owner,
    Response,
    Status,
)
from calsync.errors import CalendarFileError
from calsync.ical.limits import Budget, Load, rule_load
from calsync.ical.zones import windows_zone

_KINDS = {
    "INDIVIDUAL": AttendeeKind.PERSON,
    "GROUP": AttendeeKind.GROUP,
    "ROOM": AttendeeKind.ROOM,
    "RESOURCE": AttendeeKind.RESOURCE,
}
_RESPONSES = {
    "ACCEPTED": Response.ACCEPTED,
    "DECLINED": Response.DECLINED,
    "TENTATIVE": Response.TENTATIVE,
    "NEEDS-ACTION": Response.NEEDS_ACTION,
}
_STATUSES = {"CANCELLED": Status.CANCELLED, "TENTATIVE": Status.TENTATIVE}


@dataclass(frozen=True)
class IcsRef:
    """Where one occurrence lives: file, UID, and its original start (ISO) if recurring."""

    file: str
    uid: str
    recurrence_id: str | None

    def dumps(self) -> str:
        return json.dumps([self.file, self.uid, self.recurrence_id])

    @classmethod
    def loads(cls, ref: str) -> IcsRef:
        file, uid, rid = json.loads(ref)
        return cls(file, uid, rid)


def read_text(path: Path) -> tuple[str, str | None]:
    """A file's text; invalid UTF-8 is read as Windows-1252 with a warning, never dropped."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CalendarFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        text = raw.decode("cp1252", errors="replace")
        return text, f"{path}: not UTF-8 (byte {exc.start}); read as Windows-1252"


def parse_calendar(text: str, path: Path) -> icalendar.Calendar:
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


def ics_files(path: Path) -> list[Path]:
    """The calendar files ``path`` names: itself, or the .ics files of a folder.

    A folder without any is an error: a typo in ``path`` must not read as "no 1on1s".
    """
    if path.is_dir():
        try:
            found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".ics" and p.is_file())
        except OSError as exc:
            raise CalendarFileError(f"{path}: cannot list the folder: {exc.strerror or exc}") from None
        if not found:
            raise CalendarFileError(f"{path}: a folder with no .ics files in it")
        return found
    if not path.exists():
        raise CalendarFileError(f"{path}: no such file or folder")
    return [path]


class IcsProvider:
    kind = "ics"

    def __init__(
        self,
        cal: IcsCalendar,
        owner: Owner,
        *,
        before_replace: Callable[[Path], None] | None = None,
        lock_wait: float = 10.0,
    ) -> None:
        """``before_replace`` runs with our finished temp file just before the rename (a
        seam for tests to save the file "concurrently"); ``lock_wait`` bounds the wait
        for another writer's lock."""
        assert cal.path is not None
        self.before_replace = before_replace
        self.lock_wait = lock_wait
        self.name = cal.name
        self.path = cal.path
        self.read_only = cal.read_only
        self.owner = owner
        self.default_tz: tzinfo = _zone(owner.timezone) or datetime.now().astimezone().tzinfo  # type: ignore[assignment]

    def files(self) -> list[Path]:
        return ics_files(self.path)

    def fetch(self, window: Window) -> FetchResult:
        result = FetchResult()
        folder = self.path.is_dir()
        for file in self.files():
            try:
                text, warning = read_text(file)
                if warning:
                    result.warnings.append(warning)
                cal = parse_calendar(text, file)
            except CalendarFileError as exc:
                if not folder:
                    raise
                result.warnings.append(f"skipped file: {exc}")  # the folder's other files count
                continue
            result.occurrences.extend(self._occurrences(cal, file, window, result.warnings))
        return result

    def write_description(
        self, occurrence: Occurrence, splice: Splice, tag: str, attach: DocRef | None = None
    ) -> WriteResult:
        from calsync.ical.edit import write_occurrence

        return write_occurrence(self, occurrence, splice)

    def book(self, request: BookRequest) -> BookResult:
        from calsync.backends.local.book import book_ics

        return book_ics(self.path, self.read_only, request, lock_wait=self.lock_wait,
                        before_replace=self.before_replace)

    def close(self) -> None:
        pass

    # -- reading -------------------------------------------------------------------------

    def _occurrences(
        self, cal: icalendar.Calendar, file: Path, window: Window, warnings: list[str]
    ) -> Iterator[Occurrence]:
        good: list[Any] = []
        for comp in cal.subcomponents:
            if comp.name == "VEVENT":
                problem = _broken(comp)
                if problem:
                    warnings.append(f"{file}: skipped event UID={comp.get('UID', '?')}: {problem}")
                    continue
            good.append(comp)
        warnings.extend(_unknown_zones(good, file, self.default_tz))
        runaway = self._runaway(good, file, window, warnings)
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
        for comp, uid in self._expand(cal, events, file, window, warnings):
            occ = self._occurrence(comp, uid, uid in recurring, file)
            key = (uid, occ.recurrence_id or occ.start)
            if key not in seen:
                seen.add(key)
                yield occ
        for master in events:
            if master.get("RECURRENCE-ID") is None and master.get("EXDATE") is not None:
                yield from self._removed(master, file, window, seen, cal)

    def _runaway(
        self, comps: list[Any], file: Path, window: Window, warnings: list[str]
    ) -> dict[int, str]:
        """Series whose rule is too big to expand (by id of the master), warned by UID."""
        budget = Budget((window.start, window.end))
        skipped: dict[int, str] = {}
        for comp in comps:
            rules = _as_list(comp.get("RRULE")) if comp.name == "VEVENT" else []
            if not rules or comp.get("RECURRENCE-ID") is not None:
                continue
            prop = comp["DTSTART"]
            start = self._aware(prop.dt, prop.params.get("TZID"))
            loads: list[Load] = []
            problem: str | None = None
            for rule in rules:
                load = rule_load(rule, start, (window.start, window.end),
                                 start.tzinfo or self.default_tz)
                if isinstance(load, str):
                    problem = load
                    break
                loads.append(load)
            problem = problem or budget.admit(loads)
            if problem:
                uid = str(comp.get("UID", "?"))
                warnings.append(f"{file}: skipped series UID={uid}: {problem}")
                skipped[id(comp)] = uid
        return skipped

    def _expand(
        self,
        cal: icalendar.Calendar,
        events: list[Any],
        file: Path,
        window: Window,
        warnings: list[str],
    ) -> Iterator[tuple[Any, str]]:
        # Floating times are read in the window's zone by the expander: give it the owner's.
        start, end = window.start.astimezone(self.default_tz), window.end.astimezone(self.default_tz)
        try:
            expanded = list(recurring_ical_events.of(cal).between(start, end))
        except Exception:  # a series the expander cannot handle: isolate it by UID
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
                    warnings.append(f"{file}: skipped event UID={uid or '?'}: {exc}")
        for comp in expanded:
            uid = comp.get("UID")
            yield comp, str(uid) if uid is not None else _synthetic_uid(comp)

    def _occurrence(
        self, comp: Any, uid: str, recurring: bool, file: Path
    ) -> Occurrence:
        start_raw = comp["DTSTART"]
        all_day = not isinstance(start_raw.dt, datetime)
        start = self._aware(start_raw.dt, start_raw.params.get("TZID"))
        end = self._end(comp, start, all_day)
        rid_prop = comp.get("RECURRENCE-ID") if recurring else None
        rid = self._aware(rid_prop.dt, rid_prop.params.get("TZID")) if rid_prop else None
        organizer, organizer_name = _address(comp.get("ORGANIZER"))
        attendees = tuple(self._attendee(a) for a in _as_list(comp.get("ATTENDEE")))
        if organizer and organizer_name and not any(a.email == organizer for a in attendees):
            attendees += (Attendee(organizer, organizer_name, response=Response.ACCEPTED),)
        description = _text(comp.get("DESCRIPTION", ""))
        has_uid = comp.get("UID") is not None
        return Occurrence(
            provider=self.kind,
            calendar=self.name,
            ref=IcsRef(str(file), uid, rid.isoformat() if rid else None).dumps(),
            uid=uid,
            start=start,
            end=end,
            title=str(comp.get("SUMMARY", "")),
            series_id=uid if recurring else None,
            recurrence_id=rid,
            all_day=all_day,
            organizer=organizer,
            # No ORGANIZER: an event the owner made in their own calendar.
            organizer_is_self=(organizer in self.owner.emails) if organizer else True,
            attendees=attendees,
            status=_STATUSES.get(str(comp.get("STATUS", "")).upper(), Status.CONFIRMED),
            description=Body(description, html=_looks_html(description)),
            writable=has_uid and not self.read_only,
        )

    def _removed(
        self, master: Any, file: Path, window: Window, seen: set[tuple[str, datetime]], cal: Any
    ) -> Iterator[Occurrence]:
        """Instances the series planned in the window and an EXDATE took out again."""
        uid = str(master.get("UID"))
        template = self._occurrence(master, uid, True, file)
        length = template.duration
        starts = [self._aware(v, None, template.start.tzinfo) for v in _exdates(master)]
        starts = [s for s in starts if window.start <= s < window.end]
        if not starts:
            return
        planned = self._rule_starts(master, cal, window)  # an EXDATE off the rule removed nothing
        for start in starts:
            key = (uid, start)
            if start not in planned or key in seen:
                continue
            seen.add(key)
            yield Occurrence(
                provider=self.kind,
                calendar=self.name,
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

    def _rule_starts(self, master: Any, cal: Any, window: Window) -> set[datetime]:
        """Starts of the series' own instances in the window, before any EXDATE."""
        bare = icalendar.Calendar()
        for comp in cal.subcomponents:
            if comp.name == "VTIMEZONE":
                bare.add_component(comp)
        rule = icalendar.Event.from_ical(master.to_ical())
        rule.pop("EXDATE", None)
        bare.add_component(rule)
        start, end = window.start.astimezone(self.default_tz), window.end.astimezone(self.default_tz)
        try:
            found = recurring_ical_events.of(bare).between(start, end)
        except Exception:
            return set()
        return {self._aware(c["DTSTART"].dt, c["DTSTART"].params.get("TZID")) for c in found}

    def _end(self, comp: Any, start: datetime, all_day: bool) -> datetime:
        if comp.get("DTEND") is not None:
            prop = comp["DTEND"]
            end = self._aware(prop.dt, prop.params.get("TZID"), start.tzinfo)
        elif comp.get("DURATION") is not None:
            end = start + comp["DURATION"].dt
        else:
            end = start + (timedelta(days=1) if all_day else timedelta(0))
        return end if end >= start else start

    def _aware(
        self, value: date | datetime, tzid: str | None, fallback: tzinfo | None = None
    ) -> datetime:
        if not isinstance(value, datetime):
            return datetime.combine(value, time(), tzinfo=fallback or self.default_tz)
        if value.tzinfo is None:
            return value.replace(tzinfo=fallback or self.default_tz)
        if tzid and not isinstance(value.tzinfo, ZoneInfo):
            # A VTIMEZONE named with a Windows id often carries wrong rules (khal #714);
            # the IANA zone for that id is the better authority.
            zone = windows_zone(str(tzid))
            if zone is not None:
                return value.replace(tzinfo=zone)
        return value

    def _attendee(self, prop: Any) -> Attendee:
        email, name = _address(prop)
        params = getattr(prop, "params", {})
        return Attendee(
            email=email or "",
            name=name,
            kind=_KINDS.get(str(params.get("CUTYPE", "INDIVIDUAL")).upper(), AttendeeKind.PERSON),
            response=_RESPONSES.get(str(params.get("PARTSTAT", "")).upper(), Response.UNKNOWN),
        )


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


def _unknown_zones(comps: list[Any], file: Path, fallback: tzinfo) -> list[str]:
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
    return [f"{file}: event UID={uid}: unknown time zone TZID={tzid!r}; read as {fallback}"
            for uid, tzid in found]


def _exdates(master: Any) -> Iterable[date | datetime]:
    for prop in _as_list(master.get("EXDATE")):
        for item in getattr(prop, "dts", []):
            yield item.dt


def _text(value: Any) -> str:
    """A text property; one given several times (invalid, but seen) reads as its lines."""
    return "\n".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _address(prop: Any) -> tuple[str | None, str | None]:
    if prop is None:
        return None, None
    raw = str(prop).strip()
    if raw.lower().startswith("mailto:"):
        raw = raw[7:]
    params = getattr(prop, "params", {})
    name = params.get("CN")
    return (raw.lower() or None), (str(name).strip('"') if name else None)


def _looks_html(text: str) -> bool:
    lowered = text[:4096].lower()
    return any(tag in lowered for tag in ("<br", "<p>", "<p ", "<div", "<html", "<a href", "<b>"))


def _synthetic_uid(comp: Any) -> str:
    seed = f"{comp.get('DTSTART').to_ical()!r}|{comp.get('SUMMARY', '')}"
    return "no-uid-" + hashlib.sha1(seed.encode()).hexdigest()[:12]


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return windows_zone(name)
