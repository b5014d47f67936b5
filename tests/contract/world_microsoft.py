"""The Graph fake (over TLS, through msal and httpx) seeded with the scenario as Outlook
events: a series master, occurrences edited, cancelled and declined one by one, as Outlook
does; docs as .docx files in the fake's OneDrive."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from calsync.backends.base import DocRef
from calsync.core.state import MemoryState
from tests.contract import world as w
from tests.fakes.microsoft import FakeMicrosoft, _att, html_to_text, text_to_html
from tests.microsoft_fixtures import MsEnv, Sleeps, write_config


def seed(fake: FakeMicrosoft) -> None:
    end = timedelta(minutes=w.MINUTES)
    people = [_att(w.BOB, "accepted", "required", w.BOB_NAME),
              _att(w.ROOM, "accepted", "resource", w.ROOM_NAME)]
    mid = fake.add_event(w.SERIES_TITLE, w.T0, w.T0 + end, people, organizer=w.ME,
                         body=text_to_html(w.NOTES), tz="Europe/Berlin",
                         rrule=f"FREQ=WEEKLY;COUNT={w.COUNT}", ical_uid=w.SERIES_UID)
    moved = fake.occurrence_id(mid, w.original(w.MOVED))
    fake.edit(moved, start=w.start_of(w.MOVED), end=w.start_of(w.MOVED) + end,
              subject=w.MOVED_TITLE)
    fake.edit(fake.occurrence_id(mid, w.original(w.CANCELLED)), isCancelled=True)
    fake.respond(fake.occurrence_id(mid, w.original(w.DECLINED)), w.BOB, "declined")
    fake.add_event(w.CAROL_TITLE, w.CAROL_START, w.CAROL_START + end,
                   [_att(w.ME, "accepted"), _att(w.CAROL, "accepted")], organizer=w.CAROL,
                   body=text_to_html(w.NOTES), tz="Europe/Berlin", ical_uid=w.CAROL_UID)
    fake.add_event(w.OLD_TITLE, w.OLD_START, w.OLD_START + end, [_att(w.BOB, "accepted")],
                   body=text_to_html(w.NOTES), tz="Europe/Berlin", ical_uid=w.OLD_UID)


@dataclass
class MicrosoftWorld:
    env: MsEnv
    name: str = "microsoft"

    @property
    def fake(self) -> FakeMicrosoft:
        return self.env.fake

    def calendar(self, read_only: bool = False) -> Any:
        from calsync.backends.microsoft.calendar import MicrosoftProvider
        from calsync.backends.microsoft.config import MicrosoftCalendar

        config = self.env.calendar()
        assert isinstance(config, MicrosoftCalendar)
        config = dataclasses.replace(config, read_only=read_only)
        return MicrosoftProvider(config, self.env.owner(), self.env.state, w.T0,
                                 sleep=self.env.sleeps)

    def docs(self) -> Any:
        return self.calendar().docs()

    def _event(self, ref: str) -> dict[str, Any]:
        ev = self.fake.get(ref)
        assert ev is not None, ref
        return ev

    def stored(self, ref: str) -> str:
        return html_to_text(str(self._event(ref)["body"]["content"]))

    def version(self, ref: str) -> object:
        return (self._event(ref).get("@odata.etag"), self._event(ref)["body"]["content"])

    def human_edit(self, ref: str, text: str) -> None:
        self.fake.edit(ref, body=text_to_html(text))

    def drop_etag(self, ref: str) -> None:
        self.fake.omit_event_etag = True

    def attached(self, ref: str) -> list[str]:
        raise AssertionError("calsync attaches nothing on Outlook: the block links the doc")

    def doc_count(self) -> int:
        return sum(1 for item in self.fake.drive.values() if item.get("_path", "").endswith(".docx"))

    def shared_with(self, doc: DocRef) -> list[str]:
        return [p["invitation"]["email"].lower() for p in self.fake.drive[doc.id]["_perms"]]

    def doc_text(self, doc: DocRef) -> str:
        return self.fake.docx_text(doc.id)

    def human_types(self, doc: DocRef, line: str) -> None:
        self.fake.human_edit_doc(doc.id, lambda xml: xml.replace(
            "<w:sectPr>", f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p><w:sectPr>"))


def microsoft_world(request: pytest.FixtureRequest, tmp: Path) -> MicrosoftWorld:
    """A mailbox owned by the scenario's owner, logged in through the device-code flow."""
    from calsync.backends.microsoft.setup import setup

    ms_tls = request.getfixturevalue("ms_tls")
    request.getfixturevalue("trust_ca")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    fake = FakeMicrosoft(user_email=w.ME, user_name="Me").start(ms_tls[1])
    request.addfinalizer(fake.stop)
    monkeypatch.setenv("CALSYNC_HOME", str(tmp / "home"))
    cfg = tmp / "config.toml"
    write_config(cfg, fake)
    setup(cfg, None, "organizations", browser=False, read_only=False, echo=lambda s: None)
    seed(fake)
    fake.log.clear()
    return MicrosoftWorld(MsEnv(fake, cfg, tmp / "home", MemoryState(), Sleeps()))
