"""One VEVENT (or one expanded instance of it) → a provider-neutral :class:`Occurrence`.

The rules every iCalendar source shares: times made aware (floating and date values in
the owner's zone, a Windows-named VTIMEZONE replaced by its IANA zone), attendees with
their kind and response, the organizer counted as a person, and the ``ref`` that names
the very VEVENT a write goes back to.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calsync.core.model import Attendee, AttendeeKind, Body, Occurrence, Response, Status
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
        """The ref as the JSON text kept in ``Occurrence.ref``."""
        return json.dumps([self.file, self.uid, self.recurrence_id])

    @classmethod
    def loads(cls, ref: str) -> IcsRef:
        """The ref that :meth:`dumps` wrote."""
        file, uid, rid = json.loads(ref)
        return cls(file, uid, rid)


@dataclass(frozen=True)
class Reading:
    """Who reads: the calendar's name, the owner's addresses and zone, and whether the
    calendar may be written (an occurrence is writable only then)."""

    calendar: str
    owner: tuple[str, ...]
    default_tz: tzinfo
    read_only: bool = False
    kind: str = "ics"


_People = tuple[str | None, tuple[Attendee, ...], Body]
Memo = dict[tuple[int, int, int], tuple[Any, Any, Any, _People]]


def _people(comp: Any, memo: Memo | None) -> _People:
    """Organizer, attendees and description; the instances of one series share the very
    property objects (the expander copies the component shallowly), so they are read once."""
    props = (comp.get("ORGANIZER"), comp.get("ATTENDEE"), comp.get("DESCRIPTION", ""))
    key = (id(props[0]), id(props[1]), id(props[2]))
    if memo is not None:
        hit = memo.get(key)
        if hit is not None and hit[0] is props[0] and hit[1] is props[1] and hit[2] is props[2]:
            return hit[3]
    organizer, organizer_name = _address(props[0])
    attendees = tuple(_attendee(a) for a in as_list(props[1]))
    if organizer and organizer_name and not any(a.email == organizer for a in attendees):
        attendees += (Attendee(organizer, organizer_name, response=Response.ACCEPTED),)
    description = _text(props[2])
    people = (organizer, attendees, Body(description, html=looks_html(description)))
    if memo is not None:
        memo[key] = (*props, people)  # holds the objects: their ids stay theirs
    return people


def occurrence(reading: Reading, comp: Any, uid: str, recurring: bool, file: Path,
               memo: Memo | None = None) -> Occurrence:
    """One VEVENT (or expanded instance) as an Occurrence, its times made aware in the reader's zone."""
    start_raw = comp["DTSTART"]
    all_day = not isinstance(start_raw.dt, datetime)
    start = aware(reading, start_raw.dt, start_raw.params.get("TZID"))
    end = _end(reading, comp, start, all_day)
    rid_prop = comp.get("RECURRENCE-ID") if recurring else None
    rid = aware(reading, rid_prop.dt, rid_prop.params.get("TZID")) if rid_prop else None
    organizer, attendees, body = _people(comp, memo)
    has_uid = comp.get("UID") is not None
    return Occurrence(
        provider=reading.kind,
        calendar=reading.calendar,
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
        organizer_is_self=(organizer in reading.owner) if organizer else True,
        attendees=attendees,
        status=_STATUSES.get(str(comp.get("STATUS", "")).upper(), Status.CONFIRMED),
        description=body,
        writable=has_uid and not reading.read_only,
    )


def _end(reading: Reading, comp: Any, start: datetime, all_day: bool) -> datetime:
    if comp.get("DTEND") is not None:
        prop = comp["DTEND"]
        end = aware(reading, prop.dt, prop.params.get("TZID"), start.tzinfo)
    elif comp.get("DURATION") is not None:
        end = start + comp["DURATION"].dt
    else:
        end = start + (timedelta(days=1) if all_day else timedelta(0))
    return end if end >= start else start


def aware(
    reading: Reading, value: date | datetime, tzid: str | None, fallback: tzinfo | None = None
) -> datetime:
    """``value`` as an aware datetime; a date or floating time gets ``fallback`` or the reader's zone."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(), tzinfo=fallback or reading.default_tz)
    if value.tzinfo is None:
        return value.replace(tzinfo=fallback or reading.default_tz)
    if tzid and not isinstance(value.tzinfo, ZoneInfo):
        # A VTIMEZONE named with a Windows id often carries wrong rules (khal #714);
        # the IANA zone for that id is the better authority.
        zone = windows_zone(str(tzid))
        if zone is not None:
            return value.replace(tzinfo=zone)
    return value


def _attendee(prop: Any) -> Attendee:
    email, name = _address(prop)
    params = getattr(prop, "params", {})
    return Attendee(
        email=email or "",
        name=name,
        kind=_KINDS.get(str(params.get("CUTYPE", "INDIVIDUAL")).upper(), AttendeeKind.PERSON),
        response=_RESPONSES.get(str(params.get("PARTSTAT", "")).upper(), Response.UNKNOWN),
    )


def _text(value: Any) -> str:
    """A text property; one given several times (invalid, but seen) reads as its lines."""
    return "\n".join(str(v) for v in value) if isinstance(value, list) else str(value)


def as_list(value: Any) -> list[Any]:
    """A property given once or several times, as a list (none: empty)."""
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


def looks_html(text: str) -> bool:
    """Whether a description looks like HTML rather than plain text, by tags near its start."""
    lowered = text[:4096].lower()
    return any(tag in lowered for tag in ("<br", "<p>", "<p ", "<div", "<html", "<a href", "<b>"))


def synthetic_uid(comp: Any) -> str:
    """A stable stand-in for a missing UID, from DTSTART and SUMMARY; such an event is never written."""
    seed = f"{comp.get('DTSTART').to_ical()!r}|{comp.get('SUMMARY', '')}"
    return "no-uid-" + hashlib.sha1(seed.encode()).hexdigest()[:12]


def zone(name: str | None) -> tzinfo | None:
    """An IANA or Windows zone name as a zone; None when it names none."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return windows_zone(name)
