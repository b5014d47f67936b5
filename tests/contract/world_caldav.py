"""The scenario on a real Radicale server, one resource per UID (as CalDAV stores it),
reached through the counting proxy; docs are Markdown files as for local calendars."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from calsync.backends.caldav.calendar import CaldavProvider
from calsync.backends.caldav.config import CaldavCalendar
from calsync.backends.local.calendar import IcsProvider
from calsync.backends.local.config import IcsCalendar
from calsync.backends.local.docs import LocalDocs
from calsync.core.model import Owner
from calsync.core.state import MemoryState
from calsync.ical.normalise import IcsRef
from tests.contract import world as w
from tests.contract.world_local import MarkdownDocsWorld, calendar_text, edit_key
from tests.radicale_server import PASSWORD, USER, Proxy, Radicale, split_by_uid

OWNER = Owner((w.ME,), "Europe/Berlin")


@dataclass
class CaldavWorld(MarkdownDocsWorld):
    radicale: Radicale
    tmp: Path
    name: str = "caldav"
    edits: dict[int | str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.proxy = Proxy(self.radicale.base).start()
        self.collection = self.radicale.calendar()
        self.urls = self.radicale.upload(self.collection, calendar_text({}))
        self.state = MemoryState()  # kept across runs, as the store keeps it
        self.secret = self.tmp / "caldav.password"
        self.secret.write_text(PASSWORD + "\n")
        self.secret.chmod(0o600)
        self.folder = self.tmp / "docs"

    def close(self) -> None:
        self.proxy.close()

    def calendar(self, read_only: bool = False) -> CaldavProvider:
        url = self.proxy.base + urllib.parse.urlsplit(self.collection).path
        cal = CaldavCalendar(name="caldav", url=url, username=USER, password_file=self.secret,
                             read_only=read_only)
        return CaldavProvider(cal, OWNER, self.state, w.T0)

    def docs(self) -> LocalDocs:
        return LocalDocs(self.folder)

    def _url(self, ref: str) -> str:
        return self.radicale.base + IcsRef.loads(ref).file

    def stored(self, ref: str) -> str:
        """The server's text, read with the plain .ics reader (no cache in between)."""
        parsed = IcsRef.loads(ref)
        path = self.tmp / "stored.ics"
        path.write_text(self.radicale.get(self._url(ref)).text, encoding="utf-8", newline="")
        occs = IcsProvider(IcsCalendar(name="stored", path=path), OWNER).fetch(w.WINDOW).occurrences
        return next(o.description.text for o in occs if o.uid == parsed.uid
                    and IcsRef.loads(o.ref).recurrence_id == parsed.recurrence_id)

    def version(self, ref: str) -> object:
        return self.radicale.get(self._url(ref)).headers.get("ETag")

    def human_edit(self, ref: str, text: str) -> None:
        parsed = IcsRef.loads(ref)
        self.edits[edit_key(ref)] = text
        self.radicale.put(self.urls[parsed.uid], split_by_uid(calendar_text(self.edits))[parsed.uid])

    def drop_etag(self, ref: str) -> None:
        self.proxy.no_etag.add(IcsRef.loads(ref).file)

    def attached(self, ref: str) -> list[str]:
        raise AssertionError("a CalDAV event attaches nothing here")
