"""An in-memory calendar and doc store that behaves exactly as :mod:`calsync.backends.base` says.

It is the executable reading of the seam: ``tests/contract/`` runs the same suite over it and
over every real backend, so a disagreement between them is a bug in one of them. It is also
what a test or a dry experiment can use when no service should be involved. Events are
:class:`~calsync.core.model.Occurrence` values keyed by ``ref``; every change gives a new ETag.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Collection

from calsync.backends.base import (
    BookRequest,
    BookResult,
    BookStatus,
    DocRef,
    DocRequest,
    Splice,
    Window,
    WriteResult,
    WriteStatus,
)
from calsync.core.agenda import DOC_LOG_ANCHOR
from calsync.core.model import Attendee, Body, FetchResult, Occurrence, Response, Status
from calsync.errors import ForbiddenError, ProviderError


class MemoryDocs:
    """Docs as strings, one per relationship key; ``shares`` records who each was shared with."""

    def __init__(self, read_only: bool = False) -> None:
        self.read_only = read_only
        self.texts: dict[str, str] = {}  # doc id -> text
        self.shares: dict[str, list[str]] = {}  # doc id -> addresses, in the order shared
        self._refs: dict[str, DocRef] = {}  # relationship key -> ref
        self.warnings: list[str] = []

    def ensure(self, request: DocRequest) -> DocRef:
        """The key's doc, created from the template on first use and shared once with the counterpart."""
        ref = self._refs.get(request.key)
        if ref is None:
            if self.read_only:
                raise ForbiddenError("read_only calendar: calsync creates no doc for it")
            doc_id = f"doc-{len(self._refs) + 1}"
            ref = DocRef(id=doc_id, url=f"memory://docs/{doc_id}")
            self.texts[doc_id] = request.template
            self._refs[request.key] = ref
        shared = self.shares.setdefault(ref.id, [])
        if request.counterpart.lower() not in shared:
            shared.append(request.counterpart.lower())
        return ref

    def read_text(self, doc: DocRef) -> str:
        """The doc's whole text; ProviderError for an unknown doc."""
        try:
            return self.texts[doc.id]
        except KeyError:
            raise ProviderError(f"{doc.url}: no such doc") from None

    def add_section(self, doc: DocRef, marker: str, text: str) -> bool:
        """The section below the log anchor (at the end when the anchor is gone), unless the
        marker is there."""
        content = self.read_text(doc)
        if marker.strip() in (line.strip() for line in content.splitlines()):
            return False
        section = text if text.endswith("\n") else text + "\n"
        at = content.find(DOC_LOG_ANCHOR)
        if at < 0:  # the anchor was deleted: add at the end rather than guess
            self.texts[doc.id] = content + ("" if content.endswith("\n\n") or not content else
                                            "\n" if content.endswith("\n") else "\n\n") + section
            return True
        cut = content.find("\n", at)
        cut = len(content) if cut < 0 else cut + 1
        head = content[:cut] if content[:cut].endswith("\n") else content[:cut] + "\n"
        self.texts[doc.id] = head + "\n" + section + content[cut:]
        return True

    def edit(self, doc: DocRef, text: str) -> None:
        """A person edits the doc (the whole new text)."""
        self.texts[doc.id] = text


