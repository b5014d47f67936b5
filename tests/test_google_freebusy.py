"""Make-up slots on Google (issue 15): the counterpart's busy times from freeBusy.query.

Through the loopback fake and the real client libraries: the documented request and
answer shapes, slots clear of both people's busy times and inside working hours (Berlin
across a DST change, Tokyo), a login without the free/busy scope (one warning, owner-only
slots), and no extra request when nothing was skipped.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calsync.backends.base import FreeBusy, Window
from calsync.backends.google.calendar import GoogleProvider
from calsync.config import Owner
from calsync.core.state import MemoryState
from tests.fakes.google import ALL_SCOPES, OLD_SCOPES, FakeGoogle, api_requests, schema_errors
from tests.fakes.google_freebusy import query
from tests.google_fixtures import *  # noqa: F403
from tests.google_fixtures import GEnv
from tests.helpers import by_counterpart, cli, status_json
from tests.test_rescue import CALENDAR, NOW

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
ANN = "ann@example.com"


def ann_busy(fake: FakeGoogle, *spans: tuple[str, str], tz: str = "Europe/Berlin",
             **extra: Any) -> None:
    """Events on Ann's own calendar (the fake holds it, so freeBusy can see it)."""
    fake.add_calendar(ANN, tz=tz)
    for i, (start, end) in enumerate(spans):
        fake.put({"id": f"annbusy{len(fake.events)}x{i}", "summary": "Ann's meeting",
                  "start": {"dateTime": start, "timeZone": tz},
                  "end": {"dateTime": end, "timeZone": tz},
                  "organizer": {"email": ANN}, **extra}, [ANN])


def google_config(fake: FakeGoogle, folder: Path, *, calendar: str = CALENDAR,
                  scopes: list[str] = ALL_SCOPES, extra: str = "",
                  timezone: str = "Europe/Berlin") -> Path:
    fake.seed_ics(calendar, ["me@example.com"], tz=timezone)
    fake.write_token(folder / "token.json", "me@example.com", scopes)
    token = folder / "token.json"
    config = folder / "config.toml"
    config.write_text(
        f'[owner]\nemail = "me@example.com"\ntimezone = "{timezone}"\n{extra}\n'
        f'[[calendars]]\nname = "g"\nprovider = "google"\ntoken_file = "{token}"\n'
        f'api_url = "{fake.base}"\nread_only = true\n'
    )
    return config


def freebusy_calls(fake: FakeGoogle) -> list[dict[str, Any]]:
    return api_requests(fake, "POST", "/calendar/v3/freeBusy")


# -- the request and the answer --------------------------------------------------------


def test_busy_asks_freebusy_as_documented_and_reads_the_answer(gcal: GEnv) -> None:
    ann_busy(gcal.fake, ("2026-11-27T10:00:00", "2026-11-27T11:00:00"),
             ("2026-11-27T10:30:00", "2026-11-27T12:00:00"),  # overlapping: merged
             ("2026-11-30T09:00:00", "2026-11-30T09:30:00"))
    provider = gcal.provider(gcal.calendar())
    assert isinstance(provider, FreeBusy)
    start = datetime(2026, 11, 27, 8, tzinfo=BERLIN)
    got = provider.busy(["Ann@Example.com", "nobody@elsewhere.example"], start,
                        start + timedelta(days=5))
    (call,) = freebusy_calls(gcal.fake)
    body = call["body"]
    assert schema_errors(body, {"$ref": "FreeBusyRequest"}) == []
    assert body == {"timeMin": "2026-11-27T07:00:00Z", "timeMax": "2026-12-02T07:00:00Z",
                    "timeZone": "Europe/Berlin",
                    "items": [{"id": ANN}, {"id": "nobody@elsewhere.example"}]}
    # an address Google cannot show (notFound) has no entry: its slots rest on the owner's
    assert got == {ANN: [(datetime(2026, 11, 27, 10, tzinfo=BERLIN),
                          datetime(2026, 11, 27, 12, tzinfo=BERLIN)),
                         (datetime(2026, 11, 30, 9, tzinfo=BERLIN),
                          datetime(2026, 11, 30, 9, 30, tzinfo=BERLIN))]}
    assert provider.requests == 1


