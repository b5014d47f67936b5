"""The world every backend is seeded with, and the adapter each backend implements.

One scenario in plain data: a weekly 1on1 series organised by the owner with Bob and a room
(one instance moved and renamed, one cancelled, one Bob declined, one past the window), a
meeting Carol organises, and a meeting before the window. Each :class:`World` writes it in its
backend's native form (an .ics file, Google event resources, Graph events, occurrences in
memory) and exposes the few things people do to it (edit a description, type in a doc) and
the few things a test must see underneath the backend (what is stored, whether it changed).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from calsync.backends.base import Calendar, Doc, DocRef, DocRequest, Window
from calsync.core.agenda import DOC_LOG_ANCHOR

TZ = ZoneInfo("Europe/Berlin")
ME = "me@example.com"
BOB, BOB_NAME = "bob@example.com", "Bob Report"
CAROL = "carol@example.com"
ROOM, ROOM_NAME = "room-4@example.com", "Room 4"

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=TZ)  # a Monday, before the DST change
MINUTES = 30
COUNT = 6  # weekly instances 0..5
MOVED, CANCELLED, DECLINED, TARGET = 1, 2, 3, 4  # instance numbers; 5 is past the window
MOVE_BY = timedelta(hours=2)
WINDOW = Window(T0 - timedelta(days=1), T0 + timedelta(weeks=4, days=1))

SERIES_UID = "contract-series-1"
SERIES_TITLE = "1on1 Me / Bob"
MOVED_TITLE = "1on1 Me / Bob (moved)"
NOTES = "Notes for us"
CAROL_UID, CAROL_TITLE = "contract-carol-1", "Coffee with Carol"
CAROL_START = T0 + timedelta(days=1, hours=3)
OLD_UID, OLD_TITLE = "contract-old-1", "Old sync"
OLD_START = T0 - timedelta(days=14)


def original(n: int) -> datetime:
    """Where instance ``n`` of the series sits in its rule."""
    return T0 + timedelta(weeks=n)


def start_of(n: int) -> datetime:
    """Where instance ``n`` actually starts (the moved one two hours later)."""
    return original(n) + (MOVE_BY if n == MOVED else timedelta(0))


def title_of(n: int) -> str:
    return MOVED_TITLE if n == MOVED else SERIES_TITLE


DOC_REQUEST = DocRequest(
    key="contract:bob@example.com",
    counterpart=BOB,
    counterpart_name=BOB_NAME,
    title="1on1: Bob Report",
    template=f"# 1on1: Me / Bob\n\nPurpose: growth, not an evaluation.\n\n"
             f"- [ ] Me: share the roadmap\n\n{DOC_LOG_ANCHOR}\n",
)


class World(Protocol):
    """One backend seeded with the scenario; ``calendar()`` is a fresh instance each call
    (a new run), over the same stored events and docs."""

    name: str

    def calendar(self, read_only: bool = False) -> Calendar:
        """The calendar as configured for a run (``read_only`` as the config key says)."""
        ...

    def docs(self) -> Doc: ...

    def stored(self, ref: str) -> str:
        """The description the service holds for this occurrence, as plain text."""
        ...

    def version(self, ref: str) -> object:
        """Anything that changes whenever the event's stored form changes (an ETag, bytes)."""
        ...

    def human_edit(self, ref: str, text: str) -> None:
        """A person replaces the occurrence's description with ``text`` in their own client."""
        ...

    def drop_etag(self, ref: str) -> None:
        """From now on the service serves this event without an ETag."""
        ...

    def attached(self, ref: str) -> list[str]:
        """URLs of the files attached to the event (only asked of calendars that attach)."""
        ...

    def doc_count(self) -> int:
        """How many docs exist in the backend's store."""
        ...

    def shared_with(self, doc: DocRef) -> list[str]:
        """The addresses the doc has been shared with, one entry per share made."""
        ...

    def doc_text(self, doc: DocRef) -> str:
        """The doc's text read underneath the backend (the service's own view)."""
        ...

    def human_types(self, doc: DocRef, line: str) -> None:
        """A person adds a paragraph at the end of the doc."""
        ...
