"""Find 1on1 relationships: the owner plus exactly one other person, grouped by counterpart.

Grouping by counterpart (not by series) is what keeps a relationship whole when a
series is split ("this and following") or replaced, and what lets ad-hoc repeated
meetings count. Titles are a supporting signal only. Every candidate carries the
reason it was taken or rejected, for ``calsync detect --explain``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from calsync.core.model import Attendee, AttendeeKind, Occurrence, Relationship

TITLE_SIGNAL = re.compile(
    r"1\s*on\s*1|\b1\s*[:\-]\s*1\b|one[\s-]on[\s-]one|1対1|ワンオンワン|面談"
    r"|\S\s*<>\s*\S|^[^/]+\s/\s[^/]+$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Detection:
    """Which counterparts and titles the owner forces in or out of detection."""

    include_counterparts: tuple[str, ...] = ()
    exclude_counterparts: tuple[str, ...] = ()
    include_titles: tuple[re.Pattern[str], ...] = ()
    exclude_titles: tuple[re.Pattern[str], ...] = ()
    min_adhoc_meetings: int = 3  # single meetings needed before a counterpart counts


MIN_SERIES_GAP = timedelta(hours=1)  # a series repeating this often or more is never a 1on1


@dataclass
class Candidate:
    """One series (or single event) looked at, with the verdict for ``--explain``."""

    calendar: str
    series: str
    title: str
    counterpart: str | None
    taken: bool
    reason: str
    occurrences: int = 0


@dataclass
class DetectionResult:
    """The relationships found, and every candidate looked at with its verdict."""

    relationships: list[Relationship] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)


def counterparts(occ: Occurrence, owner: Iterable[str]) -> list[Attendee]:
    """The people on the invite other than the owner; rooms and resources are not people."""
    mine = set(owner)
    others: dict[str, Attendee] = {}
    for a in occ.attendees:
        if a.is_self or a.email in mine or not a.is_person or not a.email:
            continue
        others.setdefault(a.email, a)
    if occ.organizer and occ.organizer not in mine and not occ.owner_organizes(mine):
        others.setdefault(occ.organizer, Attendee(occ.organizer))
    return list(others.values())


def shape(occ: Occurrence, owner: Iterable[str]) -> tuple[Attendee | None, str]:
    """(the counterpart, why) if this occurrence is 1on1-shaped, else (None, why not)."""
    if occ.all_day:
        return None, "all-day event"
    people = counterparts(occ, owner)
    if not people:
        return None, "nobody else on the invite"
    if any(p.kind is AttendeeKind.GROUP for p in people):
        return None, "a group address (counts as several people)"
    if len(people) > 1:
        return None, f"{len(people) + 1} people"
    return people[0], "the owner and one other person"


def detect(
    occurrences: Iterable[Occurrence], owner: Iterable[str], rules: Detection
) -> DetectionResult:
    """Group 1on1-shaped occurrences by counterpart into relationships, explaining each call."""
    owner = tuple(owner)
    result = DetectionResult()
    by_series: dict[tuple[str, str], list[Occurrence]] = {}
    for occ in occurrences:
        by_series.setdefault((occ.calendar, occ.series_id or occ.uid), []).append(occ)

    groups: dict[tuple[str, str], list[Occurrence]] = {}
    names: dict[tuple[str, str], str | None] = {}
    pending: dict[tuple[str, str], list[Candidate]] = {}
    for (calendar, series), occs in by_series.items():
        title = next((o.title for o in occs if o.title), "")
        if any(p.search(title) for p in rules.exclude_titles):
            result.candidates.append(
                Candidate(calendar, series, title, None, False, "title excluded by config", len(occs))
            )
            continue
        gap = _typical_gap(occs)
        if gap is not None and gap <= MIN_SERIES_GAP:
            why = f"repeats every {_minutes(gap)} minutes: too often for a 1on1"
            result.candidates.append(Candidate(calendar, series, title, None, False, why, len(occs)))
            continue
        taken: list[Occurrence] = []
        person: Attendee | None = None
        why = ""
        for occ in occs:
            who, why_occ = shape(occ, owner)
            if who is not None:
                taken.append(occ)
                person = person or who
                key = (calendar, who.email)
                groups.setdefault(key, []).append(occ)
                if who.name and not names.get(key):
                    names[key] = who.name
            elif not why:
                why = why_occ
        if person is None:
            result.candidates.append(Candidate(calendar, series, title, None, False, why, len(occs)))
            continue
        cand = Candidate(calendar, series, title, person.email, False, "", len(taken))
        pending.setdefault((calendar, person.email), []).append(cand)

    for key, occs in groups.items():
        calendar, email = key
        occs.sort(key=lambda o: o.start)
        taken_flag, reason = _verdict(email, occs, rules)
        for cand in pending.get(key, []):
            cand.taken, cand.reason = taken_flag, reason
            result.candidates.append(cand)
        if taken_flag:
            result.relationships.append(
                Relationship(
                    counterpart=email,
                    name=names.get(key),
                    provider=occs[0].provider,
                    calendar=calendar,
                    occurrences=occs,
                    reasons=[reason],
                )
            )
    result.relationships.sort(key=lambda r: (r.calendar, r.counterpart))
    result.candidates.sort(key=lambda c: (c.calendar, not c.taken, c.counterpart or "", c.title))
    return result


def _verdict(email: str, occs: list[Occurrence], rules: Detection) -> tuple[bool, str]:
    if email in rules.exclude_counterparts:
        return False, "counterpart excluded by config"
    if email in rules.include_counterparts:
        return True, "counterpart included by config"
    titles = {o.title for o in occs}
    if any(p.search(t) for p in rules.include_titles for t in titles):
        return True, "title included by config"
    series = {o.series_id for o in occs if o.series_id}
    signal = any(TITLE_SIGNAL.search(t) for t in titles)
    hint = " and a 1on1 title" if signal else ""
    if series:
        n = len(series)
        return True, f"{'a recurring series' if n == 1 else f'{n} recurring series'}{hint}"
    meetings = len({o.start for o in occs})
    needed = min(rules.min_adhoc_meetings, 2) if signal else rules.min_adhoc_meetings
    if meetings >= needed:
        return True, f"{meetings} repeated single meetings{hint}"
    return False, f"only {meetings} single meeting(s), not recurring (needs {needed})"


def _typical_gap(occs: list[Occurrence]) -> timedelta | None:
    """The median gap between a recurring series' starts (None for a single event)."""
    if not any(o.series_id for o in occs):
        return None
    starts = sorted({o.start for o in occs})
    if len(starts) < 2:
        return None
    gaps = sorted(b - a for a, b in zip(starts, starts[1:], strict=False))
    return gaps[len(gaps) // 2]


def _minutes(gap: timedelta) -> int:
    return int(gap.total_seconds() // 60)
