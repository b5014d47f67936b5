"""The ics provider on the shared real-world corpus and on broken input (issue 2)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from calsync.backends.base import Window
from calsync.backends.local.calendar import IcsProvider
from calsync.backends.local.config import IcsCalendar
from calsync.config import Owner
from calsync.core.model import Status
from calsync.errors import CalendarFileError
from tests.conftest import corpus_files

UTC = UTC
ALL_TIME = Window(datetime(1990, 1, 1, tzinfo=UTC), datetime(2035, 1, 1, tzinfo=UTC))


def provider(path: Path, tz: str | None = "Europe/Berlin") -> IcsProvider:
    """The reader's own behaviour: every event parsed (the prefilter is tested apart)."""
    return IcsProvider(IcsCalendar(name="t", path=path), Owner(("me@x.org",), tz), prefilter=False)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_corpus_file_reads(path: Path) -> None:
    result = provider(path).fetch(ALL_TIME)
    for occ in result.occurrences:
        assert occ.start.tzinfo is not None and occ.end >= occ.start
    for warning in result.warnings:
        assert str(path) in warning


def _fetch(corpus: Path, name: str, window: Window = ALL_TIME) -> list:
    return sorted(provider(corpus / name).fetch(window).occurrences, key=lambda o: o.start)


def test_exdate_becomes_removed_occurrences(corpus: Path) -> None:
    occs = _fetch(corpus, "python-recurring-ical-events__each_week_but_two_deleted.ics")
    removed = [o for o in occs if o.removed]
    assert len(removed) == 2 and len(occs) == 8
    assert all(o.cancelled and not o.writable for o in removed)


def test_cancelled_override_with_utc_recurrence_id(corpus: Path) -> None:
    occs = _fetch(corpus, "khal__event_rrule_recuid_cancelled.ics")
    assert [o.status for o in occs].count(Status.CANCELLED) == 1
    moved = [o for o in occs if o.recurrence_id and o.start != o.recurrence_id]
    assert len(moved) == 1 and moved[0].start.hour == 9


def test_windows_zone_name_maps_to_iana(corpus: Path) -> None:
    (occ,) = _fetch(corpus, "khal__tz_windows_format.ics")
    # "New Zealand Standard Time" → Pacific/Auckland (+13:00 in November), not the file's +01:00.
    assert occ.start.utcoffset().total_seconds() == 13 * 3600
    assert occ.start.astimezone(UTC) == datetime(2019, 11, 20, 0, 0, tzinfo=UTC)


def test_exchange_byday_with_spaces_is_repaired(corpus: Path) -> None:
    window = Window(datetime(2015, 7, 1, tzinfo=UTC), datetime(2015, 8, 1, tzinfo=UTC))
    occs = _fetch(corpus, "icalendar__issue_165_missing_event.ics", window)
    assert len(occs) == 14  # weekdays from 2015-07-01 until 2015-07-22
    assert {o.start.weekday() for o in occs} <= {0, 1, 2, 3, 4}
    assert not occs[0].writable  # this invite has no UID: read, never written


def test_broken_event_skipped_with_warning_rest_kept(corpus: Path) -> None:
    result = provider(corpus / "icalendar__parsing_error.ics").fetch(ALL_TIME)
    assert len(result.warnings) == 1 and "bad EXDATE" in result.warnings[0]
    assert "parsing_error.ics" in result.warnings[0]
    assert result.occurrences  # the good series is still there


def test_events_without_dtstart_are_skipped(corpus: Path) -> None:
    result = provider(corpus / "icalendar__issue_722_missing_timezones.ics").fetch(ALL_TIME)
    assert sum("no DTSTART" in w for w in result.warnings) == 2
    assert result.occurrences


def test_dst_keeps_wall_clock(corpus: Path) -> None:
    occs = _fetch(corpus, "python-recurring-ical-events__issue_48_daylight_aware_repeats.ics")
    assert len({(o.start.hour, o.start.minute) for o in occs if not o.all_day}) == 1
    assert len({o.start.utcoffset() for o in occs}) == 2


def test_duplicated_instances_are_deduplicated(corpus: Path) -> None:
    occs = _fetch(corpus, "python-recurring-ical-events__issue_164_duplicated_event.ics")
    keys = [(o.uid, o.recurrence_id or o.start) for o in occs]
    assert len(keys) == len(set(keys))


