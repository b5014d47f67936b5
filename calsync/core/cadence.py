"""Cadence of a relationship, measured on meetings actually held.

The recurrence rule says what was planned; held meetings say what happened. A
meeting is *held* when it is in the past, not cancelled or removed, and neither
side declined. Intervals are measured in wall-clock time of the meeting's own zone,
so a weekly 09:30 meeting stays "every 7 days" across a DST change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median_high

from calsync.core.model import Cadence, Label, Mark, MarkKind, Occurrence, Relationship, Response


@dataclass(frozen=True)
class Policy:
    """Cadence thresholds (brief, "Cadence"): opinions with evidence, hence configurable."""

    lookback_days: int = 180
    lookahead_days: int = 28
    recent_days: int = 56
    target_interval_days: float = 7
    max_interval_days: float = 14
    target_duration_min: float = 30
    max_duration_min: float = 45
    lapse_days: float = 28
    min_sessions: int = 3
    min_attendance: float = 0.6
    # deprecated: was "recent = the last N held"; now the window holds at least N held
    recent_sessions: int | None = None

    @property
    def recent_floor(self) -> int:
        """Held meetings the recent window is extended back to when it holds fewer."""
        return max(self.min_sessions, self.recent_sessions or 0)


def declined(occ: Occurrence, counterpart: str, owner: tuple[str, ...]) -> bool:
    """Did the counterpart or the owner decline this occurrence? Then it was not held."""
    return any(
        a.response is Response.DECLINED and (a.email == counterpart or a.email in owner or a.is_self)
        for a in occ.attendees
    )


def wall_days(a: datetime, b: datetime) -> float:
    """Days from ``a`` to ``b`` on the wall clock of ``a``'s zone."""
    b_local = b.astimezone(a.tzinfo).replace(tzinfo=None)
    return (b_local - a.replace(tzinfo=None)).total_seconds() / 86400


def minutes(occ: Occurrence) -> float:
    """The occurrence's planned length in minutes."""
    return occ.duration.total_seconds() / 60


def held_meetings(rel: Relationship, now: datetime, owner: tuple[str, ...]) -> list[Occurrence]:
    """Meetings that happened, by start: the occurrences behind the timeline's held marks
    (so run reads the very twin that cadence counted)."""
    return [occ for kind, occ in _fates(rel, now, owner) if kind is MarkKind.HELD]


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


def _preference(kind: MarkKind, occ: Occurrence) -> tuple[int, float, str, str]:
    return (_RANK[kind], -occ.duration.total_seconds(), occ.uid, occ.ref)


def timeline(rel: Relationship, now: datetime, owner: tuple[str, ...]) -> list[Mark]:
    """Every planned meeting of the pair once, by start.

    Two series at one instant (a replaced series, a copy in two calendars) are one
    meeting; the most favourable fate wins, so a held meeting is never shown as its
    cancelled twin; between equal fates the longer, then the first by uid, so the
    result never depends on the order the provider listed them.
    """
    return [Mark(occ.start, occ.end, kind, occ.series_id) for kind, occ in _fates(rel, now, owner)]


def _fates(rel: Relationship, now: datetime, owner: tuple[str, ...]) -> list[tuple[MarkKind, Occurrence]]:
    """One (fate, occurrence) per instant, by start: the rule ``timeline`` documents."""
    best: dict[datetime, tuple[MarkKind, Occurrence]] = {}
    for occ in rel.occurrences:
        kind = mark_kind(occ, rel, now, owner)
        seen = best.get(occ.start)
        if seen is None or _preference(kind, occ) < _preference(*seen):
            best[occ.start] = (kind, occ)
    return [best[start] for start in sorted(best)]


PLAN_AHEAD = 4  # planned occurrences that describe the plan


@dataclass(frozen=True)
class _Figures:
    """Median gap (days) and length (minutes) of a run of meetings."""

    interval: float | None
    duration: float | None


def _figures(marks: Sequence[Mark], extra_gap: float | None = None) -> _Figures:
    gaps = [wall_days(a.start, b.start) for a, b in pairwise(marks)]
    if extra_gap is not None:
        gaps.append(extra_gap)
    return _Figures(_median(gaps), _median([_length(m) for m in marks]))


def _length(mark: Mark) -> float:
    return (mark.end - mark.start).total_seconds() / 60


