"""What the benchmarks share: a synthetic manager calendar and timing helpers.

The calendar: N weekly 1on1 series over several years, with exceptions.

Shared by the benchmarks so every provider is measured on the same shape: series i
meets weekly with report<i>@example.com; every 10th series has 3 EXDATEs and 2 moved
occurrences, and the owner organizes every series. With ``noise``, the rest of a real
manager's calendar is added, spread over the years of history: per series and year
about two team meetings (3+ people), a focus block (nobody else), half an all-day event
and half an ad-hoc 1on1 with a peer, and one weekly team series per 10 series.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta


def calendar(series: int = 200, years: int = 3, end: datetime | None = None,
             noise: bool = False) -> str:
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
    if noise:
        lines += _noise(series, years, start)
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def _noise(series: int, years: int, start: datetime) -> list[str]:
    fmt = "%Y%m%dT%H%M%S"
    lines: list[str] = []
    count = series * years
    span = 365 * years

    def event(uid: str, title: str, at: datetime, people: list[str], extra: list[str]) -> None:
        lines.extend(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z",
                      f"SUMMARY:{title}", "ORGANIZER;CN=Manager:mailto:mgr@example.com",
                      *[f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{p}" for p in people], *extra,
                      "END:VEVENT"])
        del at

    for k in range(count * 2):  # team meetings: the manager and two or more others
        at = start + timedelta(days=(k * 7919) % span, hours=9 + k % 8)
        people = ["mgr@example.com", f"a{k % 97}@example.com", f"b{k % 89}@example.com"]
        event(f"team-{k}@example.com", f"Project sync {k}", at, people + [f"c{k}@example.com"] * (k % 2),
              [f"DTSTART;TZID=Europe/Berlin:{at.strftime(fmt)}",
               f"DTEND;TZID=Europe/Berlin:{(at + timedelta(hours=1)).strftime(fmt)}"])
    for k in range(count):  # focus blocks: nobody else
        at = start + timedelta(days=(k * 6007) % span, hours=14)
        event(f"focus-{k}@example.com", "Focus time", at, [],
              [f"DTSTART;TZID=Europe/Berlin:{at.strftime(fmt)}",
               f"DTEND;TZID=Europe/Berlin:{(at + timedelta(hours=2)).strftime(fmt)}"])
    for k in range(count // 2):  # all-day events with one other person
        day = (start + timedelta(days=(k * 4001) % span)).date()
        event(f"allday-{k}@example.com", "Offsite", datetime.combine(day, datetime.min.time()),
              ["mgr@example.com", f"peer{k % 50}@example.com"],
              [f"DTSTART;VALUE=DATE:{day.strftime('%Y%m%d')}",
               f"DTEND;VALUE=DATE:{(day + timedelta(days=1)).strftime('%Y%m%d')}"])
    for k in range(count // 2):  # ad-hoc 1on1s with peers (1on1-shaped single events)
        at = start + timedelta(days=(k * 3001) % span, hours=11)
        event(f"adhoc-{k}@example.com", f"Coffee {k}", at,
              ["mgr@example.com", f"peer{k % 150}@example.com"],
              [f"DTSTART;TZID=Europe/Berlin:{at.strftime(fmt)}",
               f"DTEND;TZID=Europe/Berlin:{(at + timedelta(minutes=30)).strftime(fmt)}"])
    for k in range(series // 10):  # weekly team series
        at = start + timedelta(days=k % 5, hours=10)
        event(f"weekly-team-{k}@example.com", f"Team {k} weekly", at,
              ["mgr@example.com", f"t{k}a@example.com", f"t{k}b@example.com", f"t{k}c@example.com"],
              [f"DTSTART;TZID=Europe/Berlin:{at.strftime(fmt)}",
               f"DTEND;TZID=Europe/Berlin:{(at + timedelta(hours=1)).strftime(fmt)}",
               "RRULE:FREQ=WEEKLY"])
    return lines


def wall(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def median_of(fn: Callable[[], float], n: int) -> float:
    return statistics.median(fn() for _ in range(n))
