"""A cheap scan of the raw text that leaves out the VEVENTs that can never be a 1on1.

Most of a manager's calendar is team meetings, blocks with nobody else, all-day events
and single events long past: parsing them with icalendar is most of a read. From the
unfolded lines alone (no full parse) a series is kept when one of its VEVENTs could be
1on1-shaped (exactly one other person who is not a room or resource, not all-day, no
group address) and could have an instance in the window; every VEVENT of that UID
(master, overrides and their EXDATEs) is kept with it. Only a VEVENT the full read would
take silently is left out: anything it might warn about (no DTSTART, a value icalendar
rejects, an unknown TZID, a rule the expander or the expansion bounds might refuse)
stays in, so the warnings are the ones the full read gives. When in doubt, keep.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calsync.ical.limits import FILE_INSTANCES, FILE_STEPS, SERIES_STEPS, rule_load, series_cap

MARGIN = timedelta(days=2)  # covers any zone offset between a wall clock and an instant

_SPAN = re.compile(r"^BEGIN:VEVENT[ \t]*\r?\n.*?^END:VEVENT[ \t]*(?:\r?\n|\Z)",
                   re.MULTILINE | re.IGNORECASE | re.DOTALL)
_FOLD = re.compile(r"\r?\n[ \t]")
_NAME = re.compile(r"[A-Za-z0-9-]+\Z")
_VALUES = r'(?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*'
_LINE = re.compile(rf"([A-Za-z0-9-]+)((?:;[A-Za-z0-9-]+={_VALUES})*):(.*)\Z", re.DOTALL)
_PARAM = re.compile(rf";([A-Za-z0-9-]+)=({_VALUES})")
_STAMP = re.compile(r"(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?\Z")
_DURATION = re.compile(r"([+-]?)P(?:(\d+)W|(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?)\Z")
_INT = re.compile(r"[+-]?\d+\Z")
_GEO = re.compile(r"[+-]?\d+(?:\.\d+)?;[+-]?\d+(?:\.\d+)?\Z")
_DAY = r"[+-]?\d{0,2}(?:MO|TU|WE|TH|FR|SA|SU)"
_RULE_PARTS = {
    "FREQ": re.compile(r"(?:DAILY|WEEKLY|MONTHLY|YEARLY)\Z"),
    "INTERVAL": re.compile(r"\d{1,4}\Z"),
    "COUNT": re.compile(r"\d{1,6}\Z"),
    "UNTIL": _STAMP,
    "BYDAY": re.compile(rf"{_DAY}(?:,{_DAY})*\Z"),
    "BYMONTHDAY": re.compile(r"[+-]?\d{1,2}(?:,[+-]?\d{1,2})*\Z"),
    "BYMONTH": re.compile(r"\d{1,2}(?:,\d{1,2})*\Z"),
    "BYSETPOS": re.compile(r"[+-]?\d{1,3}(?:,[+-]?\d{1,3})*\Z"),
    "WKST": re.compile(r"(?:MO|TU|WE|TH|FR|SA|SU)\Z"),
}
_DATE_TIMES = {"DTSTART", "DTEND", "DUE", "COMPLETED", "RECURRENCE-ID", "CREATED", "DTSTAMP",
               "LAST-MODIFIED", "ACKNOWLEDGED"}
_INTEGERS = {"PRIORITY", "SEQUENCE", "PERCENT-COMPLETE", "REPEAT"}
_UNSAFE = {"EXRULE", "FREEBUSY", "IMAGE", "ADR", "N", "ORG", "TZOFFSETFROM", "TZOFFSETTO"}
_TYPED = _DATE_TIMES | _INTEGERS | _UNSAFE | {"EXDATE", "RDATE", "DURATION", "GEO"}


@dataclass
class Filtered:
    """The text with the left-out VEVENTs cut, and how many were left out."""

    text: str
    kept: int = 0
    dropped: int = 0


@dataclass
class _Event:
    uid: str | None
    safe: bool = True  # the full read would take it without a word
    shaped: bool = False  # could be a 1on1
    near: bool = False  # could have an instance in the window
    steps: int = 0  # expansion bounds' steps, as the full read counts them (or more)
    instances: int = 0
    odd_rule: bool = False  # a rule we did not judge
    props: dict[str, list[tuple[dict[str, str], str]]] = field(default_factory=dict)


def prefilter(text: str, window: tuple[datetime, datetime], owner: Iterable[str]) -> Filtered:
    """``text`` without the VEVENTs no 1on1 can come from (see the module's docstring)."""
    mine = set(owner)  # as the detector compares them
    zones = {m.strip() for m in re.findall(r"(?im)^TZID(?:;[^:\r\n]*)?:([^\r\n]*)",
                                           _FOLD.sub("", text))}
    spans = [(m.start(), m.end()) for m in _SPAN.finditer(text)]
    events = [_scan(text[a:b], window, mine, zones) for a, b in spans]
    # Within the file's expansion bounds, whether a series is expanded does not depend on
    # the others; past them it does, and the full read decides. Each load is counted over
    # the window widened by MARGIN (never less than the full read counts); a rule we could
    # not judge counts as the most a series may take.
    cap = series_cap(window)
    steps = sum(SERIES_STEPS if e.odd_rule else e.steps for e in events)
    instances = sum(cap if e.odd_rule else e.instances for e in events)
    if steps > FILE_STEPS or instances > FILE_INSTANCES:
        return Filtered(text, kept=len(events))
    wanted: set[str] = set()
    for e in events:
        if e.uid is not None and (not e.safe or e.shaped):
            wanted.add(e.uid)
    near = {e.uid for e in events if e.uid is not None and (e.near or not e.safe)}
    wanted &= near
    parts: list[str] = []
    at, kept, dropped = 0, 0, 0
    for (a, b), e in zip(spans, events, strict=True):
        keep = not e.safe or (e.shaped and e.near) if e.uid is None else e.uid in wanted
        if keep:
            kept += 1
            continue
        parts.append(text[at:a])
        at = b
        dropped += 1
    parts.append(text[at:])
    return Filtered("".join(parts), kept, dropped)


def _scan(chunk: str, window: tuple[datetime, datetime], mine: set[str], zones: set[str]) -> _Event:
    lines = _FOLD.sub("", chunk).split("\n")
    if lines and not lines[-1]:
        lines.pop()
    lines = [x[:-1] if x.endswith("\r") else x for x in lines]
    event = _Event(uid=None)
    depth = 0
    for line in lines[1:-1]:
        parsed = _line(line)
        if parsed is None:
            event.safe = False
            continue
        name, params, value = parsed
        if name in ("BEGIN", "END"):
            depth += 1 if name == "BEGIN" else -1
            if value.upper() == "VEVENT" or depth < 0:
                event.safe = False
            continue
        if depth == 0:
            event.props.setdefault(name, []).append((params, value))
            if not _valid(name, params, value, zones):
                event.safe = False
    if depth != 0:
        event.safe = False
    _judge(event, window, mine)
    return event


def _judge(event: _Event, window: tuple[datetime, datetime], mine: set[str]) -> None:
    props = event.props
    uids = props.get("UID", [])
    event.uid = uids[0][1] if len(uids) == 1 else None
    if len(uids) > 1 or len(props.get("DTSTART", [])) != 1 or len(props.get("RRULE", [])) > 1:
        event.safe = False
        return
    params, value = props["DTSTART"][0]
    start = _stamp(value)
    if start is None:
        event.safe = False
        return
    all_day = isinstance(start, date) and not isinstance(start, datetime)
    begin = _instant(start)
    end = _end(props, begin, all_day)
    if end is None or end < begin:
        event.safe = False  # the expander refuses an end before the start
        return
    event.shaped = not all_day and _one_other(props, mine)
    rules = props.get("RRULE", [])
    aware = "TZID" in params or value.upper().endswith("Z")
    if props.get("RDATE") or (rules and not _rule_ok(rules[0][1], start, aware, event, window)):
        event.safe, event.near, event.odd_rule = False, True, bool(rules)
        return
    if not rules:
        event.near = begin - MARGIN < window[1] and window[0] < end + MARGIN
        return
    event.near = begin - MARGIN < window[1]  # a rule can reach the window from any start
    until = (_rule(rules[0][1]) or {}).get("UNTIL")
    if until is not None:
        last = _stamp(until)
        event.near = event.near and last is not None and _instant(last) + (end - begin) + MARGIN > window[0]


def _rule_ok(
    raw: str, start: date, aware: bool, event: _Event, window: tuple[datetime, datetime]
) -> bool:
    """Whether the rule is one the expander and the bounds take without a word; counts
    its load for the file's bounds as the full read would (to a margin)."""
    parts = _rule(raw)
    if parts is None or "FREQ" not in parts:
        return False
    for key, value in parts.items():
        pattern = _RULE_PARTS.get(key)
        if pattern is None or not pattern.match(value):
            return False
    until = parts.get("UNTIL")
    if until is not None and (("T" in until) != isinstance(start, datetime)
                              or until.endswith("Z") != aware):
        return False  # UNTIL and DTSTART of different kinds: the expander may refuse
    begin = _instant(start)
    rule: dict[str, list[Any]] = {k: v.split(",") for k, v in parts.items() if k != "UNTIL"}
    if until is not None:
        stamp = _stamp(until)
        if stamp is None:
            return False
        rule["UNTIL"] = [_instant(stamp)]
    load = rule_load(rule, begin, (window[0] - MARGIN, window[1] + MARGIN), UTC)
    if isinstance(load, str):
        return False
    event.steps, event.instances = load.steps, load.instances
    cap = series_cap(window)
    return load.steps < SERIES_STEPS // 2 and load.instances < cap // 2


def _rule(raw: str) -> dict[str, str] | None:
    parts: dict[str, str] = {}
    for item in raw.split(";"):
        key, sep, value = item.partition("=")
        if not sep or key.upper() in parts:
            return None
        parts[key.upper()] = value.upper()
    return parts


def _one_other(props: dict[str, list[tuple[dict[str, str], str]]], mine: set[str]) -> bool:
    """Exactly one other person on the invite (the detector's rule, read from raw lines)."""
    others: set[str] = set()
    for params, value in props.get("ATTENDEE", []):
        email = _address(value)
        kind = params.get("CUTYPE", "INDIVIDUAL").strip('"').upper()
        if kind == "GROUP" and email and email not in mine:
            return False
        if not email or email in mine or kind in ("ROOM", "RESOURCE"):
            continue
        others.add(email)
    for _, value in props.get("ORGANIZER", []):
        email = _address(value)
        if email and email not in mine:
            others.add(email)
    return len(others) == 1


def _address(value: str) -> str:
    raw = value.strip()
    if raw.lower().startswith("mailto:"):
        raw = raw[7:]
    return raw.lower()


def _end(props: dict[str, list[tuple[dict[str, str], str]]], begin: datetime,
         all_day: bool) -> datetime | None:
    if "DTEND" in props:
        if len(props["DTEND"]) != 1 or "DURATION" in props:
            return None
        stamp = _stamp(props["DTEND"][0][1])
        return _instant(stamp) if stamp is not None else None
    if "DURATION" in props:
        m = _DURATION.match(props["DURATION"][0][1].upper())
        if m is None or m.group(1) == "-" or len(props["DURATION"]) != 1:
            return None
        w, d, h, mi, s = (int(g or 0) for g in m.groups()[1:])
        return begin + timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)
    return begin + (timedelta(days=1) if all_day else timedelta(0))


