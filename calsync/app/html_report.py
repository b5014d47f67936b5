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
from calsync.app.engine import RelationshipStatus, Report
from calsync.config import Config
from calsync.core.cadence import num, wall_days
from calsync.core.model import Cadence, Label, Mark, MarkKind
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


# --- words --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Words:
    lang: str
    title: str
    generated: str  # {when}
    overview: str
    by_label: str
    by_interval: str
    labels: dict[Label, str]
    buckets: dict[str, str]
    policy: str  # {interval} {target_i} {duration} {target_d} {lapse} {lookback} {sessions}
    summary: str
    cols: tuple[str, ...]  # name, cadence, every, length, held/planned, attendance, last, next
    relationships: str
    none_found: str
    organizer: str
    attendee: str
    before_now: str
    recent_from: str
    attendance: str
    held_planned: str  # {held} {planned}
    last: str
    next: str
    plan: str
    no_figures: str
    every: str  # {n}
    minutes: str  # {n}
    days: str  # {n}
    percent: str  # {n}
    target: str
    legend: str
    kinds: dict[MarkKind, str]
    today: str
    pulse: str  # the fact's name
    pulse_fmt: str  # {last} {median} {trend}
    pulse_grilled: str  # {n}
    pulse_trends: dict[str, str]
    recent: str
    interval_cap: str
    length_cap: str
    max_days: str  # {n}
    max_min: str  # {n}
    timeline_alt: str  # {who} {counts} {since}
    since: str  # {date}
    interval_alt: str  # {values} {limit} {over}
    length_alt: str
    as_table: str
    table_cols: tuple[str, ...]  # date, what, days since previous, length
    reasons: dict[str, str]  # code → text with {figures}
    problems: str
    failures: str
    months: tuple[str, ...]
    comma: str = ", "
    zone: tzinfo | None = None  # dates read in the owner's zone

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone) if self.zone is not None else at

    def day(self, at: datetime) -> str:
        d = self.local(at).date()
        if self.lang == "ja":
            return f"{d.year}年{d.month}月{d.day}日"
        return f"{d.day} {self.months[d.month - 1]} {d.year}"