def test_the_fakes_answer_has_the_documented_shape(fake_google: FakeGoogle) -> None:
    ann_busy(fake_google, ("2026-11-27T10:00:00", "2026-11-27T11:00:00"))
    fake_google.put({"id": "declined1", "summary": "Declined by Ann",
                     "start": {"dateTime": "2026-11-27T14:00:00+01:00"},
                     "end": {"dateTime": "2026-11-27T15:00:00+01:00"},
                     "attendees": [{"email": ANN, "responseStatus": "declined"}]}, ["boss@x.test"])
    fake_google.put({"id": "invited1", "summary": "Ann invited elsewhere",
                     "start": {"dateTime": "2026-11-27T16:00:00+01:00"},
                     "end": {"dateTime": "2026-11-27T16:30:00+01:00"},
                     "attendees": [{"email": ANN, "responseStatus": "accepted"}]}, ["boss@x.test"])
    ann_busy(fake_google, ("2026-11-27T17:00:00", "2026-11-27T18:00:00"),
             transparency="transparent")  # "show as available": not busy
    body = {"timeMin": "2026-11-27T00:00:00Z", "timeMax": "2026-11-28T00:00:00Z",
            "timeZone": "Asia/Tokyo", "items": [{"id": ANN}, {"id": "ghost@x.test"}]}
    answer = query(fake_google, body, "me@example.com")
    assert schema_errors(answer, {"$ref": "FreeBusyResponse"}) == []
    assert answer["kind"] == "calendar#freeBusy"
    assert answer["calendars"][ANN] == {"busy": [
        {"start": "2026-11-27T18:00:00+09:00", "end": "2026-11-27T19:00:00+09:00"},
        {"start": "2026-11-28T00:00:00+09:00", "end": "2026-11-28T00:30:00+09:00"}]}
    assert answer["calendars"]["ghost@x.test"] == {
        "errors": [{"domain": "global", "reason": "notFound"}], "busy": []}


def test_more_than_fifty_people_go_in_batches_of_fifty(gcal: GEnv) -> None:
    provider = gcal.provider(gcal.calendar())
    start = datetime(2026, 11, 27, 8, tzinfo=BERLIN)
    people = [f"p{i:02d}@example.com" for i in range(51)]
    gcal.fake.add_calendar("p50@example.com")
    assert provider.busy(people, start, start + timedelta(days=1)) == {"p50@example.com": []}
    sizes = [len(c["body"]["items"]) for c in freebusy_calls(gcal.fake)]
    assert sizes == [50, 1]


# -- make-up slots through status -------------------------------------------------------


def test_no_slot_over_the_counterparts_busy_time(fake_google: FakeGoogle, tmp_path: Path) -> None:
    config = google_config(fake_google, tmp_path)
    # without Ann's calendar the owner's busy times alone decide (same as the .ics file)
    alone = by_counterpart(status_json(config, NOW))[ANN]["makeup"]
    assert alone["slots"] == ["2026-11-27T10:30:00+01:00", "2026-11-30T09:00:00+01:00",
                              "2026-12-01T09:30:00+01:00"]
    ann_busy(fake_google, ("2026-11-27T10:00:00", "2026-11-27T12:00:00"),
             ("2026-11-30T08:00:00", "2026-11-30T09:45:00"))
    both = by_counterpart(status_json(config, NOW))[ANN]["makeup"]
    assert both["skipped"] == "2026-11-26T10:00:00+01:00" and both["kind"] == "removed"
    assert both["checked"] == "both"  # the text line says "free for you both"
    assert both["slots"] == ["2026-11-27T12:00:00+01:00", "2026-11-30T10:00:00+01:00",
                             "2026-12-01T09:30:00+01:00"]
    for slot in both["slots"]:
        s = datetime.fromisoformat(slot)
        for ev in fake_google.events.values():
            if ANN in ev["_cals"] and not ev.get("recurringEventId"):
                assert not (ev["_start"] < s + timedelta(minutes=30) and s < ev["_end"])


