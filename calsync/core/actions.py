"""Action items: checklist lines found in invites and in the shared doc.

The 1on1 guide asks that last time's action plan be followed up; calsync does it by
reading checklist lines (``- [ ] text``, ``- [x] text``, ``☐``, ``☑``, ``✅`` …) with an
optional ``Name:`` owner prefix. Unchecked items are carried into the next invite
until someone checks them. This module is pure: text in, items out.
"""

from __future__ import annotations

import html as _html
import re
import unicodedata
from dataclasses import dataclass

__all__ = ["ActionItem", "checklist_lines", "html_to_text", "parse", "collapse", "strip_since"]


def collapse(s: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space, and trim."""
    return " ".join(s.split())


@dataclass(frozen=True)
class ActionItem:
    """One checklist line: what, who (when a ``Name:`` prefix says so), and whether it is done."""

    text: str
    owner: str | None
    done: bool

    @property
    def key(self) -> str:
        """Identity across meetings and sources: the same task written with other spacing,
        letter case or full-width characters is the same item."""
        return _norm(self.owner or "") + "\n" + _norm(self.text)


def _norm(s: str) -> str:
    return collapse(unicodedata.normalize("NFKC", s)).casefold()


# --- HTML to text -----------------------------------------------------------------------

# Tags that end a line when a person reads the rendered HTML.
_BREAK_TAGS = re.compile(
    r"<\s*/?\s*(?:br|p|div|li|ul|ol|tr|table|h[1-6]|blockquote|pre|hr)\b[^<>]*>", re.IGNORECASE
)
# ``[^<>]`` (not ``[^>]``) keeps this linear on text full of unclosed ``<``.
_ANY_TAG = re.compile(r"</?[A-Za-z!?][^<>]*>")
_SKIP_OPEN = re.compile(r"<(style|script|head)\b", re.IGNORECASE)


def _drop_hidden(html: str) -> str:
    """Remove comments and the content of style/script/head elements (not text anyone reads).

    Hand-written scanning rather than a lazy regex: an unterminated ``<!--`` must not make
    the scan quadratic on a huge description.
    """
    out: list[str] = []
    i, n = 0, len(html)
    lower: str | None = None
    unclosed: set[str] = set()  # elements with no closing tag further on: don't search again
    while i < n:
        lt = html.find("<", i)
        if lt < 0:
            break
        if html.startswith("<!--", lt):
            close = html.find("-->", lt + 4)
            out.append(html[i:lt])
            if close < 0:
                return "".join(out)
            i = close + 3
            continue
        m = _SKIP_OPEN.match(html, lt)
        if m:
            name = m.group(1).lower()
            if lower is None:
                lower = html.lower()
            close = -1 if name in unclosed else lower.find("</" + name, m.end())
            if close >= 0:
                out.append(html[i:lt])
                gt = html.find(">", close)
                i = n if gt < 0 else gt + 1
                continue
            unclosed.add(name)  # unclosed: an ordinary tag, stripped later; its content stays
        out.append(html[i : lt + 1])
        i = lt + 1
    out.append(html[i:])
    return "".join(out)


def html_to_text(html: str) -> str:
    """Readable text of an HTML description: line-breaking tags become newlines, other tags go,
    entities are unescaped (after tag stripping, so ``&lt;b&gt;`` stays text).

    Source line breaks are kept as line breaks: Google shows them in its "HTML, but sometimes
    plain text" descriptions, and merging lines would lose whole items there.
    """
    s = _drop_hidden(html)
    s = _BREAK_TAGS.sub("\n", s)
    s = _ANY_TAG.sub("", s)
    return _html.unescape(s)


# --- checklist lines --------------------------------------------------------------------

_CHECKED_GLYPHS = "☑☒✅✔✓"
_LINE = re.compile(
    r"[ \t\u3000]*"
    r"(?:[-*+][ \t\u3000]+|[•・][ \t\u3000]*|\d{1,3}[.)][ \t\u3000]+)?"  # optional bullet or number
    r"(?:\[(?P<box>[ \u3000xX✓✔])\](?!\()|(?P<glyph>[☐" + _CHECKED_GLYPHS + r"])\ufe0f?)"
    r"(?P<rest>.*)"
)
# "Name:" — one to three words, then an ASCII colon followed by whitespace, or a full-width
# colon. Words cannot contain a colon, so "https://…" is never taken for an owner.
_OWNER = re.compile(r"(?P<owner>[^\s:：]+(?:\s+[^\s:：]+){0,2})\s*(?::\s+|：\s*)(?P<text>\S.*)")
# calsync's own "first seen" suffix, in either language (see :mod:`calsync.core.agenda`).
_SINCE = re.compile(r"(?:\(since \d{4}-\d{2}-\d{2}\)|[（(]\d{4}-\d{2}-\d{2}から[）)])\Z")


def strip_since(text: str) -> str:
    """Remove one trailing "(since YYYY-MM-DD)" / "（YYYY-MM-DDから）" that calsync appended."""
    m = _SINCE.search(text)
    return text[: m.start()].rstrip() if m else text


def _item(line: str) -> ActionItem | None:
    m = _LINE.fullmatch(line)
    if m is None:
        return None
    box, glyph = m.group("box"), m.group("glyph")
    done = (box is not None and box.strip() != "") or (glyph is not None and glyph in _CHECKED_GLYPHS)
    rest = strip_since(collapse(m.group("rest")))  # before the owner: "X: (since …)" has no text
    owner: str | None = None
    om = _OWNER.fullmatch(rest)
    if om:
        owner, rest = collapse(om.group("owner")), om.group("text")
    text = collapse(rest)
    if not text:
        return None
    return ActionItem(text=text, owner=owner, done=done)


def checklist_lines(text: str, html: bool = False) -> list[str]:
    """The lines :func:`parse` reads items from, as it reads them (HTML already as text)."""
    if html:
        text = html_to_text(text)
    return [line for line in text.splitlines() if _item(line) is not None]


def parse(text: str, html: bool = False) -> list[ActionItem]:
    """Checklist items in document order, one per key; an item checked anywhere is done."""
    if html:
        text = html_to_text(text)
    found: dict[str, ActionItem] = {}
    for line in text.splitlines():
        item = _item(line)
        if item is None:
            continue
        seen = found.get(item.key)
        if seen is None:
            found[item.key] = item
        elif item.done and not seen.done:
            found[item.key] = ActionItem(seen.text, seen.owner, True)
    return list(found.values())
