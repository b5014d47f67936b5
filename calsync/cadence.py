"""Cadence of a relationship, measured on meetings actually held.

The recurrence rule says what was planned; held meetings say what happened. A
meeting is *held* when it is in the past, not cancelled or removed, and neither
side declined. Intervals are measured in wall-clock time of the meeting's own zone,
so a weekly 09:30 meeting stays "every 7 days" across a DST change.
"""

from __future__ import annotations

from datetime import datetime
from statistics import median

from calsync.config import Policy
from calsync.model import Cadence, Label, Mark, MarkKind, Occurrence, Relationship, Response


def declined(occ: Occurrence, counterpart: str, owner: tuple[str, ...]) -> bool:
    return any(
        a.response is Response.DECLINED and (a.email == counterpart or a.email in owner or a.is_self)
        for a in occ.attendees
    )


def wall_days(a: datetime, b: datetime) -> float:
    """Days from ``a`` to ``b`` on the wall clock of ``a``'s zone."""
    b_local = b.astimezone(a.tzinfo).replace(tzinfo=None)
    return (b_local - a.replace(tzinfo=None)).total_seconds() / 86400


def minutes(occ: Occurrence) -> float:
    return occ.duration.total_seconds() / 60


def held_meetings(rel: Relationship, now: datetime, owner: tuple[str, ...]) -> list[Occurrence]:
    """Meetings that happened: past, not cancelled or removed, nobody declined; by start."""
    out: list[Occurrence] = []
    for occ in rel.occurrences:
        if occ.end > now or occ.cancelled or declined(occ, rel.counterpart, owner):
            continue
        if not out or occ.start != out[-1].start:  # two series at one instant: one meeting
            out.append(occ)
    return out


_RANK = {
    MarkKind.HELD: 0,
    MarkKind.PLANNED: 1,
    MarkKind.DECLINED: 2,
    MarkKind.CANCELLED: 3,
    MarkKind.REMOVED: 4,
}


def mark_kind(occ: Occurrence, rel: Relationship, now: datetime, owner: tuple[str, ...]) -> MarkKind:
    """What became of one occurrence: the one classification cadence, status and report share."""
    if occ.removed:
        return MarkKind.REMOVED
    if occ.cancelled:
        return MarkKind.CANCELLED
    if declined(occ, rel.counterpart, owner):
        return MarkKind.DECLINED
    return MarkKind.PLANNED if occ.end > now else MarkKind.HELD


def timeline(rel: Relationship, now: datetime, owner: tuple[str, ...]) -> list[Mark]:
    """Every planned meeting of the pair once, by start.

    Two series at one instant (a replaced series, a copy in two calendars) are one
    meeting; the most favourable fate wins, so a held meeting is never shown as its
    cancelled twin.
    """
    best: dict[datetime, tuple[MarkKind, Occurrence]] = {}
    for occ in rel.occurrences:
        kind = mark_kind(occ, rel, now, owner)
        seen = best.get(occ.start)
        if seen is None or _RANK[kind] < _RANK[seen[0]]:
            best[occ.start] = (kind, occ)
    return [Mark(occ.start, occ.end, kind) for _, (kind, occ) in sorted(best.items(), key=lambda kv: kv[0])]


def analyse(rel: Relationship, policy: Policy, now: datetime, owner: tuple[str, ...]) -> Cadence:
    past = [o for o in rel.occurrences if o.end <= now]
    cancelled = [o for o in past if o.cancelled]
    declines = [o for o in past if not o.cancelled and declined(o, rel.counterpart, owner)]
    declined_ids = {id(o) for o in declines}
    held = held_meetings(rel, now, owner)
    upcoming = [
        o for o in rel.occurrences if o.start > now and not o.cancelled and not declined(o, "", owner)
    ]

    n = policy.recent_sessions
    recent, earlier = held[-n:], held[:-n] if len(held) > n else []
    recent_gaps = [
        wall_days(held[i - 1].start, held[i].start)
        for i in range(max(1, len(held) - n), len(held))
    ]
    earlier_gaps = [wall_days(earlier[i - 1].start, earlier[i].start) for i in range(1, len(earlier))]
    interval = _median(recent_gaps)
    duration = _median([minutes(o) for o in recent])
    base_interval = _median(earlier_gaps)
    base_duration = _median([minutes(o) for o in earlier])
    last = held[-1].start if held else None

    if last is not None and (now - last).total_seconds() / 86400 > policy.lapse_days:
        label = Label.LAPSED
    elif len(held) < policy.min_sessions:
        label = Label.INSUFFICIENT
    elif (
        interval is not None
        and duration is not None
        and interval <= policy.max_interval_days
        and duration <= policy.max_duration_min
    ):
        label = Label.HEALTHY
    else:
        label = Label.DRIFTING

    since = recent[0].start if recent else None
    window_planned = [o for o in past if since is None or o.start >= since]
    skipped = sum(1 for o in window_planned if o.cancelled or id(o) in declined_ids)
    cadence = Cadence(
        label=label,
        held=len(held),
        planned=len(past),
        cancelled=len(cancelled),
        declined=len(declines),
        median_interval_days=interval,
        median_duration_min=duration,
        baseline_interval_days=base_interval,
        baseline_duration_min=base_duration,
        last_held=last,
        next=upcoming[0].start if upcoming else None,
    )
    warning = _warning(rel, cadence, policy, now, skipped, len(window_planned))
    if warning:
        return Cadence(**{**cadence.__dict__, "warnings": (warning,)})
    return cadence


def _median(values: list[float]) -> float | None:
    return float(median(values)) if values else None


def num(value: float) -> str:
    """7.0 → "7", 10.25 → "10.2": figures a person reads at a glance."""
    return f"{value:.1f}".removesuffix(".0")


def figures(interval: float | None, duration: float | None) -> str:
    parts = []
    if interval is not None:
        parts.append(f"every {num(interval)} days")
    if duration is not None:
        parts.append(f"{num(duration)} min")
    return ", ".join(parts) or "no figures"


def who(rel: Relationship) -> str:
    return f"{rel.name} <{rel.counterpart}>" if rel.name else rel.counterpart


def _warning(
    rel: Relationship, c: Cadence, policy: Policy, now: datetime, skipped: int, planned: int
) -> str | None:
    skips = (
        f"; {skipped} of the last {planned} planned meetings were cancelled or declined"
        if skipped
        else ""
    )
    if c.baseline_interval_days is not None:
        before = figures(c.baseline_interval_days, c.baseline_duration_min)
    else:
        before = "target " + figures(policy.target_interval_days, policy.target_duration_min)
    current = figures(c.median_interval_days, c.median_duration_min)
    if c.label is Label.DRIFTING:
        return f"{who(rel)}: drifting: {before} → {current}{skips}"
    if c.label is Label.LAPSED:
        assert c.last_held is not None
        days = int((now - c.last_held).total_seconds() // 86400)
        was = f"; it was {current}" if c.median_interval_days is not None else ""
        return (
            f"{who(rel)}: lapsed: no 1on1 held for {days} days "
            f"(last {c.last_held.date().isoformat()}){was}{skips}"
        )
    if c.label is Label.INSUFFICIENT:
        return (
            f"{who(rel)}: not enough held meetings to judge "
            f"({c.held} held, {policy.min_sessions} needed in {policy.lookback_days} days)"
        )
    return None
