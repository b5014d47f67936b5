"""``calsync report``: the status figures as one self-contained HTML page.

Built from the same :class:`calsync.app.engine.Report` that ``status`` prints, through
:func:`render`; it draws the figures cadence computed and the marks they were computed
from (``Cadence.marks``, classified by :func:`calsync.core.cadence.timeline`), never
figures of its own. Inline CSS and
SVG, no script, no network, no fonts to fetch; equal inputs give equal bytes. Metadata
only: names, dates, lengths and labels, never descriptions. Every string from a
calendar or the config is escaped.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

from calsync.app import html_charts as charts
from calsync.app import html_figures as say
from calsync.app.engine import RelationshipStatus, Report
from calsync.app.html_style import CSS
from calsync.app.html_words import Words, words
from calsync.config import Config
from calsync.core.cadence import num, wall_days
from calsync.core.model import Label, Mark, MarkKind
from calsync.core.pulse import Summary
from calsync.errors import UsageError

# Industry buckets for "how often": upper bound in days (None: no bound), by key.
BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("weekly", 8),
    ("3w", 21),
    ("6w", 42),
    ("10w", 70),
    ("more", None),
)
_SEVERITY = {Label.DRIFTING: 0, Label.LAPSED: 1, Label.INSUFFICIENT: 2, Label.HEALTHY: 3}


def bucket(interval_days: float | None) -> str:
    """The bucket of a recent median interval; "none" when there is no interval yet."""
    if interval_days is None:
        return "none"
    for key, bound in BUCKETS:
        if bound is None or interval_days <= bound:
            return key
    return "more"  # pragma: no cover - the last bucket has no bound


# --- page parts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One relationship with what its charts need, computed once."""

    index: int
    item: RelationshipStatus
    marks: list[Mark]

    @property
    def who(self) -> str:
        """The counterpart's name, or their address when the calendar gives no name."""
        rel = self.item.relationship
        return rel.name or rel.counterpart

    @property
    def held(self) -> list[Mark]:
        """The marks of the meetings that took place."""
        return [m for m in self.marks if m.kind is MarkKind.HELD]


def _gaps(held: list[Mark]) -> list[charts.Bar]:
    """Days from each held meeting's predecessor, as cadence measures them (wall clock)."""
    return [charts.Bar(b.start, wall_days(a.start, b.start)) for a, b in zip(held, held[1:], strict=False)]


def _lengths(held: list[Mark]) -> list[charts.Bar]:
    return [charts.Bar(m.start, (m.end - m.start).total_seconds() / 60) for m in held]


def _badge(w: Words, label: Label) -> str:
    return f'<span class="badge l-{label.value}">{escape(w.labels[label])}</span>'


def _overview(w: Words, rows: list[_Row], config: Config, now: datetime) -> str:
    labels = Counter(r.item.cadence.label for r in rows)
    label_items = "".join(
        f'<li>{_badge(w, label)} <b class="n">{labels.get(label, 0)}</b></li>'
        for label in (Label.HEALTHY, Label.DRIFTING, Label.LAPSED, Label.INSUFFICIENT)
    )
    buckets = Counter(bucket(r.item.cadence.median_interval_days) for r in rows)
    keys = [k for k, _ in BUCKETS] + (["none"] if buckets.get("none") else [])
    most = max(buckets.values(), default=1)
    bucket_items = "".join(
        f'<li data-bucket="{k}"><span class="bk">{escape(w.buckets[k])}</span>'
        f'<span class="meter" aria-hidden="true"><span style="width:{buckets.get(k, 0) / most * 100:.0f}%">'
        f'</span></span><b class="n">{buckets.get(k, 0)}</b></li>'
        for k in keys
    )
    p = config.policy
    policy = w.policy.format(
        interval=num(p.max_interval_days),
        target_i=num(p.target_interval_days),
        duration=num(p.max_duration_min),
        target_d=num(p.target_duration_min),
        lapse=num(p.lapse_days),
        lookback=p.lookback_days,
        sessions=p.recent_floor,
        recent=p.recent_days,
        attendance=say.pct(w, p.min_attendance),
    )
    return (
        '<section class="overview" aria-labelledby="h-overview">'
        f'<h2 id="h-overview">{escape(w.overview)}</h2>'
        f'<div class="cards"><div class="card"><h3>{escape(w.by_label)}</h3>'
        f'<ul class="labels">{label_items}</ul></div>'
        f'<div class="card"><h3>{escape(w.by_interval)}</h3>'
        f'<ul class="buckets">{bucket_items}</ul></div></div>'
        f'<p class="policy" data-max-interval="{num(p.max_interval_days)}" '
        f'data-max-duration="{num(p.max_duration_min)}">{escape(policy)}</p>'
        f"{_summary(w, rows)}</section>"
    )


