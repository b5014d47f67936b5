"""``[rescue] book = true`` on a local .ics calendar (issue 15): the first make-up slot
becomes one one-off event, exactly once across runs, retries and crashes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import icalendar

from calsync.app.book import event_id
from calsync.backends.base import BookRequest, BookStatus, Window
from calsync.backends.local.calendar import IcsProvider
from calsync.backends.memory import MemoryCalendar
from calsync.config import load
from tests.helpers import by_counterpart, cli, status_json
from tests.test_rescue import CALENDAR, NOW
from tests.test_run import _CRASH


def _config(tmp_path: Path, rescue: str = "[rescue]\nbook = true\n", read_only: bool = False) -> Path:
    (tmp_path / "cal.ics").write_text(CALENDAR, encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text('[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n'
                    f'{rescue}\n[agenda]\ndocs_dir = "docs"\nhorizon_days = 1\n'
                    '[[calendars]]\nprovider = "ics"\npath = "cal.ics"\n'
                    f'read_only = {"true" if read_only else "false"}\n', encoding="utf-8")
    return path


def _makeups(tmp_path: Path) -> list[icalendar.Event]:
    cal = icalendar.Calendar.from_ical((tmp_path / "cal.ics").read_text(encoding="utf-8"))
    return [e for e in cal.walk("VEVENT") if str(e["UID"]).endswith("@calsync")]


def test_run_books_the_first_slot_once(tmp_path: Path) -> None:
    config = _config(tmp_path)
    first = cli("--config", config, "run", "--now", NOW)
    assert first.exit_code == 0, first.output
    assert "booked make-up 1on1: Ann Lee, Fri 2026-11-27 10:30-11:00 (cal)" in first.stdout
    (ev,) = _makeups(tmp_path)
    assert str(ev["SUMMARY"]) == "1on1: Ann Lee (make-up for 2026-11-26)"
    assert ev.decoded("DTSTART") == datetime.fromisoformat("2026-11-27T10:30:00+01:00")
    assert ev.decoded("DTEND") - ev.decoded("DTSTART") == timedelta(minutes=30)
    assert str(ev["ORGANIZER"]) == "mailto:me@example.com"
    assert str(ev["ATTENDEE"]) == "mailto:ann@example.com"  # the only attendee
    desc = str(ev["DESCRIPTION"])
    assert desc.startswith("--- calsync agenda") and "1on1 with Ann Lee" in desc
    doc = next((tmp_path / "docs").iterdir())  # the pair's shared doc, linked from the event
    assert f"Shared doc: {doc.as_uri()}" in desc
    # everything else in the file is byte for byte what it was
    text = (tmp_path / "cal.ics").read_text(encoding="utf-8")
    assert text.startswith(CALENDAR[: CALENDAR.rfind("END:VCALENDAR")])
    assert text.endswith("END:VEVENT\nEND:VCALENDAR\n")

    # the pair now has a planned meeting: nothing proposed, nothing booked
    ann = by_counterpart(status_json(config, NOW))["ann@example.com"]
    assert ann["makeup"] is None
    again = cli("--config", config, "run", "--now", NOW, "--format", "json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["booked"] == []
    assert json.loads(again.stdout)["changes"] == []  # its agenda is the one booked with it
    assert len(_makeups(tmp_path)) == 1


def test_the_booked_event_reads_back_in_the_same_relationship(tmp_path: Path) -> None:
    config = _config(tmp_path)
    cli("--config", config, "run", "--now", NOW)
    cfg = load(config)
    prov = IcsProvider(cfg.calendars[0], cfg.owner)
    now = datetime.fromisoformat(NOW)
    occs = prov.fetch(Window(now - timedelta(days=1), now + timedelta(days=5))).occurrences
    (booked,) = [o for o in occs if o.uid.endswith("@calsync")]
    assert booked.owner_organizes(cfg.owner.emails) and booked.writable


def test_json_says_what_was_booked(tmp_path: Path) -> None:
    config = _config(tmp_path)
    doc = json.loads(cli("--config", config, "run", "--now", NOW, "--format", "json").stdout)
    assert doc["booked"] == [{
        "calendar": "cal", "counterpart": "ann@example.com", "name": "Ann Lee",
        "start": "2026-11-27T10:30:00+01:00", "end": "2026-11-27T11:00:00+01:00",
        "skipped": "2026-11-26T10:00:00+01:00", "status": "booked"}]


def test_off_by_default(tmp_path: Path) -> None:
    config = _config(tmp_path, rescue="")
    result = cli("--config", config, "run", "--now", NOW)
    assert result.exit_code == 0, result.output
    assert "make-up: Ann Lee" in result.stdout and "booked" not in result.stdout
    assert _makeups(tmp_path) == []
    assert load(config).rescue.book is False


def test_dry_run_and_status_book_nothing_but_dry_run_says_it_would(tmp_path: Path) -> None:
    config = _config(tmp_path)
    before = (tmp_path / "cal.ics").read_bytes()
    dry = cli("--config", config, "run", "--now", NOW, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would book make-up 1on1: Ann Lee, Fri 2026-11-27 10:30-11:00 (cal)" in dry.stdout
    status_json(config, NOW)
    assert (tmp_path / "cal.ics").read_bytes() == before
    # and the real run after the dry one still books
    assert "booked make-up 1on1" in cli("--config", config, "run", "--now", NOW).stdout


def test_read_only_calendar_never_books(tmp_path: Path) -> None:
    config = _config(tmp_path, read_only=True)
    before = (tmp_path / "cal.ics").read_bytes()
    result = cli("--config", config, "run", "--now", NOW, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["booked"] == []
    assert (tmp_path / "cal.ics").read_bytes() == before


def test_book_must_be_a_boolean(tmp_path: Path) -> None:
    config = _config(tmp_path, rescue='[rescue]\nbook = "yes"\n')
    result = cli("--config", config, "run", "--now", NOW)
    assert result.exit_code != 0
    assert "rescue.book" in result.stderr and "Traceback" not in result.stderr


_KILLS = [
    ("calsync.backends.local.book", "replace", "after", 1),  # event in the file, not recorded
    ("os", "replace", "before", 1),  # temp file written, not renamed
    ("calsync.backends.local.book", "book_ics", "after", 1),
]


def test_crash_between_request_and_bookkeeping_does_not_double_book(tmp_path: Path) -> None:
    for i, (module, attr, when, nth) in enumerate(_KILLS):
        folder = tmp_path / str(i)
        folder.mkdir()
        config = _config(folder)
        env = {**os.environ, "CALSYNC_HOME": str(folder / "home")}
        args = ["--config", str(config), "run", "--now", NOW]
        crashed = subprocess.run([sys.executable, "-c", _CRASH, module, attr, when, str(nth), *args],
                                 env=env, capture_output=True, text=True)
        assert crashed.returncode == 9, crashed.stderr
        subprocess.run([sys.executable, "-m", "calsync.cli", *args], env=env, check=True,
                       capture_output=True)
        assert len(_makeups(folder)) == 1, (module, attr, when)
        again = subprocess.run([sys.executable, "-m", "calsync.cli", *args], env=env, check=True,
                               capture_output=True, text=True)
        assert "book" not in again.stdout
        assert len(_makeups(folder)) == 1


def _request(start: datetime) -> BookRequest:
    return BookRequest(event_id=event_id("cal", "ann@example.com", start - timedelta(days=1)),
                       start=start, end=start + timedelta(minutes=30), title="1on1: Ann (make-up)",
                       description="--- calsync agenda ---\nline, with; escapes\n",
                       organizer="me@example.com", counterpart="ann@example.com",
                       counterpart_name="Ann Lee")


def test_the_same_request_twice_is_one_event(tmp_path: Path) -> None:
    """A retry (or a run whose bookkeeping was lost) asks again: the UID is found."""
    cfg = load(_config(tmp_path))
    prov = IcsProvider(cfg.calendars[0], cfg.owner)
    req = _request(datetime.fromisoformat("2026-11-27T10:30:00+01:00"))
    assert prov.book(req).status is BookStatus.BOOKED
    after = (tmp_path / "cal.ics").read_bytes()
    assert prov.book(req).status is BookStatus.ALREADY
    assert (tmp_path / "cal.ics").read_bytes() == after
    (ev,) = _makeups(tmp_path)
    assert str(ev["DESCRIPTION"]) == req.description
    assert event_id("cal", "ann@example.com", req.start) == event_id("cal", "ANN@example.com", req.start)
    assert set(req.event_id) <= set("0123456789abcdefghijklmnopqrstuv") and len(req.event_id) == 32


def test_a_folder_calendar_gets_a_file_of_its_own(tmp_path: Path) -> None:
    folder = tmp_path / "cals"
    folder.mkdir()
    (folder / "cal.ics").write_text(CALENDAR, encoding="utf-8")
    cfg = load(_config(tmp_path))
    prov = IcsProvider(dataclasses.replace(cfg.calendars[0], path=folder), cfg.owner)
    req = _request(datetime.fromisoformat("2026-11-27T10:30:00+01:00"))
    assert prov.book(req).status is BookStatus.BOOKED
    assert prov.book(req).status is BookStatus.ALREADY
    assert (folder / "cal.ics").read_text(encoding="utf-8") == CALENDAR
    now = datetime.fromisoformat(NOW)
    occs = prov.fetch(Window(now, now + timedelta(days=1))).occurrences
    assert [o.title for o in occs if o.uid.endswith("@calsync")] == ["1on1: Ann (make-up)"]


def test_memory_calendar_books_once_and_read_only_refuses() -> None:
    req = _request(datetime.fromisoformat("2026-11-27T10:30:00+01:00"))
    cal = MemoryCalendar(owner=("me@example.com",))
    assert cal.book(req).status is BookStatus.BOOKED
    assert cal.book(req).status is BookStatus.ALREADY
    assert cal.writes == [req.event_id]
    (occ,) = cal.events.values()
    assert [a.email for a in occ.attendees] == ["ann@example.com"]
    assert occ.owner_organizes(("me@example.com",))
    assert MemoryCalendar(read_only=True).book(req).status is BookStatus.FORBIDDEN


class _NoBooking:
    """A calendar that reads and writes descriptions but has no create verb."""

    kind = "feed"

    def __init__(self) -> None:
        self.name = "feed"
        self._cal = MemoryCalendar("feed")
        self.fetch = self._cal.fetch
        self.write_description = self._cal.write_description
        self.close = self._cal.close


def test_a_calendar_that_cannot_book_is_one_config_error(tmp_path: Path) -> None:
    from calsync.app.engine import CalendarSurvey
    from calsync.app.run import RunReport, _booker, _Ctx
    from calsync.app.shown import ShownToday
    from calsync.app.store import Store
    from calsync.core.model import FetchResult
    from calsync.errors import ConfigError

    cfg = load(_config(tmp_path))
    now = datetime.fromisoformat(NOW)
    store = Store(tmp_path / "state.db")
    ctx = _Ctx(cfg, now, store, False, shown=ShownToday(store, now.date(), False))
    report = RunReport(generated_at=now, dry_run=False)
    item = CalendarSurvey(cfg.calendars[0], _NoBooking(), FetchResult(), [], [])  # type: ignore[arg-type]
    assert _booker(ctx, item, report) is None
    (failure,) = report.failures
    assert isinstance(failure.error, ConfigError) and failure.error.exit_code != 0
    assert "[rescue] book = true" in str(failure) and "cannot book" in str(failure)
    off = dataclasses.replace(ctx, config=dataclasses.replace(
        cfg, rescue=dataclasses.replace(cfg.rescue, book=False)))
    assert _booker(off, item, RunReport(generated_at=now, dry_run=False)) is None
