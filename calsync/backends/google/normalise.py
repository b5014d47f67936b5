"""Google's event resources as calsync occurrences, and what the cache keeps of them.

Pure functions on the JSON Calendar v3 returns: times in the event's own zone (the
calendar's for floating times), attendees with rooms told from people, a cancelled
instance of a series as an occurrence taken out of it. :func:`trim` is what reaches the
local cache: metadata, and of the description only what :func:`calsync.core.privacy.keepable`
keeps.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calsync.core.model import Attendee, AttendeeKind, Body, Occurrence, Response, Status

# Event fields kept in the local cache; the rest of Google's payload is not needed. The
# description is kept only as :func:`calsync.core.privacy.keepable` reduces it (see :func:`trim`):
# writes read the event again, so the cache never holds people's text.
KEEP = (
    "id", "status", "summary", "start", "end", "recurringEventId",
    "originalStartTime", "organizer", "attendees", "etag", "iCalUID", "attendeesOmitted",
)
K_HTML = "calsync.html"  # in a cached event: whether its full description was HTML

_HTML = re.compile(
    r"<(?:br|p|div|a|b|i|u|ul|ol|li|span|strong|em|html|body|h[1-6]|table|tr|td)\b[^>]*>"
    r"|</[a-z][a-z0-9]*>|&(?:nbsp|amp|lt|gt|quot|#\d+);",
    re.IGNORECASE,
)


def looks_like_html(text: str) -> bool:
    """Google descriptions are "HTML, but sometimes plain text": decide by the content."""
    return bool(_HTML.search(text))


@functools.lru_cache(maxsize=64)
def zone(name: str | None) -> tzinfo | None:
    """An IANA zone by name; None for none or one this system does not know."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def when(value: dict[str, Any] | None, default_tz: tzinfo) -> tuple[datetime, bool] | None:
    """A Google EventDateTime as an aware datetime (in the event's own zone), and all-day."""
    if not value:
        return None
    if value.get("dateTime"):
        dt = datetime.fromisoformat(value["dateTime"])
        tz = zone(value.get("timeZone"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=tz or default_tz)
        elif tz is not None:
            dt = dt.astimezone(tz)
        return dt, False
    if value.get("date"):
        d = date.fromisoformat(value["date"])
        tz = zone(value.get("timeZone")) or default_tz
        return datetime(d.year, d.month, d.day, tzinfo=tz), True
    return None


_RESPONSES = {
    "accepted": Response.ACCEPTED,
    "declined": Response.DECLINED,
    "tentative": Response.TENTATIVE,
    "needsAction": Response.NEEDS_ACTION,
}
_STATUSES = {"confirmed": Status.CONFIRMED, "tentative": Status.TENTATIVE, "cancelled": Status.CANCELLED}


def normalise(
    event: dict[str, Any], calendar: str, default_tz: tzinfo, read_only: bool = False
) -> Occurrence | None:
    """One Google event (an instance or a single event) as an :class:`Occurrence`."""
    start = when(event.get("start"), default_tz) or when(
        event.get("originalStartTime"), default_tz
    )
    if start is None:
        return None
    end = when(event.get("end"), default_tz)
    end_dt = end[0] if end else start[0]
    attendees = []
    for a in event.get("attendees") or []:
        addr = str(a.get("email") or "").strip().lower()
        if not addr:
            continue
        attendees.append(
            Attendee(
                email=addr,
                name=a.get("displayName") or None,
                kind=AttendeeKind.RESOURCE if a.get("resource") else AttendeeKind.PERSON,
                response=_RESPONSES.get(a.get("responseStatus", ""), Response.UNKNOWN),
                is_self=bool(a.get("self")),
            )
        )
    if event.get("attendeesOmitted"):
        # Google left some guests out of this copy: never mistake it for a 1on1
        attendees.append(Attendee("attendees-omitted@calsync.invalid", kind=AttendeeKind.GROUP))
    organizer = event.get("organizer") or {}
    status = _STATUSES.get(event.get("status", "confirmed"), Status.CONFIRMED)
    series = event.get("recurringEventId")
    original = when(event.get("originalStartTime"), default_tz)
    text = event.get("description") or ""
    html = event[K_HTML] if K_HTML in event else looks_like_html(text)
    return Occurrence(
        provider="google",
        calendar=calendar,
        ref=event["id"],
        uid=event.get("iCalUID") or event["id"],
        start=start[0],
        end=end_dt,
        title=event.get("summary") or "",
        series_id=series,
        recurrence_id=original[0] if original else None,
        all_day=start[1],
        organizer=(organizer.get("email") or "").lower() or None,
        organizer_is_self=bool(organizer.get("self")),
        attendees=tuple(attendees),
        status=status,
        # a cancelled instance of a series is an occurrence taken out of it
        removed=status is Status.CANCELLED and series is not None,
        description=Body(text, html=bool(html)),
        etag=event.get("etag"),
        writable=not read_only and status is not Status.CANCELLED,
    )


def span(event: dict[str, Any], default_tz: tzinfo) -> tuple[datetime, datetime] | None:
    """Start and end of an event (a cancelled instance: its original start, twice)."""
    start = when(event.get("start"), default_tz) or when(event.get("originalStartTime"), default_tz)
    if start is None:
        return None
    end = when(event.get("end"), default_tz)
    return start[0], (end[0] if end else start[0])


def day(value: dict[str, Any] | None) -> str | None:
    """The ISO date an EventDateTime falls on as written (a cheap pre-filter)."""
    if not value:
        return None
    text = value.get("dateTime") or value.get("date")
    return str(text)[:10] if text else None


def trim(event: dict[str, Any]) -> dict[str, Any]:
    """What the cache keeps of an event: metadata, and of the description only its
    checklist lines and calsync's block (never people's other text)."""
    out = {k: event[k] for k in KEEP if k in event}
    if K_HTML in event:  # already trimmed
        out["description"], out[K_HTML] = event.get("description") or "", event[K_HTML]
    elif event.get("description"):
        from calsync.core.privacy import keepable

        text = str(event["description"])
        kept = keepable(Body(text, html=looks_like_html(text)))
        out["description"], out[K_HTML] = kept.text, kept.html
    return out


def iso(dt: datetime) -> str:
    """RFC 3339 in UTC, as timeMin / timeMax want it."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