def _pulse(w: Words, s: Summary | None) -> str | None:
    """The pulse trend in words; None when off or never answered."""
    if s is None or s.answered == 0:
        return None
    parts = []
    if s.last is not None and s.median_last4 is not None:
        parts.append(w.pulse_fmt.format(last=s.last, median=num(s.median_last4),
                                        trend=w.pulse_trends[s.trend or ""]))
    if s.grilled:
        parts.append(w.pulse_grilled.format(n=s.grilled))
    return " · ".join(parts) or None


def _small(text: str | None) -> str:
    return f' <small class="pulse">{escape(text)}</small>' if text else ""


def _summary(w: Words, rows: list[_Row]) -> str:
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in w.cols)
    body = []
    for r in rows:
        c = r.item.cadence
        cells = (
            _badge(w, c.label),
            escape(w.every.format(n=num(c.median_interval_days))) if c.median_interval_days is not None
            else "–",
            escape(w.minutes.format(n=num(c.median_duration_min))) if c.median_duration_min is not None
            else "–",
            f"{c.held} / {c.planned}",
            escape(say.pct(w, c.attendance)),
            escape(w.day(c.last_held)) if c.last_held else "–",
            escape(w.day(c.next)) if c.next else "–",
        )
        tds = "".join(
            f'<td data-col="{escape(col)}">{cell}</td>' for col, cell in zip(w.cols[1:], cells, strict=True)
        )
        body.append(
            f'<tr><th scope="row" data-col="{escape(w.cols[0])}"><a href="#rel-{r.index}">'
            f"{escape(r.who)}</a>{_small(_pulse(w, r.item.pulse))}</th>{tds}</tr>"
        )
    return (
        f'<table class="summary"><caption>{escape(w.summary)}</caption><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table>'
    )


def _legend(w: Words) -> str:
    items = "".join(
        f"<li>{charts.mark_icon(kind)} {escape(w.kinds[kind])}</li>"
        for kind in (MarkKind.HELD, MarkKind.CANCELLED, MarkKind.DECLINED, MarkKind.REMOVED, MarkKind.PLANNED)
    )
    return f'<ul class="legend" aria-label="{escape(w.legend)}">{items}</ul>'


def _ticks(w: Words, axis: charts.Axis) -> list[charts.Tick]:
    out: list[charts.Tick] = []
    day = axis.start.date().replace(day=1)
    while True:
        day = (day + timedelta(days=32)).replace(day=1)
        at = datetime(day.year, day.month, 1, tzinfo=axis.start.tzinfo)
        if at > axis.end:
            return out
        out.append(charts.Tick(at, w.months[day.month - 1]))


def _counts(w: Words, marks: list[Mark]) -> str:
    counts = Counter(m.kind for m in marks)
    return w.comma.join(f"{counts[k]} {w.kinds[k]}" for k in MarkKind if counts.get(k))


def _dl(pairs: list[tuple[str, str]]) -> str:
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in pairs)
    return f"<dl>{items}</dl>"


