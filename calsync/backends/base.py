"""The seam between calsync's core and a calendar or doc service.

A **calendar** reads occurrences in a time window, normalised into :mod:`calsync.core.model`,
and writes a new description into one occurrence. The write takes a *splice* function rather
than a finished text: the calendar reads the current body, hands it to the splice, and writes
the result under its precondition (ETag / If-Match, or the file's bytes). On a conflict it
re-reads and splices again, once, so a concurrent human edit is never overwritten. It knows
nothing about agendas; the core knows no HTTP.

A **doc** backend keeps one shared document per relationship: created from a template on first
use and shared with the counterpart, read back for action items, and given a dated section at
the top of its meeting log without rewriting anything people wrote.

Every verb's docstring says what it returns in each case and which :mod:`calsync.errors` it
raises. ``tests/contract/`` runs one suite over every backend; :mod:`calsync.backends.memory`
is the executable reading of this module.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from calsync.core.model import Body, FetchResult, Occurrence
from calsync.core.state import KeyValue

# Given the body as stored now, return the body to store, or None to leave it alone.
Splice = Callable[[Body], Body | None]


@dataclass(frozen=True)
class Window:
    """The span of time a fetch reads. ``everything``: every event, not only those that can
    be a 1on1 (a provider may leave the others out otherwise, and says so in
    FetchResult.partial)."""

    start: datetime
    end: datetime
    everything: bool = False


class WriteStatus(enum.StrEnum):
    """What became of one description write."""

    WRITTEN = "written"
    UNCHANGED = "unchanged"  # the splice said there was nothing to change
    CONFLICT = "conflict"  # changed under us twice in a row, or no precondition: left alone
    FORBIDDEN = "forbidden"  # not ours to write (not organizer, read-only)
    GONE = "gone"  # the occurrence no longer exists


@dataclass(frozen=True)
class WriteResult:
    """What became of one write. ``before``/``after`` are bodies as the service holds them."""

    status: WriteStatus
    before: Body | None = None
    after: Body | None = None
    detail: str = ""


# -- docs -------------------------------------------------------------------------------

@dataclass(frozen=True)
class DocRef:
    """A pair's doc as the backend knows it and as the invite links it."""

    id: str  # the backend's handle (file path, Drive file id, OneDrive item id)
    url: str  # what the invite links to


@dataclass(frozen=True)
class DocRequest:
    """What a backend needs to create a pair's doc."""

    key: str  # stable relationship key, e.g. "<calendar>:<counterpart email>"
    counterpart: str
    counterpart_name: str | None
    title: str  # e.g. "1on1 — Alice Manager / Bob Report"
    template: str  # the initial text (Markdown): purpose, how we use this doc, the flow


class Doc(Protocol):
    """One place that keeps the pairs' shared docs (a folder, Drive, OneDrive)."""

    def ensure(self, request: DocRequest) -> DocRef:
        """The pair's doc: created from ``request.template`` and shared with
        ``request.counterpart`` on first use; the same ref on every later call, with no
        second doc and no second share.

        A share the service refuses is not an error: the backend keeps a line for the user
        in its ``warnings`` list (when it has one) and tries again on a later run.
        Raises :class:`~calsync.errors.ForbiddenError` when the doc does not exist yet and
        the calendar is read-only, :class:`~calsync.errors.AuthError` when the login is
        gone, :class:`~calsync.errors.ProviderError` when the service or disk fails.
        """
        ...

    def read_text(self, doc: DocRef) -> str:
        """The doc's current text (plain text or Markdown), people's edits included.

        It holds at least every checklist line (:func:`calsync.core.actions.checklist_lines`)
        and calsync's section headings, which is all the app reads; a backend answering from
        its own cache of an unchanged doc may leave the rest out, so people's notes never
        sit in calsync's state (OneDrive does). Raises :class:`~calsync.errors.ProviderError`
        when it cannot be read (deleted, unreadable), :class:`~calsync.errors.AuthError` when
        the login is gone.
        """
        ...

    def add_section(self, doc: DocRef, marker: str, text: str) -> bool:
        """Put ``text`` at the top of the doc's meeting log unless ``marker`` is already there.

        ``marker`` identifies the section (e.g. the meeting date line), which makes the call
        idempotent across runs and crashes. Returns True when it added the section, False
        when the marker was there (nothing written) or the doc changed while it worked and
        it left the doc alone for the next run. Text outside the new section is never
        changed. Raises :class:`~calsync.errors.ConflictError` when the doc kept changing
        under a guarded write, :class:`~calsync.errors.ProviderError` /
        :class:`~calsync.errors.AuthError` as :meth:`read_text` does.
        """
        ...