_EN = _Words(
    lang="en",
    title="1on1 rhythm",
    generated="Generated {when}",
    overview="Overview",
    by_label="By cadence",
    by_interval="By interval (recent median)",
    labels={
        Label.HEALTHY: "healthy",
        Label.DRIFTING: "drifting",
        Label.LAPSED: "lapsed",
        Label.INSUFFICIENT: "not enough data",
    },
    buckets={
        "weekly": "weekly",
        "3w": "≤ 3 weeks",
        "6w": "3–6 weeks",
        "10w": "6–10 weeks",
        "more": "> 10 weeks",
        "none": "no interval yet",
    },
    policy=(
        "Policy: every ≤ {interval} days (target {target_i}), ≤ {duration} min (target {target_d}); "
        "attendance ≥ {attendance} of the plan; lapsed after {lapse} days without a held meeting; "
        "recent = the last {recent} days (at least {sessions} held meetings), "
        "before = the rest of {lookback} days."
    ),
    summary="All relationships",
    cols=("Who", "Cadence", "Every", "Length", "Held / planned", "Attendance", "Last held", "Next"),
    relationships="Relationships",
    none_found="No 1on1 relationships found (try `calsync detect --explain`).",
    organizer="you organize",
    attendee="you attend",
    before_now="Before → now",
    recent_from="Recent since",
    attendance="Attendance",
    held_planned="{held} of the last {planned} planned held",
    last="Last held",
    next="Next",
    plan="Plan ahead",
    no_figures="no figures",
    every="every {n} d",
    minutes="{n} min",
    days="{n} days",
    percent="{n} %",
    target="target",
    legend="Legend",
    kinds={
        MarkKind.HELD: "held",
        MarkKind.CANCELLED: "cancelled",
        MarkKind.DECLINED: "declined",
        MarkKind.REMOVED: "removed from the series",
        MarkKind.PLANNED: "planned",
    },
    today="today",
    pulse="Pulse",
    pulse_fmt="last {last}/5, median {median} of the last 4, {trend}",
    pulse_grilled="felt grilled {n}×",
    pulse_trends={"up": "rising", "down": "falling", "flat": "steady", "": "one score so far"},
    recent="recent",
    interval_cap="Days since the previous held meeting",
    length_cap="Length (min)",
    max_days="max {n} d",
    max_min="max {n} min",
    timeline_alt="Timeline of {who}: {counts}{since}.",
    since="; recent window from {date}",
    interval_alt="Days between held meetings: {values}; policy max {limit}; {over} above it.",
    length_alt="Length of held meetings in minutes: {values}; policy max {limit}; {over} above it.",
    as_table="Meetings as a table",
    table_cols=("Date", "What", "Days since previous", "Length (min)"),
    reasons={
        "interval": "meets every {interval} days, more than {max_interval}",
        "duration": "meetings last {duration} min, more than {max_duration}",
        "attendance": "{held} of the last {planned} planned meetings held ({attendance}, "
        "minimum {min_attendance})",
        "open-gap": "no 1on1 for {open_gap} days",
        "plan": "the plan ahead breaks the policy: {plan}",
        "lapsed": "no held meeting for more than {lapse} days",
        "insufficient-data": "fewer than {sessions} held meetings to judge",
    },
    problems="Problems reading the calendars",
    failures="Calendars that could not be read",
    months=("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
)

_JA = _Words(
    lang="ja",
    title="1on1のリズム",
    generated="作成：{when}",
    overview="概要",
    by_label="状態別",
    by_interval="間隔別（直近の中央値）",
    labels={
        Label.HEALTHY: "良好",
        Label.DRIFTING: "乱れ",
        Label.LAPSED: "途絶",
        Label.INSUFFICIENT: "データ不足",
    },
    buckets={
        "weekly": "毎週",
        "3w": "3週以内",
        "6w": "3〜6週",
        "10w": "6〜10週",
        "more": "10週超",
        "none": "間隔なし",
    },
    policy=(
        "基準：間隔 {interval}日以内（目標 {target_i}日）、長さ {duration}分以内（目標 {target_d}分）、"
        "予定に対する出席率 {attendance}以上。{lapse}日間実施がなければ途絶。"
        "直近＝過去{recent}日（実施{sessions}回以上）、以前＝{lookback}日間の残り。"
    ),
    summary="すべての関係",
    cols=("相手", "状態", "間隔", "長さ", "実施／予定", "出席率", "最終実施", "次回"),
    relationships="関係ごと",
    none_found="1on1が見つかりません（`calsync detect --explain` をお試しください）。",
    organizer="主催",
    attendee="参加",
    before_now="以前 → 現在",
    recent_from="直近の期間",
    attendance="出席率",
    held_planned="直近の予定{planned}回のうち{held}回実施",
    last="最終実施",
    next="次回",
    plan="今後の予定",
    no_figures="数値なし",
    every="{n}日ごと",
    minutes="{n}分",
    days="{n}日",
    percent="{n}%",
    target="目標",
    legend="凡例",
    kinds={
        MarkKind.HELD: "実施",
        MarkKind.CANCELLED: "キャンセル",
        MarkKind.DECLINED: "辞退",
        MarkKind.REMOVED: "シリーズから削除",
        MarkKind.PLANNED: "予定",
    },
    today="今日",
    pulse="パルス",
    pulse_fmt="前回 {last}/5、直近4回の中央値 {median}、{trend}",
    pulse_grilled="詰められた感じ {n}回",
    pulse_trends={"up": "上向き", "down": "下向き", "flat": "横ばい", "": "回答1回のみ"},
    recent="直近",
    interval_cap="前回の実施からの日数",
    length_cap="長さ（分）",
    max_days="上限 {n}日",
    max_min="上限 {n}分",
    timeline_alt="{who}さんとのタイムライン：{counts}{since}。",
    since="、直近の期間は{date}から",
    interval_alt="実施の間隔（日）：{values}。上限 {limit}。超過 {over}回。",
    length_alt="実施の長さ（分）：{values}。上限 {limit}。超過 {over}回。",
    as_table="表で見る",
    table_cols=("日付", "結果", "前回からの日数", "長さ（分）"),
    reasons={
        "interval": "間隔が{interval}日で、上限{max_interval}日を超えています",
        "duration": "長さが{duration}分で、上限{max_duration}分を超えています",
        "attendance": "直近の予定{planned}回のうち実施は{held}回（{attendance}、基準 {min_attendance}以上）",
        "open-gap": "{open_gap}日間1on1がありません",
        "plan": "今後の予定が基準を外れています：{plan}",
        "lapsed": "{lapse}日以上実施がありません",
        "insufficient-data": "判定に必要な{sessions}回の実施がありません",
    },
    problems="カレンダーの読み込みで見つかった問題",
    failures="読み込めなかったカレンダー",
    months=tuple(f"{m}月" for m in range(1, 13)),
    comma="、",
)


def words(language: str) -> _Words:
    """"ja", "ja-JP" → Japanese; everything else English (as the agenda does)."""
    return _JA if language.lower().replace("_", "-").split("-")[0] == "ja" else _EN


# --- figures as text ----------------------------------------------------------------------


def _figs(w: _Words, interval: float | None, duration: float | None) -> str:
    parts = []
    if interval is not None:
        parts.append(w.every.format(n=num(interval)))
    if duration is not None:
        parts.append(w.minutes.format(n=num(duration)))
    return w.comma.join(parts) or w.no_figures


def _pct(w: _Words, share: float | None) -> str:
    return w.percent.format(n=round(share * 100)) if share is not None else "–"


def _attendance(w: _Words, c: Cadence) -> str:
    """Against the plan in the recent window, as status counts it."""
    if c.attendance is None:
        return "–"
    return f"{_pct(w, c.attendance)} · {w.held_planned.format(held=c.recent_held, planned=c.recent_planned)}"


def _when(w: _Words, at: datetime) -> str:
    local = w.local(at)
    sep = " " if w.lang == "ja" else ", "
    return f"{w.day(local)}{sep}{local:%H:%M} {local.tzname() or ''}".rstrip()


def _reason(w: _Words, code: str, c: Cadence, config: Config) -> str:
    p = config.policy
    plan = _figs(w, c.planned_interval_days, c.planned_duration_min)
    if c.next_planned:
        plan += f" ({w.day(c.next_planned[0])} –)"
    values = {
        "interval": num(c.median_interval_days) if c.median_interval_days is not None else "–",
        "max_interval": num(p.max_interval_days),
        "duration": num(c.median_duration_min) if c.median_duration_min is not None else "–",
        "max_duration": num(p.max_duration_min),
        "attendance": _pct(w, c.attendance),
        "min_attendance": _pct(w, p.min_attendance),
        "held": str(c.recent_held),
        "planned": str(c.recent_planned),
        "open_gap": num(c.open_gap_days) if c.open_gap_days is not None else "–",
        "plan": plan,
        "lapse": num(p.lapse_days),
        "sessions": str(p.min_sessions),
    }
    template = w.reasons.get(code)
    return template.format(**values) if template else code


# --- page parts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One relationship with what its charts need, computed once."""

    index: int
    item: RelationshipStatus
    marks: list[Mark]

    @property
    def who(self) -> str:
        rel = self.item.relationship
        return rel.name or rel.counterpart

    @property
    def held(self) -> list[Mark]:
        return [m for m in self.marks if m.kind is MarkKind.HELD]


def _gaps(held: list[Mark]) -> list[charts.Bar]:
    """Days from each held meeting's predecessor, as cadence measures them (wall clock)."""
    return [charts.Bar(b.start, wall_days(a.start, b.start)) for a, b in zip(held, held[1:], strict=False)]


def _lengths(held: list[Mark]) -> list[charts.Bar]:
    return [charts.Bar(m.start, (m.end - m.start).total_seconds() / 60) for m in held]


def _badge(w: _Words, label: Label) -> str:
    return f'<span class="badge l-{label.value}">{escape(w.labels[label])}</span>'


def _overview(w: _Words, rows: list[_Row], config: Config, now: datetime) -> str:
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
        attendance=_pct(w, p.min_attendance),
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


def _pulse(w: _Words, s: Summary | None) -> str | None:
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


def _summary(w: _Words, rows: list[_Row]) -> str:
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
            escape(_pct(w, c.attendance)),
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


def _legend(w: _Words) -> str:
    items = "".join(
        f"<li>{charts.mark_icon(kind)} {escape(w.kinds[kind])}</li>"
        for kind in (MarkKind.HELD, MarkKind.CANCELLED, MarkKind.DECLINED, MarkKind.REMOVED, MarkKind.PLANNED)
    )
    return f'<ul class="legend" aria-label="{escape(w.legend)}">{items}</ul>'


def _ticks(w: _Words, axis: charts.Axis) -> list[charts.Tick]:
    out: list[charts.Tick] = []
    day = axis.start.date().replace(day=1)
    while True:
        day = (day + timedelta(days=32)).replace(day=1)
        at = datetime(day.year, day.month, 1, tzinfo=axis.start.tzinfo)
        if at > axis.end:
            return out
        out.append(charts.Tick(at, w.months[day.month - 1]))


def _counts(w: _Words, marks: list[Mark]) -> str:
    counts = Counter(m.kind for m in marks)
    return w.comma.join(f"{counts[k]} {w.kinds[k]}" for k in MarkKind if counts.get(k))


def _dl(pairs: list[tuple[str, str]]) -> str:
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in pairs)
    return f"<dl>{items}</dl>"


