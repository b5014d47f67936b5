"""Make-up slots after a skipped 1on1 (issue 15), for file calendars: the owner's own
busy times, working hours in the owner's zone, nothing planned within rescue_within_days."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync.core.hours import WorkingHours, parse_hours
from calsync.core.rescue import slots
from tests.helpers import by_counterpart, cli, status_json

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
NOW = "2026-11-27T08:00:00+01:00"  # Friday after the removed Thursday 1on1

CALENDAR = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//calsync//EN
BEGIN:VEVENT
UID:ann-weekly@example.com
DTSTAMP:20261001T000000Z
DTSTART;TZID=Europe/Berlin:20261001T100000
DTEND;TZID=Europe/Berlin:20261001T103000
RRULE:FREQ=WEEKLY
EXDATE;TZID=Europe/Berlin:20261126T100000
SUMMARY:Ann / Me 1on1
ORGANIZER:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED;CN=Ann Lee:mailto:ann@example.com
END:VEVENT
BEGIN:VEVENT
UID:team@example.com
DTSTAMP:20261001T000000Z
DTSTART;TZID=Europe/Berlin:20261127T090000
DTEND;TZID=Europe/Berlin:20261127T103000
SUMMARY:Team sync
ORGANIZER:mailto:me@example.com
ATTENDEE:mailto:me@example.com
ATTENDEE:mailto:x@example.com
ATTENDEE:mailto:y@example.com
END:VEVENT
BEGIN:VEVENT
UID:offsite@example.com
DTSTAMP:20261001T000000Z
DTSTART;VALUE=DATE:20261130
DTEND;VALUE=DATE:20261201
SUMMARY:Offsite (all day)
END:VEVENT
BEGIN:VEVENT
UID:dentist@example.com
DTSTAMP:20261001T000000Z
DTSTART;TZID=Europe/Berlin:20261201T090000
DTEND;TZID=Europe/Berlin:20261201T093000
SUMMARY:Dentist
END:VEVENT
BEGIN:VEVENT
UID:declined@example.com
DTSTAMP:20261001T000000Z
DTSTART;TZID=Europe/Berlin:20261201T093000
DTEND;TZID=Europe/Berlin:20261201T120000
SUMMARY:Vendor pitch
ORGANIZER:mailto:v@example.com
ATTENDEE;PARTSTAT=DECLINED:mailto:me@example.com
ATTENDEE:mailto:v@example.com
END:VEVENT
END:VCALENDAR
"""


