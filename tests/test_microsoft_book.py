"""``[rescue] book = true`` on Outlook (issue 15): ``POST events`` with a transactionId,
through httpx and the loopback Graph fake; a retry after a lost answer creates nothing new."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calsync.app.book import event_id
from calsync.backends.base import BookRequest
from calsync.backends.microsoft.book import transaction_id
from tests.fakes.microsoft import FakeMicrosoft
from tests.helpers import by_counterpart, cli, status_json
from tests.microsoft_fixtures import *  # noqa: F403

BERLIN = ZoneInfo("Europe/Berlin")
ANN = "ann@example.com"
NOW = "2026-11-27T08:00:00+01:00"


@pytest.fixture
def outlook(ms_tls: Any, trust_ca: Path, tmp_path: Path) -> Iterator[Any]:
    """``make(read_only)``: Ann's weekly Thursday 1on1 lost its 26 Nov instance."""
    from calsync.backends.microsoft.setup import setup

    fake = FakeMicrosoft(user_email="me@example.com", user_name="Me Owner").start(ms_tls[1])

    def make(read_only: bool = False) -> tuple[FakeMicrosoft, Path]:
        first = datetime(2026, 10, 1, 10, tzinfo=BERLIN)
        master = fake.add_event("Ann / Me 1on1", first, first + timedelta(minutes=30),
                                [(ANN, "accepted", "required", "Ann Lee")], tz="Europe/Berlin",
                                rrule="FREQ=WEEKLY")
        fake.delete_occurrence(fake.occurrence_id(master, datetime(2026, 11, 26, 9, tzinfo=UTC)))
        cfg = tmp_path / "config.toml"
        cfg.write_text(
            '[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n'
            f'[rescue]\nbook = true\n[agenda]\ndocs_dir = "{tmp_path / "docs"}"\nhorizon_days = 1\n'
            '[[calendars]]\nname = "outlook"\nprovider = "microsoft"\nclient_id = "cid"\n'
            f'authority_url = "{fake.base}"\ngraph_url = "{fake.graph_url}"\n'
            f'read_only = {"true" if read_only else "false"}\n', encoding="utf-8")
        setup(cfg, None, "organizations", browser=False, read_only=read_only,
              echo=lambda s: None)
        fake.log.clear()
        return fake, cfg

    yield make
    fake.stop()


def creates(fake: FakeMicrosoft) -> list[Any]:
    return [r for r in fake.graph_requests("POST") if r.path.endswith("/events")]


def test_run_creates_one_event_with_a_transaction_id(outlook: Any) -> None:
    fake, cfg = outlook()
    first = cli("--config", cfg, "run", "--now", NOW)
    assert first.exit_code == 0, first.output
    assert "booked make-up 1on1: Ann Lee, Fri 2026-11-27 09:00-09:30 (outlook)" in first.stdout
    (req,) = creates(fake)
    assert req.path == "/v1.0/me/events"
    body = json.loads(req.body)
    skipped = datetime.fromisoformat("2026-11-26T10:00:00+01:00")
    eid = event_id("outlook", ANN, skipped)
    assert body["transactionId"] == transaction_id(_req(eid))
    assert body["subject"] == "1on1: Ann Lee (make-up for 2026-11-26)"
    assert body["start"] == {"dateTime": "2026-11-27T09:00:00", "timeZone": "Europe/Berlin"}
    assert body["end"] == {"dateTime": "2026-11-27T09:30:00", "timeZone": "Europe/Berlin"}
    assert body["attendees"] == [{"type": "required",
                                  "emailAddress": {"address": ANN, "name": "Ann Lee"}}]
    assert body["body"]["contentType"] == "html" and "calsync agenda" in body["body"]["content"]
    assert fake.created == 1

    assert by_counterpart(status_json(cfg, NOW))[ANN]["makeup"] is None
    again = json.loads(cli("--config", cfg, "run", "--now", NOW, "--format", "json").stdout)
    assert again["booked"] == [] and again["changes"] == []  # its agenda is already the one
    assert len(creates(fake)) == 1 and fake.created == 1


def test_a_create_whose_answer_was_lost_is_retried_into_the_same_event(outlook: Any) -> None:
    fake, cfg = outlook()
    fake.fault_at = lambda i, method, path: (
        "reset" if method == "POST" and path.endswith("/events") and not fake.created else None)
    result = cli("--config", cfg, "run", "--now", NOW, "--format", "json")
    assert result.exit_code == 0, result.output
    assert [b["status"] for b in json.loads(result.stdout)["booked"]] == ["booked"]
    assert len(creates(fake)) == 2  # sent twice, created once
    assert fake.created == 1


def test_read_only_and_dry_run_create_nothing(outlook: Any) -> None:
    fake, cfg = outlook()
    dry = cli("--config", cfg, "run", "--now", NOW, "--dry-run")
    assert "would book make-up 1on1: Ann Lee" in dry.stdout
    assert creates(fake) == []


def test_read_only_calendar_never_books(outlook: Any) -> None:
    fake, cfg = outlook(read_only=True)
    result = cli("--config", cfg, "run", "--now", NOW, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["booked"] == [] and creates(fake) == []


def _req(eid: str) -> BookRequest:
    start = datetime(2026, 11, 27, 9, tzinfo=BERLIN)
    return BookRequest(eid, start, start + timedelta(minutes=30), "t", "d", "me@example.com",
                       ANN, None)
