"""What of a CalDAV resource calsync keeps between runs (the sync cache).

A quiet run reads only the sync-collection answer, so the events themselves come from
the cache. The cache holds an iCalendar text the reader can read as it reads the
server's, reduced to what the core uses: the calendar's own header and time zones, and
in each event its times, rules, title, people and status. The description is kept as
:func:`calsync.core.privacy.keepable` reduces it; alarms, locations, notes, attachments
and every other property are dropped. A write GETs the whole resource again first.
"""

from __future__ import annotations

import re
from typing import Any

import icalendar

from calsync.core.model import Body
from calsync.core.privacy import keepable
from calsync.ical.edit import fold
from calsync.ical.normalise import looks_html

# The properties of a VEVENT the reader looks at (DESCRIPTION is reduced, not copied).
KEPT = frozenset({"UID", "DTSTAMP", "SEQUENCE", "DTSTART", "DTEND", "DURATION", "RRULE",
                  "RDATE", "EXDATE", "EXRULE", "RECURRENCE-ID", "SUMMARY", "ORGANIZER",
                  "ATTENDEE", "STATUS", "BEGIN", "END"})


def _lines(text: str) -> list[str]:
    """Content lines, each with its folded continuation lines."""
    out: list[str] = []
    for physical in text.splitlines(keepends=True):
        if physical[:1] in (" ", "\t") and out:
            out[-1] += physical
        else:
            out.append(physical)
    return out


def _name(line: str) -> str:
    return re.split(r"[;:]", line, maxsplit=1)[0].strip().upper()


def reduce(text: str) -> str:
    """``text`` with every VEVENT cut down to :data:`KEPT` and a kept description."""
    out: list[str] = []
    stack: list[str] = []
    event: list[str] = []
    for line in _lines(text):
        name = _name(line)
        value = line.split(":", 1)[1].strip().upper() if ":" in line else ""
        if name == "BEGIN":
            stack.append(value)
        inside = "VEVENT" in stack
        if inside:
            if len(stack) == stack.index("VEVENT") + 1 and (name in KEPT or name == "DESCRIPTION"):
                event.append(line)
        else:
            out.append(line)
        if name == "END" and stack:
            closed = stack.pop()
            if closed == "VEVENT":
                out.append(_reduce_event(event))
                event = []
    return "".join(out)


def _reduce_event(lines: list[str]) -> str:
    kept = [ln for ln in lines if _name(ln) != "DESCRIPTION"]
    if len(kept) == len(lines):
        return "".join(kept)
    newline = "\r\n" if lines[0].endswith("\r\n") else "\n"
    try:
        comp: Any = icalendar.Event.from_ical("".join(lines))
        raw = comp.get("DESCRIPTION", "")
        text = "\n".join(str(v) for v in raw) if isinstance(raw, list) else str(raw)
    except Exception:  # unreadable for the reader too: it skips the event with a warning
        return "".join(kept)
    small = keepable(Body(text, html=looks_html(text)))
    if small.text:
        escaped = icalendar.vText(small.text).to_ical().decode("utf-8")
        kept.insert(len(kept) - 1, fold(f"DESCRIPTION:{escaped}", newline))
    return "".join(kept)