def _relationship(w: Words, r: _Row, axis: charts.Axis, config: Config, now: datetime) -> str:
    rel, c = r.item.relationship, r.item.cadence
    role = w.organizer if r.item.role == "organizer" else w.attendee
    reasons = "".join(
        f'<li data-reason="{escape(code)}">{escape(say.reason(w, code, c, config))}</li>'
        for code in c.reasons
    )
    if c.baseline_interval_days is not None or c.baseline_duration_min is not None:
        before = say.figs(w, c.baseline_interval_days, c.baseline_duration_min)
    else:
        before = f"{w.target} " + say.figs(
            w, config.policy.target_interval_days, config.policy.target_duration_min
        )
    pairs = [
        (w.before_now, f"{before} → {say.figs(w, c.median_interval_days, c.median_duration_min)}"),
        *([(w.recent_from, w.day(c.recent_since))] if c.recent_since else []),
        (w.attendance, say.attendance(w, c)),
        (w.last, w.day(c.last_held) if c.last_held else "–"),
        (w.next, w.day(c.next) if c.next else "–"),
    ]
    if c.planned_interval_days is not None or c.planned_duration_min is not None:
        pairs.append((w.plan, say.figs(w, c.planned_interval_days, c.planned_duration_min)))
    said = _pulse(w, r.item.pulse)
    if said:
        pairs.append((w.pulse, said))
    since = w.since.format(date=w.day(c.recent_since)) if c.recent_since else ""
    line = charts.timeline(
        axis,
        [charts.Point(m.start, m.kind) for m in r.marks],
        _ticks(w, axis),
        now,
        c.recent_since,
        w.timeline_alt.format(who=r.who, counts=_counts(w, r.marks), since=since),
        w.today,
        w.recent,
    )
    gaps, lengths = _gaps(r.held), _lengths(r.held)
    p = config.policy
    interval_chart = charts.bars(
        axis, gaps, p.max_interval_days, w.interval_cap, w.max_days.format(n=num(p.max_interval_days)),
        w.interval_alt.format(
            values=", ".join(num(b.value) for b in gaps) or "–",
            limit=num(p.max_interval_days),
            over=sum(1 for b in gaps if b.value > p.max_interval_days),
        ),
    )
    length_chart = charts.bars(
        axis, lengths, p.max_duration_min, w.length_cap, w.max_min.format(n=num(p.max_duration_min)),
        w.length_alt.format(
            values=", ".join(num(b.value) for b in lengths) or "–",
            limit=num(p.max_duration_min),
            over=sum(1 for b in lengths if b.value > p.max_duration_min),
        ),
    )
    email = f' <span class="addr">{escape(rel.counterpart)}</span>' if rel.name else ""
    return (
        f'<article class="rel l-{c.label.value}" id="rel-{r.index}" data-label="{c.label.value}" '
        f'data-counterpart="{escape(rel.counterpart)}">'
        f'<div class="facts"><h3>{escape(r.who)}{email}</h3>'
        f'<p class="meta">{_badge(w, c.label)} <span class="role">{escape(role)}</span></p>'
        + (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
        + _dl(pairs)
        + "</div>"
        f'<div class="charts">{line}{interval_chart}{length_chart}'
        f"{_table(w, r)}</div></article>"
    )


def _table(w: Words, r: _Row) -> str:
    previous: Mark | None = None
    rows = []
    for m in r.marks:
        gap = length = ""
        if m.kind is MarkKind.HELD:
            if previous is not None:
                gap = num(wall_days(previous.start, m.start))
            length = num((m.end - m.start).total_seconds() / 60)
            previous = m
        rows.append(
            f'<tr class="k-{m.kind.value}"><td>{escape(w.day(m.start))}</td>'
            f"<td>{charts.mark_icon(m.kind)} {escape(w.kinds[m.kind])}</td>"
            f'<td class="num">{gap}</td><td class="num">{length}</td></tr>'
        )
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in w.table_cols)
    return (
        f'<details><summary>{escape(w.as_table)}</summary><table class="meetings">'
        f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></details>'
    )


def _notes(w: Words, report: Report) -> str:
    out = ""
    if report.problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in report.problems)
        out += f'<section class="notes"><h2>{escape(w.problems)}</h2><ul>{items}</ul></section>'
    if report.failures:
        items = "".join(f"<li>{escape(str(f))}</li>" for f in report.failures)
        out += f'<section class="notes"><h2>{escape(w.failures)}</h2><ul>{items}</ul></section>'
    return out


def _axis(report: Report, config: Config, rows: list[_Row], zone: tzinfo | None) -> charts.Axis:
    """Lookback behind, the planned weeks ahead (as far as status planned them) in front."""
    now = report.generated_at.astimezone(zone)
    ahead = now + timedelta(days=config.policy.lookahead_days)
    for r in rows:
        for at in r.item.cadence.next_planned:
            ahead = max(ahead, at)
    return charts.Axis(now - timedelta(days=config.policy.lookback_days), ahead)


def render(report: Report, config: Config) -> str:
    """The whole page for one status report."""
    zone = ZoneInfo(config.owner.timezone) if config.owner.timezone else report.generated_at.tzinfo
    w = replace(words(config.language), zone=zone)
    now = report.generated_at.astimezone(zone)
    ordered = sorted(report.statuses, key=lambda s: _SEVERITY[s.cadence.label])
    rows = [
        _Row(i, item, list(item.cadence.marks))
        for i, item in enumerate(ordered, 1)
    ]
    axis = _axis(report, config, rows, zone)
    body = (
        "".join(_relationship(w, r, axis, config, now) for r in rows)
        if rows
        else f'<p class="empty">{escape(w.none_found)}</p>'
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{w.lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="calsync"><title>{escape(w.title)}</title>'
        f"<style>{CSS}</style></head><body>{charts.SYMBOLS}"
        f'<header><h1>{escape(w.title)}</h1><p class="gen"><time datetime="{now.isoformat()}">'
        f"{escape(w.generated.format(when=say.when(w, now)))}</time></p></header><main>"
        f"{_overview(w, rows, config, now)}"
        f'<section class="rels" aria-labelledby="h-rels"><h2 id="h-rels">{escape(w.relationships)}</h2>'
        f"{_legend(w)}{body}</section>{_notes(w, report)}</main></body></html>\n"
    )


def write(path: Path, page: str) -> Path:
    """Write ``page`` whole or not at all (a temporary file renamed into place)."""
    target = path.expanduser().absolute()
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"{path}: cannot write the report: {exc.strerror or exc}") from None
    return target
