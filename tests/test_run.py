"""`calsync run` end to end on local calendars (issue 3)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync.backends.base import Window
from calsync.backends.local.calendar import IcsProvider
from calsync.config import load
from calsync.core import agenda
from calsync.core.model import Occurrence
from tests.conftest import CORPUS, EXAMPLES, corpus_files
from tests.helpers import EXAMPLE_NOW, cli

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime.fromisoformat(EXAMPLE_NOW)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLES, folder)
    return folder / "config.toml"


def occurrences(config: Path) -> dict[tuple[str, datetime], Occurrence]:
    cfg = load(config)
    prov = IcsProvider(cfg.calendars[0], cfg.owner)
    window = Window(NOW - timedelta(days=200), NOW + timedelta(days=60))
    return {(o.uid, o.start): o for o in prov.fetch(window).occurrences}


def run(config: Path, *extra: str) -> tuple[int, str, str]:
    result = cli("--config", config, "run", "--now", EXAMPLE_NOW, *extra)
    return result.exit_code, result.stdout, result.stderr


def block_of(text: str) -> str:
    span = agenda.find_block(text, html=False)
    assert span is not None, text
    return text[span[0]:span[1]]


def test_first_run_writes_next_occurrences_only(example: Path) -> None:
    before = occurrences(example)
    code, out, err = run(example)
    assert code == 0, err
    after = occurrences(example)
    changed = {k for k in after if k not in before or after[k] != before[k]}
    # Alice (Thu 26th), Erin (Thu 26th); Bob's next is Dec 7: outside the 7-day horizon;
    # Carol organizes her own 1on1; Dan's series has ended.
    assert {(k[0], k[1].date().isoformat()) for k in changed} == {
        ("alice-1on1@example.com_R20260903T080000", "2026-11-26"),
        ("erin-3@example.com", "2026-11-26"),
    }
    assert "wrote agenda: Alice Chen, Thu 2026-11-26 10:00 (work)" in out
    assert "wrote agenda: Erin Sato, Thu 2026-11-26 15:00 (work)" in out
    assert "drifting" in err and "Bob Okafor" in err
    for key in changed:
        text = after[key].description.text
        assert key in before  # an instance that existed gained the block; nothing new appeared
        assert text.endswith(before[key].description.text)
        assert agenda.BEGIN in text and agenda.END in text


def test_second_run_is_silent_and_writes_nothing(example: Path) -> None:
    run(example)
    cal = example.parent / "calendar.ics"
    data = cal.read_bytes()
    docs = {p: p.read_bytes() for p in (example.parent / "docs").iterdir()}
    code, out, err = run(example)
    assert (code, out, err) == (0, "", "")
    assert cal.read_bytes() == data
    assert {p: p.read_bytes() for p in (example.parent / "docs").iterdir()} == docs


def test_carried_action_items(example: Path) -> None:
    run(example)
    alice = next(o for (uid, start), o in occurrences(example).items()
                 if uid.startswith("alice") and start.date().isoformat() == "2026-11-26")
    block = block_of(alice.description.text)
    assert "draft the Q1 onboarding plan" in block
    assert "ask finance about the conference budget" in block
    assert "intro Alice to the platform team" not in block  # checked last time: dropped
    assert "2026-11-19" in block  # first seen at last week's meeting


def test_checked_in_the_doc_stops_carrying(example: Path) -> None:
    run(example)
    doc = next((example.parent / "docs").glob("alice*.md"))
    text = doc.read_text()
    assert "- [ ] Alice: draft the Q1 onboarding plan" in text
    doc.write_text(text.replace("- [ ] Alice: draft the Q1 onboarding plan",
                                "- [x] Alice: draft the Q1 onboarding plan", 1))
    code, out, _ = run(example)
    assert code == 0 and "wrote agenda: Alice Chen" in out
    alice = next(o for (uid, start), o in occurrences(example).items()
                 if uid.startswith("alice") and start.date().isoformat() == "2026-11-26")
    block = block_of(alice.description.text)
    assert "draft the Q1 onboarding plan" not in block
    assert "ask finance about the conference budget" in block


def test_doc_created_from_template_with_dated_section(example: Path) -> None:
    run(example)
    doc = next((example.parent / "docs").glob("alice*.md"))
    text = doc.read_text()
    assert agenda.DOC_LOG_ANCHOR in text
    assert text.index(agenda.DOC_LOG_ANCHOR) < text.index("2026-11-26")
    # a person's notes in the doc survive the next meeting's section
    doc.write_text(text + "\nMy own notes, untouched.\n")
    later = (NOW + timedelta(days=7)).isoformat()
    cli("--config", example, "run", "--now", later)
    new = doc.read_text()
    assert new.endswith("\nMy own notes, untouched.\n")
    assert new.index("2026-12-03") < new.index("2026-11-26")  # newest on top


def test_dry_run_writes_nothing_and_shows_a_diff(example: Path) -> None:
    cal = example.parent / "calendar.ics"
    data = cal.read_bytes()
    code, out, _ = run(example, "--dry-run")
    assert code == 0
    assert "would write agenda: Alice Chen" in out
    assert f"+{agenda.BEGIN}" in out
    assert cal.read_bytes() == data
    assert not (example.parent / "docs").exists()
    # and a real run afterwards still writes (the dry run left no state behind)
    assert "wrote agenda: Alice Chen" in run(example)[1]


def test_json_and_quiet(example: Path) -> None:
    code, out, _ = run(example, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and {c["counterpart"] for c in doc["changes"]} == {
        "alice@example.com", "erin@example.com"}
    assert all(c["status"] == "written" for c in doc["changes"])
    cal = example.parent / "calendar.ics"
    shutil.copy(EXAMPLES / "calendar.ics", cal)
    code, out, err = run(example, "--quiet")
    assert code == 0 and out == ""
    assert cal.read_bytes() != (EXAMPLES / "calendar.ics").read_bytes()  # it did write, quietly


def test_japanese(example: Path) -> None:
    example.write_text(example.read_text().replace('language = "en"', 'language = "ja"'))
    run(example)
    alice = next(o for (uid, start), o in occurrences(example).items()
                 if uid.startswith("alice") and start.date().isoformat() == "2026-11-26")
    block = block_of(alice.description.text)
    assert any("\u3040" <= ch <= "\u30ff" for ch in block)  # kana


def test_human_edit_outside_block_survives_rewrite(example: Path) -> None:
    run(example)
    # an item is checked in the doc, so calsync rewrites the block: only the block changes
    doc = next((example.parent / "docs").glob("alice*.md"))
    doc.write_text(doc.read_text().replace("- [ ] Mia: ask finance", "- [x] Mia: ask finance", 1))
    run(example)
    alice = next(o for (uid, start), o in occurrences(example).items()
                 if uid.startswith("alice") and start.date().isoformat() == "2026-11-26")
    assert alice.description.text.endswith("Weekly 1on1, moved to Thursdays. Alice brings the topics.")
    assert alice.description.text.count(agenda.BEGIN) == 1


_CRASH = """
import importlib, os, sys
from calsync.cli.main import main
module, attr, when, nth = sys.argv[1:5]
owner = importlib.import_module(module)
*path, name = attr.split(".")
for part in path:
    owner = getattr(owner, part)
