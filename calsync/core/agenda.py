"""What calsync writes for one meeting: the agenda block of the invite, and the pair's
shared doc text (its first page and each meeting's dated section).

Pure functions only: no I/O, no provider knowledge. Equal inputs render equal bytes.
The words live in :mod:`calsync.core.wording`; finding and splicing the block between
its markers in :mod:`calsync.core.blocks`.
"""

from __future__ import annotations

import hashlib
import html as _html
import re
from dataclasses import dataclass
from datetime import date, datetime

from calsync.core import questions
from calsync.core.actions import ActionItem, collapse
from calsync.core.blocks import BEGIN, END, find_block, find_blocks, splice_block, unsplice
from calsync.core.model import Body
from calsync.core.wording import EN_DAYS, EN_MONTHS, JA_DAYS, WORDS, Words, language_of

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


def _who(a: AgendaInput) -> str:
    return collapse(a.counterpart_name or "") or collapse(a.counterpart_email)


def _when(a: AgendaInput, lang: str) -> str:
    s = a.start
    zone = s.tzname() or ""
    if lang == "ja":
        text = f"{s.year}年{s.month}月{s.day}日（{JA_DAYS[s.weekday()]}）{s:%H:%M}"
    else:
        text = f"{EN_DAYS[s.weekday()]} {s.day} {EN_MONTHS[s.month - 1]} {s.year}, {s:%H:%M}"
    return f"{text} {zone}".rstrip()


def _topics(a: AgendaInput, w: Words) -> str:
    name = collapse(a.counterpart_name or "")
    return w.topics_named.format(name=name) if name else w.topics_anon


def _flow(a: AgendaInput, w: Words) -> tuple[str, ...]:
    """The report's topics first, then the guide's fixed flow (or GROW)."""
    return (_topics(a, w), *(w.grow if a.template == "grow" else w.steps))


def _heads(a: AgendaInput, w: Words) -> tuple[str, ...]:
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


def _item_line(item: OpenItem, w: Words) -> str:
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
    bank = questions.BANKS[language_of(language)]
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
    lang = language_of(a.language)
    w = WORDS[lang]
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


def splice(body: Body, a: AgendaInput) -> Body | None:
    """The description with the block rendered for ``a`` in it; None when it must not change.

    See :func:`calsync.core.blocks.splice_block` for where it goes and when nothing changes.
    """
    return splice_block(body, render(a, body.html))


# --- the shared doc -------------------------------------------------------------------------


def doc_template(a: AgendaInput) -> str:
    """Initial Markdown of the pair's shared doc, ending with the meeting-log anchor line."""
    lang = language_of(a.language)
    w = WORDS[lang]
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
        return f"{d.year}年{d.month}月{d.day}日（{JA_DAYS[d.weekday()]}）"
    return d.isoformat()


def doc_section(a: AgendaInput) -> tuple[str, str]:
    """``(marker, text)`` of this meeting's dated section; ``marker`` is the heading line
    (unique per pair and day), ``text`` starts with it and ends with a newline."""
    lang = language_of(a.language)
    w = WORDS[lang]
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