DocBackend = Doc  # the name the app used before the seam moved here

# How often a cloud backend asks whether someone edited a doc (Drive / OneDrive change
# feeds). A cron run every 15 minutes would otherwise spend a second request each time;
# a tick in the doc reaching the next invite within the hour is fresh enough.
POLL_EVERY = timedelta(hours=1)


def polled_recently(state: KeyValue, key: str, now: datetime | None) -> bool:
    """Whether a change feed was read less than :data:`POLL_EVERY` before ``now``."""
    polled = state.get(key)
    if polled is None or now is None:
        return False
    return timedelta(0) <= now - datetime.fromisoformat(polled) < POLL_EVERY


def mark_polled(state: KeyValue, key: str, now: datetime | None) -> None:
    """Remember that a change feed was read at ``now``."""
    if now is not None:
        state.set(key, now.isoformat())


# -- calendars --------------------------------------------------------------------------

class Calendar(Protocol):
    """One configured calendar."""

    kind: str  # "ics", "google", "microsoft", "memory"
    name: str  # the calendar's name in the config

    def fetch(self, window: Window) -> FetchResult:
        """Every occurrence overlapping the window, cancelled and removed ones included.

        Instances of a series share ``series_id``; a moved instance keeps its
        ``recurrence_id``; attendees carry their response and kind (rooms are
        ``AttendeeKind.ROOM`` or ``RESOURCE``); ``etag`` is informative only (a write
        reads its own precondition) and may be None. An event it cannot read becomes a
        line in ``warnings``, not an error.
        Raises :class:`~calsync.errors.AuthError` when the login is gone,
        :class:`~calsync.errors.CalendarFileError` for an unreadable local file and
        :class:`~calsync.errors.ProviderError` when the service refuses or fails.
        """
        ...

    def write_description(
        self, occurrence: Occurrence, splice: Splice, tag: str, attach: DocRef | None = None
    ) -> WriteResult:
        """Splice the description of this one occurrence and store it.

        Reads the body as stored now and calls ``splice`` on it; then, by case:

        - ``FORBIDDEN``: the calendar is read-only, the owner does not organize the
          event, or the service refuses the write; nothing is written.
        - ``GONE``: the occurrence was deleted or cancelled.
        - ``UNCHANGED``: the splice returned None or the body it was given; nothing is
          written and ``before`` and ``after`` are both the stored body.
        - ``CONFLICT``: the event changed between read and write, was re-read and spliced
          again, and changed again; or the service gave no precondition (no ETag) to
          guard the write with; or a local file stayed locked by another writer.
          Nothing of calsync's is stored; ``before`` is a body it read, when it got
          that far.
        - ``WRITTEN``: ``before`` is the body the splice was given, ``after`` the body
          written (as the service answered it, where it answers with one).

        ``tag`` is a short content hash of calsync's block; calendars that can keep
        private metadata on an event (Google ``extendedProperties.private``) store it.
        ``attach`` is the pair's doc when the agenda links it: a calendar that can attach
        files (Google Drive attachments) attaches it once; others ignore it.
        Raises :class:`~calsync.errors.AuthError` when the login is gone and
        :class:`~calsync.errors.ProviderError` when the service or file fails in a way
        that is not about this event; never ``ConflictError`` or ``ForbiddenError``
        (those are statuses here).
        """
        ...

    def close(self) -> None:
        """Persist what must outlive the run (sync tokens, rotated logins). Raises nothing
        but :class:`~calsync.errors.ProviderError` for a state file it cannot write."""
        ...


Provider = Calendar  # the name the app used before the seam was called Calendar