def _relationship(w: _Words, r: _Row, axis: charts.Axis, config: Config, now: datetime) -> str:
    rel, c = r.item.relationship, r.item.cadence
    role = w.organizer if r.item.role == "organizer" else w.attendee
    reasons = "".join(
        f'<li data-reason="{escape(code)}">{escape(_reason(w, code, c, config))}</li>' for code in c.reasons
    )
    if c.baseline_interval_days is not None or c.baseline_duration_min is not None:
        before = _figs(w, c.baseline_interval_days, c.baseline_duration_min)
    else:
        before = f"{w.target} " + _figs(
            w, config.policy.target_interval_days, config.policy.target_duration_min
        )
    pairs = [
        (w.before_now, f"{before} → {_figs(w, c.median_interval_days, c.median_duration_min)}"),
        *([(w.recent_from, w.day(c.recent_since))] if c.recent_since else []),
        (w.attendance, _attendance(w, c)),
        (w.last, w.day(c.last_held) if c.last_held else "–"),
        (w.next, w.day(c.next) if c.next else "–"),
    ]
    if c.planned_interval_days is not None or c.planned_duration_min is not None:
        pairs.append((w.plan, _figs(w, c.planned_interval_days, c.planned_duration_min)))
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


def _table(w: _Words, r: _Row) -> str:
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


