"""The report's charts: a relationship's timeline and its per-meeting interval and length.

Pure functions that return HTML fragments. Lines and bars are SVG stretched to the
column (``preserveAspectRatio="none"``, so they fit any width); marks and captions are
HTML placed by percentage, so a circle stays a circle and text stays legible at 375 px.
Every chart carries a text alternative; shapes differ per kind, so colour is never
the only signal. Callers pass text already in the page's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from calsync.core.model import MarkKind

# One <symbol> per mark kind, defined once per page and drawn with <use>.
SYMBOLS = (
    '<svg class="defs" aria-hidden="true" width="0" height="0"><defs>'
    '<symbol id="mk-held" viewBox="0 0 12 12"><circle cx="6" cy="6" r="5" fill="currentColor"/></symbol>'
    '<symbol id="mk-planned" viewBox="0 0 12 12"><circle cx="6" cy="6" r="4.3" fill="none" '
    'stroke="currentColor" stroke-width="1.6"/></symbol>'
    '<symbol id="mk-cancelled" viewBox="0 0 12 12"><path d="M2 2L10 10M10 2L2 10" '
    'stroke="currentColor" stroke-width="2.2" stroke-linecap="round"/></symbol>'
    '<symbol id="mk-declined" viewBox="0 0 12 12"><circle cx="6" cy="6" r="4.5" fill="none" '
    'stroke="currentColor" stroke-width="1.5"/><path d="M2.8 9.2L9.2 2.8" stroke="currentColor" '
    'stroke-width="2"/></symbol>'
    '<symbol id="mk-removed" viewBox="0 0 12 12"><rect x="1" y="1" width="10" height="10" fill="none" '
    'stroke="currentColor" stroke-width="1.3"/><path d="M3.5 3.5L8.5 8.5M8.5 3.5L3.5 8.5" '
    'stroke="currentColor" stroke-width="1.6"/></symbol>'
    '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3d5cf"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#b3261e" stroke-width="3"/></pattern>'
    "</defs></svg>"
)


def mark_icon(kind: MarkKind) -> str:
    """A mark's shape inline, for legends and tables."""
    return (
        f'<svg class="ic k-{kind.value}" width="12" height="12" aria-hidden="true">'
        f'<use href="#mk-{kind.value}"/></svg>'
    )


@dataclass(frozen=True)
class Axis:
    """The time span every chart of the page shares, mapped to 0–100 %."""

    start: datetime
    end: datetime

    def pct(self, at: datetime) -> float:
        """Where ``at`` falls on the axis, clamped to 0–100."""
        span = (self.end - self.start).total_seconds()
        share = (at - self.start).total_seconds() / span if span > 0 else 0.0
        return round(min(max(share, 0.0), 1.0) * 100, 2)

    def holds(self, at: datetime) -> bool:
        """Whether ``at`` lies within the axis."""
        return self.start <= at <= self.end


@dataclass(frozen=True)
class Tick:
    """A labelled tick on the time axis (a month's start)."""

    at: datetime
    text: str


@dataclass(frozen=True)
class Point:
    """One mark on a timeline: when, what became of it."""

    at: datetime
    kind: MarkKind


def _pc(value: float) -> str:
    return f"{value:g}%"


def _lines(axis: Axis, ticks: Sequence[Tick], now: datetime, recent_since: datetime | None) -> str:
    """The timeline's stretched background: axis, month ticks, recent window, today."""
    parts = ['<line class="ax" x1="0" y1="50" x2="1000" y2="50" vector-effect="non-scaling-stroke"/>']
    if recent_since is not None and axis.holds(recent_since):
        x0, x1 = axis.pct(recent_since) * 10, axis.pct(now) * 10
        parts.append(f'<rect class="win" x="{x0:g}" y="8" width="{max(x1 - x0, 0):g}" height="84"/>')
        parts.append(
            f'<line class="winedge" x1="{x0:g}" y1="0" x2="{x0:g}" y2="100" '
            'vector-effect="non-scaling-stroke"/>'
        )
    for tick in ticks:
        x = axis.pct(tick.at) * 10
        parts.append(
            f'<line class="tk" x1="{x:g}" y1="38" x2="{x:g}" y2="62" vector-effect="non-scaling-stroke"/>'
        )
    xn = axis.pct(now) * 10
    parts.append(
        f'<line class="nowline" x1="{xn:g}" y1="0" x2="{xn:g}" y2="100" vector-effect="non-scaling-stroke"/>'
    )
    return (
        '<svg class="bg" viewBox="0 0 1000 100" preserveAspectRatio="none" aria-hidden="true">'
        + "".join(parts)
        + "</svg>"
    )


