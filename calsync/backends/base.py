"""The seam between calsync's core and a calendar API.

A provider reads occurrences in a time window, normalised into :mod:`calsync.core.model`,
and writes a new description into one occurrence. The write takes a *splice*
function rather than a finished text: the provider reads the current body, hands it
to the splice, and writes the result under its precondition (ETag / If-Match). On a
conflict it re-reads and splices again (once), so a concurrent human edit is never
overwritten. The provider knows nothing about agendas; the core knows no HTTP.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from calsync.backends.docs_base import DocBackend
from calsync.core.model import Body, FetchResult, Occurrence

# Given the body as stored now, return the body to store, or None to leave it alone.
Splice = Callable[[Body], Body | None]


@dataclass(frozen=True)
class Window:
    """What to read. ``everything``: every event, not only those that can be a 1on1 (a
    provider may leave the others out otherwise, and then says so in FetchResult.partial)."""

    start: datetime
    end: datetime
    everything: bool = False


class WriteStatus(enum.StrEnum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"  # the splice said there was nothing to change
    CONFLICT = "conflict"  # changed under us twice in a row: left alone this run
    FORBIDDEN = "forbidden"  # not ours to write (not organizer, read-only)
    GONE = "gone"  # the occurrence no longer exists


@dataclass(frozen=True)
class WriteResult:
    status: WriteStatus
    before: Body | None = None
    after: Body | None = None
    detail: str = ""


class Provider(Protocol):
    """One configured calendar."""

    kind: str  # "ics", "google", "microsoft"
    name: str  # the calendar's name in the config

    def fetch(self, window: Window) -> FetchResult:
        """Every occurrence overlapping the window, cancelled and removed ones included."""
        ...

    def write_description(self, occurrence: Occurrence, splice: Splice, tag: str) -> WriteResult:
        """Splice the description of this one occurrence and store it.

        ``tag`` is a short content hash of calsync's block; providers that can keep
        private metadata on an event (Google ``extendedProperties.private``) store it.
        """
        ...

    def close(self) -> None:
        """Persist what must outlive the run (sync tokens, rotated logins)."""
        ...


@runtime_checkable
class ReadsDescription(Protocol):
    """A provider whose cached occurrences hold only part of a description (the part
    :func:`calsync.core.privacy.keepable` keeps): it reads the whole one when asked."""

    def read_description(self, occurrence: Occurrence) -> Body | None: ...


@runtime_checkable
class HasDocs(Protocol):
    """A provider that also offers a doc backend on the same login (Drive, OneDrive)."""

    def docs(self) -> DocBackend: ...


Interval = tuple[datetime, datetime]


@runtime_checkable
class FreeBusy(Protocol):
    """A provider that can see other people's busy times (Google ``freeBusy.query``,
    Graph ``getSchedule``), so a make-up slot avoids the counterpart's meetings too.

    Asked only when a relationship has a skipped meeting to rescue, so a steady run
    makes no extra request. Raises :class:`calsync.errors.ProviderError` (or its
    subclasses) when the service refuses; an address it cannot see maps to no entry.
    """

    def busy(self, emails: Sequence[str], start: datetime, end: datetime) -> dict[str, list[Interval]]:
        """Busy intervals per address (lower-cased) inside ``[start, end)``."""
        ...


@runtime_checkable
class WritesMany(Protocol):
    """A provider that applies several writes in one go (the .ics file: one pass over its
    text and one atomic replace instead of one per write, so a first run is linear).

    Results come back in the order of ``items``, each as :meth:`Provider.write_description`
    would return it. Raises :class:`calsync.errors.CalendarFileError` when the file
    cannot be written at all (then none of the writes happened).
    """

    def write_descriptions(self, items: Sequence[tuple[Occurrence, Splice]]) -> list[WriteResult]: ...