real, calls = getattr(owner, name), [0]
def crashing(*args, **kwargs):
    calls[0] += 1
    if when == "before" and calls[0] == int(nth):
        os._exit(9)
    result = real(*args, **kwargs)
    if when == "after" and calls[0] == int(nth):
        os._exit(9)
    return result
setattr(owner, name, crashing)
main(sys.argv[5:])
"""

# Every step a run writes at, killed just before or just after it.
_CRASH_POINTS = [
    ("calsync.backends.local.docs", "_write", "after", 1),  # doc created, nothing else
    ("calsync.backends.local.docs", "_write", "after", 2),  # doc section added, invite not yet
    ("calsync.ical.edit", "_replace", "before", 1),
    ("os", "replace", "before", 1),  # temp file written, not yet renamed
    ("calsync.ical.edit", "_replace", "after", 1),  # every invite written (one pass), none recorded
    ("calsync.app.store", "Store.record_write", "after", 1),
    ("calsync.app.store", "Store.record_write", "after", 2),  # second relationship recorded
    # the phase's bookkeeping not yet committed: at most it is lost, never an invite
    ("calsync.app.store", "Store.checkpoint", "before", 1),
    ("calsync.app.run", "write_pair", "after", 3),
]


@pytest.mark.parametrize("point", _CRASH_POINTS, ids=lambda p: f"{p[1]}-{p[2]}-{p[3]}")
def test_interrupted_run_converges(example: Path, tmp_path: Path,
                                   point: tuple[str, str, str, int]) -> None:
    """Kill a run at each write step; the next run ends where an uninterrupted one does."""
    example.write_text(example.read_text().replace(
        '[agenda]', '[agenda]\ndoc_url_template = "https://wiki.example.com/1on1/{slug}"'))
    reference = tmp_path / "ref"
    shutil.copytree(example.parent, reference)
    env = {**os.environ, "CALSYNC_HOME": str(tmp_path / "ref-home")}
    cmd = [sys.executable, "-m", "calsync.cli"]
    args = ["--config", str(reference / "config.toml"), "run", "--now", EXAMPLE_NOW]
    subprocess.run([*cmd, *args], env=env, check=True, capture_output=True)

    env = {**os.environ, "CALSYNC_HOME": str(tmp_path / "home")}
    args = ["--config", str(example), "run", "--now", EXAMPLE_NOW]
    module, attr, when, nth = point
    crashed = subprocess.run([sys.executable, "-c", _CRASH, module, attr, when, str(nth), *args],
                             env=env, capture_output=True)
    assert crashed.returncode == 9, crashed.stderr  # it really died at that point
    subprocess.run([*cmd, *args], env=env, check=True, capture_output=True)
    assert (example.parent / "calendar.ics").read_text() == (reference / "calendar.ics").read_text()
    docs = sorted(p.name for p in (example.parent / "docs").iterdir())
    assert docs == sorted(p.name for p in (reference / "docs").iterdir())
    for name in docs:
        assert (example.parent / "docs" / name).read_text() == (reference / "docs" / name).read_text()
    # and the run after that is silent
    again = subprocess.run([*cmd, *args], env=env, check=True, capture_output=True, text=True)
    assert again.stdout == ""


def test_lock_makes_a_second_run_exit(example: Path) -> None:
    from calsync.app.lock import run_lock
    from calsync.paths import data_dir

    with run_lock(data_dir() / "run.lock"):
        code, out, err = run(example)
    assert code == 5 and "another calsync run" in err and out == ""


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_dry_run(tmp_path: Path, path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[owner]\nemail = "me@example.com"\n\n[[calendars]]\nprovider = "ics"\n'
                      f'path = "{CORPUS / path.name}"\n')
    data = path.read_bytes()
    result = cli("--config", config, "run", "--dry-run", "--now", "2020-01-01T00:00:00+00:00")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == data


def test_event_without_uid_is_read_but_never_written(tmp_path: Path) -> None:
    cal = tmp_path / "cal.ics"
    events = "".join(
        "BEGIN:VEVENT\r\nSUMMARY:1on1 Uma / Me\r\n"
        f"DTSTART;TZID=Europe/Berlin:202611{day}T100000\r\n"
        f"DTEND;TZID=Europe/Berlin:202611{day}T103000\r\n"
        "ORGANIZER:mailto:me@example.com\r\nATTENDEE;CN=Uma:mailto:uma@example.com\r\n"
        "END:VEVENT\r\n"
        for day in ("05", "12", "19", "26")
    )
    cal.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + events + "END:VCALENDAR\r\n")
    data = cal.read_bytes()
    config = tmp_path / "config.toml"
    config.write_text('[owner]\nemail = "me@example.com"\n\n[[calendars]]\npath = "cal.ics"\n')
    status = cli("--config", config, "status", "--now", EXAMPLE_NOW, "--format", "json")
    assert json.loads(status.stdout)["relationships"][0]["counterpart"] == "uma@example.com"
    result = cli("--config", config, "run", "--now", EXAMPLE_NOW)
    assert result.exit_code == 0 and "wrote" not in result.stdout
    assert cal.read_bytes() == data


def _html_invite(example: Path) -> Path:
    """Make Alice's series description HTML, as Google or Outlook store it."""
    cal = example.parent / "calendar.ics"
    cal.write_text(cal.read_text().replace(
        "DESCRIPTION:Weekly 1on1\\, moved to Thursdays. Alice brings the topics.",
        "DESCRIPTION:<p>Weekly 1on1</p><p>Join: <a href=\"https://meet.example.com/x\">link</a></p>"))
    return cal


