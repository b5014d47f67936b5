"""``freeBusy.query`` for the Google fake (tests/fakes/google.py), as documented.

``POST /calendar/v3/freeBusy`` with a ``FreeBusyRequest`` (``timeMin``, ``timeMax``,
``timeZone``, ``items: [{id}]``) answers a ``FreeBusyResponse``: ``calendars`` keyed by
the ids as asked, each ``{"busy": [{start, end}]}`` or, for a calendar the fake does not
hold, ``{"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}``. Beyond 50
ids (``calendarExpansionMax``) the rest get ``tooManyCalendarsRequested``.

A person's busy times are the events on their own calendar and the events on any other
calendar the fake holds that invite them: not cancelled, not ``transparent``, not
declined by them. Overlapping times are merged, clipped to the asked span and written in
the asked zone (``Z`` for UTC), as Google does.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from tests.fakes.google import FakeGoogle

FREEBUSY_SCOPES = {
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar.freebusy",
    "https://www.googleapis.com/auth/calendar.events.freebusy",
}
MAX_CALENDARS = 50


class Invalid(Exception):
    """A request Google answers 400 to: (reason, message)."""


def _time(body: dict[str, Any], key: str) -> datetime:
    value = body.get(key)
    if not value:
        raise Invalid("required", f"Missing {key} parameter.")
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError:
        raise Invalid("invalid", f"Invalid {key} value.") from None
    if dt.tzinfo is None:  # RFC 3339 with a mandatory offset
        raise Invalid("invalid", f"Invalid {key} value.")
    return dt


def _stamp(dt: datetime, tz: ZoneInfo) -> str:
    text = dt.astimezone(tz).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if str(tz) == "UTC" else text


def busy_of(fake: FakeGoogle, people: set[str], lo: datetime,
            hi: datetime) -> dict[str, list[tuple[datetime, datetime]]]:
    """The merged busy intervals inside ``[lo, hi)`` of each calendar/person in ``people``
    (one pass over the events, however many are asked)."""
    spans: dict[str, list[tuple[datetime, datetime]]] = {who: [] for who in people}
    for ev in fake.events.values():
        if ev.get("_master") or ev.get("_gone") or ev.get("status") == "cancelled":
            continue
        if ev.get("transparency") == "transparent" or "_start" not in ev:
            continue
        s, e = max(ev["_start"], lo), min(ev["_end"], hi)
        if s >= e:
            continue
        busy = {c for c in ev["_cals"] if c in people}
        for a in ev.get("attendees") or []:
            who = a.get("email")
            if who in people:
                if a.get("responseStatus") == "declined":
                    busy.discard(who)
                else:
                    busy.add(who)
        for who in busy:
            spans[who].append((s, e))
    return {who: _merged(found) for who, found in spans.items()}


def _merged(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def query(fake: FakeGoogle, body: Any, user: str) -> dict[str, Any]:
    """The answer to one ``freeBusy.query`` by ``user``; :class:`Invalid` for a 400."""
    if not isinstance(body, dict):
        raise Invalid("parseError", "Parse Error")
    lo, hi = _time(body, "timeMin"), _time(body, "timeMax")
    if hi <= lo:
        raise Invalid("timeRangeEmpty", "The specified time range is empty.")
    try:
        tz = ZoneInfo(str(body.get("timeZone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("invalid", "Invalid time zone definition for the time zone.") from None
    calendars: dict[str, Any] = {}
    items = [str(item.get("id") or "") for item in body.get("items") or []]
    asked = {user if cal_id == "primary" else cal_id.lower() for cal_id in items}
    busy = busy_of(fake, {who for who in asked if who in fake.calendars}, lo, hi)
    for n, cal_id in enumerate(items):
        who = user if cal_id == "primary" else cal_id.lower()
        if n >= MAX_CALENDARS:
            calendars[cal_id] = {"errors": [{"domain": "global",
                                             "reason": "tooManyCalendarsRequested"}], "busy": []}
        elif who not in fake.calendars:
            calendars[cal_id] = {"errors": [{"domain": "global", "reason": "notFound"}],
                                 "busy": []}
        else:
            calendars[cal_id] = {"busy": [{"start": _stamp(s, tz), "end": _stamp(e, tz)}
                                          for s, e in busy[who]]}
    return {"kind": "calendar#freeBusy", "timeMin": _stamp(lo, ZoneInfo("UTC")),
            "timeMax": _stamp(hi, ZoneInfo("UTC")), "calendars": calendars}

