"""The Google loopback fake seeded with the scenario as Calendar API event resources
(a master with its RRULE, one instance resource per occurrence, as Google stores them),
read through the real googleapiclient; docs in the fake's Drive and Docs."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from calsync.backends.base import DocRef
from calsync.backends.google.calendar import GoogleProvider
from calsync.backends.google.docs import GoogleDocBackend
from calsync.core.state import MemoryState
from tests.contract import world as w
from tests.fakes.google import FakeGoogle
from tests.google_fixtures import GEnv

CAL = w.ME  # the owner's primary calendar


def _when(dt: datetime) -> dict[str, str]:
    return {"dateTime": dt.isoformat(), "timeZone": "Europe/Berlin"}


def _people(bob: str = "accepted") -> list[dict[str, Any]]:
    return [{"email": w.ME, "displayName": "Me", "responseStatus": "accepted", "organizer": True},
            {"email": w.BOB, "displayName": w.BOB_NAME, "responseStatus": bob},
            {"email": w.ROOM, "displayName": w.ROOM_NAME, "responseStatus": "accepted",
             "resource": True}]


def _event(ident: str, uid: str, start: datetime, title: str, organizer: str,
           attendees: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": ident, "iCalUID": uid, "summary": title, "description": w.NOTES,
            "start": _when(start), "end": _when(start + timedelta(minutes=w.MINUTES)),
            "organizer": {"email": organizer}, "attendees": attendees}


def seed(fake: FakeGoogle) -> None:
    fake.add_calendar(CAL, tz="Europe/Berlin")
    master = _event("series1", w.SERIES_UID, w.T0, w.SERIES_TITLE, w.ME, _people())
    fake.put({**master, "recurrence": [f"RRULE:FREQ=WEEKLY;COUNT={w.COUNT}"], "_master": True},
             [CAL])
    for n in range(w.COUNT):
        orig = w.original(n)
        inst = _event(f"series1_{orig.astimezone(UTC):%Y%m%dT%H%M%SZ}", w.SERIES_UID,
                      w.start_of(n), w.title_of(n), w.ME,
                      _people("declined" if n == w.DECLINED else "accepted"))
        inst.update(recurringEventId="series1", originalStartTime=_when(orig),
                    status="cancelled" if n == w.CANCELLED else "confirmed",
                    _exception=n in (w.MOVED, w.CANCELLED, w.DECLINED))
        fake.put(inst, [CAL])
    fake.put(_event("carol1", w.CAROL_UID, w.CAROL_START, w.CAROL_TITLE, w.CAROL,
                    [{"email": w.ME, "responseStatus": "accepted"},
                     {"email": w.CAROL, "responseStatus": "accepted", "organizer": True}]),
             [CAL])
    fake.put(_event("old1", w.OLD_UID, w.OLD_START, w.OLD_TITLE, w.ME,
                    [{"email": w.BOB, "responseStatus": "accepted"}]), [CAL])


@dataclass
class GoogleWorld:
    fake: FakeGoogle
    tmp: Path
    name: str = "google"
    state: MemoryState = field(default_factory=MemoryState)

    def __post_init__(self) -> None:
        seed(self.fake)
        self.env = GEnv(self.fake, self.tmp)
        self.config = self.env.calendar(w.ME)

    def calendar(self, read_only: bool = False) -> GoogleProvider:
        config = dataclasses.replace(self.config, read_only=read_only)
        return self.env.provider(config, self.state, owner=w.ME, now=w.T0)

    def docs(self) -> GoogleDocBackend:
        return self.calendar().docs()

    def stored(self, ref: str) -> str:
        return str(self.fake.events[ref].get("description") or "")

    def version(self, ref: str) -> object:
        return copy.deepcopy({k: v for k, v in self.fake.events[ref].items() if k != "_seq"})

    def human_edit(self, ref: str, text: str) -> None:
        self.fake.edit(ref, description=text)

    def drop_etag(self, ref: str) -> None:
        self.fake.omit_event_etag = True

    def attached(self, ref: str) -> list[str]:
        return [a["fileUrl"] for a in self.fake.events[ref].get("attachments") or []]

    def doc_count(self) -> int:
        return len(self.fake.docs)

    def shared_with(self, doc: DocRef) -> list[str]:
        return [p["emailAddress"] for p in self.fake.permissions.get(doc.id, [])]

    def doc_text(self, doc: DocRef) -> str:
        return self.fake.docs[doc.id].text()

    def human_types(self, doc: DocRef, line: str) -> None:
        self.fake.doc_typed(doc.id, line)
