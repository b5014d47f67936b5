"""``[rescue] book = true`` on Google (issue 15): events.insert with a client-chosen id,
through the real client library and the loopback fake; a retry after a lost answer is
409 duplicate, never a second event."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calsync.app.book import event_id
from calsync.backends.base import BookRequest, BookStatus
from calsync.backends.google.book import event_body
from calsync.backends.google.calendar import GoogleProvider
from calsync.config import load
from calsync.core.state import MemoryState
from calsync.errors import ProviderError
from tests.fakes.google import ALL_SCOPES, FakeGoogle, api_requests, schema_errors
from tests.google_fixtures import *  # noqa: F403
from tests.helpers import by_counterpart, cli, status_json
from tests.test_rescue import CALENDAR, NOW

ANN = "ann@example.com"


def config(fake: FakeGoogle, folder: Path, *, read_only: bool = False,
           rescue: str = "[rescue]\nbook = true\n", send_updates: str = "all") -> Path:
    fake.seed_ics(CALENDAR, ["me@example.com"], tz="Europe/Berlin")
    token = folder / "token.json"
    fake.write_token(token, "me@example.com", ALL_SCOPES)
    path = folder / "config.toml"
    path.write_text(
        f'[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n{rescue}\n'
        f'[agenda]\ndocs_dir = "{folder / "docs"}"\nhorizon_days = 1\n'
        f'[[calendars]]\nname = "g"\nprovider = "google"\ntoken_file = "{token}"\n'
        f'api_url = "{fake.base}"\nsend_updates = "{send_updates}"\n'
        f'read_only = {"true" if read_only else "false"}\n')
    return path


def inserts(fake: FakeGoogle) -> list[dict[str, Any]]:
    return api_requests(fake, "POST", "/events")


def made_up(fake: FakeGoogle) -> list[dict[str, Any]]:
    return [e for e in fake.events.values() if "make-up" in (e.get("summary") or "")]


def test_run_inserts_one_event_with_a_client_chosen_id(fake_google: FakeGoogle, tmp_path: Path) -> None:
    cfg = config(fake_google, tmp_path)
    first = cli("--config", cfg, "run", "--now", NOW)
    assert first.exit_code == 0, first.output
    assert "booked make-up 1on1: Ann Lee, Fri 2026-11-27 10:30-11:00 (g)" in first.stdout
    (call,) = inserts(fake_google)
    assert call["query"]["sendUpdates"] == ["all"]  # follows the calendar's send_updates
    body = call["body"]
    assert schema_errors(body, {"$ref": "Event"}) == []
    assert body["id"] == event_id("g", ANN, datetime.fromisoformat("2026-11-26T10:00:00+01:00"))
    assert body["attendees"] == [{"email": ANN, "displayName": "Ann Lee"}]
    assert body["start"] == {"dateTime": "2026-11-27T10:30:00+01:00", "timeZone": "Europe/Berlin"}
    assert body["summary"] == "1on1: Ann Lee (make-up for 2026-11-26)"
    assert body["description"].startswith("--- calsync agenda")
    assert "Shared doc: file://" in body["description"]
    (ev,) = made_up(fake_google)
    assert ev["organizer"]["email"] == "me@example.com"

    # planned now: the next run proposes nothing, books nothing, writes nothing
    assert by_counterpart(status_json(cfg, NOW))[ANN]["makeup"] is None
    again = json.loads(cli("--config", cfg, "run", "--now", NOW, "--format", "json").stdout)
    assert again["booked"] == [] and again["changes"] == []
    assert len(inserts(fake_google)) == 1 and len(made_up(fake_google)) == 1


def test_a_lost_answer_is_retried_into_409_and_read_as_booked(fake_google: FakeGoogle,
                                                              tmp_path: Path) -> None:
    cfg = config(fake_google, tmp_path)
    # the insert is carried out, its answer lost on the way: the client retries
    fake_google.fail_next.append({"status": 503, "path": "/events", "method": "POST", "after": True})
    doc = json.loads(cli("--config", cfg, "run", "--now", NOW, "--format", "json").stdout)
    assert [b["status"] for b in doc["booked"]] == ["already"]
    assert len(inserts(fake_google)) == 2  # the retry got 409 duplicate
    assert len(made_up(fake_google)) == 1


def test_read_only_and_dry_run_insert_nothing(fake_google: FakeGoogle, tmp_path: Path) -> None:
    cfg = config(fake_google, tmp_path)
    dry = cli("--config", cfg, "run", "--now", NOW, "--dry-run")
    assert "would book make-up 1on1: Ann Lee" in dry.stdout
    assert inserts(fake_google) == []
    ro = tmp_path / "ro"
    ro.mkdir()
    cfg = config(fake_google, ro, read_only=True)
    result = cli("--config", cfg, "run", "--now", NOW, "--format", "json")
    assert json.loads(result.stdout)["booked"] == []
    assert inserts(fake_google) == [] and made_up(fake_google) == []


def test_fake_refuses_a_bad_or_duplicate_id(fake_google: FakeGoogle, tmp_path: Path) -> None:
    """The fake follows the documented insert: base32hex ids, 409 on a reused one."""
    cfg = load(config(fake_google, tmp_path))
    provider = GoogleProvider(cfg.calendars[0], cfg.owner, MemoryState(), datetime.fromisoformat(NOW))
    start = datetime.fromisoformat("2026-11-30T09:00:00+01:00")
    req = BookRequest(event_id="abcdefv0123", start=start, end=start + timedelta(minutes=30),
                      title="t", description="d", organizer="me@example.com",
                      counterpart=ANN, counterpart_name=None)
    assert provider.book(req).status is BookStatus.BOOKED
    assert provider.book(req).status is BookStatus.ALREADY
    bad = BookRequest(**{**req.__dict__, "event_id": "NOT-base32hex"})
    with pytest.raises(ProviderError, match="g"):  # 400 invalid: an error naming the calendar
        provider.book(bad)
    assert event_body(req, "UTC")["attendees"] == [{"email": ANN}]
