"""Other people's busy times for make-up slots: Calendar v3 ``freeBusy.query``.

``POST calendar/v3/freeBusy`` with ``timeMin``, ``timeMax``, ``timeZone`` and
``items: [{id}]`` answers ``calendars: {id: {busy: [{start, end}], errors: [...]}}``.
An address whose calendar Google cannot show (``notFound``: outside the organisation,
not shared) comes back with ``errors``: it gets no entry, so its slots rest on the
owner's busy times alone. At most 50 calendars go in one request (the documented
``calendarExpansionMax``). Pure functions; the provider sends the requests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from calsync.backends.base import Interval
from calsync.backends.google.normalise import iso

MAX_ITEMS = 50


def batches(emails: Sequence[str]) -> Iterator[list[str]]:
    """The addresses (lower-cased, each once, sorted) in requests of :data:`MAX_ITEMS`."""
    wanted = sorted({e.strip().lower() for e in emails if e.strip()})
    for i in range(0, len(wanted), MAX_ITEMS):
        yield wanted[i: i + MAX_ITEMS]


def query_body(emails: Sequence[str], start: datetime, end: datetime, tz: str) -> dict[str, Any]:
    """The ``FreeBusyRequest`` for these addresses over ``[start, end)``."""
    return {"timeMin": iso(start), "timeMax": iso(end), "timeZone": tz,
            "items": [{"id": e} for e in emails]}


def parse(resp: dict[str, Any], start: datetime, end: datetime) -> dict[str, list[Interval]]:
    """Busy intervals per address (lower-cased), clipped to ``[start, end)``; an address
    Google reported errors for, or did not answer for, has no entry."""
    out: dict[str, list[Interval]] = {}
    calendars = resp.get("calendars") or {}
    for cal_id, info in calendars.items() if isinstance(calendars, dict) else ():
        if not isinstance(info, dict) or info.get("errors"):
            continue
        spans: list[Interval] = []
        for period in info.get("busy") or []:
            try:
                s = datetime.fromisoformat(str(period["start"]))
                e = datetime.fromisoformat(str(period["end"]))
            except (KeyError, TypeError, ValueError):
                continue
            if s.tzinfo is None or e.tzinfo is None:
                continue  # Google always gives an offset; a bare time is not to be guessed
            s, e = max(s, start), min(e, end)
            if s < e:
                spans.append((s, e))
        out[str(cal_id).lower()] = sorted(spans)
    return out

