"""The agenda block calsync keeps in the next 1on1 invite, and the pair's shared doc text.

Pure functions only: no I/O, no provider knowledge. The block lives between two marker
lines (:data:`BEGIN`, :data:`END`) that calsync owns; :func:`splice` replaces only what
lies between them and leaves every other byte of the description as it was. The markers
are the same in every language, so switching ``language`` replaces the block rather
than adding a second one.

Marker rules (see :func:`find_block`):

* plain text: a marker is a whole line — preceded by the start of the text or ``"\\n"``,
  followed by ``"\\n"``, ``"\\r\\n"`` or the end;
* HTML: a marker is a whole text node — preceded by ``>`` or the start, followed by ``<``
  or the end (whitespace in between is ignored, as HTML ignores it). A whole line counts
  too, as in plain text: a description read as plain text once (Google decides by its
  content) and as HTML later must not grow a second block.

Anything else that happens to contain the marker strings is ordinary text.
"""

from __future__ import annotations

import hashlib
import html as _html
import re
from dataclasses import dataclass
from datetime import date, datetime

from calsync.core import questions
from calsync.core.actions import ActionItem, collapse
from calsync.core.model import Body

__all__ = [
    "BEGIN",
    "END",
    "DOC_LOG_ANCHOR",
    "OpenItem",
    "AgendaInput",
    "render",
    "find_block",
    "find_blocks",
    "splice",
    "unsplice",
    "doc_template",
    "doc_section",
    "question",
]

# Short, ASCII, free of HTML-special characters: they must survive clients that re-wrap
# long lines or re-encode HTML, and read the same in every language.
BEGIN = "--- calsync agenda (updated automatically) ---"
END = "--- end of calsync agenda ---"
DOC_LOG_ANCHOR = "<!-- calsync:meetings (newest first) -->"


@dataclass(frozen=True)
class OpenItem:
    """An unchecked action item carried over, with the date calsync first saw it."""

    text: str
    owner: str | None
    since: date


@dataclass(frozen=True)
class AgendaInput:
    """Everything the block depends on; equal inputs render equal bytes."""

    language: str  # "en" | "ja"
    template: str  # "default" | "grow"
    counterpart_email: str
    counterpart_name: str | None
    start: datetime  # the meeting, aware; rendered in its own zone
    doc_url: str | None
    open_items: tuple[OpenItem, ...]
    cadence_note: str | None  # e.g. "every 7 days, 30 min (healthy)"; None = omit
    pulse: bool = False  # end the doc section with the pulse line (calsync.core.pulse)


# --- words --------------------------------------------------------------------------------

_EN_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_JA_DAYS = "月火水木金土日"


def _lang(language: str) -> str:
    """"ja", "ja-JP", "ja_JP" → "ja"; everything else renders in English."""
    return "ja" if language.lower().replace("_", "-").split("-")[0] == "ja" else "en"


@dataclass(frozen=True)
class _Words:
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