def test_never_outside_working_hours_even_when_both_are_free(fake_google: FakeGoogle,
                                                             tmp_path: Path) -> None:
    config = google_config(fake_google, tmp_path, extra='working_hours = "11:00-13:00 Mon-Tue"')
    ann_busy(fake_google, ("2026-11-30T11:00:00", "2026-11-30T12:45:00"),  # Mon: 15 min left
             ("2026-12-01T11:00:00", "2026-12-01T11:30:00"))
    slots = by_counterpart(status_json(config, NOW))[ANN]["makeup"]["slots"]
    # Friday and the weekend are outside the hours; Monday has no 30 minutes for both
    assert slots == ["2026-12-01T11:30:00+01:00"]


DST_CALENDAR = CALENDAR.replace("20261126T100000", "20261022T100000")
DST_NOW = "2026-10-23T12:00:00+02:00"  # Friday; Berlin leaves DST on Sunday the 25th


def test_dst_change_keeps_wall_clock_hours_with_busy_times_in_utc(fake_google: FakeGoogle,
                                                                  tmp_path: Path) -> None:
    config = google_config(fake_google, tmp_path, calendar=DST_CALENDAR)
    # Ann's calendar is in UTC: 08:00-09:00 UTC is 09:00-10:00 in Berlin after the change
    ann_busy(fake_google, ("2026-10-23T10:00:00", "2026-10-23T16:00:00"),
             ("2026-10-26T08:00:00", "2026-10-26T09:00:00"), tz="UTC")
    makeup = by_counterpart(status_json(config, DST_NOW))[ANN]["makeup"]
    assert makeup["skipped"] == "2026-10-22T10:00:00+02:00"
    # Fri: Ann busy 12:00-18:00 Berlin; Mon: 09:00-10:00 CET (no longer CEST)
    assert makeup["slots"] == ["2026-10-26T10:00:00+01:00", "2026-10-27T09:00:00+01:00",
                               "2026-10-28T09:00:00+01:00"]
    (call,) = freebusy_calls(fake_google)
    assert call["body"]["timeZone"] == "Europe/Berlin"


TOKYO_CALENDAR = CALENDAR.replace("Europe/Berlin", "Asia/Tokyo")
TOKYO_NOW = "2026-11-27T08:00:00+09:00"


def test_tokyo_owner_and_counterpart(fake_google: FakeGoogle, tmp_path: Path) -> None:
    config = google_config(fake_google, tmp_path, calendar=TOKYO_CALENDAR, timezone="Asia/Tokyo")
    ann_busy(fake_google, ("2026-11-27T10:30:00", "2026-11-27T17:45:00"),
             ("2026-11-30T09:00:00", "2026-11-30T10:00:00"), tz="Asia/Tokyo")
    makeup = by_counterpart(status_json(config, TOKYO_NOW))[ANN]["makeup"]
    # Fri: team sync until 10:30, Ann busy 10:30-17:45 -> nothing; Mon from 10:00
    assert makeup["slots"] == ["2026-11-30T10:00:00+09:00", "2026-12-01T09:30:00+09:00"]
    (call,) = freebusy_calls(fake_google)
    assert call["body"]["timeZone"] == "Asia/Tokyo"


# -- logins without the scope, and the steady run --------------------------------------


def test_an_older_login_without_the_scope_asks_nothing_and_warns_once(
        fake_google: FakeGoogle, tmp_path: Path) -> None:
    config = google_config(fake_google, tmp_path, scopes=OLD_SCOPES)
    ann_busy(fake_google, ("2026-11-27T10:00:00", "2026-11-27T12:00:00"))
    doc = status_json(config, NOW)
    assert freebusy_calls(fake_google) == []
    assert by_counterpart(doc)[ANN]["makeup"]["slots"][0] == "2026-11-27T10:30:00+01:00"
    (warning,) = [w for w in doc["warnings"] if "free/busy" in w]
    assert "`calsync setup google --read-only` again" in warning
    first = cli("--config", config, "run", "--now", NOW)
    assert first.exit_code == 0, first.output
    assert first.stderr.count("calsync setup google") == 1
    assert "free/busy" not in cli("--config", config, "run", "--now", NOW).stderr  # once a day


