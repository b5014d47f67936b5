"""The Docs API requests calsync sends: the template of a new doc, a meeting section.

Pure functions over a document resource (``documents.get``): its paragraphs with their
UTF-16 indexes, and the ``batchUpdate`` requests that insert text at the right index and
give it its named style. No request is sent here (:mod:`calsync.backends.google.docs`).
"""

from __future__ import annotations

import re
from typing import Any

LOG_HEADING = "Meeting log (newest first)"

Paragraph = tuple[int, int, str]  # start index, end index, text (with its newline)


def utf16_len(text: str) -> int:
    """Docs API indexes count UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _md_lines(template: str) -> list[tuple[str, str]]:
    """Markdown-ish template lines as (text, named style): ``#`` headings become Doc headings."""
    out = []
    for line in template.rstrip("\n").split("\n"):
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            out.append((m.group(2), f"HEADING_{min(len(m.group(1)), 6)}"))
        else:
            out.append((line, "NORMAL_TEXT"))
    return out


def template_requests(template: str) -> list[dict[str, Any]]:
    """The Docs requests that write the template and the log heading into an empty doc."""
    lines = _md_lines(template) + [("", "NORMAL_TEXT"), (LOG_HEADING, "HEADING_2")]
    text = "".join(line + "\n" for line, _ in lines)
    requests: list[dict[str, Any]] = [{"insertText": {"location": {"index": 1}, "text": text}}]
    index = 1
    for line, style in lines:
        n = utf16_len(line) + 1
        if style != "NORMAL_TEXT":
            requests.append(_style(index, index + n, style))
        index += n
    return requests


def section_requests(paragraphs: list[Paragraph], marker: str, text: str) -> list[dict[str, Any]]:
    """Insert a meeting section (its first line a heading) right below the log heading,
    or at the very top if someone removed the heading."""
    index = 1
    for _start, end, p_text in paragraphs:
        if p_text.strip() == LOG_HEADING:
            index = end
            break
    body_end = max((end for _, end, _ in paragraphs), default=1)
    section = text.rstrip("\n") + "\n"
    if marker not in section:
        section = marker + "\n" + section
    first = section.split("\n", 1)[0]
    if index >= body_end:  # the heading is the last paragraph: go before its newline
        index = body_end - 1
        section = "\n" + section.rstrip("\n")
        first_start = index + 1
    else:
        first_start = index
    n = utf16_len(section)
    return [
        {"insertText": {"location": {"index": index}, "text": section}},
        _style(index, index + n, "NORMAL_TEXT"),
        _style(first_start, first_start + utf16_len(first) + 1, "HEADING_3"),
    ]


def _style(start: int, end: int, style: str) -> dict[str, Any]:
    return {
        "updateParagraphStyle": {
            "range": {"startIndex": start, "endIndex": end},
            "paragraphStyle": {"namedStyleType": style},
            "fields": "namedStyleType",
        }
    }


def paragraphs_of(document: dict[str, Any]) -> list[Paragraph]:
    """The body's paragraphs of a ``documents.get`` answer."""
    out = []
    for el in (document.get("body") or {}).get("content") or []:
        para = el.get("paragraph")
        if not para:
            continue
        text = "".join(
            (e.get("textRun") or {}).get("content", "") for e in para.get("elements") or []
        )
        out.append((int(el.get("startIndex", 0)), int(el["endIndex"]), text))
    return out


def doc_url(doc_id: str) -> str:
    """A Doc's edit link, when Drive did not return its ``webViewLink``."""
    return f"https://docs.google.com/document/d/{doc_id}/edit"