def _tick_labels(axis: Axis, ticks: Sequence[Tick]) -> str:
    spans = [
        f'<span style="left:{_pc(axis.pct(t.at))}">{escape(t.text)}</span>'
        for t in ticks
        if axis.pct(t.at) <= 90  # a label starting at the right edge would leave the page
    ]
    return f'<div class="ticks" aria-hidden="true">{"".join(spans)}</div>'


def timeline(
    axis: Axis,
    points: Sequence[Point],
    ticks: Sequence[Tick],
    now: datetime,
    recent_since: datetime | None,
    alt: str,
    now_text: str,
    recent_text: str,
) -> str:
    """Held ●, planned ○, cancelled ×, declined ⊘, removed ⊠ along the shared axis."""
    marks = "".join(
        f'<svg class="mk k-{p.kind.value}" style="left:{_pc(axis.pct(p.at))}" width="12" height="12" '
        f'aria-hidden="true"><use href="#mk-{p.kind.value}"/></svg>'
        for p in points
        if axis.holds(p.at)
    )
    flags = f'<span class="flag nowflag" style="left:{_pc(axis.pct(now))}">{escape(now_text)}</span>'
    if recent_since is not None and axis.holds(recent_since):
        flags += (
            f'<span class="flag winflag" style="left:{_pc(axis.pct(recent_since))}">'
            f"{escape(recent_text)}</span>"
        )
    return (
        f'<div class="chart timeline" role="img" aria-label="{escape(alt)}">'
        f'<div class="flags" aria-hidden="true">{flags}</div>'
        f'<div class="track">{_lines(axis, ticks, now, recent_since)}{marks}</div>'
        f"{_tick_labels(axis, ticks)}</div>"
    )


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: the held meeting's time and its value (days or minutes)."""

    at: datetime
    value: float


def bars(
    axis: Axis, values: Sequence[Bar], limit: float, caption: str, limit_text: str, alt: str
) -> str:
    """One bar per held meeting; the policy band 0..``limit`` shaded, bars beyond it hatched."""
    # Up to three times the limit: one long gap must not flatten every other bar;
    # a taller one is cut at the top, hatched like every bar beyond the limit.
    top = min(max([limit * 1.6, *(b.value * 1.08 for b in values)]), limit * 3)
    band_y = 100 - limit / top * 100
    parts = [
        f'<rect class="band" x="0" y="{band_y:.2f}" width="1000" height="{100 - band_y:.2f}"/>',
        f'<line class="limit" x1="0" y1="{band_y:.2f}" x2="1000" y2="{band_y:.2f}" '
        'vector-effect="non-scaling-stroke"/>',
    ]
    for b in values:
        if not axis.holds(b.at):
            continue
        x = axis.pct(b.at) * 10
        h = min(b.value / top, 1.0) * 100
        over = b.value > limit
        parts.append(
            f'<rect class="{"bar over" if over else "bar"}" x="{x - 4:.1f}" y="{100 - h:.2f}" '
            f'width="8" height="{h:.2f}"' + (' fill="url(#hatch)"' if over else "") + "/>"
        )
    label_pos = f"bottom:{100 - band_y:.1f}%"
    return (
        f'<div class="chart bars" role="img" aria-label="{escape(alt)}">'
        f'<div class="cap" aria-hidden="true">{escape(caption)}</div>'
        f'<div class="plot"><svg viewBox="0 0 1000 100" preserveAspectRatio="none" aria-hidden="true">'
        f'{"".join(parts)}</svg>'
        f'<span class="lim" style="{label_pos}" aria-hidden="true">{escape(limit_text)}</span></div></div>'
    )
