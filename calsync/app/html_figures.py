"""The report page's figures as words: intervals, lengths, shares, times and the
reasons behind a label, in the page's language (:mod:`calsync.app.html_words`)."""

from __future__ import annotations

from datetime import datetime

from calsync.app.html_words import Words
from calsync.config import Config
from calsync.core.cadence import num
from calsync.core.model import Cadence


def figs(w: Words, interval: float | None, duration: float | None) -> str:
    """The interval and length as words ("every 7 days, 30 min"), or the no-figures word."""
    parts = []
    if interval is not None:
        parts.append(w.every.format(n=num(interval)))
    if duration is not None:
        parts.append(w.minutes.format(n=num(duration)))
    return w.comma.join(parts) or w.no_figures


def pct(w: Words, share: float | None) -> str:
    """A share as a whole percent, or a dash."""
    return w.percent.format(n=round(share * 100)) if share is not None else "–"


def attendance(w: Words, c: Cadence) -> str:
    """Against the plan in the recent window, as status counts it."""
    if c.attendance is None:
        return "–"
    return f"{pct(w, c.attendance)} · {w.held_planned.format(held=c.recent_held, planned=c.recent_planned)}"


def when(w: Words, at: datetime) -> str:
    """A moment as the page shows it: day, time and zone in the page's zone."""
    local = w.local(at)
    sep = " " if w.lang == "ja" else ", "
    return f"{w.day(local)}{sep}{local:%H:%M} {local.tzname() or ''}".rstrip()


def reason(w: Words, code: str, c: Cadence, config: Config) -> str:
    """The sentence behind one reason code, filled with the pair's figures and the policy."""
    p = config.policy
    plan = figs(w, c.planned_interval_days, c.planned_duration_min)
    if c.next_planned:
        plan += f" ({w.day(c.next_planned[0])} –)"
    values = {
        "interval": num(c.median_interval_days) if c.median_interval_days is not None else "–",
        "max_interval": num(p.max_interval_days),
        "duration": num(c.median_duration_min) if c.median_duration_min is not None else "–",
        "max_duration": num(p.max_duration_min),
        "attendance": pct(w, c.attendance),
        "min_attendance": pct(w, p.min_attendance),
        "held": str(c.recent_held),
        "planned": str(c.recent_planned),
        "open_gap": num(c.open_gap_days) if c.open_gap_days is not None else "–",
        "plan": plan,
        "lapse": num(p.lapse_days),
        "sessions": str(p.min_sessions),
    }
    template = w.reasons.get(code)
    return template.format(**values) if template else code