def test_provider_reencoded_html_block_is_not_rewritten(example: Path) -> None:
    cal = _html_invite(example)
    assert "wrote agenda: Alice Chen" in run(example)[1]
    # the server normalises our markup (Outlook does): same block, other bytes
    cal.write_text(cal.read_text().replace("<br>", "<br />"))
    data = cal.read_bytes()
    later = (NOW + timedelta(hours=1)).isoformat()
    result = cli("--config", example, "run", "--now", later)
    assert result.exit_code == 0 and "wrote" not in result.stdout
    assert cal.read_bytes() == data


def test_tick_inside_the_upcoming_block_is_kept(example: Path) -> None:
    run(example)
    cal = example.parent / "calendar.ics"
    text = cal.read_text()
    tick = "- [ ] Mia: ask finance about the conference budget"
    assert tick in text.replace("\n ", "").replace("\\n", "\n")
    unfolded = text.replace("\n ", "")
    cal.write_text(unfolded.replace(tick.replace("\n", "\\n"), tick.replace("[ ]", "[x]"), 1))
    later = (NOW + timedelta(hours=1)).isoformat()
    assert "wrote agenda: Alice Chen" in cli("--config", example, "run", "--now", later).stdout
    alice = next(o for (uid, start), o in occurrences(example).items()
                 if uid.startswith("alice") and start.date().isoformat() == "2026-11-26")
    block = block_of(alice.description.text)
    assert "conference budget" not in block and "draft the Q1 onboarding plan" in block


