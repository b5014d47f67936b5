"""What the agenda and the shared doc say, in each language calsync speaks.

Only words: the phrases, headings and flows of the invite block and the doc, and how
a date reads. English and Japanese; any other ``language`` renders in English.
"""

from __future__ import annotations

from dataclasses import dataclass

EN_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
JA_DAYS = "月火水木金土日"


def language_of(language: str) -> str:
    """"ja", "ja-JP", "ja_JP" → "ja"; everything else renders in English."""
    return "ja" if language.lower().replace("_", "-").split("-")[0] == "ja" else "en"


@dataclass(frozen=True)
class Words:
    """Every phrase one language needs; ``{…}`` fields are filled at render time."""

    title: str  # {who}
    purpose: str
    doc: str
    items: str
    flow: str
    question: str
    cadence: str
    since: str  # {date}
    topics_named: str  # {name}
    topics_anon: str
    steps: tuple[str, ...]  # after the topics, default template
    grow: tuple[str, ...]  # after the topics, GROW template
    heads_topics_named: str  # {name}; short headings of the doc's dated section
    heads_topics_anon: str
    heads_steps: tuple[str, ...]
    heads_grow: tuple[str, ...]
    # doc
    doc_title: str  # {who}
    how_heading: str
    how: tuple[str, ...]  # {who_topics}
    how_named: str  # {name}: who adds the topics
    how_anon: str
    flow_heading: str
    section: str  # {date}
    review_items: str


EN = Words(
    title="1on1 with {who}",
    purpose="Purpose: growth and problem-solving — not an evaluation.",
    doc="Shared doc: ",
    items="Open action items (carried over until checked):",
    flow="Flow:",
    question="Question for today: ",
    cadence="Cadence: ",
    since=" (since {date})",
    topics_named="{name}'s topics first — 3–4, good ones and hard ones, shared beforehand",
    topics_anon="Your topics first — 3–4, good ones and hard ones, shared beforehand",
    steps=(
        "Review of last time — how did the action items go?",
        "Current challenges",
        "Improvements to try",
        "Next actions — who does what, by when",
    ),
    grow=(
        "Goal — what do you want to achieve?",
        "Reality — where do things stand now?",
        "Options — what could you try?",
        "Will — what will you do, and by when?",
    ),
    heads_topics_named="{name}'s topics",
    heads_topics_anon="Your topics",
    heads_steps=("Review of last time", "Current challenges", "Improvements to try", "Next actions"),
    heads_grow=("Goal", "Reality", "Options", "Will"),
    doc_title="# 1on1 with {who}",
    how_heading="## How we use this doc",
    how=(
        "Both of us edit this doc; it is the running record of our 1on1s.",
        "Before each meeting, {who_topics} 3–4 topics — good ones and hard ones — to the newest section.",
        "Action items are checklist lines (`- [ ] Name: what`); tick them (`- [x]`) when done. "
        "Open ones are carried into the next invite until checked.",
        "The newest meeting is on top.",
    ),
    how_named="{name} adds",
    how_anon="add",
    flow_heading="## The flow",
    section="## {date} 1on1",
    review_items="Open action items from earlier:",
)

JA = Words(
    title="{who}さんとの1on1",
    purpose="目的：成長と課題解決のための時間です（評価の場ではありません）。",
    doc="共有ドキュメント：",
    items="前回からのアクション（完了するまで引き継ぎます）：",
    flow="進め方：",
    question="今日の問い：",
    cadence="実施ペース：",
    since="（{date}から）",
    topics_named="{name}さんの話したいこと（良い話題も大変な話題も3〜4つ、事前に共有）",
    topics_anon="話したいこと（良い話題も大変な話題も3〜4つ、事前に共有）",
    steps=(
        "前回の振り返り（アクションの進み具合）",
        "現状の課題",
        "改善策の検討",
        "今後の行動計画（誰が・何を・いつまでに）",
    ),
    grow=(
        "Goal（目標）：何を実現したいか",
        "Reality（現状）：いまどうなっているか",
        "Options（選択肢）：どんな方法が考えられるか",
        "Will（意志）：何を、いつまでにやるか",
    ),
    heads_topics_named="{name}さんの話したいこと",
    heads_topics_anon="話したいこと",
    heads_steps=("前回の振り返り", "現状の課題", "改善策の検討", "今後の行動計画"),
    heads_grow=("Goal（目標）", "Reality（現状）", "Options（選択肢）", "Will（意志）"),
    doc_title="# {who}さんとの1on1",
    how_heading="## このドキュメントの使い方",
    how=(
        "上司・部下の二人で編集する、1on1の記録です。",
        "毎回の1on1の前に、{who_topics}話したいことを3〜4つ（良い話題も大変な話題も）いちばん上の回に書き込みます。",
        "アクションはチェックリスト（`- [ ] 名前: 内容`）で書き、終わったら `- [x]` にします。"
        "未完了のものは完了するまで次回の招待に引き継がれます。",
        "新しい回がいちばん上に来ます。",
    ),
    how_named="{name}さんが",
    how_anon="",
    flow_heading="## 進め方",
    section="## {date} 1on1",
    review_items="これまでのアクション：",
)

WORDS = {"en": EN, "ja": JA}
