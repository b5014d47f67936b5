"""``[rescue] book = true``: book the first proposed make-up slot as a one-off 1on1.

Exactly once per (pair, skipped meeting): the event's id is derived from those two alone
(:func:`event_id`), so the calendar itself says when it was booked before. A durable
"intent" is recorded before the request and "booked" after it; a run that finds an
intent without "booked" (a crash in between) asks the calendar again with the same id,
which answers ``ALREADY`` rather than creating a second event.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import calsync.core.agenda as agenda
from calsync.app.engine import RelationshipStatus, pulse_key
from calsync.app.pair import Step, agenda_input, pair_doc, still_open
from calsync.backends.base import BookRequest, Books, BookStatus, DocBackend
from calsync.core.model import Relationship

NAMESPACE = "booking"


@dataclass(frozen=True)
class Booking:
    """A make-up 1on1 a run booked (or, in a dry run, would book)."""

    calendar: str
    counterpart: str
    name: str | None
    start: datetime
    end: datetime
    skipped: datetime
    status: str  # booked | would book | already


def event_id(calendar: str, counterpart: str, skipped: datetime) -> str:
    """Base32hex (0-9a-v), 32 characters: a valid Google event id, stable for the pair
    and the skipped meeting."""
    seed = f"{calendar}|{counterpart.lower()}|{skipped.isoformat()}".encode()
    digest = hashlib.sha256(seed).digest()[:20]
    return base64.b32hexencode(digest).decode().lower().rstrip("=")


def title(rel: Relationship, skipped: datetime) -> str:
    """The make-up event's title: whom it is with and which skipped meeting it makes up for."""
    return f"1on1: {rel.name or rel.counterpart} (make-up for {skipped.date().isoformat()})"


def book_pair(ctx: Step, calendar: str, provider: Books, status: RelationshipStatus,
              docs: DocBackend) -> Booking | None:
    """Book the pair's make-up at its first proposed slot; None when there is nothing
    to book or it was booked by an earlier run."""
    m = status.makeup
    if m is None or not m.slots:
        return None
    rel = status.relationship
    start = m.slots[0]
    end = start + timedelta(minutes=m.minutes)
    eid = event_id(calendar, rel.counterpart, m.skipped)
    state = ctx.store.namespace(NAMESPACE, durable=True)
    if state.get(eid) == "booked":
        return None

    def booking(verdict: str) -> Booking:
        return Booking(calendar, rel.counterpart, rel.name, start, end, m.skipped, verdict)

    if ctx.dry_run:
        return booking("would book")
    key = pulse_key(calendar, rel)
    doc = pair_doc(docs, ctx.store, key, agenda_input(ctx.config, status, start, None, (), False))
    full = agenda_input(ctx.config, status, start, doc.url, still_open(ctx.store, key), False)
    request = BookRequest(
        event_id=eid, start=start, end=end, title=title(rel, m.skipped),
        description=agenda.render(full, html=False), organizer=ctx.config.owner.emails[0],
        counterpart=rel.counterpart, counterpart_name=rel.name,
        html_description=agenda.render(full, html=True))
    state.set(eid, "intent")  # durable before the request: a crash after it is seen next run
    result = provider.book(request)
    if result.status is BookStatus.FORBIDDEN:
        state.set(eid, None)
        return Booking(calendar, rel.counterpart, rel.name, start, end, m.skipped,
                       f"not booked: {result.detail}")
    state.set(eid, "booked")
    return booking("booked" if result.status is BookStatus.BOOKED else "already")
