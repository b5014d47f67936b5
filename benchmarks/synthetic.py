"""What the benchmarks share: a synthetic manager calendar and timing helpers.

The calendar: N weekly 1on1 series over several years, with exceptions.

Shared by the benchmarks so every provider is measured on the same shape: series i
meets weekly with report<i>@example.com; every 10th series has 3 EXDATEs and 2 moved
occurrences, and the owner organizes every series.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta


def calendar(series: int = 200, years: int = 3, end: datetime | None = None) -> str:
    end = end or datetime(2026, 11, 25, 9, 0)
    start = end - timedelta(days=365 * years)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync//benchmark//EN"]
    fmt = "%Y%m%dT%H%M%S"
    for i in range(series):
        first = start + timedelta(days=i % 7, hours=i % 8)
        uid = f"series-{i}@example.com"
        head = [
            f"UID:{uid}",
            "DTSTAMP:20260101T000000Z",
            f"SUMMARY:1on1 Report {i} / Manager",
            "ORGANIZER;CN=Manager:mailto:mgr@example.com",
            "ATTENDEE;CN=Manager;PARTSTAT=ACCEPTED:mailto:mgr@example.com",
            f"ATTENDEE;CN=Report {i};PARTSTAT=ACCEPTED:mailto:report{i}@example.com",
        ]
        lines += ["BEGIN:VEVENT", *head,
                  f"DTSTART;TZID=Europe/Berlin:{first.strftime(fmt)}",
                  f"DTEND;TZID=Europe/Berlin:{(first + timedelta(minutes=30)).strftime(fmt)}",
                  "RRULE:FREQ=WEEKLY"]
        if i % 10 == 0:
            ex = [first + timedelta(weeks=w) for w in (150, 152, 154)]
            lines.append("EXDATE;TZID=Europe/Berlin:" + ",".join(d.strftime(fmt) for d in ex))
        lines.append("END:VEVENT")
        if i % 10 == 0:
            for w in (148, 151):
                rid = first + timedelta(weeks=w)
                moved = rid + timedelta(hours=2)
                lines += ["BEGIN:VEVENT", *head,
                          f"RECURRENCE-ID;TZID=Europe/Berlin:{rid.strftime(fmt)}",
                          f"DTSTART;TZID=Europe/Berlin:{moved.strftime(fmt)}",
                          f"DTEND;TZID=Europe/Berlin:{(moved + timedelta(minutes=45)).strftime(fmt)}",
                          "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def wall(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def median_of(fn: Callable[[], float], n: int) -> float:
    return statistics.median(fn() for _ in range(n))