def test_recurrence_only_expanded_inside_window(corpus: Path) -> None:
    window = Window(datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 2, 1, tzinfo=UTC))
    occs = _fetch(corpus, "icalendar__x_location.ics", window)
    assert occs and all(window.start <= o.end and o.start < window.end for o in occs)


def test_not_an_icalendar_file(tmp_path: Path) -> None:
    bad = tmp_path / "notes.ics"
    bad.write_text("hello, this is not a calendar\n")
    with pytest.raises(CalendarFileError, match=r"notes\.ics: not an iCalendar file"):
        provider(bad).fetch(ALL_TIME)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(CalendarFileError, match="no such file or folder"):
        provider(tmp_path / "gone.ics").fetch(ALL_TIME)


def test_folder_of_files_and_non_utf8(tmp_path: Path, corpus: Path) -> None:
    (tmp_path / "a.ics").write_bytes(
        (corpus / "python-recurring-ical-events__each_week_but_two_deleted.ics").read_bytes()
    )
    (tmp_path / "b.ics").write_bytes(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:b1\r\nSUMMARY:Caf\xe9\r\n"
        b"DTSTART:20260105T100000Z\r\nDTEND:20260105T103000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (tmp_path / "ignored.txt").write_text("not read")
    result = provider(tmp_path).fetch(ALL_TIME)
    titles = {o.title for o in result.occurrences}
    assert "Café" in titles and len(result.occurrences) == 9
    assert any("b.ics: not UTF-8" in w for w in result.warnings)


def test_floating_times_use_owner_zone(tmp_path: Path) -> None:
    f = tmp_path / "f.ics"
    f.write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:f1\nDTSTART:20260105T100000\n"
        "DTEND:20260105T103000\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    (occ,) = provider(f, "Asia/Tokyo").fetch(ALL_TIME).occurrences
    assert occ.start.astimezone(UTC).hour == 1


def test_floating_times_at_the_window_edge(corpus: Path) -> None:
    """A floating 08:00–10:00 Berlin meeting ends at 08:00Z: inside a window ending 08:00Z."""
    path = corpus / "python-recurring-ical-events__issue_243_recurrence_id_is_not_identical_to_dtstart.ics"
    window = Window(datetime(2016, 10, 3, tzinfo=UTC), datetime(2016, 10, 4, 8, tzinfo=UTC))
    starts = [o.start.astimezone(UTC).isoformat() for o in _fetch(corpus, path.name, window)]
    assert starts == ["2016-10-03T06:00:00+00:00", "2016-10-04T06:00:00+00:00"]


def test_exdates_off_the_rule_are_not_cancellations(tmp_path: Path) -> None:
    f = tmp_path / "x.ics"
    f.write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:s1\nSUMMARY:1on1\n"
        "DTSTART;TZID=Europe/Berlin:20261001T100000\nDTEND;TZID=Europe/Berlin:20261001T103000\n"
        "RRULE:FREQ=WEEKLY;UNTIL=20261105T090000Z\n"
        # after UNTIL, after UNTIL, wrong time of day, and one real instance
        "EXDATE;TZID=Europe/Berlin:20261112T100000,20261119T100000,20261015T110000,"
        "20261022T100000\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    occs = provider(f).fetch(ALL_TIME).occurrences
    removed = [o.start.isoformat() for o in occs if o.removed]
    assert removed == ["2026-10-22T10:00:00+02:00"]
    assert len([o for o in occs if not o.removed]) == 5  # Oct 1, 8, 15, 29, Nov 5


def test_one_broken_file_in_a_folder_is_skipped_with_a_warning(tmp_path: Path, corpus: Path) -> None:
    good = corpus / "python-recurring-ical-events__each_week_but_two_deleted.ics"
    (tmp_path / "good.ics").write_bytes(good.read_bytes())
    (tmp_path / "bad.ics").write_text("not a calendar\n")
    result = provider(tmp_path).fetch(ALL_TIME)
    assert len(result.occurrences) == 8
    assert result.warnings == [f"skipped file: {tmp_path / 'bad.ics'}: not an iCalendar file "
                               "(no BEGIN:VCALENDAR)"]


def test_repeated_description_reads_as_lines(tmp_path: Path) -> None:
    f = tmp_path / "d.ics"
    f.write_text("BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:d1\nDTSTART:20260105T100000Z\n"
                 "DESCRIPTION:first part\nDESCRIPTION:second part\nEND:VEVENT\nEND:VCALENDAR\n")
    (occ,) = provider(f).fetch(ALL_TIME).occurrences
    assert occ.description.text == "first part\nsecond part"