class MemoryCalendar:
    """A calendar held in a dict; ``put`` and ``edit`` are what its people do to it."""

    kind = "memory"

    def __init__(self, name: str = "memory", *, read_only: bool = False,
                 owner: Collection[str] = ()) -> None:
        self.name = name
        self.read_only = read_only
        self.owner = tuple(owner)  # the owner's addresses, where an event cannot say
        self.events: dict[str, Occurrence] = {}
        self.attachments: dict[str, list[DocRef]] = {}
        self.writes: list[str] = []  # refs calsync wrote, in order
        self._docs = MemoryDocs(read_only)
        self._etags = itertools.count(1)
        self.version = 0  # bumped by every change; ``changed`` compares it with the last sync's
        self._synced: int | None = None
        self.fetches = 0  # full reads (fetch), for tests of what a quiet run skips

    # -- what people do -----------------------------------------------------------------
    def put(self, occ: Occurrence) -> Occurrence:
        """Store an occurrence (a new event, or a new version of one) under a fresh ETag."""
        stored = dataclasses.replace(occ, provider=self.kind, calendar=self.name,
                                     etag=f'"{next(self._etags)}"')
        self.events[occ.ref] = stored
        self.version += 1
        return stored

    def edit(self, ref: str, description: str) -> Occurrence:
        """A person rewrites an event's description."""
        occ = self.events[ref]
        return self.put(dataclasses.replace(occ, description=Body(description, occ.description.html)))

    def drop_etag(self, ref: str) -> None:
        """Serve the event without a precondition (a proxy that strips ETags, say)."""
        self.events[ref] = dataclasses.replace(self.events[ref], etag=None)
        self.version += 1

    # -- Calendar -----------------------------------------------------------------------
    def changed(self, window: Window) -> bool:
        """Whether anything changed since the last sync (True before the first one)."""
        seen, self._synced = self._synced, self.version
        return seen != self.version

    def fetch(self, window: Window) -> FetchResult:
        """The stored occurrences overlapping ``window``, in start order."""
        self._synced = self.version
        self.fetches += 1
        found = [o for o in self.events.values() if o.start < window.end and o.end > window.start]
        return FetchResult(sorted(found, key=lambda o: (o.start, o.ref)))

    def write_description(
        self, occurrence: Occurrence, splice: Splice, tag: str, attach: DocRef | None = None
    ) -> WriteResult:
        """The base contract to the letter: ETag check, one re-read and splice on a conflict."""
        if self.read_only:
            return WriteResult(WriteStatus.FORBIDDEN, detail=f"{self.name} is read_only")
        if occurrence.cancelled:
            return WriteResult(WriteStatus.GONE, detail="the occurrence was removed or cancelled")
        if not occurrence.writable or not occurrence.owner_organizes(self.owner):
            return WriteResult(WriteStatus.FORBIDDEN, detail="not the organizer")
        first: Body | None = None
        for _ in range(2):
            stored = self.events.get(occurrence.ref)
            if stored is None or stored.removed or stored.status is Status.CANCELLED:
                return WriteResult(WriteStatus.GONE, detail="the occurrence no longer exists")
            if not stored.owner_organizes(self.owner):
                return WriteResult(WriteStatus.FORBIDDEN, detail="not the organizer")
            before = stored.description
            first = first or before
            after = splice(before)
            if after is None or after == before:
                return WriteResult(WriteStatus.UNCHANGED, before=before, after=before)
            if stored.etag is None:
                return WriteResult(WriteStatus.CONFLICT, before=before,
                                   detail="no ETag for the event; not writing without one")
            if self.events[occurrence.ref].etag != stored.etag:
                continue  # changed while the splice ran: re-read and splice again, once
            self.put(dataclasses.replace(stored, description=after))
            self.writes.append(occurrence.ref)
            if attach is not None and attach not in self.attachments.setdefault(occurrence.ref, []):
                self.attachments[occurrence.ref].append(attach)
            return WriteResult(WriteStatus.WRITTEN, before=before, after=after)
        return WriteResult(WriteStatus.CONFLICT, before=first,
                           detail="the event changed while calsync was writing, twice; left alone")

    def book(self, request: BookRequest) -> BookResult:
        """A one-off event keyed by ``request.event_id``; the second ask finds it."""
        if self.read_only:
            return BookResult(BookStatus.FORBIDDEN, detail=f"{self.name} is read_only")
        if request.event_id in self.events:
            return BookResult(BookStatus.ALREADY, ref=request.event_id)
        self.put(Occurrence(
            provider=self.kind, calendar=self.name, ref=request.event_id, uid=request.event_id,
            start=request.start, end=request.end, title=request.title,
            organizer=request.organizer, organizer_is_self=True,
            attendees=(Attendee(request.counterpart.lower(), request.counterpart_name,
                                response=Response.NEEDS_ACTION),),
            description=Body(request.description)))
        self.writes.append(request.event_id)
        return BookResult(BookStatus.BOOKED, ref=request.event_id)

    def docs(self) -> MemoryDocs:
        """The calendar's in-memory docs."""
        return self._docs

    def close(self) -> None:
        """Nothing to release."""
        pass