def recent_window(held: Sequence[Mark], policy: Policy, now: datetime) -> datetime:
    """Start of the recent window: ``recent_days`` back, or further to hold enough held meetings."""
    cut = now - timedelta(days=policy.recent_days)
    inside = sum(1 for m in held if m.start >= cut)
    if inside < policy.recent_floor and held:
        return min(cut, held[-policy.recent_floor :][0].start)
    return cut


def open_gap(recent: Sequence[Mark], now: datetime) -> float | None:
    """Days since the last held meeting, when that is longer than the recent median gap.

    It is a gap still growing (censored), so it counts only once it exceeds the
    rhythm; without a recent median (fewer than two meetings) there is nothing to exceed.
    """
    if len(recent) < 2:
        return None
    median_gap = _figures(recent).interval
    since = wall_days(recent[-1].start, now)
    return since if median_gap is not None and since > median_gap else None


def current_plan(marks: Sequence[Mark], policy: Policy, now: datetime) -> list[Mark]:
    """The next planned occurrences of the plan that runs furthest ahead (up to four).

    When a series is replaced ahead of time, the new series is the plan: mixing the old
    series' last weeks into the median would hide the change.
    """
    until = now + timedelta(days=policy.lookback_days)
    ahead = [m for m in marks if m.kind is MarkKind.PLANNED and now < m.start <= until]
    if not ahead:
        return []
    last: dict[str | None, datetime] = {}
    for m in ahead:
        last[m.series] = m.start
    plan = max(last, key=lambda s: (last[s], s or ""))
    return [m for m in ahead if m.series == plan][:PLAN_AHEAD]


def analyse(rel: Relationship, policy: Policy, now: datetime, owner: tuple[str, ...]) -> Cadence:
    """The relationship's cadence as of ``now``: figures on held meetings, its label and warning."""
    marks = timeline(rel, now, owner)
    first = now - timedelta(days=policy.lookback_days)
    past = [m for m in marks if m.kind is not MarkKind.PLANNED and m.end <= now and m.start >= first]
    held = [m for m in past if m.kind is MarkKind.HELD]
    since = recent_window(held, policy, now)
    recent = [m for m in held if m.start >= since]
    baseline = [m for m in held if m.start < since]
    window = [m for m in past if m.start >= since]
    gap = open_gap(recent, now)
    now_fig = _figures(recent, gap)
    base_fig = _figures(baseline)
    attendance = len(recent) / len(window) if window else None
    plan = current_plan(marks, policy, now)
    plan_fig = _figures(plan)
    reasons, label = _judge(held, past, now_fig, attendance, gap, policy, now)
    if _breaks(plan_fig, policy):
        reasons = (*reasons, "plan")
    upcoming = [
        o.start for o in rel.occurrences
        if now < o.start <= now + timedelta(days=policy.lookahead_days)
        and not o.cancelled and not declined(o, "", owner)
    ]
    cadence = Cadence(
        label=label,
        held=len(held),
        planned=len(past),
        cancelled=sum(1 for m in past if m.kind in (MarkKind.CANCELLED, MarkKind.REMOVED)),
        declined=sum(1 for m in past if m.kind is MarkKind.DECLINED),
        median_interval_days=now_fig.interval,
        median_duration_min=now_fig.duration,
        baseline_interval_days=base_fig.interval,
        baseline_duration_min=base_fig.duration,
        last_held=held[-1].start if held else None,
        next=min(upcoming, default=None),
        recent_since=since,
        recent_days=(now - since).total_seconds() / 86400,
        attendance=attendance,
        open_gap_days=gap,
        planned_interval_days=plan_fig.interval,
        planned_duration_min=plan_fig.duration,
        next_planned=tuple(m.start for m in plan),
        reasons=reasons,
        marks=tuple(marks),
        idle_days=days_without(held, past, now),
        recent_held=len(recent),
        recent_planned=len(window),
    )
    warning = _warning(rel, cadence, policy, now)
    return replace(cadence, warnings=(warning,)) if warning else cadence


def days_without(held: Sequence[Mark], past: Sequence[Mark], now: datetime) -> float | None:
    """Days since the last held meeting, or since the first planned one when none was held."""
    if held:
        return wall_days(held[-1].start, now)
    if past:
        return wall_days(past[0].start, now)
    return None