_EN = _Words(
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

_JA = _Words(
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

_WORDS = {"en": _EN, "ja": _JA}


def _who(a: AgendaInput) -> str:
    return collapse(a.counterpart_name or "") or collapse(a.counterpart_email)


def _when(a: AgendaInput, lang: str) -> str:
    s = a.start
    zone = s.tzname() or ""
    if lang == "ja":
        text = f"{s.year}年{s.month}月{s.day}日（{_JA_DAYS[s.weekday()]}）{s:%H:%M}"
    else:
        text = f"{_EN_DAYS[s.weekday()]} {s.day} {_EN_MONTHS[s.month - 1]} {s.year}, {s:%H:%M}"
    return f"{text} {zone}".rstrip()


def _topics(a: AgendaInput, w: _Words) -> str:
    name = collapse(a.counterpart_name or "")
    return w.topics_named.format(name=name) if name else w.topics_anon


def _flow(a: AgendaInput, w: _Words) -> tuple[str, ...]:
    """The report's topics first, then the guide's fixed flow (or GROW)."""
    return (_topics(a, w), *(w.grow if a.template == "grow" else w.steps))


def _heads(a: AgendaInput, w: _Words) -> tuple[str, ...]:
    """Short headings for the same flow, for the doc's dated section."""
    name = collapse(a.counterpart_name or "")
    topics = w.heads_topics_named.format(name=name) if name else w.heads_topics_anon
    return (topics, *(w.heads_grow if a.template == "grow" else w.heads_steps))


def _unique(items: tuple[OpenItem, ...]) -> list[OpenItem]:
    """One line per item identity (the first wins), as :func:`calsync.core.actions.parse` counts them."""
    seen: dict[str, OpenItem] = {}
    for item in items:
        seen.setdefault(ActionItem(collapse(item.text), collapse(item.owner or "") or None, False).key, item)
    return list(seen.values())


def _item_line(item: OpenItem, w: _Words) -> str:
    """Checklist text that :func:`calsync.core.actions.parse` reads back as the same item."""
    text = collapse(item.text)
    owner = collapse(item.owner or "")
    body = f"{owner}: {text}" if owner else text
    return body + w.since.format(date=item.since.isoformat())


def question(counterpart_email: str, day: date, language: str) -> str:
    """The open question for this pair on this day.

    A stable hash of the counterpart gives each pair its own starting point; the day's
    ordinal then walks the (prime-sized) bank, so consecutive meetings get different
    questions and every question comes round.
    """
    bank = questions.BANKS[_lang(language)]
    digest = hashlib.sha256(collapse(counterpart_email).casefold().encode("utf-8")).digest()
    offset = int.from_bytes(digest[:8], "big")
    return bank[(offset + day.toordinal()) % len(bank)]


# --- rendering ------------------------------------------------------------------------------


def _linkable(url: str) -> bool:
    return re.match(r"(?i)(?:https?|file)://", url) is not None


def render(a: AgendaInput, html: bool) -> str:
    """The whole block, markers included; deterministic bytes for equal inputs.

    Every string that came from people is collapsed to one line (so it can never form a
    marker line) and, in HTML, escaped.
    """
    lang = _lang(a.language)
    w = _WORDS[lang]
    title = w.title.format(who=_who(a))
    when = _when(a, lang)
    url = collapse(a.doc_url or "")
    note = collapse(a.cadence_note or "")
    q = question(a.counterpart_email, a.start.date(), lang)
    items = [_item_line(i, w) for i in _unique(a.open_items)]
    flow = _flow(a, w)
    sep = "　" if lang == "ja" else " — "

    if not html:
        lines = [BEGIN, f"{title}{sep}{when}", w.purpose]
        if url:
            lines.append(w.doc + url)
        if items:
            lines.append(w.items)
            lines.extend(f"- [ ] {i}" for i in items)
        lines.append(w.flow)
        lines.extend(f"{n}. {step}" for n, step in enumerate(flow, 1))
        lines.append(w.question + q)
        if note:
            lines.append(w.cadence + note)
        lines.append(END)
        return "\n".join(lines)

    e = _html.escape
    parts = [BEGIN, "<br>", f"<b>{e(title)}</b>{e(sep)}{e(when)}<br>", e(w.purpose), "<br>"]
    if url:
        if _linkable(url):
            parts.append(f'{e(w.doc)}<a href="{e(url, quote=True)}">{e(url)}</a><br>')
        else:
            parts.append(f"{e(w.doc + url)}<br>")
    if items:
        parts.append(f"<b>{e(w.items)}</b><ul>")
        parts.extend(f"<li>☐ {e(i)}</li>" for i in items)
        parts.append("</ul>")
    parts.append(f"<b>{e(w.flow)}</b><ol>")
    parts.extend(f"<li>{e(step)}</li>" for step in flow)
    parts.append("</ol>")
    parts.append(f"{e(w.question + q)}<br>")
    if note:
        parts.append(f"{e(w.cadence + note)}<br>")
    parts.append(END)
    return "".join(parts)


# --- finding and splicing -------------------------------------------------------------------

_MARKERS = re.compile(re.escape(BEGIN) + "|" + re.escape(END))


def _is_marker(text: str, start: int, end: int, html: bool) -> bool:
    line_before = start == 0 or text[start - 1] == "\n"
    line_after = end == len(text) or text[end] == "\n" or text.startswith("\r\n", end)
    if not html:
        return line_before and line_after
    return (line_before or _tag_before(text, start)) and (line_after or _tag_after(text, end))


def _tag_before(text: str, start: int) -> bool:
    # Scans back only over whitespace, which ends at the previous match at the latest: linear.
    i = start - 1
    while i >= 0 and text[i].isspace():
        i -= 1
    return i < 0 or text[i] == ">"


def _tag_after(text: str, end: int) -> bool:
    j = end
    while j < len(text) and text[j].isspace():
        j += 1
    return j == len(text) or text[j] == "<"


def find_blocks(text: str, html: bool) -> list[tuple[int, int]]:
    """Every complete block as ``[start, end)``: a BEGIN marker and the nearest END marker
    after it with no other BEGIN between. Stray markers are ignored. Linear in ``len(text)``."""
    blocks: list[tuple[int, int]] = []
    open_at: int | None = None
    for m in _MARKERS.finditer(text):
        if not _is_marker(text, m.start(), m.end(), html):
            continue
        if m.group() == BEGIN:
            open_at = m.start()  # a later BEGIN supersedes an unclosed earlier one
        elif open_at is not None:
            blocks.append((open_at, m.end()))
            open_at = None
    return blocks


def find_block(text: str, html: bool) -> tuple[int, int] | None:
    """``[start, end)`` of the first complete block, markers included; None if there is none."""
    blocks = find_blocks(text, html)
    return blocks[0] if blocks else None


_BODY_OPEN = re.compile(r"<body(?=[\s/>])", re.IGNORECASE)


def _insert(text: str, block: str, html: bool) -> str:
    if not html:
        return block + "\n\n" + text if text else block
    if not text:
        return block
    m = _BODY_OPEN.search(text)
    if m is not None:
        gt = text.find(">", m.end())
        if gt >= 0:
            return text[: gt + 1] + block + "<br>" + text[gt + 1 :]
    return block + "<br>" + text


def splice(body: Body, a: AgendaInput) -> Body | None:
    """The description with the block rendered for ``a`` in it; None when it must not change.

    One complete block: its span is replaced (None when it already equals the rendered
    one; in plain text, CRLF line ends count as LF). None: the block is inserted at the
    top (plain text, followed by a blank line) or right after ``<body …>`` (HTML, followed
    by ``<br>``). Several complete blocks (someone pasted an old agenda and may have
    written into it): which one is calsync's cannot be told, so nothing changes, and the
    caller says so. Stray markers stay as text. Nothing outside the span changes.
    """
    text = body.text
    block = render(a, body.html)
    blocks = find_blocks(text, body.html)
    if not blocks:
        return Body(_insert(text, block, body.html), body.html)
    if len(blocks) > 1:
        return None
    s, e = blocks[0]
    current = text[s:e]
    # A server that stores plain text with CRLF line ends holds the same block: no rewrite.
    if current == block or (not body.html and current.replace("\r\n", "\n") == block):
        return None
    return Body(text[:s] + block + text[e:], body.html)


def unsplice(body: Body) -> Body | None:
    """The description with calsync's one block taken out again; None when there is no
    single complete block (none, or several that cannot be told apart).

    The separator :func:`splice` puts after an inserted block (a blank line in plain
    text, ``<br>`` in HTML) goes with it, so ``unsplice(splice(x))`` gives ``x`` back
    byte for byte when ``x`` held no block. Nothing else changes.
    """
    text = body.text
    blocks = find_blocks(text, body.html)
    if len(blocks) != 1:
        return None
    s, e = blocks[0]
    for sep in ("<br>",) if body.html else ("\n\n", "\r\n\r\n"):
        if text.startswith(sep, e):
            e += len(sep)
            break
    return Body(text[:s] + text[e:], body.html)


# --- the shared doc -------------------------------------------------------------------------


def doc_template(a: AgendaInput) -> str:
    """Initial Markdown of the pair's shared doc, ending with the meeting-log anchor line."""
    lang = _lang(a.language)
    w = _WORDS[lang]
    who = _who(a)
    name = collapse(a.counterpart_name or "")
    who_topics = w.how_named.format(name=name) if name else w.how_anon
    lines = [w.doc_title.format(who=who), "", w.purpose, "", w.how_heading, ""]
    lines.extend(f"- {h.format(who_topics=who_topics)}" for h in w.how)
    lines += ["", w.flow_heading, ""]
    lines.extend(f"{n}. {step}" for n, step in enumerate(_flow(a, w), 1))
    lines += ["", DOC_LOG_ANCHOR, ""]
    return "\n".join(lines)


def _section_date(d: date, lang: str) -> str:
    if lang == "ja":
        return f"{d.year}年{d.month}月{d.day}日（{_JA_DAYS[d.weekday()]}）"
    return d.isoformat()


def doc_section(a: AgendaInput) -> tuple[str, str]:
    """``(marker, text)`` of this meeting's dated section; ``marker`` is the heading line
    (unique per pair and day), ``text`` starts with it and ends with a newline."""
    lang = _lang(a.language)
    w = _WORDS[lang]
    marker = w.section.format(date=_section_date(a.start.date(), lang))
    flow = _heads(a, w)
    items = [f"- [ ] {_item_line(i, w)}" for i in _unique(a.open_items)]
    # Where last time's open items are followed up: "review of last time" in the default
    # flow, "reality" in GROW; the next actions (or "will") get an empty checkbox.
    review_at, actions_at = 1, len(flow) - 1
    if a.template == "grow":
        review_at = 2
    lines = [marker, ""]
    for n, step in enumerate(flow):
        lines += [f"### {step}", ""]
        if n == review_at and items:
            lines.extend(items)
        elif n == actions_at:
            lines.append("- [ ] ")
        else:
            lines.append("- ")
        lines.append("")
    if a.pulse:
        from calsync.core import pulse

        lines += [pulse.line(a.start.date(), lang), ""]
    return marker, "\n".join(lines)
