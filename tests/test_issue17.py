"""Regressions from issue 17 (a hostile-user probe): one test per defect, with its input."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule

from calsync.backends.base import Window, WriteStatus
from calsync.backends.local.calendar import IcsProvider
from calsync.backends.local.config import IcsCalendar
from calsync.backends.microsoft.recurrence import expand_recurrence
from calsync.config import Detection, Owner
from calsync.core.detect import detect
from calsync.core.model import Body, Occurrence
from calsync.ical.limits import FILE_INSTANCES, Budget, Load, rule_load, series_cap
from calsync.ical.zones import zone
from tests.conftest import EXAMPLES
from tests.helpers import cli, status_json, write_config

REGRESSIONS = Path(__file__).parent / "regressions"
NOW = "2026-04-29T12:00:00+02:00"
WINDOW = Window(datetime(2025, 11, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC))


class Hung(BaseException):
    """Raised by :func:`hang_guard`; a BaseException so no ``except Exception`` eats it."""


@contextlib.contextmanager
def hang_guard(seconds: int) -> Iterator[None]:
    """Fail (rather than hang the suite) if the body never returns; not a speed check."""

    def stop(signum: int, frame: object) -> None:
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def provider(path: Path) -> IcsProvider:
    return IcsProvider(IcsCalendar(name="c", path=path),
                       Owner(("me@example.com",), "UTC"))


def test_runaway_rules_are_skipped_by_uid_and_the_rest_is_read(tmp_path: Path) -> None:
    path = REGRESSIONS / "runaway_rules.ics"
    with hang_guard(30):
        fetched = provider(path).fetch(WINDOW)
        doc = status_json(write_config(tmp_path, path), NOW)
    assert {o.uid for o in fetched.occurrences} == {"weekly-1on1"}
    for uid in ("runaway-secondly", "runaway-minutely", "runaway-interval-zero"):
        assert sum(f"UID={uid}:" in w for w in fetched.warnings) == 1, fetched.warnings
    assert len(fetched.warnings) == 3
    assert [r["counterpart"] for r in doc["relationships"]] == ["quinn@example.com"]


def test_a_sub_hourly_series_is_never_a_1on1() -> None:
    fetched = provider(REGRESSIONS / "half_hourly.ics").fetch(WINDOW)
    assert len(fetched.occurrences) == 8  # small enough to read; detection must refuse it
    result = detect(fetched.occurrences, ("me@example.com",), Detection())
    assert result.relationships == []
    [cand] = result.candidates
    assert not cand.taken and "every 30 minutes" in cand.reason


def test_expansion_bounds_admit_real_series_and_refuse_runaways() -> None:
    span = (datetime(2025, 11, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC))  # 212 days
    since_1990 = datetime(1990, 1, 1, 9, tzinfo=UTC)
    daily = rule_load({"FREQ": ["DAILY"]}, since_1990, span, UTC)
    assert isinstance(daily, Load) and daily.instances == 213
    assert Budget(span).admit([daily]) is None  # 36 years of a daily rule is fine
    hourly = rule_load({"FREQ": ["HOURLY"]}, datetime(2026, 1, 1, tzinfo=UTC), span, UTC)
    assert isinstance(hourly, Load) and Budget(span).admit([hourly])  # ~3,600 instances
    at_cap = rule_load({"FREQ": ["HOURLY"], "COUNT": [series_cap(span)]}, span[0], span, UTC)
    over = rule_load({"FREQ": ["HOURLY"], "COUNT": [series_cap(span) + 1]}, span[0], span, UTC)
    assert isinstance(at_cap, Load) and isinstance(over, Load)
    assert Budget(span).admit([at_cap]) is None and Budget(span).admit([over])
    steps = rule_load({"FREQ": ["HOURLY"], "UNTIL": [datetime(2025, 1, 1, tzinfo=UTC)]},
                      datetime(2010, 1, 1, tzinfo=UTC), span, UTC)  # ended before the window
    assert isinstance(steps, Load) and steps.instances == 0
    assert "steps" in str(Budget(span).admit([steps]))
    recent = rule_load({"FREQ": ["DAILY"]}, span[0], span, UTC)
    assert isinstance(recent, Load) and recent.instances == 213
    file = Budget(span)
    admitted = sum(file.admit([recent]) is None for _ in range(FILE_INSTANCES // 213 + 5))
    assert admitted == FILE_INSTANCES // 213  # the file's budget runs out, series by series
    assert rule_load({"FREQ": ["DAILY"], "INTERVAL": [0]}, since_1990, span, UTC) == \
        "bad RRULE: INTERVAL=0"


def test_microsoft_numbered_series_from_long_ago_expands_without_walking_it() -> None:
    tz = zone("W. Europe Standard Time")
    window = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    daily = {"pattern": {"type": "daily", "interval": 1},
             "range": {"type": "numbered", "startDate": "0001-01-01",
                       "numberOfOccurrences": 10**9}}
    got = expand_recurrence(daily, datetime(1, 1, 1, 8, tzinfo=UTC), tz, *window)
    assert len(got) == 31
    weekly = {"pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"],
                          "firstDayOfWeek": "sunday"},
              "range": {"type": "numbered", "startDate": "2020-01-02", "numberOfOccurrences": 325}}
    got = expand_recurrence(weekly, datetime(2020, 1, 2, 9, tzinfo=UTC), tz, *window)
    reference = rrule.rrule(rrule.WEEKLY, interval=2, byweekday=[rrule.MO, rrule.TH],
                            wkst=rrule.SU, count=325, dtstart=datetime(2020, 1, 2, 10))
    expected = [d for d in reference if datetime(2026, 3, 1) <= d < datetime(2026, 4, 1)]
    assert [d.astimezone(tz).replace(tzinfo=None) for d in got] == expected
    assert len(expected) == 4 and expected[-1] == list(reference)[-1]  # COUNT ends it here


# -- writing a local .ics file ------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
ALICE = datetime(2026, 11, 26, 10, tzinfo=BERLIN)


def writer(path: Path, **kw: Any) -> IcsProvider:
    return IcsProvider(IcsCalendar(name="w", path=path),
                       Owner(("mia@example.com",), "Europe/Berlin"), **kw)


def alice(path: Path) -> Occurrence:
    window = Window(ALICE - timedelta(days=200), ALICE + timedelta(days=30))
    return next(o for o in writer(path).fetch(window).occurrences
                if o.title.startswith("Alice") and o.start == ALICE)


def agenda(body: Body) -> Body:
    return Body("AGENDA\n" + body.text, body.html)


@pytest.fixture
def cal(tmp_path: Path) -> Path:
    path = tmp_path / "calendar.ics"
    shutil.copy(EXAMPLES / "calendar.ics", path)
    return path


def test_an_edit_saved_while_we_write_is_kept(cal: Path) -> None:
    occ = alice(cal)
    edits: list[Path] = []

    def someone_saves(tmp: Path) -> None:  # after our fsync, before our rename
        if not edits:
            edits.append(tmp)
            text = cal.read_text(encoding="utf-8")
            cal.write_text(text.replace("Alice brings the topics.", "Alice brings the topics!"),
                           encoding="utf-8")

    result = writer(cal, before_replace=someone_saves).write_description(occ, agenda, "t")
    assert result.status is WriteStatus.WRITTEN and len(edits) == 1
    text = alice(cal).description.text
    assert text.startswith("AGENDA\n") and text.endswith("Alice brings the topics!")
    assert not edits[0].exists()  # the stale temp file was thrown away


def test_another_writer_holding_the_lock_is_waited_for_not_overwritten(cal: Path) -> None:
    occ = alice(cal)
    data = cal.read_bytes()
    lock = cal.with_name(".calendar.ics.calsync-lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = writer(cal, lock_wait=0.2).write_description(occ, agenda, "t")
        assert result.status is WriteStatus.CONFLICT and "locked" in result.detail
        assert cal.read_bytes() == data
    finally:
        os.close(fd)
    assert writer(cal, lock_wait=0.2).write_description(occ, agenda, "t").status \
        is WriteStatus.WRITTEN
    left = [p.name for p in cal.parent.iterdir() if str(p) != os.environ["CALSYNC_HOME"]]
    assert left == ["calendar.ics"]  # no lock or temp left (the read cache is in CALSYNC_HOME)


def test_temp_files_are_unique_and_only_our_stale_ones_are_swept(cal: Path) -> None:
    folder = cal.parent
    other_run = folder / ".calendar.ics.calsync-tmp"  # the old fixed name, mid-write elsewhere
    other_run.write_bytes(b"another run's half-written file")
    crashed = folder / ".calendar.ics.calsync-abc123.tmp"
    crashed.write_bytes(b"left by a killed run")
    os.utime(crashed, (time.time() - 3600, time.time() - 3600))
    foreign = folder / ".calendar.ics.swp"
    foreign.write_bytes(b"an editor's")
    os.utime(foreign, (time.time() - 3600, time.time() - 3600))
    seen: list[str] = []
    result = writer(cal, before_replace=lambda tmp: seen.append(tmp.name)).write_description(
        alice(cal), agenda, "t")
    assert result.status is WriteStatus.WRITTEN
    [name] = seen
    assert name.startswith(".calendar.ics.calsync-") and name.endswith(".tmp")
    assert name != other_run.name
    assert other_run.read_bytes() == b"another run's half-written file"
    assert not crashed.exists() and foreign.exists()


@pytest.mark.parametrize("name", ["empty", "x.ics"])
def test_a_calendar_path_with_no_ics_file_in_it_is_an_error(tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "notes.txt").write_text("not a calendar", encoding="utf-8")
    (folder / "sub.ics").mkdir()  # a folder named like a calendar is not one either
    result = cli("--config", write_config(tmp_path, folder), "status", "--now", NOW)
    assert result.exit_code == 4
    assert result.stderr.strip().splitlines() == [
        f"calsync: {name.removesuffix('.ics')}: {folder}: a folder with no .ics files in it"]


def test_an_unknown_tzid_is_warned_once_per_event(tmp_path: Path) -> None:
    path = tmp_path / "zones.ics"
    path.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        "BEGIN:VEVENT\r\nUID:mars\r\nDTSTART;TZID=Mars/Olympus:20260302T100000\r\n"
        "DTEND;TZID=Mars/Olympus:20260302T103000\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:mars\r\nRECURRENCE-ID;TZID=Mars/Olympus:20260309T100000\r\n"
        "DTSTART;TZID=Mars/Olympus:20260309T110000\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:berlin\r\nDTSTART;TZID=Europe/Berlin:20260302T100000\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n", encoding="utf-8")
    fetched = provider(path).fetch(Window(WINDOW.start, WINDOW.end, everything=True))
    assert fetched.warnings == [
        f"{path}: event UID=mars: unknown time zone TZID='Mars/Olympus'; read as UTC"]
    assert len(fetched.occurrences) == 5


@pytest.mark.parametrize("name", ['""', '"  "'])
def test_an_empty_calendar_name_is_a_config_error(tmp_path: Path, name: str) -> None:
    config = write_config(tmp_path, REGRESSIONS / "half_hourly.ics")
    config.write_text(config.read_text(encoding="utf-8").replace(
        'provider = "ics"', f'provider = "ics"\nname = {name}'), encoding="utf-8")
    result = cli("--config", config, "status", "--now", NOW)
    assert result.exit_code == 2
    assert result.stderr == (f"calsync: {config}: calendars[0].name: must not be empty "
                             "(leave it out to use the default name)\n")


def test_status_json_lists_file_warnings_and_errors_every_time(tmp_path: Path) -> None:
    """Item 4: `run` says a file-level warning once a day; status JSON always carries it."""
    cal = tmp_path / "cal.ics"
    cal.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:mars\r\n"
        "DTSTART;TZID=Mars/Olympus:20261120T100000\r\nDTEND;TZID=Mars/Olympus:20261120T103000\r\n"
        "SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", encoding="utf-8")
    config = write_config(tmp_path, cal)
    for _ in range(2):
        result = cli("--config", config, "status", "--now", NOW, "--format", "json")
        doc = json.loads(result.stdout)
        assert result.exit_code == 0
        assert doc["errors"] == []
        assert [w for w in doc["warnings"] if "Mars/Olympus" in w and "UID=mars" in w]


def test_a_failed_calendar_does_not_also_say_none_found(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    config = write_config(tmp_path, tmp_path / "empty")
    text = cli("--config", config, "status", "--now", NOW)
    assert text.exit_code == 4 and text.stdout == ""
    assert "a folder with no .ics files" in text.stderr
    as_json = cli("--config", config, "status", "--now", NOW, "--format", "json")
    assert as_json.exit_code == 4
    expected = f"empty: {tmp_path / 'empty'}: a folder with no .ics files in it"
    assert json.loads(as_json.stdout)["errors"] == [expected]
