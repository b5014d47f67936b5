"""Finding calsync's block between its two marker lines, and putting it in or out.

The block lives between :data:`BEGIN` and :data:`END`, which calsync owns; splicing
replaces only what lies between them and leaves every other byte of a description as
it was. The markers are the same in every language, so switching ``language``
replaces the block rather than adding a second one.

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

import re

from calsync.core.model import Body

# Short, ASCII, free of HTML-special characters: they must survive clients that re-wrap
# long lines or re-encode HTML, and read the same in every language.
BEGIN = "--- calsync agenda (updated automatically) ---"
END = "--- end of calsync agenda ---"

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


def splice_block(body: Body, block: str) -> Body | None:
    """The description with ``block`` (markers included) in it; None when it must not change.

    One complete block: its span is replaced (None when it already equals the rendered
    one; in plain text, CRLF line ends count as LF). None: the block is inserted at the
    top (plain text, followed by a blank line) or right after ``<body …>`` (HTML, followed
    by ``<br>``). Several complete blocks (someone pasted an old agenda and may have
    written into it): which one is calsync's cannot be told, so nothing changes, and the
    caller says so. Stray markers stay as text. Nothing outside the span changes.
    """
    text = body.text
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

    The separator :func:`splice_block` puts after an inserted block (a blank line in plain
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