def _notes(w: _Words, report: Report) -> str:
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
        f"{escape(w.generated.format(when=_when(w, now)))}</time></p></header><main>"
        f"{_overview(w, rows, config, now)}"
        f'<section class="rels" aria-labelledby="h-rels"><h2 id="h-rels">{escape(w.relationships)}</h2>'
        f"{_legend(w)}{body}</section>{_notes(w, report)}</main></body></html>\n"
    )


CSS = """
:root{--ink:#1d232a;--muted:#5b6570;--line:#d5dbe1;--bg:#fff;--card:#f6f8fa;
--held:#0b6e6e;--cancelled:#b3261e;--declined:#a15c00;--removed:#6b4fa0;--planned:#5b6570;
--ok:#1e7a3c;--warn:#b3261e;--lapse:#6d4c00;--na:#5b6570;
-webkit-print-color-adjust:exact;print-color-adjust:exact}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Hiragino Sans","Noto Sans CJK JP",sans-serif}
header,main{max-width:1180px;margin:0 auto;padding:0 20px}
header{padding-top:18px}
h1{font-size:26px;margin:0}
h2{font-size:19px;margin:26px 0 10px}
h3{font-size:15px;margin:0 0 8px}
.gen{color:var(--muted);margin:2px 0 0}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 300px;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card ul{list-style:none;margin:0;padding:0}
.labels{display:flex;flex-wrap:wrap;gap:8px 18px}
.labels .n{font-size:20px;vertical-align:middle;margin-left:4px}
.buckets li{display:flex;align-items:center;gap:8px;margin:3px 0}
.bk{flex:0 0 8.5em}
.meter{flex:1 1 auto;height:10px;background:#e5e9ed;border-radius:5px;overflow:hidden}
.meter span{display:block;height:100%;background:var(--held)}
.buckets .n{flex:0 0 2em;text-align:right}
.policy{color:var(--muted);margin:12px 0}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;font-weight:600;
border:1.5px solid currentColor;white-space:nowrap}
.badge::before{margin-right:4px}
.badge.l-healthy{color:var(--ok)}.badge.l-healthy::before{content:"✓"}
.badge.l-drifting{color:var(--warn);background:#fbeae8}.badge.l-drifting::before{content:"▲"}
.badge.l-lapsed{color:var(--lapse);background:#f6eddc}.badge.l-lapsed::before{content:"■"}
.badge.l-insufficient-data{color:var(--na);border-style:dashed}.badge.l-insufficient-data::before{content:"?"}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:600;margin-bottom:6px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-size:13px;color:var(--muted);font-weight:600}
.summary a{color:inherit}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 16px;padding:0;margin:0 0 10px;
color:var(--muted);font-size:13px}
.ic{vertical-align:-1px}
.k-held{color:var(--held)}.k-cancelled{color:var(--cancelled)}.k-declined{color:var(--declined)}
.k-removed{color:var(--removed)}.k-planned{color:var(--planned)}
.rel{display:grid;grid-template-columns:300px minmax(0,1fr);gap:8px 24px;padding:16px 0;
border-top:1px solid var(--line);break-inside:avoid}
.rel.l-drifting,.rel.l-lapsed{border-left:4px solid var(--warn);padding-left:12px}
.rel.l-lapsed{border-left-color:var(--lapse)}
.addr{display:block;font-weight:400;color:var(--muted);font-size:13px;overflow-wrap:anywhere}
.meta{margin:0 0 6px}.role{color:var(--muted);font-size:13px}
.reasons{margin:4px 0 8px;padding-left:18px;color:var(--warn);font-weight:600}
dl{margin:0;font-size:14px}dl div{display:flex;gap:8px;margin:2px 0}
dt{flex:0 0 7.5em;color:var(--muted)}dd{margin:0;min-width:0;overflow-wrap:anywhere}
.charts{min-width:0;padding:0 8px}
.chart{position:relative;margin-bottom:6px}
.flags{position:relative;height:16px;font-size:11px;color:var(--muted)}
.flag{position:absolute;top:0;white-space:nowrap;padding-left:3px;border-left:1px solid var(--muted)}
.nowflag{transform:translateX(-100%);padding:0 3px 0 0;border-left:0;border-right:1px solid var(--ink);
color:var(--ink)}
.track{position:relative;height:22px}
.track .bg{position:absolute;inset:0;width:100%;height:100%}
.ax{stroke:#9aa5b1;stroke-width:1}.tk{stroke:#9aa5b1;stroke-width:1}
.win{fill:#e6f2f2}.winedge{stroke:var(--held);stroke-width:1;stroke-dasharray:3 2}
.nowline{stroke:var(--ink);stroke-width:1.5}
.mk{position:absolute;top:5px;margin-left:-6px}
.ticks{position:relative;height:15px;font-size:11px;color:var(--muted)}
.ticks span{position:absolute;top:0;white-space:nowrap;padding-left:2px}
.bars .cap{font-size:12px;color:var(--muted)}
.plot{position:relative;height:46px;border-bottom:1px solid #9aa5b1}
.plot svg{position:absolute;inset:0;width:100%;height:100%}
.band{fill:#e9f3ec}.limit{stroke:var(--ok);stroke-width:1.2;stroke-dasharray:4 3}
.bar{fill:var(--held)}.bar.over{stroke:var(--warn);stroke-width:0.6}
.lim{position:absolute;right:0;font-size:11px;color:var(--ok);background:rgba(255,255,255,.8);
padding:0 2px;line-height:1.1}
details{margin-top:6px;font-size:13px}summary{cursor:pointer;color:var(--muted)}
.meetings td.num{text-align:right}
.notes li{color:var(--warn)}
.empty{color:var(--muted)}
@media (max-width:760px){
 header,main{padding:0 12px}header{padding-top:12px}
 .rel{grid-template-columns:minmax(0,1fr)}
 .charts{padding:0 6px}
 .mk{width:10px;height:10px;top:6px;margin-left:-5px}
}
@media screen and (max-width:760px){
 .summary caption{display:block}
 .summary thead{display:none}
 .summary,.summary tbody,.summary tr,.summary th,.summary td{display:block;width:100%}
 .summary tr{border-bottom:1px solid var(--line);padding:6px 0}
 .summary th,.summary td{border:0;padding:1px 0;display:flex;gap:8px}
 .summary td::before{content:attr(data-col);flex:0 0 8.5em;color:var(--muted);font-size:13px}
}
@media print{
 body{font-size:11pt}header,main{max-width:none;padding:0}
 details>summary{display:none}
 .rel{grid-template-columns:240px minmax(0,1fr)}
 a{text-decoration:none}
}
""".strip()


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
