"""Shared docs as local Markdown files, one per relationship.

The default backend for local calendars: the folder can live in a synced drive or a
wiki checkout, and ``doc_url_template`` turns a file into the link the invite shows.
calsync only ever inserts: the template once, then a dated section per meeting below
the meeting-log anchor. What people wrote is never rewritten.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from calsync.backends.base import DocRef, DocRequest
from calsync.errors import ProviderError


def slug(text: str) -> str:
    """Lower-case letters and digits joined by hyphens ("doc" when nothing is left)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "doc"


def doc_name(counterpart: str) -> str:
    """A file stem unique per address: the address itself where it is filename-safe."""
    address = counterpart.lower()
    if re.fullmatch(r"[a-z0-9][a-z0-9._+\-]*@[a-z0-9.\-]+", address):
        return address
    digest = hashlib.sha256(address.encode()).hexdigest()[:10]
    return f"{slug(address)}-{digest}"  # distinct addresses never share a doc


class LocalDocs:
    """Shared docs as Markdown files in one folder, one per counterpart."""
    def __init__(self, folder: Path, url_template: str | None = None) -> None:
        self.folder = folder
        self.url_template = url_template

    def _path(self, request: DocRequest) -> Path:
        return self.folder / f"{doc_name(request.counterpart)}.md"

    def ensure(self, request: DocRequest) -> DocRef:
        """The counterpart's doc, made from the template if missing; URL: ``url_template`` or file URI."""
        path = self._path(request)
        if not path.exists():
            _write(path, request.template)
        if self.url_template:
            url = self.url_template.format(
                slug=path.stem, counterpart=request.counterpart, file=path.name
            )
        else:
            url = path.resolve().as_uri()
        return DocRef(id=str(path), url=url)

    def read_text(self, doc: DocRef) -> str:
        """The doc's text with its newlines as they are."""
        try:  # newline="": a CRLF doc stays CRLF when a section is inserted
            with open(doc.id, encoding="utf-8", newline="") as fh:
                return fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ProviderError(f"{doc.id}: cannot read the shared doc: {exc}") from None

    def add_section(self, doc: DocRef, marker: str, text: str) -> bool:
        """Adds ``text`` below the log anchor (else at the end); False if ``marker`` is in or it changed."""
        from calsync.core.agenda import DOC_LOG_ANCHOR

        path = Path(doc.id)
        content = self.read_text(doc)
        lines = content.splitlines()
        if marker.strip() in (line.strip() for line in lines):
            return False
        newline = "\r\n" if "\r\n" in content else "\n"
        section = (text if text.endswith("\n") else text + "\n").replace("\n", newline)
        anchor = content.find(DOC_LOG_ANCHOR)
        if anchor >= 0:
            cut = content.find("\n", anchor)
            cut = len(content) if cut < 0 else cut + 1
            head = content[:cut] if content[:cut].endswith("\n") else content[:cut] + newline
            new = head + newline + section + content[cut:]
        else:  # the anchor was deleted: add at the end rather than guess
            sep = "" if not content or content.endswith(newline * 2) else (
                newline if content.endswith("\n") else newline * 2)
            new = content + sep + section
        if self.read_text(doc) != content:  # changed while we worked: next run retries
            return False
        _write(path, new)
        return True


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.calsync-tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ProviderError(f"{path}: cannot write the shared doc: {exc.strerror or exc}") from None