def test_a_login_google_refuses_freebusy_to_still_runs(fake_google: FakeGoogle,
                                                       tmp_path: Path) -> None:
    config = google_config(fake_google, tmp_path)
    # the login file lists every scope (or none), but Google granted fewer (a box left
    # unchecked on the consent screen): only Google's 403 tells
    token = tmp_path / "token.json"
    info = json.loads(token.read_text())
    fake_google.access[info["token"]].scopes[:] = OLD_SCOPES
    info.pop("scopes")
    token.write_text(json.dumps(info))
    result = cli("--config", config, "status", "--now", NOW, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(freebusy_calls(fake_google)) == 1
    assert by_counterpart(doc)[ANN]["makeup"]["slots"][0] == "2026-11-27T10:30:00+01:00"
    assert any("calendar.events.freebusy" in w for w in doc["warnings"])


def test_a_refresh_that_grants_fewer_scopes_is_believed_without_asking(
        fake_google: FakeGoogle, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = google_config(fake_google, tmp_path)
    token = tmp_path / "token.json"
    info = fake_google.write_token(token, "me@example.com", ALL_SCOPES, expired=True)
    fake_google.refresh[info["refresh_token"]].scopes[:] = OLD_SCOPES  # a box left unchecked
    result = cli("--config", config, "run", "--now", NOW)
    assert result.exit_code == 0, result.output
    assert api_requests(fake_google, "GET", "/events")  # the listing refreshed the login...
    assert freebusy_calls(fake_google) == []  # ...whose answer named the scopes granted
    assert "calendar.events.freebusy" in result.stderr
    # google-auth's own warning on each such refresh would reach cron's stderr
    assert not [r for r in caplog.records if "Not all requested scopes" in r.getMessage()]


def test_freebusy_is_asked_only_when_a_meeting_was_skipped(fake_google: FakeGoogle,
                                                           tmp_path: Path) -> None:
    config = google_config(fake_google, tmp_path)
    ann_busy(fake_google, ("2026-11-27T10:00:00", "2026-11-27T12:00:00"))
    later = "2026-12-04T08:00:00+01:00"  # the next 1on1 was held: nothing to rescue
    for now in (later, later):
        fake_google.log.clear()
        assert by_counterpart(status_json(config, now))[ANN]["makeup"] is None
    # the steady run: exactly the one incremental events.list, as before make-up slots
    assert [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in api_requests(fake_google)] \
        == [("GET", "events")]
    fake_google.log.clear()
    assert by_counterpart(status_json(config, NOW))[ANN]["makeup"] is not None
    assert [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in api_requests(fake_google)] \
        == [("GET", "events"), ("POST", "freeBusy")]


def test_a_provider_built_with_another_login_uses_it(gcal: GEnv) -> None:
    """The credential seam: given a login, the provider reads no token file of its own."""
    from calsync.backends.google.auth import TokenFileLogin

    token = gcal.tmp / "elsewhere.json"
    gcal.fake.write_token(token, "me@example.com")

    class Borrowed(TokenFileLogin):
        asked = 0

        def credentials(self) -> Any:
            self.asked += 1
            return super().credentials()

    login = Borrowed(token, "borrowed")
    gcal.fake.seed_ics(CALENDAR, ["me@example.com"], tz="Europe/Berlin")
    cal = dataclasses.replace(gcal.calendar(), token_file=gcal.tmp / "missing.json")
    provider = GoogleProvider(cal, Owner(("me@example.com",), "Europe/Berlin"), MemoryState(),
                              datetime.now(BERLIN), login=login)
    start = datetime(2026, 11, 20, tzinfo=BERLIN)
    assert provider.fetch(Window(start, start + timedelta(days=14))).occurrences
    assert login.asked >= 1 and not (gcal.tmp / "missing.json").exists()
