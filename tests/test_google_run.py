"""`calsync run` on a Google calendar served by the loopback fake, through the CLI."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calsync.backends.google.calendar import TAG_KEY
from tests.fakes.google import CANCELLED_INSTANCE_FIELDS, FakeGoogle, api_requests
from tests.google_fixtures import *  # noqa: F403
from tests.helpers import SCENARIO_NOW, assert_private_state, cli

ROOT = Path(__file__).resolve().parents[1]
HTML = '<p>Agreed: <b>ship it</b></p><a href="https://example.com/?q=1&amp;x=2">link</a>&nbsp;'


def setup_calendar(fake: FakeGoogle, folder: Path) -> Path:
    fake.seed_ics((ROOT / "tests" / "scenarios" / "core.ics").read_text(), ["me@example.com"],
                  tz="Europe/Berlin")
    token = folder / "token.json"
    fake.write_token(token, "me@example.com")
    config = folder / "config.toml"
    config.write_text(
        '[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n\n'
        f'[[calendars]]\nname = "scenarios"\nprovider = "google"\ntoken_file = "{token}"\n'
        f'api_url = "{fake.base}"\n'
    )
    return config


def test_run_writes_agendas_docs_and_then_stays_quiet(fake_google: FakeGoogle,
                                                      tmp_path: Path) -> None:
    config = setup_calendar(fake_google, tmp_path)
    # a description with HTML on Sam's next meeting, that calsync must keep as it is
    sam_next = next(e for e in fake_google.events.values()
                    if "split@example.com" in str(e.get("attendees"))
                    and e.get("recurringEventId") and e["start"]["dateTime"].startswith("2026-05-04"))
    fake_google.edit(sam_next["id"], description=HTML)

    first = cli("--config", config, "run", "--now", SCENARIO_NOW)
    assert first.exit_code == 0, first.output
    patches = api_requests(fake_google, "PATCH")
    assert len(patches) >= 5
    for p in patches:
        assert p["headers"]["if-match"].startswith('"')
        assert p["query"]["sendUpdates"] == ["none"]
        assert set(p["body"]["extendedProperties"]["private"]) == {TAG_KEY}
    written = {p["path"].rsplit("/", 1)[-1] for p in patches}
    for eid in written:
        ev = fake_google.events[eid]
        assert ev["organizer"]["email"] == "me@example.com"  # only where the owner organizes
        assert ev["attachments"][0]["fileUrl"] in ev["description"]  # the doc, linked+attached
    # the attendee-only relationship (the boss organizes) was not written
    assert not any("boss@example.com" in str(fake_google.events[e].get("attendees"))
                   for e in written)
    stored = fake_google.events[sam_next["id"]]["description"]
    assert HTML in stored and stored != HTML
    # one doc per relationship, shared as writer with the counterpart, a section on top
    shared = {p[0]["emailAddress"] for p in fake_google.permissions.values()}
    assert "split@example.com" in shared and len(shared) == len(fake_google.files)
    assert all(p[0]["role"] == "writer" for p in fake_google.permissions.values())

    second = cli("--config", config, "run", "--now", SCENARIO_NOW)
    assert second.exit_code == 0, second.output
    fake_google.log.clear()
    third = cli("--config", config, "run", "--now", SCENARIO_NOW)
    assert third.exit_code == 0, third.output
    calls = [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in api_requests(fake_google)]
    # steady state: one events.list with the sync token, no writes
    assert calls == [("GET", "events")]
    assert "syncToken" in api_requests(fake_google)[0]["query"]
    assert "wrote" not in third.output
    # once an hour the Drive change feed is read too (ticks in the docs); the first time
    # it lists calsync's own section inserts, so those docs are exported once
    for minutes, exports in ((61, True), (122, False)):
        fake_google.log.clear()
        later = (datetime.fromisoformat(SCENARIO_NOW) + timedelta(minutes=minutes)).isoformat()
        assert cli("--config", config, "run", "--now", later).exit_code == 0
        calls = [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in api_requests(fake_google)]
        assert calls[:2] == [("GET", "events"), ("GET", "changes")]
        assert all(c == ("GET", "export") for c in calls[2:]) and bool(calls[2:]) == exports


def test_run_carries_an_action_item_typed_into_the_doc(fake_google: FakeGoogle,
                                                       tmp_path: Path) -> None:
    config = setup_calendar(fake_google, tmp_path)
    assert cli("--config", config, "run", "--now", SCENARIO_NOW).exit_code == 0
    doc_id = next(fid for fid, perms in fake_google.permissions.items()
                  if perms[0]["emailAddress"] == "split@example.com")
    fake_google.doc_typed(doc_id, "- [ ] Sam: write the migration plan")
    later = (datetime.fromisoformat(SCENARIO_NOW) + timedelta(hours=2)).isoformat()
    result = cli("--config", config, "run", "--now", later)
    assert result.exit_code == 0, result.output
    target = [p for p in api_requests(fake_google, "PATCH")
              if "Sam: write the migration plan" in p["body"]["description"]
              or "write the migration plan" in p["body"]["description"]]
    assert target, "the open item from the doc is carried into Sam's next invite"


def test_revoked_login_stops_only_that_calendar(fake_google: FakeGoogle, tmp_path: Path) -> None:
    config = setup_calendar(fake_google, tmp_path)
    fake_google.expire_access_tokens()
    fake_google.revoke_all()
    ics = ROOT / "tests" / "scenarios" / "core.ics"
    config.write_text(config.read_text() + f'\n[[calendars]]\nname = "local"\nprovider = "ics"\n'
                                           f'path = "{ics}"\nread_only = true\n')
    result = cli("--config", config, "status", "--now", SCENARIO_NOW, "--format", "json")
    assert result.exit_code == 3
    assert "calsync setup google" in result.output
    assert '"calendar": "local"' in result.output  # the other calendar was still reported


def test_refused_drive_change_feed_fails_only_that_calendar_cleanly(fake_google: FakeGoogle,
                                                                    tmp_path: Path) -> None:
    config = setup_calendar(fake_google, tmp_path)
    assert cli("--config", config, "run", "--now", SCENARIO_NOW).exit_code == 0
    # a writable calendar after the Google one, still to be written
    local = tmp_path / "local.ics"
    local.write_text((ROOT / "tests" / "scenarios" / "core.ics").read_text())
    config.write_text(config.read_text() + f'\n[[calendars]]\nname = "local"\nprovider = "ics"\n'
                                           f'path = "{local}"\n')
    later = (datetime.fromisoformat(SCENARIO_NOW) + timedelta(hours=2)).isoformat()
    fake_google.fail_next.append({"status": 403, "reason": "insufficientPermissions",
                                  "path": "/drive/v3/changes"})
    result = cli("--config", config, "run", "--now", later, "--format", "json")
    assert result.exit_code == 3  # log in again, not a traceback
    doc = json.loads(result.stdout)
    (error,) = doc["errors"]
    assert error.startswith("scenarios: ") and "calsync setup google" in error
    assert any(c["calendar"] == "local" for c in doc["changes"])  # the next one still ran
    assert "Traceback" not in result.output


def test_login_without_drive_access_exits_3_naming_the_fix(fake_google: FakeGoogle,
                                                           tmp_path: Path) -> None:
    config = setup_calendar(fake_google, tmp_path)
    # "drive.file" unchecked on Google's consent screen
    fake_google.write_token(tmp_path / "token.json", "me@example.com",
                            ["https://www.googleapis.com/auth/calendar.events"])
    result = cli("--config", config, "run", "--now", SCENARIO_NOW)
    assert result.exit_code == 3, result.output
    assert "calsync setup google" in result.output and "insufficientPermissions" in result.output


def _status(config: Path, now: str) -> dict[str, dict[str, Any]]:
    result = cli("--config", config, "status", "--now", now, "--format", "json")
    assert result.exit_code == 0, result.output
    return {r["counterpart"]: r for r in json.loads(result.stdout)["relationships"]}


def test_cancelled_instances_listed_bare_still_count(fake_google: FakeGoogle, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Google lists a cancelled instance with only its id, series and original start: it
    still belongs to its relationship and counts as planned but not held, on the first
    (full) sync and in later incremental ones."""
    config = setup_calendar(fake_google, tmp_path)
    token = json.loads((tmp_path / "token.json").read_text())["token"]
    req = urllib.request.Request(
        f"{fake_google.base}/calendar/v3/calendars/primary/events?singleEvents=true"
        "&showDeleted=true&maxResults=2500", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        items = json.loads(resp.read())["items"]
    listed = [e for e in items if e["status"] == "cancelled" and e.get("recurringEventId")]
    assert listed and all(set(e) <= set(CANCELLED_INSTANCE_FIELDS) for e in listed)
    first = _status(config, SCENARIO_NOW)
    assert first["exdate@example.com"]["cancelled"] == 2  # EXDATEs, never seen in full
    assert first["exdate@example.com"]["planned"] > first["exdate@example.com"]["held"]
    # between runs: one past meeting of a series is deleted, and a new series arrives whose
    # first meeting was cancelled (listed before any sibling that could describe it)
    drift = sorted((e for e in fake_google.events.values()
                    if "drift@example.com" in str(e.get("attendees"))
                    and e.get("recurringEventId") and e["status"] != "cancelled"
                    and e["_start"] < datetime.fromisoformat(SCENARIO_NOW)),
                   key=lambda e: e["_start"])
    fake_google.cancel(drift[-1]["id"])
    fake_google.seed_ics(NEW_SERIES, ["me@example.com"], tz="Europe/Berlin")
    fake_google.log.clear()
    second = _status(config, SCENARIO_NOW)
    assert "syncToken" in api_requests(fake_google)[0]["query"]  # incremental
    assert second["drift@example.com"]["cancelled"] == first["drift@example.com"]["cancelled"] + 1
    new = second["new@example.com"]
    assert new["cancelled"] == 1 and new["titles"] == ["New / Me 1on1"]
    assert new["held"] == new["planned"] - 1
    # a fresh full sync (new state) sees the same
    monkeypatch.setenv("CALSYNC_HOME", str(tmp_path / "fresh"))
    assert _status(config, SCENARIO_NOW) == second


NEW_SERIES = """BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VEVENT
UID:new-series@example.com
SUMMARY:New / Me 1on1
DTSTART;TZID=Europe/Berlin:20260401T090000
DTEND;TZID=Europe/Berlin:20260401T092500
RRULE:FREQ=WEEKLY;COUNT=6
EXDATE;TZID=Europe/Berlin:20260401T090000
ORGANIZER:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:new@example.com
END:VEVENT
END:VCALENDAR
"""


PASSCODE = "Passcode: Zq7Hd3-SENTINEL"
NOTE = "private note: Sam is thinking of leaving"


def test_state_keeps_no_invite_text_and_is_private(fake_google: FakeGoogle, tmp_path: Path,
                                                   calsync_home: Path) -> None:
    """Invite bodies hold Teams passcodes and people's notes: the state database keeps
    none of it (only checklist lines and calsync's block), in the db or its -wal."""
    from calsync.app.store import Store

    config = setup_calendar(fake_google, tmp_path)
    sams = [e for e in fake_google.events.values()
            if "split@example.com" in str(e.get("attendees"))]
    for ev in sams:  # past and upcoming meetings alike
        fake_google.edit(ev["id"], description=f"<p>{NOTE}</p><p>{PASSCODE}</p>"
                                               "<p>- [ ] Sam: draft the plan</p>")
    holder = Store(calsync_home / "state.sqlite3")  # a reader keeps the -wal in place
    try:
        holder.db.execute("SELECT count(*) FROM kv").fetchone()
        for _ in range(2):
            result = cli("--config", config, "run", "--now", SCENARIO_NOW)
            assert result.exit_code == 0, result.output
        for file_id in fake_google.files:  # notes typed into the shared docs: not kept either
            fake_google.doc_typed(file_id, "doc note: salary talk SENTINEL-DOC\n")
        later = (datetime.fromisoformat(SCENARIO_NOW) + timedelta(hours=2)).isoformat()
        result = cli("--config", config, "run", "--now", later)
        assert result.exit_code == 0, result.output
        assert (calsync_home / "state.sqlite3-wal").exists()
        assert_private_state(calsync_home, "Zq7Hd3-SENTINEL", "thinking of leaving",
                             "SENTINEL-DOC")
    finally:
        holder.close()
    # the invite itself still holds every word, and the item was carried over
    stored = [fake_google.events[e["id"]]["description"] for e in sams]
    assert all(PASSCODE in d and NOTE in d for d in stored)
    from calsync.core.agenda import BEGIN, find_block

    written = [d for d in stored if BEGIN in d]
    assert len(written) == 1
    span = find_block(written[0], html=True)
    assert span is not None and "Sam: draft the plan" in written[0][span[0]:span[1]]
