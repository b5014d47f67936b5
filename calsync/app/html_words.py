"""The words of ``calsync report``'s page, in English and Japanese."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from calsync.core.model import Label, MarkKind


@dataclass(frozen=True)
class Words:
    """The page's words in one language; fields with ``{placeholders}`` are format templates."""

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
        """``at`` in the owner's zone, when one is set."""
        return at.astimezone(self.zone) if self.zone is not None else at

    def day(self, at: datetime) -> str:
        """A date written the language's way, in the owner's zone."""
        d = self.local(at).date()
        if self.lang == "ja":
            return f"{d.year}年{d.month}月{d.day}日"
        return f"{d.day} {self.months[d.month - 1]} {d.year}"


_EN = Words(
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

_JA = Words(
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


def words(language: str) -> Words:
    """"ja", "ja-JP" → Japanese; everything else English (as the agenda does)."""
    return _JA if language.lower().replace("_", "-").split("-")[0] == "ja" else _EN