def _config(tmp_path: Path, extra: str = "", calendar: str = CALENDAR) -> Path:
    (tmp_path / "cal.ics").write_text(calendar, encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text('[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n'
                    f'{extra}\n[[calendars]]\nprovider = "ics"\npath = "cal.ics"\n'
                    'read_only = true\n', encoding="utf-8")
    return path


def test_skipped_1on1_gets_free_slots_clear_of_the_owners_busy_times(tmp_path: Path) -> None:
    config = _config(tmp_path)
    ann = by_counterpart(status_json(config, NOW))["ann@example.com"]
    # Fri: team sync 09:00-10:30; Mon: an all-day event does not block; Tue: dentist
    # 09:00-09:30, then a declined invite that does not block
    assert ann["makeup"] == {
        "skipped": "2026-11-26T10:00:00+01:00", "kind": "removed", "minutes": 30,
        "slots": ["2026-11-27T10:30:00+01:00", "2026-11-30T09:00:00+01:00",
                  "2026-12-01T09:30:00+01:00"], "checked": "owner"}


def test_run_names_the_times_once_a_day_and_in_json(tmp_path: Path) -> None:
    config = _config(tmp_path)
    first = cli("--config", config, "run", "--now", NOW)
    assert first.exit_code == 0, first.output
    assert ("make-up: Ann Lee: the 1on1 of Thu 2026-11-26 10:00 was removed and nothing is "
            "planned soon; free in your calendar (30 min): Fri 2026-11-27 10:30, "
            "Mon 2026-11-30 09:00, Tue 2026-12-01 09:30") in first.stdout
    again = cli("--config", config, "run", "--now", NOW)
    assert again.stdout == ""
    doc = json.loads(cli("--config", config, "run", "--now", NOW, "--format", "json").stdout)
    (p,) = doc["makeup"]
    assert p["counterpart"] == "ann@example.com" and len(p["slots"]) == 3


def test_no_make_up_when_the_next_meeting_is_within_the_window(tmp_path: Path) -> None:
    config = _config(tmp_path, "\n[rescue]\nrescue_within_days = 7\n")
    assert by_counterpart(status_json(config, NOW))["ann@example.com"]["makeup"] is None
    config = _config(tmp_path)  # 5 days: the next Thursday is 6 days away
    assert by_counterpart(status_json(config, NOW))["ann@example.com"]["makeup"] is not None
    later = "2026-12-04T08:00:00+01:00"  # after the next one was held: nothing to rescue
    assert by_counterpart(status_json(config, later))["ann@example.com"]["makeup"] is None


def test_working_hours_from_config_bound_the_slots(tmp_path: Path) -> None:
    config = _config(tmp_path, 'working_hours = "11:00-12:00 Mon-Tue"\n')
    ann = by_counterpart(status_json(config, NOW))["ann@example.com"]
    assert ann["makeup"]["slots"] == ["2026-11-30T11:00:00+01:00", "2026-12-01T11:00:00+01:00"]


@pytest.mark.parametrize("value", ["9-18", "18:00-09:00 Mon-Fri", "09:00-18:00 Mon-Fry"])
def test_bad_working_hours_is_one_line_naming_the_key(tmp_path: Path, value: str) -> None:
    config = _config(tmp_path, f'working_hours = "{value}"\n')
    result = cli("--config", config, "status", "--now", NOW)
    assert result.exit_code != 0
    assert "owner.working_hours" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_parse_hours_wraps_day_ranges() -> None:
    h = parse_hours("10:00-12:30 Sun-Thu")
    assert h == WorkingHours(time(10), time(12, 30), frozenset({6, 0, 1, 2, 3}))


def test_slots_keep_wall_clock_hours_across_the_dst_change() -> None:
    now = datetime(2026, 10, 23, 12, tzinfo=BERLIN)  # Fri; Berlin leaves DST on Sun 25th
    found = slots([], now, now + timedelta(days=5), timedelta(minutes=30), WorkingHours(), BERLIN)
    assert [s.isoformat() for s in found] == [
        "2026-10-23T12:00:00+02:00", "2026-10-26T09:00:00+01:00", "2026-10-27T09:00:00+01:00"]


def test_slots_in_tokyo_never_over_busy_or_outside_hours() -> None:
    now = datetime(2026, 11, 30, 0, tzinfo=TOKYO)  # Monday 00:00 in Tokyo
    day = datetime(2026, 11, 30, tzinfo=TOKYO)
    busy = [(day.replace(hour=9), day.replace(hour=17, minute=45)),  # 15 min left: too short
            (datetime(2026, 12, 1, 0, tzinfo=ZoneInfo("UTC")),  # 09:00-10:00 Tokyo
             datetime(2026, 12, 1, 1, tzinfo=ZoneInfo("UTC")))]
    found = slots(busy, now, now + timedelta(days=3), timedelta(minutes=45), WorkingHours(), TOKYO)
    assert [s.isoformat() for s in found] == ["2026-12-01T10:00:00+09:00",
                                              "2026-12-02T09:00:00+09:00"]
    for s in found:
        assert time(9) <= s.time() and (s + timedelta(minutes=45)).time() <= time(18)
        assert not any(b < s + timedelta(minutes=45) and s < e for b, e in busy)


def test_the_line_says_whose_calendars_were_checked() -> None:
    from calsync.app.engine import Makeup
    from calsync.app.report import makeup_text

    tz = ZoneInfo("Europe/Berlin")
    skipped, slot = datetime(2026, 11, 26, 10, tzinfo=tz), datetime(2026, 11, 27, 10, 30, tzinfo=tz)
    mine = makeup_text("Ann", Makeup(skipped, "declined", 30, (slot,)), skipped)
    both = makeup_text("Ann", Makeup(skipped, "declined", 30, (slot,), both=True), skipped)
    assert mine.endswith("free in your calendar (30 min): Fri 2026-11-27 10:30")
    assert both.endswith("free for you both (30 min): Fri 2026-11-27 10:30")