def _calendar_with(tmp_path: Path, vtimezone: str, tzid_param: str) -> Path:
    cal = tmp_path / "cal.ics"
    cal.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Microsoft Corporation//Outlook 16.0//EN\r\n"
        + vtimezone
        + "BEGIN:VEVENT\r\nUID:w-1\r\nSUMMARY:Sam 1on1\r\n"
        f"DTSTART;{tzid_param}:20261001T100000\r\nDTEND;{tzid_param}:20261001T103000\r\n"
        "RRULE:FREQ=WEEKLY\r\nORGANIZER:mailto:me@example.com\r\n"
        "ATTENDEE;CN=Sam:mailto:sam@example.com\r\nDESCRIPTION:Our weekly.\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    config = tmp_path / "config.toml"
    config.write_text('[owner]\nemail = "me@example.com"\n\n[[calendars]]\npath = "cal.ics"\n'
                      '[agenda]\ndocs_dir = "docs"\n')
    return config


def _vtimezone(name: str, offset: str) -> str:
    return (f"BEGIN:VTIMEZONE\r\nTZID:{name}\r\nBEGIN:STANDARD\r\nDTSTART:16010101T000000\r\n"
            f"TZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")


@pytest.mark.parametrize(
    ("vtimezone", "param"),
    [
        # an Outlook TZID with ":" and "," must stay quoted in the override
        (_vtimezone('"(UTC+01:00) Amsterdam, Berlin, Bern, Rome"', "+0100"),
         'TZID="(UTC+01:00) Amsterdam, Berlin, Bern, Rome"'),
        # a Windows zone name whose VTIMEZONE rules are wrong (khal #714)
        (_vtimezone("W. Europe Standard Time", "+0000"), "TZID=W. Europe Standard Time"),
    ],
)
def test_override_round_trips_and_is_not_duplicated(tmp_path: Path, vtimezone: str,
                                                     param: str) -> None:
    config = _calendar_with(tmp_path, vtimezone, param)
    cal = tmp_path / "cal.ics"
    first = cli("--config", config, "run", "--now", EXAMPLE_NOW)
    assert first.exit_code == 0 and "wrote agenda: Sam" in first.stdout
    text = cal.read_bytes().decode().replace("\r\n ", "")
    assert f"RECURRENCE-ID;{param}:20261126T100000" in text
    # a tick in the doc changes the block: the same override is edited, not a second one
    doc = next((tmp_path / "docs").glob("*.md"))
    doc.write_text(doc.read_text() + "\n- [ ] Sam: new item\n")
    later = (NOW + timedelta(hours=1)).isoformat()
    second = cli("--config", config, "run", "--now", later)
    assert second.exit_code == 0 and "Traceback" not in second.output
    assert "skipped event" not in second.stderr
    text = cal.read_bytes().decode().replace("\r\n ", "")
    assert text.count("RECURRENCE-ID") == 1 and "Sam: new item" in text


def test_one_off_meeting_by_the_report_does_not_hide_the_weekly(example: Path) -> None:
    cal = example.parent / "calendar.ics"
    cal.write_text(cal.read_text().replace("END:VCALENDAR", (
        "BEGIN:VEVENT\nUID:alice-asks@example.com\nSUMMARY:Quick question\n"
        "DTSTART;TZID=Europe/Berlin:20261125T140000\nDTEND;TZID=Europe/Berlin:20261125T141500\n"
        "ORGANIZER;CN=Alice Chen:mailto:alice@example.com\n"
        "ATTENDEE;CN=Mia Manager:mailto:mia@example.com\nEND:VEVENT\nEND:VCALENDAR")))
    status = cli("--config", example, "status", "--now", EXAMPLE_NOW, "--format", "json")
    alice = next(r for r in json.loads(status.stdout)["relationships"]
                 if r["counterpart"] == "alice@example.com")
    assert alice["role"] == "organizer"
    assert "wrote agenda: Alice Chen, Thu 2026-11-26 10:00" in run(example)[1]


