"""Graph event JSON → :class:`calsync.core.model.Occurrence`, and what the cache keeps of it.

Graph's delta gives series masters and exceptions in full and plain occurrences as
``id/type/start/end/seriesMasterId`` only, so an occurrence is the master's properties
with its own times (normalised once per series). Times come as ``dateTimeTimeZone``
(Windows or IANA zone names, resolved by :mod:`calsync.ical.zones`); all-day events are
midnight to midnight whatever the zone. The organizer, whom Graph leaves out of
``attendees``, is added to them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from calsync.core.model import Attendee, AttendeeKind, Body, Occurrence, Response, Status
from calsync.core.privacy import keepable
from calsync.ical.zones import zone

# Fields kept from a Graph event in the local cache (delta items carry many more). The
# body is kept only as :func:`calsync.core.privacy.keepable` reduces it (see trim): writes
# read the event again, so the cache never holds people's text or a Teams passcode.
_KEEP = (
    "id", "type", "seriesMasterId", "iCalUId", "subject", "start", "end", "originalStart",
    "originalStartTimeZone", "isAllDay", "isCancelled", "isOrganizer", "organizer",
    "attendees", "recurrence", "@odata.etag",
)
_REDUCED = "calsync.reduced"  # marks a cached body that keepable() already reduced


def body_of(event: dict[str, Any]) -> Body:
    """An event's ``body`` (``{contentType, content}``) as a Body."""
    body = event.get("body") or {}
    return Body(str(body.get("content") or ""),
                html=str(body.get("contentType", "html")).lower() == "html")


def parse_graph_time(value: dict[str, Any] | None) -> datetime | None:
    """``{"dateTime": "2024-01-01T09:00:00.0000000", "timeZone": "UTC"}`` → aware datetime."""
    if not value or not value.get("dateTime"):
        return None
    text = str(value["dateTime"])
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone(value.get("timeZone")))
    return dt


