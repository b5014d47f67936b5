"""A local .ics file seeded with the scenario, and Markdown docs in a folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calsync.backends.base import DocRef
from calsync.backends.local.calendar import IcsProvider
from calsync.backends.local.config import IcsCalendar
from calsync.backends.local.docs import LocalDocs
from calsync.core.model import Owner
from calsync.ical.normalise import IcsRef
from tests.contract import world as w


def _when(key: str, dt: datetime) -> str:
    return f"{key};TZID=Europe/Berlin:{dt.astimezone(w.TZ):%Y%m%dT%H%M%S}"


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _people(bob: str = "ACCEPTED") -> list[str]:
    return [f"ORGANIZER;CN=Me:mailto:{w.ME}",
            f"ATTENDEE;CN=Me;PARTSTAT=ACCEPTED:mailto:{w.ME}",
            f"ATTENDEE;CN={w.BOB_NAME};PARTSTAT={bob}:mailto:{w.BOB}",
            f"ATTENDEE;CN={w.ROOM_NAME};CUTYPE=ROOM;PARTSTAT=ACCEPTED:mailto:{w.ROOM}"]


def _event(uid: str, start: datetime, title: str, description: str, extra: list[str]) -> list[str]:
    return ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", _when("DTSTART", start),
            _when("DTEND", start + timedelta(minutes=w.MINUTES)), f"SUMMARY:{title}",
            f"DESCRIPTION:{_escape(description)}", *extra, "END:VEVENT"]


def calendar_text(edits: dict[int | str, str]) -> str:
    """The scenario as one VCALENDAR; ``edits`` are descriptions people changed since, by
    instance number (an override, as any calendar client writes one) or by UID."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync//contract world//EN"]
    lines += _event(w.SERIES_UID, w.T0, w.SERIES_TITLE, w.NOTES,
                    ["RRULE:FREQ=WEEKLY;COUNT=6", *_people()])
    special = {w.MOVED, w.CANCELLED, w.DECLINED} | {k for k in edits if isinstance(k, int)}
    for n in sorted(special):
        extra = [_when("RECURRENCE-ID", w.original(n)),
                 *_people("DECLINED" if n == w.DECLINED else "ACCEPTED")]
        if n == w.CANCELLED:
            extra.append("STATUS:CANCELLED")
        lines += _event(w.SERIES_UID, w.start_of(n), w.title_of(n), edits.get(n, w.NOTES), extra)
    lines += _event(w.CAROL_UID, w.CAROL_START, w.CAROL_TITLE, edits.get(w.CAROL_UID, w.NOTES),
                    [f"ORGANIZER:mailto:{w.CAROL}", f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{w.ME}"])
    lines += _event(w.OLD_UID, w.OLD_START, w.OLD_TITLE, w.NOTES,
                    [f"ORGANIZER:mailto:{w.ME}", f"ATTENDEE:mailto:{w.BOB}"])
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def edit_key(ref: str) -> int | str:
    """Which of :func:`calendar_text`'s events an occurrence's ref names: the series
    instance's number, or the UID of a one-off event."""
    parsed = IcsRef.loads(ref)
    if parsed.uid != w.SERIES_UID:
        return parsed.uid
    assert parsed.recurrence_id is not None
    rid = datetime.fromisoformat(parsed.recurrence_id).astimezone(UTC)
    return next(n for n in range(w.COUNT) if w.original(n) == rid)


class MarkdownDocsWorld:
    """The docs half of a world whose docs are Markdown files in ``self.folder``."""

    folder: Path

    def doc_count(self) -> int:
        return len(list(self.folder.glob("*.md")))

    def shared_with(self, doc: DocRef) -> list[str]:
        raise AssertionError("a folder of Markdown files shares nothing itself")

    def doc_text(self, doc: DocRef) -> str:
        return Path(doc.id).read_text(encoding="utf-8")

    def human_types(self, doc: DocRef, line: str) -> None:
        path = Path(doc.id)
        path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + f"\n\n{line}\n",
                        encoding="utf-8")


@dataclass
class LocalWorld(MarkdownDocsWorld):
    tmp: Path
    name: str = "local"
    edits: dict[int | str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.path = self.tmp / "calendar.ics"
        self.path.write_text(calendar_text({}), encoding="utf-8", newline="")
        self.folder = self.tmp / "docs"

    def calendar(self, read_only: bool = False) -> IcsProvider:
        return IcsProvider(IcsCalendar(name="local", path=self.path, read_only=read_only),
                           Owner((w.ME,), "Europe/Berlin"))

    def docs(self) -> LocalDocs:
        return LocalDocs(self.folder)

    def stored(self, ref: str) -> str:
        """What the file holds (a cached read keeps only the parts calsync reads)."""
        fresh = IcsProvider(IcsCalendar(name="local", path=self.path), Owner((w.ME,), "Europe/Berlin"),
                            cache=False)
        return next(o.description.text for o in fresh.fetch(w.WINDOW).occurrences if o.ref == ref)

    def version(self, ref: str) -> object:
        return self.path.read_bytes()

    def human_edit(self, ref: str, text: str) -> None:
        self.edits[edit_key(ref)] = text
        self.path.write_text(calendar_text(self.edits), encoding="utf-8", newline="")

    def drop_etag(self, ref: str) -> None:
        raise AssertionError("an .ics file has no ETags: its bytes are the precondition")

    def attached(self, ref: str) -> list[str]:
        raise AssertionError("an .ics file attaches nothing")
