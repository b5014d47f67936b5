"""Other people's busy times from Graph ``POST {mailbox}/calendar/getSchedule``.

The request names up to :data:`MAX_SCHEDULES` SMTP addresses and a period as
``dateTimeTimeZone`` (sent in UTC); the answer holds one ``scheduleInformation`` per
address: ``scheduleItems[{status, start, end}]``, an ``availabilityView`` and, for an
address Graph cannot see, an ``error`` instead. ``Prefer: outlook.timezone`` decides the
zone of the returned times (UTC if absent); each time is read with its own ``timeZone``
label all the same, so an answer in another zone still lands on the right instant.
``free`` and ``workingElsewhere`` leave the time free; ``busy``, ``tentative``, ``oof`` and
``unknown`` hold it. Delegated Calendars.Read (or .ReadWrite, as calsync's login has)
allows the call; a work or school account is needed (personal accounts are refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from calsync.backends.microsoft.graph import json_of
from calsync.backends.microsoft.normalise import parse_graph_time

if TYPE_CHECKING:
    from calsync.backends.base import Interval
    from calsync.backends.microsoft.graph import Graph

MAX_SCHEDULES = 20  # addresses per request (kept small; Graph's own cap is not stated)
MAX_SPAN = timedelta(days=42)  # one request's period (kept well inside Graph's limit)
INTERVAL_MINUTES = 30  # availabilityViewInterval (5..1440); calsync reads scheduleItems
FREE = frozenset({"free", "workingelsewhere"})


def request_body(emails: Sequence[str], start: datetime, end: datetime) -> dict[str, Any]:
    """The documented getSchedule body for ``[start, end)``, times in UTC."""
    def stamp(dt: datetime) -> dict[str, str]:
        return {"dateTime": dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}

    return {"schedules": list(emails), "startTime": stamp(start), "endTime": stamp(end),
            "availabilityViewInterval": INTERVAL_MINUTES}


def busy_of(payload: Any, start: datetime, end: datetime) -> dict[str, list[Interval]]:
    """Busy intervals per lower-cased address, clipped to ``[start, end)``, merged, sorted.

    An entry with ``error`` (an address Graph cannot see) gives no entry at all.
    """
    out: dict[str, list[Interval]] = {}
    values = payload.get("value") if isinstance(payload, dict) else None
    for info in values if isinstance(values, list) else []:
        if not isinstance(info, dict) or info.get("error") or not info.get("scheduleId"):
            continue
        spans: list[Interval] = []
        for item in info.get("scheduleItems") or []:
            if str(item.get("status") or "unknown").lower() in FREE:
                continue
            lo, hi = parse_graph_time(item.get("start")), parse_graph_time(item.get("end"))
            if lo is None or hi is None:
                continue
            lo, hi = max(lo, start), min(hi, end)
            if lo < hi:
                spans.append((lo.astimezone(UTC), hi.astimezone(UTC)))
        out.setdefault(str(info["scheduleId"]).strip().lower(), []).extend(spans)
    return {who: merge(spans) for who, spans in out.items()}


def merge(spans: list[Interval]) -> list[Interval]:
    """Overlapping or touching intervals joined, in order."""
    merged: list[Interval] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def get_busy(graph: Graph, emails: Sequence[str], start: datetime,
             end: datetime) -> dict[str, list[Interval]]:
    """Ask getSchedule for ``emails`` over ``[start, end)``: one request per
    :data:`MAX_SCHEDULES` addresses and :data:`MAX_SPAN` of time. Raises GraphError."""
    wanted = sorted({e.strip().lower() for e in emails if e.strip()})
    found: dict[str, list[Interval]] = {}
    path = f"{graph.mailbox}/calendar/getSchedule"
    headers = {"Prefer": 'outlook.timezone="UTC"'}
    for i in range(0, len(wanted), MAX_SCHEDULES):
        batch = wanted[i:i + MAX_SCHEDULES]
        lo = start
        while lo < end:
            hi = min(end, lo + MAX_SPAN)
            resp = graph.request("POST", path, headers=headers,
                                 json_body=request_body(batch, lo, hi), retry=True)
            for who, spans in busy_of(json_of(resp), lo, hi).items():
                found[who] = merge(found.get(who, []) + spans)
            lo = hi
    return found