def test_two_blocks_in_an_invite_are_left_alone_with_a_warning(example: Path) -> None:
    run(example)
    cal = example.parent / "calendar.ics"
    text = cal.read_text()
    pasted = (f"{agenda.BEGIN}\\nlast week's agenda with MY NOTES\\n{agenda.END}\\n"
              .replace(",", "\\,"))
    text = text.replace("DESCRIPTION:--- calsync agenda", "DESCRIPTION:" + pasted + "--- calsync agenda", 1)
    cal.write_text(text)
    data = cal.read_bytes()
    later = (NOW + timedelta(hours=1)).isoformat()
    doc = next((example.parent / "docs").glob("alice*.md"))
    doc.write_text(doc.read_text() + "\n- [ ] Alice: another item\n")  # the block would change
    result = cli("--config", example, "run", "--now", later)
    assert result.exit_code == 0
    assert "not written (conflict): the invite holds more than one calsync agenda block" in result.stderr
    assert cal.read_bytes() == data


def test_json_lists_every_current_warning_each_run(example: Path) -> None:
    for _ in range(2):
        doc = json.loads(run(example, "--format", "json")[1])
        assert any("Bob Okafor" in w and "drifting" in w for w in doc["warnings"])


def test_now_out_of_range_is_a_usage_error(example: Path) -> None:
    result = cli("--config", example, "status", "--now", "0001-01-01T00:00")
    assert result.exit_code == 2 and "out of range" in result.output


def test_runs_are_logged_in_state(example: Path, calsync_home: Path) -> None:
    import sqlite3

    run(example)
    run(example)
    run(example, "--dry-run")
    rows = sqlite3.connect(calsync_home / "state.sqlite3").execute(
        "SELECT command, written, errors, exit_code FROM runs").fetchall()
    assert rows == [("run", 2, 0, 0), ("run", 0, 0, 0)]  # the dry run left no trace


def test_repeated_warnings_go_out_once_a_day(example: Path) -> None:
    """A broken file, a skipped event, an agenda not written: `run` says each once a day
    (cron mails every output); `status` and JSON always list them."""
    folder = example.parent / "cals"
    folder.mkdir()
    cal = folder / "calendar.ics"
    (example.parent / "calendar.ics").rename(cal)
    # two agenda blocks in Alice's invites (one pasted): calsync leaves them, and says so
    pasted = "\\n".join([agenda.BEGIN, "x", agenda.END, agenda.BEGIN, "y", agenda.END])
    cal.write_text(cal.read_text().replace(
        "DESCRIPTION:Weekly 1on1\\, moved to Thursdays. Alice brings the topics.\nEND:VEVENT",
        f"DESCRIPTION:{pasted}\nEND:VEVENT", 1))
    (folder / "latin1.ics").write_bytes("BEGIN:VCALENDAR\nX-NAME:M\xfcller\n".encode("latin-1"))
    (folder / "broken.ics").write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:no-start@example.com\n"
        "SUMMARY:1on1\nEND:VEVENT\nEND:VCALENDAR\n")
    example.write_text(example.read_text().replace('path = "calendar.ics"', 'path = "cals"'))

    def warnings(at: datetime) -> list[str]:
        result = cli("--config", example, "run", "--now", at.isoformat(), "--quiet")
        assert result.exit_code == 0, result.output
        return [line for line in result.stderr.splitlines() if line.startswith("warning:")]

    first = warnings(NOW)
    for needle in ("latin1.ics", "broken.ics", "Alice Chen"):
        assert any(needle in w for w in first), (needle, first)
    assert any("Alice Chen" in w and "not written (conflict)" in w for w in first)
    assert warnings(NOW + timedelta(hours=1)) == []  # all said today: silence
    # JSON and status list every one, every time
    later = (NOW + timedelta(hours=2)).isoformat()
    doc = json.loads(cli("--config", example, "run", "--now", later, "--format", "json").stdout)
    assert sum("latin1.ics" in p for p in doc["problems"]) == sum("latin1.ics" in w for w in first)
    assert [c["counterpart"] for c in doc["changes"] if c["status"] == "conflict"] == [
        "alice@example.com"]
    status = cli("--config", example, "status", "--now", later)
    assert "latin1.ics" in status.stderr and "broken.ics" in status.stderr
    # the next day each is said again, once
    tomorrow = warnings(NOW + timedelta(days=1))
    for needle in ("latin1.ics", "broken.ics", "Alice Chen"):
        assert [w for w in tomorrow if needle in w] == [w for w in first if needle in w]