def _valid(name: str, params: dict[str, str], value: str, zones: set[str]) -> bool:
    """Whether icalendar reads this property without recording an error."""
    if not params and name not in _TYPED:
        return True  # text: icalendar takes any
    if name in _UNSAFE:
        return False
    kind = params.get("VALUE", "").upper()
    tzid = params.get("TZID")
    if tzid is not None and not _known_zone(tzid, zones):
        return False
    if name in _DATE_TIMES or name in ("EXDATE", "RDATE"):
        if kind not in ("", "DATE", "DATE-TIME"):
            return False
        values = value.split(",") if name in ("EXDATE", "RDATE") else [value]
        for v in values:
            stamp = _STAMP.match(v)
            if stamp is None or (kind == "DATE") != (stamp.group(4) is None):
                return False
            if tzid is not None and (stamp.group(4) is None or stamp.group(7)):
                return False
            if _stamp(v) is None:
                return False
        return True
    if name == "DURATION":
        return _DURATION.match(value.upper()) is not None
    if name in _INTEGERS:
        return _INT.match(value) is not None
    if name == "GEO":
        return _GEO.match(value) is not None
    return kind in ("", "TEXT", "URI", "CAL-ADDRESS")


@cache
def _iana(tzid: str) -> bool:
    try:
        ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _known_zone(tzid: str, zones: set[str]) -> bool:
    return '"' not in tzid and (tzid in zones or _iana(tzid))


def _stamp(value: str) -> date | None:
    m = _STAMP.match(value)
    if m is None:
        return None
    y, mo, d, h, mi, s, _ = m.groups()
    try:
        if h is None:
            return date(int(y), int(mo), int(d))
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))
    except ValueError:
        return None


def _instant(value: date) -> datetime:
    """A wall clock read as UTC: within a day of the real instant, whatever its zone."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


_NO_PARAMS: dict[str, str] = {}


def _line(line: str) -> tuple[str, dict[str, str], str] | None:
    """A content line as (NAME, params, value); None when it is not one."""
    m = _LINE.match(line)
    if m is None:
        return None
    name, head, value = m.groups()
    if not head:
        return name.upper(), _NO_PARAMS, value
    return name.upper(), {k.upper(): v for k, v in _PARAM.findall(head)}, value
