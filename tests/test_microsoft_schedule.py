"""Make-up slots on Outlook (issue 15): the counterpart's busy times from Graph
``calendar/getSchedule`` through the loopback fake, in the documented request/response
shapes; slots never over their busy time nor outside working hours, in Berlin across the
DST change and in Tokyo; a refused free/busy keeps the run going; a steady run asks nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calsync.backends.base import DocRequest, Window
from calsync.backends.microsoft.schedule import busy_of, request_body
from tests.fakes.microsoft import FakeMicrosoft
from tests.helpers import by_counterpart, cli, status_json
from tests.microsoft_fixtures import *  # noqa: F403
from tests.microsoft_fixtures import MsEnv

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
BOB = "bob@contoso.example"
GHOST = "ghost@contoso.example"
ANN = "ann@example.com"


def _bob_day(fake: FakeMicrosoft) -> datetime:
    day = datetime(2026, 11, 30, tzinfo=BERLIN)
    fake.schedules[BOB] = [
        (day.replace(hour=9), day.replace(hour=10), "tentative"),
        (day.replace(hour=10), day.replace(hour=12), "workingElsewhere"),
        (day.replace(hour=13), day.replace(hour=14), "busy"),
        (day.replace(hour=13, minute=30), day.replace(hour=15), "oof"),
        (day.replace(hour=16), day.replace(hour=17), "free"),
    ]
    return day


def test_get_schedule_request_and_response_as_documented(ms_env: MsEnv) -> None:
    day = _bob_day(ms_env.fake)
    provider = ms_env.provider()
    got = provider.busy([BOB.upper(), GHOST], day, day + timedelta(days=1))
    # free and workingElsewhere leave the time free; tentative, busy, oof hold it (merged);
    # the address the tenant does not know has no entry
    utc = datetime(2026, 11, 30, tzinfo=UTC)
    assert got == {BOB: [(utc.replace(hour=8), utc.replace(hour=9)),
                         (utc.replace(hour=12), utc.replace(hour=14))]}
    (req,) = ms_env.fake.graph_requests("POST")
    assert req.path == "/v1.0/me/calendar/getSchedule"
    assert req.headers["Content-Type"].startswith("application/json")
    assert req.headers["Prefer"] == 'outlook.timezone="UTC"'
    assert json.loads(req.body) == {
        "schedules": [BOB, GHOST],
        "startTime": {"dateTime": "2026-11-29T23:00:00", "timeZone": "UTC"},
        "endTime": {"dateTime": "2026-11-30T23:00:00", "timeZone": "UTC"},
        "availabilityViewInterval": 30,
    }


def test_answers_in_another_zone_land_on_the_same_instants(ms_env: MsEnv) -> None:
    day = _bob_day(ms_env.fake)
    provider = ms_env.provider()
    end = day + timedelta(days=1)
    resp = provider.graph.request(
        "POST", "/me/calendar/getSchedule",
        headers={"Prefer": 'outlook.timezone="Tokyo Standard Time"'},
        json_body=request_body([BOB, GHOST], day, end), retry=True)
    doc = resp.json()
    bob, ghost = doc["value"]
    assert ghost["scheduleId"] == GHOST and ghost["error"]["responseCode"]
    assert bob["scheduleItems"][0] == {
        "isPrivate": False, "status": "tentative",
        "start": {"dateTime": "2026-11-30T17:00:00.0000000", "timeZone": "Tokyo Standard Time"},
        "end": {"dateTime": "2026-11-30T18:00:00.0000000", "timeZone": "Tokyo Standard Time"}}
    # 30-minute slots from Berlin midnight: 09:00 is slot 18; 13:30-15:00 out of office
    assert bob["availabilityView"][18:32] == "11000000233300"
    assert busy_of(doc, day, end) == provider.busy([BOB], day, end)


@pytest.mark.parametrize("how", ["tenant refuses", "login lacks the scope"])
def test_refused_free_busy_is_one_warning_and_no_entries(ms_env: MsEnv, how: str) -> None:
    fake = ms_env.fake
    day = _bob_day(fake)
    provider = ms_env.provider()
    fetched = provider.fetch(Window(day, day + timedelta(days=7)))
    if how == "tenant refuses":
        fake.free_busy_refused = True
    else:
        for token in fake.token_scopes:
            fake.token_scopes[token] = "Files.ReadWrite openid profile offline_access"
    assert provider.busy([BOB], day, day + timedelta(days=1)) == {}
    (warning,) = fetched.warnings
    assert "refused free/busy (HTTP 403 ErrorAccessDenied)" in warning
    assert "calsync setup microsoft" in warning


def test_a_configured_mailbox_is_read_under_users(ms_env: MsEnv) -> None:
    fake = ms_env.fake
    ms_env.config_path.write_text(ms_env.config_path.read_text(encoding="utf-8")
                                  + f'mailbox = "{fake.user_email}"\n', encoding="utf-8")
    day = _bob_day(fake)
    provider = ms_env.provider()
    provider.fetch(Window(day, day + timedelta(days=7)))
    assert provider.busy([BOB], day, day + timedelta(days=1))
    provider.docs().ensure(DocRequest(key="work:bob", counterpart=BOB, counterpart_name="Bob",
                                      title="1on1 Bob / Mona", template="# notes\n"))
    paths = [r.path for r in fake.graph_requests()]
    assert paths and all(p.startswith(f"/v1.0/users/{fake.user_email}/") for p in paths), paths


# --- through the CLI: a skipped Thursday 1on1 on an Outlook calendar ---------------------


@pytest.fixture
def outlook(ms_tls: Any, trust_ca: Path, tmp_path: Path) -> Iterator[Any]:
    """``make(zone, first, skipped)``: an Outlook calendar whose weekly Thursday 1on1 with
    Ann (10:00 in ``zone``) lost the instance ``skipped``, and a config for it."""
    from calsync.backends.microsoft.setup import setup

    fake = FakeMicrosoft(user_email="me@example.com", user_name="Me Owner").start(ms_tls[1])

    def make(zone: str, first: datetime, skipped: datetime) -> tuple[FakeMicrosoft, Path]:
        master = fake.add_event("Ann / Me 1on1", first, first + timedelta(minutes=30),
                                [(ANN, "accepted", "required", "Ann Lee")], tz=zone,
                                rrule="FREQ=WEEKLY")
        fake.delete_occurrence(fake.occurrence_id(master, skipped))
        cfg = tmp_path / "config.toml"
        cfg.write_text(
            f'[owner]\nemail = "me@example.com"\ntimezone = "{zone}"\n\n'
            '[[calendars]]\nname = "outlook"\nprovider = "microsoft"\nclient_id = "cid"\n'
            f'authority_url = "{fake.base}"\ngraph_url = "{fake.graph_url}"\n'
            'read_only = true\n', encoding="utf-8")
        setup(cfg, None, "organizations", browser=False, read_only=True, echo=lambda s: None)
        fake.log.clear()
        return fake, cfg

    yield make
    fake.stop()


def _assert_clear(slots: list[str], busy: list[tuple[datetime, datetime, str]], zone: ZoneInfo,
                  minutes: int = 30) -> None:
    for text in slots:
        start = datetime.fromisoformat(text)
        end = start + timedelta(minutes=minutes)
        local = start.astimezone(zone)
        assert local.weekday() < 5 and time(9) <= local.time()
        assert (end.astimezone(zone).time() <= time(18)) and local.date() == end.astimezone(
            zone).date()
        assert not any(lo < end and start < hi for lo, hi, st in busy
                       if st not in ("free", "workingElsewhere")), text


def test_skipped_meeting_gets_slots_clear_of_the_counterparts_busy_time(outlook: Any) -> None:
    first = datetime(2026, 10, 1, 10, tzinfo=BERLIN)
    fake, cfg = outlook("Europe/Berlin", first, datetime(2026, 11, 26, 9, tzinfo=UTC))
    fri, mon = datetime(2026, 11, 27, tzinfo=BERLIN), datetime(2026, 11, 30, tzinfo=BERLIN)
    tue = datetime(2026, 12, 1, tzinfo=BERLIN)
    fake.schedules[ANN] = [
        (fri.replace(hour=9), fri.replace(hour=18), "busy"),
        (mon.replace(hour=9), mon.replace(hour=10), "tentative"),
        (mon.replace(hour=10), mon.replace(hour=12), "workingElsewhere"),
        (tue.replace(hour=9), tue.replace(hour=13), "oof"),
    ]
    ann = by_counterpart(status_json(cfg, "2026-11-27T08:00:00+01:00"))[ANN]
    assert ann["makeup"]["skipped"] == "2026-11-26T10:00:00+01:00"
    assert ann["makeup"]["slots"] == ["2026-11-30T10:00:00+01:00", "2026-12-01T13:00:00+01:00"]
    _assert_clear(ann["makeup"]["slots"], fake.schedules[ANN], BERLIN)
    (req,) = fake.graph_requests("POST")
    assert req.path.endswith("/calendar/getSchedule")
    assert json.loads(req.body)["schedules"] == [ANN]


def test_refused_free_busy_falls_back_to_the_owners_own_times(outlook: Any) -> None:
    first = datetime(2026, 10, 1, 10, tzinfo=BERLIN)
    fake, cfg = outlook("Europe/Berlin", first, datetime(2026, 11, 26, 9, tzinfo=UTC))
    fake.schedules[ANN] = [(datetime(2026, 11, 27, 9, tzinfo=BERLIN),
                            datetime(2026, 11, 27, 18, tzinfo=BERLIN), "busy")]
    fake.free_busy_refused = True
    result = cli("--config", cfg, "status", "--now", "2026-11-27T08:00:00+01:00")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("refused free/busy") == 1
    assert "Traceback" not in result.output
    ann = by_counterpart(status_json(cfg, "2026-11-27T08:00:00+01:00"))[ANN]
    assert ann["makeup"]["slots"] == ["2026-11-27T09:00:00+01:00", "2026-11-30T09:00:00+01:00",
                                      "2026-12-01T09:00:00+01:00"]


def test_slots_across_the_dst_change(outlook: Any) -> None:
    first = datetime(2026, 10, 1, 10, tzinfo=BERLIN)
    fake, cfg = outlook("Europe/Berlin", first, datetime(2026, 10, 22, 8, tzinfo=UTC))
    fake.schedules[ANN] = [
        (datetime(2026, 10, 23, 9, tzinfo=BERLIN), datetime(2026, 10, 23, 18, tzinfo=BERLIN),
         "busy"),
        # Monday after the change: 09:00-11:00 CET is 08:00-10:00 UTC
        (datetime(2026, 10, 26, 8, tzinfo=UTC), datetime(2026, 10, 26, 10, tzinfo=UTC), "busy"),
    ]
    ann = by_counterpart(status_json(cfg, "2026-10-23T08:00:00+02:00"))[ANN]
    assert ann["makeup"]["slots"] == ["2026-10-26T11:00:00+01:00", "2026-10-27T09:00:00+01:00"]
    _assert_clear(ann["makeup"]["slots"], fake.schedules[ANN], BERLIN)


def test_slots_in_tokyo(outlook: Any) -> None:
    first = datetime(2026, 10, 1, 10, tzinfo=TOKYO)
    fake, cfg = outlook("Asia/Tokyo", first, datetime(2026, 11, 26, 1, tzinfo=UTC))
    fake.schedules[ANN] = [
        # Friday: 15 minutes left before 18:00, too short for the 30-minute meeting
        (datetime(2026, 11, 27, 9, tzinfo=TOKYO), datetime(2026, 11, 27, 17, 45, tzinfo=TOKYO),
         "busy"),
        (datetime(2026, 11, 30, 0, tzinfo=UTC), datetime(2026, 11, 30, 0, 30, tzinfo=UTC), "oof"),
    ]
    ann = by_counterpart(status_json(cfg, "2026-11-27T08:00:00+09:00"))[ANN]
    assert ann["makeup"]["slots"] == ["2026-11-30T09:30:00+09:00", "2026-12-01T09:00:00+09:00"]
    _assert_clear(ann["makeup"]["slots"], fake.schedules[ANN], TOKYO)


def test_a_steady_run_asks_no_free_busy(outlook: Any) -> None:
    first = datetime(2026, 10, 1, 10, tzinfo=BERLIN)
    # the skipped instance lies long before the window: nothing to rescue
    fake, cfg = outlook("Europe/Berlin", first, datetime(2026, 10, 8, 8, tzinfo=UTC))
    now = "2026-11-27T08:00:00+01:00"
    assert by_counterpart(status_json(cfg, now))[ANN]["makeup"] is None
    fake.log.clear()
    assert by_counterpart(status_json(cfg, now))[ANN]["makeup"] is None
    calls = fake.graph_requests()
    assert len(calls) == 1 and calls[0].path.endswith("/calendarView/delta")
    assert not fake.graph_requests("POST")


def test_many_addresses_and_a_long_period_are_asked_in_parts(ms_env: MsEnv) -> None:
    from calsync.backends.microsoft import schedule

    fake = ms_env.fake
    people = [f"p{i:02d}@contoso.example" for i in range(schedule.MAX_SCHEDULES + 5)]
    start = datetime(2026, 11, 2, tzinfo=UTC)
    end = start + schedule.MAX_SPAN + timedelta(days=3)
    edge = start + schedule.MAX_SPAN  # a busy time across the boundary of two periods
    for who in people:
        fake.schedules[who] = [(edge - timedelta(hours=1), edge + timedelta(hours=1), "unknown")]
    got = ms_env.provider().busy(people, start, end)
    posts = fake.graph_requests("POST")
    assert len(posts) == 4  # 2 batches of addresses x 2 periods
    assert sorted(len(json.loads(p.body)["schedules"]) for p in posts) == [5, 5, 20, 20]
    # unknown holds the time; the halves from both periods join into one interval
    assert got == {who: [(edge - timedelta(hours=1), edge + timedelta(hours=1))]
                   for who in people}