def parse_offset_time(value: str | None) -> datetime | None:
    """``originalStart`` (an Edm.DateTimeOffset) → aware UTC datetime."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    dt = datetime.fromisoformat(text)
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


_RESPONSES = {
    "accepted": Response.ACCEPTED,
    "organizer": Response.ACCEPTED,
    "declined": Response.DECLINED,
    "tentativelyaccepted": Response.TENTATIVE,
    "notresponded": Response.NEEDS_ACTION,
    "none": Response.NEEDS_ACTION,
}


# What delta gives for a plain occurrence (docs-contrib#5602).
_PLAIN = {"id", "type", "seriesMasterId", "start", "end", "@odata.type", "originalStart"}


def _address(obj: dict[str, Any] | None) -> tuple[str, str | None]:
    ea = (obj or {}).get("emailAddress") or {}
    return str(ea.get("address") or "").strip().lower(), (ea.get("name") or None)


class Normaliser:
    """Builds occurrences for one calendar; remembers each series' normalised master."""

    def __init__(self, cal_name: str, owner_emails: set[str]) -> None:
        self.cal_name = cal_name
        self.owner_emails = owner_emails
        self._templates: dict[str, Occurrence | None] = {}

    def occurrence(
        self, item: dict[str, Any], master: dict[str, Any] | None
    ) -> Occurrence | None:
        """A Graph event (single, exception, or occurrence merged onto its master)."""
        if item.get("type") == "occurrence" and master is not None and set(item) <= _PLAIN:
            # A plain occurrence is its master with its own times: normalise the master's
            # part once per series.
            key = str(master.get("id"))
            template = self._templates.get(key)
            if template is None:
                template = self._build(item, master)
                self._templates[key] = template
            start = parse_graph_time(item.get("start"))
            end = parse_graph_time(item.get("end"))
            if template is None or start is None or end is None:
                return None
            if template.all_day:
                return self._build(item, master)
            tz = template.start.tzinfo or UTC
            original = parse_offset_time(item.get("originalStart")) or start.astimezone(UTC)
            return replace(template, ref=str(item["id"]), start=start.astimezone(tz),
                           end=end.astimezone(tz), recurrence_id=original)
        return self._build(item, master)

    def _build(self, item: dict[str, Any], master: dict[str, Any] | None) -> Occurrence | None:
        base = item
        if item.get("type") == "occurrence" and master is not None:
            base = {**master, **{k: v for k, v in item.items() if v is not None}}
            base["type"] = "occurrence"
            if "@odata.etag" not in item:
                base.pop("@odata.etag", None)
        start = parse_graph_time(base.get("start"))
        end = parse_graph_time(base.get("end"))
        if start is None or end is None:
            return None
        all_day = bool(base.get("isAllDay"))
        tz = zone(base.get("originalStartTimeZone"))
        if all_day:
            # Graph gives all-day events as midnight to midnight whatever the zone.
            start = datetime.combine(start.date(), datetime.min.time(), tzinfo=tz)
            end = datetime.combine(end.date(), datetime.min.time(), tzinfo=tz)
        else:
            start, end = start.astimezone(tz), end.astimezone(tz)
        organizer, org_name = _address(base.get("organizer"))
        is_org = base.get("isOrganizer")
        attendees: list[Attendee] = []
        seen: set[str] = set()
        for a in base.get("attendees") or []:
            addr, name = _address(a)
            if not addr or addr in seen:
                continue
            seen.add(addr)
            resp = str(((a.get("status") or {}).get("response")) or "none").lower()
            attendees.append(Attendee(
                email=addr,
                name=name,
                kind=AttendeeKind.RESOURCE if a.get("type") == "resource" else AttendeeKind.PERSON,
                response=_RESPONSES.get(resp, Response.UNKNOWN),
                is_self=addr in self.owner_emails,
            ))
        if organizer and organizer not in seen:
            # Graph leaves the organizer out of `attendees`; they take part all the same.
            attendees.insert(0, Attendee(
                email=organizer, name=org_name, response=Response.ACCEPTED,
                is_self=bool(is_org) or organizer in self.owner_emails,
            ))
        series_id = base.get("seriesMasterId") if base.get("type") != "singleInstance" else None
        original = parse_offset_time(base.get("originalStart")) if series_id else None
        if series_id and original is None and item.get("type") == "occurrence":
            original = parse_graph_time(item.get("start"))
            original = original.astimezone(UTC) if original else None
        uid = str((master or {}).get("iCalUId") or base.get("iCalUId") or base.get("id"))
        return Occurrence(
            provider="microsoft",
            calendar=self.cal_name,
            ref=str(item["id"]),
            uid=uid,
            start=start,
            end=end,
            title=str(base.get("subject") or ""),
            series_id=series_id,
            recurrence_id=original,
            all_day=all_day,
            organizer=organizer or None,
            organizer_is_self=None if is_org is None else bool(is_org),
            attendees=tuple(attendees),
            status=Status.CANCELLED if base.get("isCancelled") else Status.CONFIRMED,
            description=body_of(base),
            etag=item.get("@odata.etag"),
        )

    def removed(self, master: dict[str, Any], slot: datetime) -> Occurrence | None:
        """An instance the organizer deleted from the series: planned once, never held."""
        start = parse_graph_time(master.get("start"))
        end = parse_graph_time(master.get("end"))
        if start is None or end is None:
            return None
        fake = {**master, "type": "exception", "id": f"{master['id']}@{slot.isoformat()}",
                "seriesMasterId": master["id"],
                "start": {"dateTime": slot.replace(tzinfo=None).isoformat(), "timeZone": "UTC"},
                "end": {"dateTime": (slot + (end - start)).replace(tzinfo=None).isoformat(),
                        "timeZone": "UTC"},
                "originalStart": slot.isoformat()}
        occ = self.occurrence(fake, None)
        if occ is None:
            return None
        return replace(occ, removed=True, writable=False, etag=None)


def trim(item: dict[str, Any]) -> dict[str, Any]:
    """What the cache keeps of an event: metadata, and of the body only its checklist
    lines and calsync's block. Trimming a trimmed item changes nothing."""
    out = {k: item[k] for k in _KEEP if k in item}
    body = item.get("body")
    if isinstance(body, dict):
        if body.get(_REDUCED):
            out["body"] = body
        else:
            html = str(body.get("contentType", "html")).lower() == "html"
            kept = keepable(Body(str(body.get("content") or ""), html=html))
            out["body"] = {"contentType": "html" if html else "text", "content": kept.text,
                           _REDUCED: True}
    return out
