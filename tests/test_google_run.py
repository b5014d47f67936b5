"""`calsync run` on a Google calendar served by the loopback fake, through the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from calsync.providers.google import TAG_KEY
from tests.fakes.google import FakeGoogle, api_requests
from tests.google_fixtures import *  # noqa: F403
from tests.helpers import SCENARIO_NOW, cli

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
