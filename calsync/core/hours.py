"""The owner's working hours (``[owner] working_hours = "09:00-18:00 Mon-Fri"``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(
    r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s+([a-z]{3})\s*[-–]\s*([a-z]{3})\s*$",
    re.IGNORECASE)


@dataclass(frozen=True)
class WorkingHours:
    """When the owner works: make-up slots are proposed only inside these hours."""

    start: time = time(9)
    end: time = time(18)
    days: frozenset[int] = frozenset(range(5))  # Monday = 0


def parse_hours(text: str) -> WorkingHours | None:
    """``"09:00-18:00 Mon-Fri"`` (a day range may wrap: ``Sun-Thu``); None when malformed."""
    m = _HOURS.match(text)
    if m is None:
        return None
    h1, m1, h2, m2 = (int(g) for g in m.groups()[:4])
    first, last = m.group(5).lower(), m.group(6).lower()
    if first not in DAYS or last not in DAYS or h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
        return None
    start = time(h1, m1)
    end = time(23, 59) if h2 == 24 else time(h2, m2)
    if end <= start:
        return None
    a, b = DAYS.index(first), DAYS.index(last)
    days = frozenset((a + i) % 7 for i in range((b - a) % 7 + 1))
    return WorkingHours(start, end, days)