@runtime_checkable
class ReadsDescription(Protocol):
    """A calendar whose cached occurrences hold only part of a description (the part
    :func:`calsync.core.privacy.keepable` keeps): it reads the whole one when asked."""

    def read_description(self, occurrence: Occurrence) -> Body | None:
        """The whole description as stored now; None when the event is gone. Raises as
        :meth:`Calendar.fetch` does."""
        ...


@runtime_checkable
class Polls(Protocol):
    """A calendar that can tell, from its incremental sync alone, whether anything in it
    changed: an organisation run then leaves an owner whose calendar is as it was alone
    until their analysis is due again (:mod:`calsync.app.quiet`)."""

    def changed(self, window: Window) -> bool:
        """Sync with the service for ``window`` (one incremental request when the sync
        state covers it) and say whether any event changed since the last sync; True when
        it cannot tell (a first sync, an expired token). The next :meth:`Calendar.fetch` of
        the same window reads what this synced, without asking again. Raises as fetch does."""
        ...


@runtime_checkable
class HasDocs(Protocol):
    """A calendar that also offers a doc backend on the same login (Drive, OneDrive)."""

    def docs(self) -> Doc:
        """The doc backend, built once per calendar; raises nothing."""
        ...


Interval = tuple[datetime, datetime]


@runtime_checkable
class FreeBusy(Protocol):
    """A calendar that can see other people's busy times (Google ``freeBusy.query``,
    Graph ``getSchedule``), so a make-up slot avoids the counterpart's meetings too.

    Asked only when a relationship has a skipped meeting to rescue, so a steady run
    makes no extra request. Raises :class:`calsync.errors.ProviderError` (or its
    subclasses) when the service refuses; an address it cannot see maps to no entry.
    """

    def busy(self, emails: Sequence[str], start: datetime, end: datetime) -> dict[str, list[Interval]]:
        """Busy intervals per address (lower-cased) inside ``[start, end)``."""
        ...


# -- booking ----------------------------------------------------------------------------

@dataclass(frozen=True)
class BookRequest:
    """A one-off make-up 1on1 to create (``[rescue] book = true``).

    ``event_id`` is derived from the pair and the skipped meeting alone, so a retry, a
    second run or a run after a crash asks for the very same event and the service (or
    the file) can say it already exists.
    """

    event_id: str  # base32hex, lower case: a Google event id; the .ics UID and Graph key derive from it
    start: datetime
    end: datetime
    title: str
    description: str  # plain text: the agenda block and the doc link
    organizer: str  # the owner's address
    counterpart: str
    counterpart_name: str | None
    html_description: str = ""  # the same block as HTML, for a service that stores HTML (Outlook)


class BookStatus(enum.StrEnum):
    """What a booking came to."""

    BOOKED = "booked"
    ALREADY = "already"  # an event with this id exists: booked before (a retry or a crash)
    FORBIDDEN = "forbidden"  # read-only calendar or the service refused


@dataclass(frozen=True)
class BookResult:
    """A booking's outcome, with the event's handle when the service gave one."""

    status: BookStatus
    ref: str = ""  # the provider's handle for the event, when known
    detail: str = ""


@runtime_checkable
class Books(Protocol):
    """A calendar that can create a one-off event with the owner as organizer."""

    def book(self, request: BookRequest) -> BookResult:
        """Create the event once: ``ALREADY`` (nothing written) when ``request.event_id``
        was booked before, ``FORBIDDEN`` on a read-only calendar. Invites the counterpart
        where the service sends invitations. Raises :class:`~calsync.errors.AuthError` /
        :class:`~calsync.errors.ProviderError` as :meth:`Calendar.fetch` does."""
        ...


@runtime_checkable
class WritesMany(Protocol):
    """A provider that applies several writes in one go (the .ics file: one pass over its
    text and one atomic replace instead of one per write, so a first run is linear).

    Results come back in the order of ``items``, each as :meth:`Provider.write_description`
    would return it. Raises :class:`calsync.errors.CalendarFileError` when the file
    cannot be written at all (then none of the writes happened).
    """

    def write_descriptions(self, items: Sequence[tuple[Occurrence, Splice]]) -> list[WriteResult]:
        """Applies every ``(occurrence, splice)``; one result per item, in order."""
