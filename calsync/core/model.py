"""The provider-neutral model every provider normalises into.

Providers produce :class:`Occurrence` values; detection groups them into
:class:`Relationship` values; cadence analysis turns those into :class:`Cadence`.
Nothing here knows HTTP or iCalendar.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from calsync.core.hours import WorkingHours


@dataclass(frozen=True)
class Owner:
    """Who "you" are: every address of the calendar's owner, their zone and working hours."""

    emails: tuple[str, ...]
    timezone: str | None = None
    working_hours: WorkingHours = field(default_factory=WorkingHours)  # make-up slots go here


class AttendeeKind(enum.StrEnum):
    """What an address on an invite stands for: a person, a list, a room or a resource."""

    PERSON = "person"
    GROUP = "group"  # a mailing list: counts as more than one person
    ROOM = "room"
    RESOURCE = "resource"


class Response(enum.StrEnum):
    """An attendee's answer to the invite, in every provider's terms."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    NEEDS_ACTION = "needs-action"
    UNKNOWN = "unknown"


class Status(enum.StrEnum):
    """Whether a meeting is on, pencilled in, or called off."""

    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Attendee:
    """One address on an invite. ``email`` is lower-cased by the provider."""

    email: str
    name: str | None = None
    kind: AttendeeKind = AttendeeKind.PERSON
    response: Response = Response.UNKNOWN
    is_self: bool = False  # the provider says this address is the calendar's owner

    @property
    def is_person(self) -> bool:
        """People and groups count as participants; rooms and resources do not."""
        return self.kind in (AttendeeKind.PERSON, AttendeeKind.GROUP)


@dataclass(frozen=True)
class Body:
    """An event description as stored: plain text, or HTML (Google, Outlook)."""

    text: str
    html: bool = False


@dataclass(frozen=True)
class Occurrence:
    """One planned meeting: a single event, or one instance of a recurring series.

    ``ref`` is the provider's handle for reading and writing this very occurrence
    (an instance id on Google and Graph; UID plus RECURRENCE-ID in an .ics file).
    ``series_id`` groups the instances of one recurring series; it is None for a
    single event. ``removed`` marks an instance taken out of its series (EXDATE,
    a deleted Graph occurrence): planned once, never held.
    """

    provider: str
    calendar: str
    ref: str
    uid: str
    start: datetime  # aware; its tzinfo is the event's own zone where known
    end: datetime
    title: str = ""
    series_id: str | None = None
    recurrence_id: datetime | None = None
    all_day: bool = False
    organizer: str | None = None
    organizer_is_self: bool | None = None  # None: the provider cannot tell
    attendees: tuple[Attendee, ...] = ()
    status: Status = Status.CONFIRMED
    removed: bool = False
    description: Body = field(default_factory=lambda: Body(""))
    etag: str | None = None
    writable: bool = True  # False where the source cannot take a write (no UID, read-only)

    @property
    def duration(self) -> timedelta:
        """How long the meeting is planned to last."""
        return self.end - self.start

    @property
    def cancelled(self) -> bool:
        """Planned but not happening: cancelled, or taken out of its series."""
        return self.removed or self.status is Status.CANCELLED

    def owner_organizes(self, owner: Collection[str]) -> bool:
        """Does the owner organize this occurrence? Only then may calsync write to it.

        The provider's word (``organizer_is_self``) decides; where it cannot tell, the
        organizer's address must be one of ``owner``'s. The one rule for detection,
        choosing the invite to write, and every backend's write guard.
        """
        if self.organizer_is_self is not None:
            return self.organizer_is_self
        return self.organizer is not None and self.organizer in owner


@dataclass
class FetchResult:
    """What a provider read: occurrences in the window, and per-event problems it skipped."""

    occurrences: list[Occurrence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    partial: bool = False  # events that can never be a 1on1 may have been left out


@dataclass
class Relationship:
    """The owner and one counterpart, across every series and single meeting they share."""

    counterpart: str
    name: str | None
    provider: str
    calendar: str
    occurrences: list[Occurrence]  # sorted by start; 1on1 occurrences only
    reasons: list[str] = field(default_factory=list)

    @property
    def series(self) -> list[str]:
        """The series (or single events) the relationship's meetings came from, in order."""
        seen: dict[str, None] = {}
        for occ in self.occurrences:
            seen.setdefault(occ.series_id or occ.uid, None)
        return list(seen)

    @property
    def titles(self) -> list[str]:
        """The distinct titles of the relationship's meetings, in order."""
        seen: dict[str, None] = {}
        for occ in self.occurrences:
            if occ.title:
                seen.setdefault(occ.title, None)
        return list(seen)


class Label(enum.StrEnum):
    """The verdict on a relationship's cadence."""

    HEALTHY = "healthy"
    DRIFTING = "drifting"
    LAPSED = "lapsed"
    INSUFFICIENT = "insufficient-data"


@dataclass(frozen=True)
class Cadence:
    """Figures measured on held meetings, and the label and warnings they earn."""

    label: Label
    held: int
    planned: int
    cancelled: int
    declined: int
    median_interval_days: float | None
    median_duration_min: float | None
    baseline_interval_days: float | None
    baseline_duration_min: float | None
    last_held: datetime | None
    next: datetime | None
    warnings: tuple[str, ...] = ()
    recent_since: datetime | None = None  # start of the recent window (time-based or extended)
    attendance: float | None = None  # held ÷ planned in the recent window
    open_gap_days: float | None = None  # days since the last held meeting, when past the recent median
    planned_interval_days: float | None = None  # from the next planned occurrences
    planned_duration_min: float | None = None
    next_planned: tuple[datetime, ...] = ()
    reasons: tuple[str, ...] = ()  # machine-readable: interval, duration, attendance, open-gap, plan, ...
    marks: tuple[Mark, ...] = ()  # the timeline the figures came from (status draws it)
    recent_days: float | None = None  # length of the recent window: recent_days, or longer when extended
    idle_days: float | None = None  # days since the last held meeting (the first planned, if none)
    recent_held: int = 0  # held meetings in the recent window
    recent_planned: int = 0  # planned meetings (held or not) in the recent window


class MarkKind(enum.StrEnum):
    """What became of one planned meeting, as a timeline shows it."""

    HELD = "held"
    CANCELLED = "cancelled"
    DECLINED = "declined"
    REMOVED = "removed"  # taken out of its series (EXDATE, a deleted instance)
    PLANNED = "planned"  # still ahead


@dataclass(frozen=True)
class Mark:
    """One planned meeting of a relationship on its timeline."""

    start: datetime
    end: datetime
    kind: MarkKind
    series: str | None = None  # the series it belongs to; None for a single event
