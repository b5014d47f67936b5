"""Writing one occurrence into a local .ics file: nothing else changes (issue 3)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync.backends.base import Window, WriteStatus
from calsync.backends.local.calendar import IcsProvider
from calsync.backends.local.config import IcsCalendar
from calsync.config import Owner
from calsync.core.model import Body, Occurrence
from calsync.errors import CalendarFileError
from tests.conftest import EXAMPLES

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN)


@pytest.fixture
def cal(tmp_path: Path) -> Path:
    path = tmp_path / "calendar.ics"
    shutil.copy(EXAMPLES / "calendar.ics", path)
    return path


def provider(path: Path) -> IcsProvider:
    return IcsProvider(IcsCalendar(name="w", path=path),
                       Owner(("mia@example.com",), "Europe/Berlin"))


def occurrences(path: Path, days: int = 30) -> list[Occurrence]:
    """The file as it is now, whole descriptions included (a cached read keeps only the
    parts calsync reads: tests/test_read_equivalence.py)."""
    fresh = IcsProvider(IcsCalendar(name="w", path=path), Owner(("mia@example.com",), "Europe/Berlin"),
                        cache=False)
    occs = fresh.fetch(Window(NOW - timedelta(days=200), NOW + timedelta(days=days)))
    return sorted(occs.occurrences, key=lambda o: o.start)


def find(path: Path, title: str, start: datetime) -> Occurrence:
    return next(o for o in occurrences(path) if o.title.startswith(title) and o.start == start)


def prepend(marker: str):  # noqa: ANN201
    return lambda body: Body(marker + body.text, body.html)


def test_instance_of_series_gets_an_override_and_nothing_else_changes(cal: Path) -> None:
    before_bytes = cal.read_bytes()
    before = occurrences(cal)
    target = find(cal, "Alice", datetime(2026, 11, 26, 10, tzinfo=BERLIN))
    result = provider(cal).write_description(target, prepend("AGENDA; a, b\n"), "tag")
    assert result.status is WriteStatus.WRITTEN
    after = occurrences(cal)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == 1
    assert changed[0][1].description.text == "AGENDA; a, b\n" + target.description.text
    # the new file is the old one with one VEVENT inserted: every old byte kept, in order
    new_bytes = cal.read_bytes()
    prefix = os.path.commonprefix([before_bytes, new_bytes])
    suffix = os.path.commonprefix([before_bytes[::-1], new_bytes[::-1]])
    assert len(prefix) + len(suffix) >= len(before_bytes)
    inserted = new_bytes[len(prefix): len(new_bytes) - len(suffix)].decode()
    assert new_bytes.count(b"BEGIN:VEVENT") == before_bytes.count(b"BEGIN:VEVENT") + 1
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20261126T100000" in inserted
    assert "RRULE" not in inserted


def test_second_write_edits_the_override_in_place(cal: Path) -> None:
    start = datetime(2026, 11, 26, 10, tzinfo=BERLIN)
    provider(cal).write_description(find(cal, "Alice", start), prepend("ONE\n"), "t")
    size = len(cal.read_text().split("BEGIN:VEVENT"))
    occ = find(cal, "Alice", start)
    provider(cal).write_description(occ, lambda b: Body(b.text.replace("ONE", "TWO")), "t")
    assert len(cal.read_text().split("BEGIN:VEVENT")) == size
    assert find(cal, "Alice", start).description.text.startswith("TWO\n")


def test_unchanged_splice_leaves_file_byte_identical(cal: Path) -> None:
    data = cal.read_bytes()
    occ = find(cal, "Alice", datetime(2026, 11, 26, 10, tzinfo=BERLIN))
    assert provider(cal).write_description(occ, lambda b: None, "t").status is WriteStatus.UNCHANGED
    assert cal.read_bytes() == data


def test_single_event_and_crlf_line_endings_kept(cal: Path) -> None:
    cal.write_bytes(cal.read_bytes().replace(b"\n", b"\r\n"))
    old = set(cal.read_bytes().split(b"\r\n"))
    occ = find(cal, "Erin", datetime(2026, 11, 26, 15, tzinfo=BERLIN))
    provider(cal).write_description(occ, prepend("X" * 200 + "\n"), "t")
    raw = cal.read_bytes()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    new = [line for line in raw.split(b"\r\n") if line not in old]
    assert new and all(len(line) <= 75 for line in new)
    assert find(cal, "Erin", occ.start).description.text.startswith("X" * 200)


def test_attendee_role_event_is_never_written(cal: Path) -> None:
    data = cal.read_bytes()
    occ = find(cal, "Mia <> Carol", datetime(2026, 11, 26, 16, tzinfo=BERLIN))
    result = provider(cal).write_description(occ, prepend("NO"), "t")
    assert result.status is WriteStatus.FORBIDDEN and "carol@example.com" in result.detail
    assert cal.read_bytes() == data


def test_non_utf8_file_is_left_alone(cal: Path) -> None:
    cal.write_bytes(cal.read_bytes().replace(b"Alice brings", b"Alice br\xefngs"))
    data = cal.read_bytes()
    occ = find(cal, "Alice", datetime(2026, 11, 26, 10, tzinfo=BERLIN))
    result = provider(cal).write_description(occ, prepend("NO"), "t")
    assert result.status is WriteStatus.FORBIDDEN and "not UTF-8" in result.detail
    assert cal.read_bytes() == data


def test_failed_rename_fails_with_path_and_keeps_file(cal: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = cal.read_bytes()
    occ = find(cal, "Alice", datetime(2026, 11, 26, 10, tzinfo=BERLIN))

    def refuse(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(CalendarFileError, match=r"calendar\.ics: cannot write: Permission denied"):
        provider(cal).write_description(occ, prepend("NO"), "t")
    assert cal.read_bytes() == data
    home = os.environ["CALSYNC_HOME"]  # the read cache lives there, not beside the file
    assert [p for p in cal.parent.iterdir() if str(p) != home] == [cal]  # no temp file left behind


def test_concurrent_change_is_spliced_again(cal: Path) -> None:
    occ = find(cal, "Alice", datetime(2026, 11, 26, 10, tzinfo=BERLIN))
    calls: list[str] = []

    def splice(body: Body) -> Body:
        calls.append(body.text)
        if len(calls) == 1:  # someone saves the file while we work
            cal.write_text(cal.read_text().replace("Alice brings the topics.",
                                                   "Alice brings the topics!"))
        return Body("AGENDA\n" + body.text)

    assert provider(cal).write_description(occ, splice, "t").status is WriteStatus.WRITTEN
    assert len(calls) == 2 and calls[1].endswith("topics!")
    assert find(cal, "Alice", occ.start).description.text.endswith("topics!")


def test_read_only_file_is_left_alone(cal: Path) -> None:
    occ = find(cal, "Alice", datetime(2026, 11, 26, 10, tzinfo=BERLIN))
    data = cal.read_bytes()
    cal.chmod(0o444)
    with pytest.raises(CalendarFileError, match=r"calendar\.ics: the file is read-only"):
        provider(cal).write_description(occ, prepend("NO"), "t")
    assert cal.read_bytes() == data


def test_symlinked_calendar_updates_the_target(cal: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.ics"
    link.symlink_to(cal)
    occ = find(link, "Alice", datetime(2026, 11, 26, 10, tzinfo=BERLIN))
    assert provider(link).write_description(occ, prepend("AGENDA\n"), "t").status is WriteStatus.WRITTEN
    assert link.is_symlink()
    assert find(cal, "Alice", occ.start).description.text.startswith("AGENDA\n")


def test_many_writes_to_one_file_are_one_replace_and_equal_writing_one_by_one(
    cal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first run's writes go into the file in one pass: one rename, same bytes."""
    one_by_one = tmp_path / "one" / "calendar.ics"
    one_by_one.parent.mkdir()
    shutil.copy(cal, one_by_one)
    upcoming = [o for o in occurrences(cal) if NOW < o.start <= NOW + timedelta(days=14)
                and o.organizer_is_self and o.writable]
    # instances of series (new overrides) and the same series twice (a second round)
    assert len(upcoming) >= 3 and len({o.uid for o in upcoming}) < len(upcoming)
    wanted = {(u.uid, u.start) for u in upcoming}
    for occ in [o for o in occurrences(one_by_one) if (o.uid, o.start) in wanted]:
        assert provider(one_by_one).write_description(occ, prepend("A\n"), "t").status \
            is WriteStatus.WRITTEN
    renames: list[str] = []
    real = os.replace

    def counted(src: str, dst: str) -> None:
        renames.append(str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", counted)
    results = provider(cal).write_descriptions([(o, prepend("A\n")) for o in upcoming])
    assert [r.status for r in results] == [WriteStatus.WRITTEN] * len(upcoming)
    assert renames.count(str(cal.resolve())) == 1
    # the same VEVENTs as writing one at a time (overrides may sit in another order)
    def events(path: Path) -> list[str]:
        return sorted(path.read_text().split("BEGIN:VEVENT"))
    assert events(cal) == events(one_by_one)
    assert all(o.description.text.startswith("A\n") for o in occurrences(cal)
               if (o.uid, o.start) in wanted)
