"""The memory backend seeded with the scenario: occurrences are its native form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from calsync.backends.base import DocRef
from calsync.backends.memory import MemoryCalendar, MemoryDocs
from calsync.core.model import Attendee, AttendeeKind, Body, Occurrence, Response, Status
from tests.contract import world as w


def _people(bob: Response = Response.ACCEPTED) -> tuple[Attendee, ...]:
    return (
        Attendee(w.ME, "Me", response=Response.ACCEPTED, is_self=True),
        Attendee(w.BOB, w.BOB_NAME, response=bob),
        Attendee(w.ROOM, w.ROOM_NAME, kind=AttendeeKind.ROOM, response=Response.ACCEPTED),
    )


def seed(cal: MemoryCalendar) -> None:
    for n in range(w.COUNT):
        start = w.start_of(n)
        cal.put(Occurrence(
            provider="memory", calendar=cal.name, ref=f"{w.SERIES_UID}/{n}", uid=w.SERIES_UID,
            start=start, end=start + timedelta(minutes=w.MINUTES), title=w.title_of(n),
            series_id=w.SERIES_UID, recurrence_id=w.original(n), organizer=w.ME,
            organizer_is_self=True,
            attendees=_people(Response.DECLINED if n == w.DECLINED else Response.ACCEPTED),
            status=Status.CANCELLED if n == w.CANCELLED else Status.CONFIRMED,
            description=Body(w.NOTES)))
    for uid, title, start, organizer in ((w.CAROL_UID, w.CAROL_TITLE, w.CAROL_START, w.CAROL),
                                         (w.OLD_UID, w.OLD_TITLE, w.OLD_START, w.ME)):
        cal.put(Occurrence(
            provider="memory", calendar=cal.name, ref=uid, uid=uid, start=start,
            end=start + timedelta(minutes=w.MINUTES), title=title, organizer=organizer,
            organizer_is_self=organizer == w.ME,
            attendees=(Attendee(w.ME, "Me", response=Response.ACCEPTED, is_self=True),
                       Attendee(organizer if organizer != w.ME else w.BOB)),
            description=Body(w.NOTES)))


@dataclass
class MemoryWorld:
    name: str = "memory"
    cal: MemoryCalendar = field(default_factory=MemoryCalendar)

    def __post_init__(self) -> None:
        seed(self.cal)

    def calendar(self, read_only: bool = False) -> MemoryCalendar:
        self.cal.read_only = read_only
        return self.cal  # in memory, the next run sees the same store

    def docs(self) -> MemoryDocs:
        return self.cal.docs()

    def stored(self, ref: str) -> str:
        return self.cal.events[ref].description.text

    def version(self, ref: str) -> object:
        return self.cal.events[ref]

    def human_edit(self, ref: str, text: str) -> None:
        self.cal.edit(ref, text)

    def drop_etag(self, ref: str) -> None:
        self.cal.drop_etag(ref)

    def attached(self, ref: str) -> list[str]:
        return [d.url for d in self.cal.attachments.get(ref, [])]

    def doc_count(self) -> int:
        return len(self.cal.docs().texts)

    def shared_with(self, doc: DocRef) -> list[str]:
        return list(self.cal.docs().shares.get(doc.id, []))

    def doc_text(self, doc: DocRef) -> str:
        return self.cal.docs().texts[doc.id]

    def human_types(self, doc: DocRef, line: str) -> None:
        docs = self.cal.docs()
        docs.edit(doc, docs.texts[doc.id].rstrip("\n") + "\n\n" + line + "\n")