def _judge(
    held: Sequence[Mark],
    past: Sequence[Mark],
    now_fig: _Figures,
    attendance: float | None,
    gap: float | None,
    policy: Policy,
    now: datetime,
) -> tuple[tuple[str, ...], Label]:
    idle = days_without(held, past, now)
    if idle is not None and idle > policy.lapse_days:
        return ("lapsed",), Label.LAPSED
    if len(held) < policy.min_sessions:
        return ("insufficient-data",), Label.INSUFFICIENT
    reasons = []
    if now_fig.interval is not None and now_fig.interval > policy.max_interval_days:
        reasons.append("interval")
    if now_fig.duration is not None and now_fig.duration > policy.max_duration_min:
        reasons.append("duration")
    if attendance is not None and attendance < policy.min_attendance:
        reasons.append("attendance")
    if gap is not None and gap > policy.max_interval_days:
        reasons.append("open-gap")
    return tuple(reasons), Label.DRIFTING if reasons else Label.HEALTHY


def _breaks(plan: _Figures, policy: Policy) -> bool:
    return (plan.interval is not None and plan.interval > policy.max_interval_days) or (
        plan.duration is not None and plan.duration > policy.max_duration_min
    )


def _median(values: list[float]) -> float | None:
    """The middle value; of two middles the larger, so the figure is one that really happened."""
    return float(median_high(values)) if values else None


def num(value: float) -> str:
    """7.0 → "7", 10.25 → "10.2": figures a person reads at a glance."""
    return f"{value:.1f}".removesuffix(".0")


def figures(interval: float | None, duration: float | None) -> str:
    """"every 7 days, 30 min": an interval and a duration as a person reads them."""
    parts = []
    if interval is not None:
        parts.append(f"every {num(interval)} days")
    if duration is not None:
        parts.append(f"{num(duration)} min")
    return ", ".join(parts) or "no figures"


def who(rel: Relationship) -> str:
    """The counterpart as warnings name them: "Name <email>", or the address alone."""
    return f"{rel.name} <{rel.counterpart}>" if rel.name else rel.counterpart


def attendance_words(c: Cadence) -> str:
    """"3 of the last 5 planned meetings were held", for a warning."""
    return f"{c.recent_held} of the last {c.recent_planned} planned meetings were held"


def plan_words(c: Cadence) -> str:
    """What the next planned meetings promise, for a warning about the plan."""
    when = c.next_planned[0].date().isoformat() if c.next_planned else "?"
    return f"planned: {figures(c.planned_interval_days, c.planned_duration_min)} from {when}"


def _warning(rel: Relationship, c: Cadence, policy: Policy, now: datetime) -> str | None:
    extra = []
    if c.recent_held < c.recent_planned and c.label is not Label.INSUFFICIENT:
        extra.append(attendance_words(c))
    if "open-gap" in c.reasons and c.open_gap_days is not None:
        extra.append(f"no 1on1 for {int(c.open_gap_days)} days")
    if "plan" in c.reasons:
        extra.append(plan_words(c))
    tail = "".join(f"; {part}" for part in extra)
    if c.baseline_interval_days is not None:
        before = figures(c.baseline_interval_days, c.baseline_duration_min)
    else:
        before = "target " + figures(policy.target_interval_days, policy.target_duration_min)
    current = figures(c.median_interval_days, c.median_duration_min)
    if c.label is Label.DRIFTING:
        return f"{who(rel)}: drifting: {before} → {current}{tail}"
    if c.label is Label.LAPSED:
        if c.last_held is None:
            plan = f"; {plan_words(c)}" if "plan" in c.reasons else ""
            return f"{who(rel)}: lapsed: none of the {c.planned} planned meetings was held{plan}"
        days = int(wall_days(c.last_held, now))
        was = f"; it was {current}" if c.median_interval_days is not None else ""
        return (
            f"{who(rel)}: lapsed: no 1on1 held for {days} days "
            f"(last {c.last_held.date().isoformat()}){was}{tail}"
        )
    if c.label is Label.INSUFFICIENT:
        return (
            f"{who(rel)}: not enough held meetings to judge "
            f"({c.held} held, {policy.min_sessions} needed in {policy.lookback_days} days){tail}"
        )
    if extra and "plan" in c.reasons:
        return f"{who(rel)}: {plan_words(c)} (now {current})"
    return None
