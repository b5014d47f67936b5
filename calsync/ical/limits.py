"""Bounds on recurrence expansion, decided from a rule's text before anything is expanded.

dateutil walks a rule one step at a time from its DTSTART, and the expander keeps every
instance it finds, so one ``FREQ=SECONDLY`` event would hold a run (and its lock)
forever. From FREQ, INTERVAL, COUNT, UNTIL and the BY-parts we compute an upper bound
on the steps from DTSTART to the window's end and on the instances inside the window,
and a series over the bounds is skipped with a warning instead of expanded. The bounds
over-estimate odd rules (a limiting BY-part is not credited), never under-estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

SERIES_STEPS = 100_000  # rule steps from DTSTART to the window's end, one series
FILE_STEPS = 1_000_000  # the same, summed over one file
SERIES_INSTANCES = 1_000  # instances inside the window, one series (at least; see below)
SERIES_INSTANCES_PER_DAY = 4  # ... or this many per day of the window, if more
FILE_INSTANCES = 50_000  # instances inside the window, summed over one file

_PERIOD = {
    "SECONDLY": 1,
    "MINUTELY": 60,
    "HOURLY": 3600,
    "DAILY": 86400,
    "WEEKLY": 7 * 86400,
    "MONTHLY": 28 * 86400,  # the shortest month: more periods, a safe over-estimate
    "YEARLY": 365 * 86400,
}
_RANK = {name: i for i, name in enumerate(_PERIOD)}
_SUBDAY = (("BYSECOND", "SECONDLY"), ("BYMINUTE", "MINUTELY"), ("BYHOUR", "HOURLY"))


@dataclass(frozen=True)
class Load:
    """Upper bounds for one series: rule steps up to the window's end, instances inside it."""

    steps: int
    instances: int


def rule_load(
    rule: Mapping[str, Sequence[Any]], start: datetime, window: tuple[datetime, datetime],
    zone: tzinfo,
) -> Load | str:
    """The load of one RRULE starting at ``start``, or why the rule cannot be expanded."""
    freq = str(_first(rule, "FREQ") or "").upper()
    if freq not in _PERIOD:
        return f"bad RRULE: FREQ={freq or '(none)'}"
    try:
        raw_interval, raw_count = _first(rule, "INTERVAL"), _first(rule, "COUNT")
        interval = int(raw_interval) if raw_interval is not None else 1
        count = int(raw_count) if raw_count is not None else None
    except (TypeError, ValueError):
        return "bad RRULE: INTERVAL or COUNT is not a number"
    if interval < 1:
        return f"bad RRULE: INTERVAL={interval}"  # dateutil would loop forever
    period = timedelta(seconds=_PERIOD[freq] * interval)
    per_period = _per_period(rule, freq)
    until = _until(_first(rule, "UNTIL"), zone)
    w_start, w_end = window
    last = min(until, w_end) if until is not None else w_end
    periods = _periods(start, last, period)
    if count is not None and not _limits(rule, freq):
        periods = min(periods, count)  # every period holds an instance: COUNT ends the walk
    total = periods * per_period
    inside = _periods(max(start, w_start), last, period) * per_period
    if count is not None:
        total, inside = min(total, count), min(inside, count)
    return Load(steps=periods + total, instances=inside)


def series_cap(window: tuple[datetime, datetime]) -> int:
    """The most instances one series may have in ``window``: a floor, or so many per day if more."""
    days = (window[1] - window[0]).total_seconds() / 86400
    return max(SERIES_INSTANCES, math.ceil(days * SERIES_INSTANCES_PER_DAY))


@dataclass
class Budget:
    """What one file may still expand; each series is admitted or refused with a reason."""

    window: tuple[datetime, datetime]
    steps: int = 0
    instances: int = 0

    def admit(self, loads: Sequence[Load]) -> str | None:
        """None if the series fits (it then counts toward the file's totals), else why it is skipped."""
        steps = sum(x.steps for x in loads)
        instances = sum(x.instances for x in loads)
        cap = series_cap(self.window)
        if instances > cap:
            return (f"repeats too often: up to {instances:,} instances in the window "
                    f"(limit {cap:,} per series)")
        if steps > SERIES_STEPS:
            return (f"too long a rule to expand: up to {steps:,} steps from its start "
                    f"(limit {SERIES_STEPS:,} per series)")
        if self.instances + instances > FILE_INSTANCES or self.steps + steps > FILE_STEPS:
            return (f"the file holds more than {FILE_INSTANCES:,} instances or "
                    f"{FILE_STEPS:,} rule steps in the window; this series is past that")
        self.steps += steps
        self.instances += instances
        return None


def _first(rule: Mapping[str, Sequence[Any]], key: str) -> Any:
    values = rule.get(key)
    if values is None:
        return None
    if isinstance(values, (list, tuple)):
        return values[0] if values else None
    return values


def _len(rule: Mapping[str, Sequence[Any]], key: str) -> int:
    values = rule.get(key)
    if values is None:
        return 0
    return len(values) if isinstance(values, (list, tuple)) else 1


def _per_period(rule: Mapping[str, Sequence[Any]], freq: str) -> int:
    """Most instances one period of the rule can hold (the BY-parts that expand it)."""
    rank = _RANK[freq]
    n = 1
    for key, unit in _SUBDAY:
        if rank > _RANK[unit]:
            n *= max(1, _len(rule, key))
    n *= _days_per_period(rule, freq)
    if _len(rule, "BYSETPOS"):
        n = min(n, _len(rule, "BYSETPOS"))
    return n


def _days_per_period(rule: Mapping[str, Sequence[Any]], freq: str) -> int:
    byday, bymonthday = _len(rule, "BYDAY"), _len(rule, "BYMONTHDAY")
    if freq == "WEEKLY":
        return min(7, byday or 1)
    if freq == "MONTHLY":
        return min(31, 5 * byday + bymonthday) if byday or bymonthday else 1
    if freq == "YEARLY":
        months = _len(rule, "BYMONTH") or 12
        days = months * (5 * byday + bymonthday) + _len(rule, "BYYEARDAY") \
            + 7 * _len(rule, "BYWEEKNO")
        return min(366, days) if days else max(1, _len(rule, "BYMONTH"))
    return 1


def _limits(rule: Mapping[str, Sequence[Any]], freq: str) -> bool:
    """Whether a BY-part can leave a period empty (then COUNT does not bound the walk)."""
    rank = _RANK[freq]
    expanding = {key for key, unit in _SUBDAY if rank > _RANK[unit]}
    if freq == "WEEKLY":
        expanding.add("BYDAY")
    return bool({k for k in rule if k.startswith("BY")} - expanding)


def _periods(a: datetime, b: datetime, period: timedelta) -> int:
    if b < a:
        return 0
    return math.floor((b - a) / period) + 1


def _until(value: Any, zone: tzinfo) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time.max, tzinfo=zone)
    return None
