"""Microsoft 365 provider against the TLS loopback fake, through the real msal and httpx."""

from __future__ import annotations

import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calsync.backends.base import Window, WriteStatus
from calsync.backends.microsoft.graph import Graph
from calsync.backends.microsoft.normalise import parse_graph_time
from calsync.backends.microsoft.recurrence import expand_recurrence
from calsync.core.model import AttendeeKind, Body, Response, Status
from calsync.errors import AuthError, GraphError, ProviderError
from calsync.ical.zones import zone
from tests.fakes.microsoft import TEAMS_BODY, TEAMS_JOIN_URL, FakeMicrosoft, Fault
from tests.microsoft_fixtures import *  # noqa: F403
from tests.microsoft_fixtures import MsEnv, write_config

BEGIN, END = "<!-- calsync:begin -->", "<!-- calsync:end -->"
BOB = "bob@contoso.example"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin
WINDOW = Window(datetime(2025, 12, 29, tzinfo=UTC), datetime(2026, 4, 30, tzinfo=UTC))


def block_splice(block: str):  # type: ignore[no-untyped-def]
    """Replace calsync's block, or put it before </body>; leave every other byte alone."""

    def splice(body: Body) -> Body | None:
        text = body.text
        new = f"{BEGIN}<div>{block}</div>{END}"
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            out = head + new + tail
        else:
            at = text.rfind("</body>")
            at = len(text) if at == -1 else at
            out = text[:at] + new + text[at:]
        return None if out == text else Body(out, html=True)

    return splice


def weekly_series(fake: FakeMicrosoft, **kw) -> str:  # type: ignore[no-untyped-def]
    kw.setdefault("tz", "Europe/Berlin")
    kw.setdefault("rrule", "FREQ=WEEKLY;BYDAY=MO")
    return fake.add_event("1on1 Bob / Mona", T0, T0 + timedelta(minutes=30),
                          [(BOB, "accepted", "required", "Bob Report")], **kw)


def graph_calls(fake: FakeMicrosoft) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.graph_requests()]


# --- setup and login ---------------------------------------------------------------------


def test_setup_device_code_end_to_end(fake_ms: FakeMicrosoft, trust_ca: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from calsync.backends.microsoft.setup import setup
    from calsync.config import load

    monkeypatch.setenv("CALSYNC_HOME", str(tmp_path / "home"))
    cfg = tmp_path / "config.toml"
    cfg.write_text("# my calsync\n[owner]\nemail = \"manager@contoso.example\"\n\n"
                   "[agenda]\nhorizon_days = 5  # keep\n", encoding="utf-8")
    shown: list[str] = []
    # point the new entry at the fake: setup keeps keys already in an entry
    cfg.write_text(cfg.read_text() + f'\n[[calendars]]\nprovider = "microsoft"\nclient_id = '
                   f'"cid-1"\nauthority_url = "{fake_ms.base}"\ngraph_url = '
                   f'"{fake_ms.graph_url}"\n', encoding="utf-8")
    msg = setup(cfg, None, "organizations", browser=False, read_only=False, echo=shown.append)

    assert len(shown) == 1 and "devicelogin" in shown[0] and "enter the code F" in shown[0]
    assert "manager@contoso.example" in msg and "read-write" in msg
    text = cfg.read_text()
    assert "# my calsync" in text and "horizon_days = 5  # keep" in text
    config = load(cfg)
    assert len(config.calendars) == 1
    cal = config.calendars[0]
    assert cal.provider == "microsoft" and cal.client_id == "cid-1"
    assert cal.token_file is not None and cal.token_file.exists()
    assert stat.S_IMODE(cal.token_file.stat().st_mode) == 0o600
    assert "access_token" not in msg and "rt-" not in msg

    posts = [r for r in fake_ms.log if r.method == "POST"]
    assert posts[0].path.endswith("/oauth2/v2.0/devicecode")
    scope = posts[0].form()["scope"].split()
    # least scopes; msal adds the reserved ones itself (never passed by calsync)
    assert sorted(scope) == sorted(["Calendars.ReadWrite", "Files.ReadWrite", "offline_access",
                                    "openid", "profile"])
    grants = [r.form()["grant_type"] for r in fake_ms.token_requests()]
    assert grants == ["urn:ietf:params:oauth:grant-type:device_code"] * 2  # pending, then ok

    # a second setup updates the same entry instead of adding one
    setup(cfg, None, "organizations", browser=False, read_only=True, echo=shown.append)
    config = load(cfg)
    assert len(config.calendars) == 1 and config.calendars[0].read_only
    devicecode = [r for r in fake_ms.log if r.path.endswith("/devicecode")][-1]
    assert sorted(devicecode.form()["scope"].split()) == sorted(
        ["Calendars.Read", "offline_access", "openid", "profile"])


def test_setup_tenant_and_missing_client_id(fake_ms: FakeMicrosoft, trust_ca: Path,
                                         tmp_path: Path) -> None:
    from calsync.backends.microsoft.setup import setup
    from calsync.errors import ConfigError

    cfg = tmp_path / "new" / "config.toml"
    with pytest.raises(ConfigError, match="--client-id"):
        setup(cfg, None, "organizations", browser=False, read_only=False, echo=print)
    # authority_url comes from the config, so create it with one entry first
    cfg.parent.mkdir()
    cfg.write_text(f'[[calendars]]\nprovider = "microsoft"\nclient_id = "cid-9"\n'
                   f'authority_url = "{fake_ms.base}"\n', encoding="utf-8")
    setup(cfg, "cid-9", "contoso.example", browser=False, read_only=False, echo=lambda s: None)
    assert any(r.path.startswith("/contoso.example/oauth2") for r in fake_ms.log)
    config_text = cfg.read_text()
    assert 'tenant = "contoso.example"' in config_text


@pytest.mark.parametrize("name", ['name = "outlook"\n', ""])
def test_setup_fills_in_an_entry_written_without_client_id(
    fake_ms: FakeMicrosoft, trust_ca: Path, tmp_path: Path, name: str
) -> None:
    """A hand-written entry waiting for its ID gets it; no second entry of the same name."""
    import tomllib

    from calsync.backends.microsoft.setup import setup
    from calsync.config import load

    cfg = tmp_path / "config.toml"
    cfg.write_text('[owner]\nemail = "me@example.com"\n\n[[calendars]]\nprovider = "ics"\n'
                   f'path = "{tmp_path}"\n\n[[calendars]]\n{name}provider = "microsoft"\n'
                   f'authority_url = "{fake_ms.base}"\n', encoding="utf-8")
    setup(cfg, "cid-7", "organizations", browser=False, read_only=False, echo=lambda s: None)
    cals = tomllib.loads(cfg.read_text(encoding="utf-8"))["calendars"]
    assert [c["provider"] for c in cals] == ["ics", "microsoft"]
    assert cals[1]["client_id"] == "cid-7"
    assert len([c for c in load(cfg).calendars if c.provider == "microsoft"]) == 1  # it loads


def test_browser_login(fake_ms: FakeMicrosoft, trust_ca: Path, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """--browser: msal's interactive flow; the 'browser' follows the fake's redirect."""
    import webbrowser

    import httpx

    from calsync.backends.microsoft.setup import setup

    def browse(url: str, *a: object, **k: object) -> bool:
        def go() -> None:
            import re
            import ssl

            with httpx.Client(verify=ssl.create_default_context(cafile=str(trust_ca))) as c:
                page = c.get(url).text  # the sign-in page posts the code back (form_post)
                action = re.search(r'action="([^"]+)"', page).group(1)  # type: ignore[union-attr]
                fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
                c.post(action, data=fields)  # msal's listener on http://localhost:PORT
        threading.Thread(target=go, daemon=True).start()
        return True

    monkeypatch.setattr(webbrowser, "open", browse)
    monkeypatch.setattr(webbrowser, "open_new_tab", browse, raising=False)
    cfg = tmp_path / "config.toml"
    write_config(cfg, fake_ms)
    msg = setup(cfg, None, "organizations", browser=True, read_only=False, echo=lambda s: None)
    assert "Logged in" in msg
    assert [r.form()["grant_type"] for r in fake_ms.token_requests()] == ["authorization_code"]


def _expire_cached_access_token(token_file: Path) -> None:
    data = json.loads(token_file.read_text())
    for at in data["AccessToken"].values():
        at["expires_on"] = str(int(datetime.now(UTC).timestamp()) - 10)
    token_file.write_text(json.dumps(data))


def test_silent_refresh_rotates_and_is_written_back(ms_env: MsEnv) -> None:
    cal = ms_env.calendar()
    assert cal.token_file is not None
    old_rt = next(iter(json.loads(cal.token_file.read_text())["RefreshToken"].values()))["secret"]
    _expire_cached_access_token(cal.token_file)
    os.chmod(cal.token_file, 0o600)
    p = ms_env.provider()
    p.fetch(WINDOW)
    p.close()
    refreshes = ms_env.fake.token_requests()
    assert [r.form()["grant_type"] for r in refreshes] == ["refresh_token"]
    assert refreshes[0].form()["refresh_token"] == old_rt
    assert "offline_access" in refreshes[0].form()["scope"]
    new_rt = next(iter(json.loads(cal.token_file.read_text())["RefreshToken"].values()))["secret"]
    assert new_rt != old_rt and new_rt in ms_env.fake.refresh_tokens
    assert old_rt not in ms_env.fake.refresh_tokens  # rotated: the old one is dead
    assert stat.S_IMODE(cal.token_file.stat().st_mode) == 0o600
    # next run: the new access token is served from the cache, no identity POST
    ms_env.fake.log.clear()
    p2 = ms_env.provider()
    p2.fetch(WINDOW)
    assert ms_env.fake.token_requests() == []


def test_graph_401_refreshes_once_and_retries(ms_env: MsEnv) -> None:
    weekly_series(ms_env.fake)
    ms_env.fake.expire_access_tokens()  # the server forgot the token, msal still trusts it
    p = ms_env.provider()
    occs = p.fetch(WINDOW).occurrences
    assert occs
    assert [r.form()["grant_type"] for r in ms_env.fake.token_requests()] == ["refresh_token"]
    statuses = [r.status for r in ms_env.fake.graph_requests()]
    assert statuses[0] == 401 and statuses[1:] and all(s == 200 for s in statuses[1:])


def test_revoked_refresh_token_asks_to_log_in_again(ms_env: MsEnv) -> None:
    cal = ms_env.calendar()
    assert cal.token_file is not None
    _expire_cached_access_token(cal.token_file)
    secret = next(iter(json.loads(cal.token_file.read_text())["RefreshToken"].values()))["secret"]
    ms_env.fake.revoke_all()
    p = ms_env.provider()
    with pytest.raises(AuthError) as err:
        p.fetch(WINDOW)
    assert err.value.exit_code == 3
    text = str(err.value)
    assert "calsync setup microsoft" in text and "invalid_grant" in text
    assert secret not in text
    assert ms_env.fake.graph_requests() == []  # never reached Graph


def test_expired_after_inactivity_names_the_cause(ms_env: MsEnv) -> None:
    cal = ms_env.calendar()
    assert cal.token_file is not None
    _expire_cached_access_token(cal.token_file)
    ms_env.fake.revoke_all()
    ms_env.fake.revoked_error = ("AADSTS700082: The refresh token has expired due to "
                                 "inactivity.")
    with pytest.raises(AuthError, match="90 days.*AADSTS700082.*calsync setup microsoft"):
        ms_env.provider().fetch(WINDOW)


def test_not_logged_in(fake_ms: FakeMicrosoft, trust_ca: Path, tmp_path: Path) -> None:
    from calsync.backends.microsoft.calendar import MicrosoftProvider
    from calsync.config import load
    from calsync.core.state import MemoryState

    cfg = tmp_path / "c.toml"
    write_config(cfg, fake_ms)
    conf = load(cfg)
    p = MicrosoftProvider(conf.calendars[0], conf.owner, MemoryState(), datetime.now(UTC))
    with pytest.raises(AuthError, match="calsync setup microsoft"):
        p.fetch(WINDOW)


def test_tls_trust_from_ssl_cert_file_only(ms_env: MsEnv, monkeypatch: pytest.MonkeyPatch,
                                           trust_ca: Path) -> None:
    """A private CA given only as SSL_CERT_FILE is trusted by msal (requests) and httpx."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE")
    weekly_series(ms_env.fake)
    assert ms_env.provider().fetch(WINDOW).occurrences
    monkeypatch.delenv("SSL_CERT_FILE")  # now only the public roots: the fake is untrusted
    with pytest.raises(ProviderError, match="SSL_CERT_FILE"):
        ms_env.provider().fetch(WINDOW)


# --- reading ---------------------------------------------------------------------------------


def test_normalises_series_exceptions_declines_resources(ms_env: MsEnv) -> None:
    f = ms_env.fake
    mid = f.add_event(
        "1on1 Bob / Mona", T0, T0 + timedelta(minutes=30),
        [(BOB, "accepted", "required", "Bob Report"),
         ("room-4@contoso.example", "accepted", "resource", "Room 4")],
        tz="Europe/Berlin", rrule="FREQ=WEEKLY;BYDAY=MO", body=TEAMS_BODY, online=True)
    moved = f.occurrence_id(mid, T0 + timedelta(weeks=2))
    f.edit(moved, start=T0 + timedelta(weeks=2, days=1, hours=3),
           end=T0 + timedelta(weeks=2, days=1, hours=3, minutes=45))
    declined = f.occurrence_id(mid, T0 + timedelta(weeks=3))
    f.respond(declined, BOB, "declined")
    cancelled = f.occurrence_id(mid, T0 + timedelta(weeks=4))
    f.edit(cancelled, isCancelled=True)
    deleted = f.occurrence_id(mid, T0 + timedelta(weeks=5))
    f.delete_occurrence(deleted)
    f.add_event("Offsite", datetime(2026, 1, 7, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC),
                [(BOB, "accepted")], all_day=True, tz="Asia/Tokyo")
    f.add_event("Their 1on1", T0 + timedelta(days=2), T0 + timedelta(days=2, minutes=30),
                [("manager@contoso.example", "accepted")], organizer="carol@contoso.example")

    occs = ms_env.provider().fetch(
        Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))).occurrences
    series = [o for o in occs if o.series_id == mid]
    assert len(series) == 8  # Jan 5 .. Feb 23, the deleted one as removed
    by_slot = {o.recurrence_id: o for o in series}
    first = by_slot[T0]
    assert first.start == T0 and str(first.start.tzinfo) == "Europe/Berlin"
    assert first.start.hour == 10 and first.duration == timedelta(minutes=30)
    assert first.organizer_is_self is True and first.title == "1on1 Bob / Mona"
    # the Teams join block (passcode and all) is not cached: nothing of it is a checklist
    assert first.description == Body("", html=True)
    kinds = {a.email: a.kind for a in first.attendees}
    assert kinds == {"manager@contoso.example": AttendeeKind.PERSON, BOB: AttendeeKind.PERSON,
                     "room-4@contoso.example": AttendeeKind.RESOURCE}
    assert [a.is_self for a in first.attendees if a.email == "manager@contoso.example"] == [True]
    m = by_slot[T0 + timedelta(weeks=2)]
    assert m.ref == moved and m.start == T0 + timedelta(weeks=2, days=1, hours=3)
    assert m.duration == timedelta(minutes=45) and m.etag and m.etag.startswith('W/"')
    bob = {a.email: a.response for a in by_slot[T0 + timedelta(weeks=3)].attendees}[BOB]
    assert bob is Response.DECLINED
    assert by_slot[T0 + timedelta(weeks=4)].status is Status.CANCELLED
    gone = by_slot[T0 + timedelta(weeks=5)]
    assert gone.removed and gone.cancelled and not gone.writable
    assert [o for o in series if o.removed] == [gone]  # no ghost slots across DST etc.
    allday = next(o for o in occs if o.title == "Offsite")
    assert allday.all_day and allday.start.hour == 0 and allday.duration == timedelta(days=1)
    theirs = next(o for o in occs if o.title == "Their 1on1")
    assert theirs.organizer_is_self is False and theirs.series_id is None
    assert {a.email for a in theirs.attendees} == {"carol@contoso.example",
                                                   "manager@contoso.example"}


def test_windows_zone_names_and_dst(ms_env: MsEnv) -> None:
    """A series in New York (Graph says 'Eastern Standard Time') keeps 9:00 local over DST."""
    f = ms_env.fake
    start = datetime(2026, 2, 27, 14, 0, tzinfo=UTC)  # Fri 9:00 EST
    mid = f.add_event("1:1", start, start + timedelta(minutes=25), [(BOB, "accepted")],
                      tz="America/New_York", rrule="FREQ=WEEKLY;BYDAY=FR")
    item = f.render(f.events[mid])
    assert item["originalStartTimeZone"] == "Eastern Standard Time"
    occs = ms_env.provider().fetch(WINDOW).occurrences
    occs = [o for o in occs if o.series_id == mid]
    assert occs and not any(o.removed for o in occs)
    assert {o.start.hour for o in occs} == {9}
    assert {str(o.start.tzinfo) for o in occs} == {"America/New_York"}
    assert {o.start.utcoffset() for o in occs} == {timedelta(hours=-5), timedelta(hours=-4)}


def test_expand_recurrence_patterns() -> None:
    tz = zone("Tokyo Standard Time")
    assert str(tz) == "Asia/Tokyo"
    first = datetime(2026, 1, 6, 1, 0, tzinfo=UTC)  # Tue 10:00 Tokyo
    rel = {"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"],
                       "index": "first"},
           "range": {"type": "numbered", "startDate": "2026-01-06", "numberOfOccurrences": 3}}
    got = expand_recurrence(rel, first, tz, datetime(2026, 1, 1, tzinfo=UTC),
                            datetime(2027, 1, 1, tzinfo=UTC))
    assert [d.date().isoformat() for d in got] == ["2026-01-06", "2026-02-03", "2026-03-03"]
    weekly = {"pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"],
                          "firstDayOfWeek": "sunday"},
              "range": {"type": "endDate", "startDate": "2026-01-05", "endDate": "2026-01-22"}}
    got = expand_recurrence(weekly, datetime(2026, 1, 5, 1, tzinfo=UTC), tz,
                            datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert [d.day for d in got] == [5, 8, 19, 22]
    assert parse_graph_time({"dateTime": "2026-01-05T09:00:00.0000000", "timeZone": "UTC"}) == \
        datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_series_split_keeps_history_without_ghosts(ms_env: MsEnv) -> None:
    f = ms_env.fake
    mid = weekly_series(f)
    p = ms_env.provider()
    before = p.fetch(WINDOW).occurrences
    assert {o.series_id for o in before} == {mid}
    split_at = T0 + timedelta(weeks=6)
    new = f.split_series(mid, split_at, subject="1on1 Bob / Mona (new slot)")
    f.log.clear()
    after = ms_env.provider().fetch(WINDOW).occurrences
    assert len(f.graph_requests()) == 1  # the change came through the delta chain
    old_part = [o for o in after if o.series_id == mid]
    new_part = [o for o in after if o.series_id == new]
    assert old_part and new_part and not any(o.removed for o in after)
    assert max(o.start for o in old_part) < split_at <= min(o.start for o in new_part)
    assert len(after) == len(before)  # same slots, now in two series
    assert {a.email for o in after for a in o.attendees} == {"manager@contoso.example", BOB}


def test_paging_and_masters_fetched_only_when_missing(ms_env: MsEnv, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import calsync.backends.microsoft.sync as ms

    monkeypatch.setattr(ms, "PAGE_SIZE", 5)
    for i in range(4):
        weekly_series(ms_env.fake, ical_uid=f"uid-{i}")
    occs = ms_env.provider().fetch(WINDOW).occurrences
    assert len(occs) == 4 * 17
    calls = ms_env.fake.graph_requests()
    lo, hi = ms.chain_window(WINDOW)
    served = len(ms_env.fake._view_versions(lo, hi))  # occurrences + the 4 masters
    assert served > 4 * 17 and len(calls) == -(-served // 5)  # pages of 5
    assert all(r.path.endswith("/calendarView/delta") for r in calls)
    first = calls[0]
    assert 'outlook.timezone="UTC"' in first.headers["Prefer"]
    assert 'outlook.body-content-type="html"' in first.headers["Prefer"]
    assert first.query["startDateTime"] == ["2025-12-29T00:00:00Z"]
    assert all("$skiptoken" in r.query for r in calls[1:])


def test_named_calendar(fake_ms: FakeMicrosoft, trust_ca: Path, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    from calsync.backends.microsoft.setup import setup
    from calsync.core.state import MemoryState

    fake_ms.calendars["AAMkTeam"] = "1on1s"
    cfg = tmp_path / "config.toml"
    write_config(cfg, fake_ms, extra='calendar = "1on1s"\n')
    setup(cfg, None, "organizations", browser=False, read_only=False, echo=lambda s: None)
    weekly_series(fake_ms)
    env = MsEnv(fake_ms, cfg, tmp_path, MemoryState(), lambda s: None)  # type: ignore[arg-type]
    assert env.provider().fetch(WINDOW).occurrences
    paths = [r.path for r in fake_ms.graph_requests()]
    assert "/v1.0/me/calendars" in paths
    assert "/v1.0/me/calendars/AAMkTeam/calendarView/delta" in paths
    fake_ms.log.clear()
    env.provider().fetch(WINDOW)
    assert "/v1.0/me/calendars" not in [r.path for r in fake_ms.graph_requests()]
    # a calendar without delta: the plain calendar view of the window, paged
    fake_ms.no_delta_on_named = True
    fake_ms.forget_delta_tokens()
    fake_ms.log.clear()
    env.state.data.clear()
    import calsync.backends.microsoft.sync as ms

    ms.PAGE_SIZE, old = 5, ms.PAGE_SIZE
    try:
        occs = env.provider().fetch(WINDOW).occurrences
    finally:
        ms.PAGE_SIZE = old
    assert len(occs) == 17 and not any(o.removed for o in occs)
    views = [r for r in fake_ms.graph_requests() if r.path.endswith("/calendarView")]
    assert len(views) == 4 and "startDateTime" in views[0].query  # 17 in pages of 5
    assert all("$skip" in r.query for r in views[1:])
    assert 'outlook.timezone="UTC"' in views[0].headers["Prefer"]
    assert [r.path for r in fake_ms.graph_requests() if "/events/" in r.path] != []  # master
    fake_ms.log.clear()
    env.provider().fetch(WINDOW)  # next run: straight to the view, no failed delta first
    assert not [r for r in fake_ms.graph_requests() if r.path.endswith("/delta")]


# --- steady state and delta ------------------------------------------------------------------


def test_steady_state_is_one_request_and_no_writes(ms_env: MsEnv) -> None:
    f = ms_env.fake
    mid = weekly_series(f, body=TEAMS_BODY, online=True)
    ms_env.provider().fetch(WINDOW)
    f.log.clear()
    occs = ms_env.provider().fetch(WINDOW).occurrences  # a new run, same state
    assert graph_calls(f) == ["GET /v1.0/me/calendarView/delta"]
    assert "$deltatoken" in f.graph_requests()[0].query
    assert f.delta_served[-1] == 0  # nothing changed, nothing sent
    assert f.token_requests() == [] and f.patches == 0
    assert len(occs) == 17
    # the window rolls a day: still the same chain, still one request
    f.log.clear()
    rolled = Window(WINDOW.start + timedelta(days=1), WINDOW.end + timedelta(days=1))
    ms_env.provider().fetch(rolled)
    assert len(f.graph_requests()) == 1
    # one change: one request, and the change is there
    occ = f.occurrence_id(mid, T0 + timedelta(weeks=3))
    f.edit(occ, subject="1on1 Bob / Mona (moved room)")
    f.log.clear()
    occs = ms_env.provider().fetch(rolled).occurrences
    assert len(f.graph_requests()) == 1
    assert f.delta_served[-1] == 1  # the occurrence, now an exception in full
    assert [o.title for o in occs if o.ref == occ] == ["1on1 Bob / Mona (moved room)"]


def test_delta_chain_restarts_when_window_leaves_it_or_token_expires(ms_env: MsEnv) -> None:
    f = ms_env.fake
    weekly_series(f)
    ms_env.provider().fetch(WINDOW)
    f.log.clear()
    far = Window(WINDOW.start + timedelta(days=20), WINDOW.end + timedelta(days=20))
    occs = ms_env.provider().fetch(far).occurrences
    (call,) = f.graph_requests()
    assert "startDateTime" in call.query and "$deltatoken" not in call.query
    assert min(o.start for o in occs) >= far.start
    f.forget_delta_tokens()
    f.log.clear()
    again = ms_env.provider().fetch(far).occurrences
    assert [r.status for r in f.graph_requests()] == [410, 200]
    assert len(again) == len(occs)


def test_deleted_occurrence_via_delta_becomes_removed(ms_env: MsEnv) -> None:
    f = ms_env.fake
    mid = weekly_series(f)
    ms_env.provider().fetch(WINDOW)
    gone = f.occurrence_id(mid, T0 + timedelta(weeks=1))
    f.delete_occurrence(gone)
    occs = ms_env.provider().fetch(WINDOW).occurrences
    removed = [o for o in occs if o.removed]
    assert [o.recurrence_id for o in removed] == [T0 + timedelta(weeks=1)]
    assert all(o.ref != gone for o in occs if not o.removed)


# --- writing ---------------------------------------------------------------------------------


def test_teams_body_survives_write_byte_for_byte(ms_env: MsEnv) -> None:
    f = ms_env.fake
    mid = weekly_series(f, body=TEAMS_BODY, online=True)
    p = ms_env.provider()
    occs = p.fetch(WINDOW).occurrences
    target = occs[1]
    f.log.clear()
    res = p.write_description(target, block_splice("Agenda &amp; topics"), "tag1")
    assert res.status is WriteStatus.WRITTEN and res.detail == ""
    stored = f.events[target.ref]["body"]["content"]
    at = TEAMS_BODY.rfind("</body>")
    block = f"{BEGIN}<div>Agenda &amp; topics</div>{END}"
    assert stored == TEAMS_BODY[:at] + block + TEAMS_BODY[at:]
    assert stored.replace(block, "") == TEAMS_BODY  # every byte outside the block unchanged
    assert f.render(f.events[target.ref])["onlineMeeting"] == {"joinUrl": TEAMS_JOIN_URL}
    assert f.events[target.ref]["type"] == "exception"  # the occurrence, not the master
    assert f.events[mid]["body"]["content"] == TEAMS_BODY
    patch = f.graph_requests("PATCH")
    assert len(patch) == 1 and patch[0].path == f"/v1.0/me/events/{target.ref}"
    assert json.loads(patch[0].body) == {"body": {"contentType": "html", "content": stored}}
    assert patch[0].headers["If-Match"].startswith('W/"')
    assert len(f.notifications) == 1  # Bob got one update email
    # the same block again: no PATCH, no email
    f.log.clear()
    again = p.write_description(target, block_splice("Agenda &amp; topics"), "tag1")
    assert again.status is WriteStatus.UNCHANGED and f.graph_requests("PATCH") == []
    # a new block replaces only the block
    res = p.write_description(target, block_splice("v2"), "tag2")
    assert res.status is WriteStatus.WRITTEN
    assert f.events[target.ref]["body"]["content"] == TEAMS_BODY[:at] + \
        f"{BEGIN}<div>v2</div>{END}" + TEAMS_BODY[at:]


def test_write_warns_when_teams_link_is_lost(ms_env: MsEnv) -> None:
    f = ms_env.fake
    weekly_series(f, body=TEAMS_BODY, online=True)
    p = ms_env.provider()
    occ = p.fetch(WINDOW).occurrences[0]
    res = p.write_description(occ, lambda b: Body("<html><body>careless</body></html>", True),
                              "t")
    assert res.status is WriteStatus.WRITTEN and "Teams join link" in res.detail


def test_concurrent_edit_rereads_and_resplices_once(ms_env: MsEnv) -> None:
    f = ms_env.fake
    weekly_series(f, body=TEAMS_BODY, online=True)
    p = ms_env.provider()
    occ = p.fetch(WINDOW).occurrences[2]
    inner = block_splice("agenda")
    calls: list[str] = []

    def racing(body: Body) -> Body | None:
        calls.append(body.text)
        if len(calls) == 1:  # Bob's assistant edits the invite between our GET and PATCH
            f.edit(occ.ref, body=body.text.replace("Weekly catch-up", "Weekly catch-up (Bob "
                                                   "adds: budget)"))
        return inner(body)

    res = p.write_description(occ, racing, "t")
    assert res.status is WriteStatus.WRITTEN and len(calls) == 2
    stored = f.events[occ.ref]["body"]["content"]
    assert "Bob adds: budget" in stored and f"{BEGIN}<div>agenda</div>{END}" in stored
    assert [r.status for r in f.graph_requests("PATCH")] == [412, 200]

    # edited again before every write: give up, never overwrite the human
    occ2 = p.fetch(WINDOW).occurrences[3]
    f.log.clear()

    def always_racing(body: Body) -> Body | None:
        f.edit(occ2.ref, body=body.text + "<p>human</p>")
        return inner(body)

    res = p.write_description(occ2, always_racing, "t")
    assert res.status is WriteStatus.CONFLICT
    assert [r.status for r in f.graph_requests("PATCH")] == [412, 412]
    assert BEGIN not in f.events[occ2.ref]["body"]["content"]


def test_write_refuses_non_organizer_read_only_master_and_gone(ms_env: MsEnv) -> None:
    f = ms_env.fake
    mid = weekly_series(f)
    f.add_event("Their 1on1", T0, T0 + timedelta(minutes=30), [], organizer=BOB)
    p = ms_env.provider()
    occs = p.fetch(WINDOW).occurrences
    theirs = next(o for o in occs if o.title == "Their 1on1")
    f.log.clear()
    assert p.write_description(theirs, block_splice("x"), "t").status is WriteStatus.FORBIDDEN
    assert f.graph_requests() == []
    from dataclasses import replace

    master = replace(occs[0], ref=mid, organizer_is_self=None)
    assert p.write_description(master, block_splice("x"), "t").status is WriteStatus.FORBIDDEN
    assert f.graph_requests("PATCH") == []
    ours = next(o for o in occs if o.series_id == mid and not o.removed)
    f.delete_occurrence(ours.ref)
    assert p.write_description(ours, block_splice("x"), "t").status is WriteStatus.GONE


# --- throttling ------------------------------------------------------------------------------


def test_throttling_storm_honours_retry_after_and_backs_off(ms_env: MsEnv) -> None:
    f = ms_env.fake
    weekly_series(f)
    f.faults += [Fault(429, "/calendarView/delta", headers={"Retry-After": "7"}, times=3),
                 Fault(503, "/calendarView/delta"), Fault(504, "/calendarView/delta")]
    occs = ms_env.provider().fetch(WINDOW).occurrences
    assert len(occs) == 17
    assert [r.status for r in f.graph_requests()] == [429, 429, 429, 503, 504, 200]
    sleeps = ms_env.sleeps.calls
    assert sleeps[:3] == [7.0, 7.0, 7.0]
    assert len(sleeps) == 5 and all(0 < s <= 60 for s in sleeps[3:])


def test_throttling_gives_up_cleanly_and_never_retries_unguarded_writes(ms_env: MsEnv) -> None:
    f = ms_env.fake
    weekly_series(f)
    f.faults.append(Fault(429, "/calendarView/delta", headers={"Retry-After": "1"}, times=50))
    with pytest.raises(ProviderError, match="429"):
        ms_env.provider().fetch(WINDOW)
    assert len(f.graph_requests()) == 6  # bounded attempts
    f.faults.clear()
    p = ms_env.provider()
    occ = p.fetch(WINDOW).occurrences[0]
    f.log.clear()
    f.faults.append(Fault(503, "/me/events/", method="PATCH"))
    res = p.write_description(occ, block_splice("a"), "t")  # If-Match guarded: retried
    assert res.status is WriteStatus.WRITTEN
    assert [r.status for r in f.graph_requests("PATCH")] == [503, 200]
    f.log.clear()
    f.faults.append(Fault(429, "/drive/items/x/invite", method="POST",
                          headers={"Retry-After": "1"}))
    with pytest.raises(GraphError):
        p.graph.request("POST", "/me/drive/items/x/invite", json_body={})
    assert len(f.graph_requests("POST")) == 1


def test_at_most_four_requests_in_flight_per_mailbox(ms_env: MsEnv) -> None:
    f = ms_env.fake
    p = ms_env.provider()
    p.graph.get_json("/me")  # token acquired once
    f.latency = 0.05
    f.peak_in_flight = 0
    graph: Graph = p.graph
    threads = [threading.Thread(target=graph.get_json, args=("/me",)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 2 <= f.peak_in_flight <= 4


def test_master_fetched_only_when_the_delta_did_not_carry_it(ms_env: MsEnv) -> None:
    f = ms_env.fake
    mid = weekly_series(f)
    first = ms_env.provider().fetch(WINDOW).occurrences
    assert not [r for r in f.graph_requests() if r.path.startswith("/v1.0/me/events/")]
    items = json.loads(ms_env.state.data["ms.items"])
    del items[mid]  # e.g. a cache written by a run that crashed half-way
    ms_env.state.data["ms.items"] = json.dumps(items)
    f.log.clear()
    again = ms_env.provider().fetch(WINDOW).occurrences
    assert graph_calls(f) == ["GET /v1.0/me/calendarView/delta", f"GET /v1.0/me/events/{mid}"]
    assert [(o.ref, o.start, o.title) for o in again] == [(o.ref, o.start, o.title)
                                                          for o in first]


def test_graph_refusing_a_fresh_token_is_a_login_problem(ms_env: MsEnv) -> None:
    ms_env.fake.faults.append(Fault(401, "/calendarView/delta", times=2,
                                    code="InvalidAuthenticationToken"))
    with pytest.raises(AuthError, match="calsync setup microsoft"):
        ms_env.provider().fetch(WINDOW)
    assert len(ms_env.fake.token_requests()) == 1  # one refresh, then give up


def test_write_refused_by_graph_is_forbidden_not_a_crash(ms_env: MsEnv) -> None:
    weekly_series(ms_env.fake)
    p = ms_env.provider()
    occ = p.fetch(WINDOW).occurrences[0]
    ms_env.fake.faults.append(Fault(403, "/me/events/", method="PATCH", code="ErrorAccessDenied"))
    assert p.write_description(occ, block_splice("x"), "t").status is WriteStatus.FORBIDDEN


def test_setup_through_the_cli(fake_ms: FakeMicrosoft, trust_ca: Path, tmp_path: Path) -> None:
    from tests.helpers import cli

    cfg = tmp_path / "config.toml"
    write_config(cfg, fake_ms)
    result = cli("--config", cfg, "setup", "microsoft", "--tenant", "contoso.example",
                 "--read-only")
    assert result.exit_code == 0, result.output
    assert "Logged in to Microsoft 365 as manager@contoso.example (read-only)" in result.stdout
    assert "devicelogin" in result.stderr and "devicelogin" not in result.stdout
    assert 'tenant = "contoso.example"' in cfg.read_text()
    assert "read_only = true" in cfg.read_text()


def test_server_side_html_rewrite_does_not_cause_a_write_every_run(ms_env: MsEnv) -> None:
    """Exchange may store our HTML re-serialised: the next run must not write (and email)
    again just because the stored block no longer matches the rendered bytes (P7)."""
    f = ms_env.fake
    f.rewrite_body = lambda html: html.replace("<div>", "<div style=\"margin:0\">")
    weekly_series(f, body=TEAMS_BODY, online=True)
    occ = ms_env.provider().fetch(WINDOW).occurrences[1]
    splice = block_splice("agenda v1")
    assert ms_env.provider().write_description(occ, splice, "v1").status is WriteStatus.WRITTEN
    stored = f.events[occ.ref]["body"]["content"]
    assert splice(Body(stored, True)) is not None  # bytes differ from what calsync renders
    for _ in range(3):  # later runs, same block
        res = ms_env.provider().write_description(occ, splice, "v1")
        assert res.status is WriteStatus.UNCHANGED
    assert len(f.graph_requests("PATCH")) == 1 and len(f.notifications) == 1
    # a new block (a new tag): written once more
    res = ms_env.provider().write_description(occ, block_splice("agenda v2"), "v2")
    assert res.status is WriteStatus.WRITTEN and "agenda v2" in f.events[occ.ref]["body"]["content"]


def test_custom_zone_label_uses_the_recurrence_zone_without_ghosts(ms_env: MsEnv) -> None:
    """Exchange can label a series 'tzone://Microsoft/Custom'; the recurrence still says
    where it repeats, so the DST change in March makes no phantom cancellations."""
    f = ms_env.fake
    mid = weekly_series(f)
    f.events[mid]["_zone_label"] = "tzone://Microsoft/Custom"
    occs = [o for o in ms_env.provider().fetch(WINDOW).occurrences if o.series_id == mid]
    assert len(occs) == 17 and not any(o.removed for o in occs)
    assert {o.start.astimezone(zone("W. Europe Standard Time")).hour for o in occs} == {10}


# --- review fixes: ETag-less writes, persisted masters, delta retried, re-setup ----------


def test_no_etag_no_write(ms_env: MsEnv) -> None:
    """Every body PATCH carries If-Match: an event read without an ETag is not written."""
    f = ms_env.fake
    weekly_series(f)
    p = ms_env.provider()
    occ = p.fetch(WINDOW).occurrences[1]
    f.omit_event_etag = True
    res = p.write_description(occ, block_splice("agenda"), "t")
    assert res.status is WriteStatus.CONFLICT and "If-Match" in res.detail
    assert f.graph_requests("PATCH") == [] and f.patches == 0
    f.omit_event_etag = False
    assert p.write_description(occ, block_splice("agenda"), "t").status is WriteStatus.WRITTEN
    (patch,) = f.graph_requests("PATCH")
    assert patch.headers["If-Match"].startswith('W/"')


def _named_calendar_env(fake_ms: FakeMicrosoft, tmp_path: Path) -> MsEnv:
    from calsync.backends.microsoft.setup import setup
    from calsync.core.state import MemoryState

    fake_ms.calendars["AAMkTeam"] = "1on1s"
    cfg = tmp_path / "config.toml"
    write_config(cfg, fake_ms, extra='calendar = "1on1s"\n')
    setup(cfg, None, "organizations", browser=False, read_only=False, echo=lambda s: None)
    return MsEnv(fake_ms, cfg, tmp_path, MemoryState(), lambda s: None)  # type: ignore[arg-type]


def test_no_delta_steady_state_is_one_request(fake_ms: FakeMicrosoft, trust_ca: Path,
                                              tmp_path: Path) -> None:
    """A plain calendarView never carries series masters: they are fetched once and kept,
    so a later run is the one view request, not 1 + one per series."""
    fake_ms.no_delta_on_named = True
    env = _named_calendar_env(fake_ms, tmp_path)
    mids = [weekly_series(fake_ms, ical_uid=f"u{i}") for i in range(3)]
    t0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    first = env.provider(t0).fetch(WINDOW).occurrences
    assert sorted(r.path for r in fake_ms.graph_requests() if "/events/" in r.path) == \
        sorted(f"/v1.0/me/events/{m}" for m in mids)
    fake_ms.log.clear()
    again = env.provider(t0 + timedelta(hours=1)).fetch(WINDOW).occurrences
    assert [r.path for r in fake_ms.graph_requests()] == [
        "/v1.0/me/calendars/AAMkTeam/calendarView"]
    assert [(o.ref, o.start, o.title, o.removed) for o in again] == \
        [(o.ref, o.start, o.title, o.removed) for o in first]
    fake_ms.log.clear()
    env.provider(t0 + timedelta(hours=23)).fetch(WINDOW)
    assert len(fake_ms.graph_requests()) == 1
    # a day on: delta is asked for again (still refused here) and the masters re-read
    # (a series can be shortened or moved)
    fake_ms.log.clear()
    env.provider(t0 + timedelta(days=1, minutes=1)).fetch(WINDOW)
    calls = [(r.path, r.status) for r in fake_ms.graph_requests()]
    assert calls[:2] == [("/v1.0/me/calendars/AAMkTeam/calendarView/delta", 400),
                         ("/v1.0/me/calendars/AAMkTeam/calendarView", 200)]
    assert sorted(c[0] for c in calls[2:]) == sorted(f"/v1.0/me/events/{m}" for m in mids)
    fake_ms.log.clear()
    env.provider(t0 + timedelta(days=1, hours=1)).fetch(WINDOW)
    assert len(fake_ms.graph_requests()) == 1


def test_fetched_master_is_kept_in_delta_mode_too(ms_env: MsEnv) -> None:
    f = ms_env.fake
    mid = weekly_series(f)
    t0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    first = ms_env.provider(t0).fetch(WINDOW).occurrences
    items = json.loads(ms_env.state.data["ms.items"])
    del items[mid]  # a delta that did not carry the master
    ms_env.state.data["ms.items"] = json.dumps(items)
    f.log.clear()
    ms_env.provider(t0).fetch(WINDOW)
    assert graph_calls(f) == ["GET /v1.0/me/calendarView/delta", f"GET /v1.0/me/events/{mid}"]
    f.log.clear()
    again = ms_env.provider(t0 + timedelta(minutes=30)).fetch(WINDOW).occurrences
    assert graph_calls(f) == ["GET /v1.0/me/calendarView/delta"]  # steady: one request
    assert [(o.ref, o.start, o.title) for o in again] == [(o.ref, o.start, o.title)
                                                          for o in first]
    f.log.clear()
    ms_env.provider(t0 + timedelta(days=1, minutes=1)).fetch(WINDOW)  # a day on: re-read
    assert graph_calls(f) == ["GET /v1.0/me/calendarView/delta", f"GET /v1.0/me/events/{mid}"]
    # once the delta carries the master again, the kept copy is dropped
    ms_env.state.data.pop("ms.delta")
    ms_env.provider(t0 + timedelta(days=1, minutes=2)).fetch(WINDOW)
    assert "ms.masters" not in ms_env.state.data or not json.loads(
        ms_env.state.data["ms.masters"] or "{}")


def test_a_one_off_delta_refusal_is_retried_after_a_day(ms_env: MsEnv) -> None:
    f = ms_env.fake
    weekly_series(f)
    f.faults.append(Fault(400, "/calendarView/delta", code="ErrorInvalidRequest"))
    t0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    occs = ms_env.provider(t0).fetch(WINDOW).occurrences
    assert len(occs) == 17
    assert [r.path for r in f.graph_requests()][:2] == ["/v1.0/me/calendarView/delta",
                                                        "/v1.0/me/calendarView"]
    f.log.clear()
    ms_env.provider(t0 + timedelta(hours=3)).fetch(WINDOW)  # same day: the view, no delta
    assert [r.path for r in f.graph_requests()] == ["/v1.0/me/calendarView"]
    f.log.clear()
    later = ms_env.provider(t0 + timedelta(days=1, hours=1)).fetch(WINDOW).occurrences
    assert [r.path for r in f.graph_requests()] == ["/v1.0/me/calendarView/delta"]
    assert len(later) == 17
    f.log.clear()
    ms_env.provider(t0 + timedelta(days=1, hours=2)).fetch(WINDOW)  # back on the chain
    assert graph_calls(f) == ["GET /v1.0/me/calendarView/delta"]
    assert "$deltatoken" in f.graph_requests()[0].query


def test_setup_again_as_another_user_replaces_the_login(
        fake_ms: FakeMicrosoft, trust_ca: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Setup as A, then setup again as B: the run uses B, not A's cached login."""
    from calsync.backends.microsoft.setup import setup
    from calsync.core.state import MemoryState

    monkeypatch.setenv("CALSYNC_HOME", str(tmp_path / "home"))
    cfg = tmp_path / "config.toml"
    write_config(cfg, fake_ms)
    setup(cfg, None, "organizations", browser=False, read_only=False, echo=lambda s: None)
    env = MsEnv(fake_ms, cfg, tmp_path / "home", MemoryState(), lambda s: None)  # type: ignore[arg-type]
    token_file = env.calendar().token_file
    assert token_file is not None
    as_a = token_file.read_text()
    fake_ms.switch_user("bea@contoso.example", "Bea Boss")
    msg = setup(cfg, None, "organizations", browser=False, read_only=False,
                echo=lambda s: None)
    assert "bea@contoso.example" in msg
    fake_ms.log.clear()
    p = env.provider()
    assert p.graph.get_json("/me")["mail"] == "bea@contoso.example"
    assert p.tokens.username == "bea@contoso.example"
    assert {r.user for r in fake_ms.graph_requests()} == {"bea@contoso.example"}
    assert len(json.loads(token_file.read_text())["Account"]) == 1
    # a cache an older calsync left with both accounts: which one is meant is not guessed
    merged = json.loads(as_a)
    for section, entries in json.loads(token_file.read_text()).items():
        merged.setdefault(section, {}).update(entries)
    token_file.write_text(json.dumps(merged))
    with pytest.raises(AuthError, match="2 Microsoft accounts.*calsync setup microsoft"):
        env.provider().graph.get_json("/me")


@pytest.mark.parametrize(("mode", "why"), [("reset", "connection reset"),
                                           ("silent", "no answer in time")])
def test_reset_or_silent_graph_names_host_and_ends_in_bounded_time(
        ms_env: MsEnv, mode: str, why: str) -> None:
    """Graph resets every connection, or accepts and never answers: three tries within
    the deadline, then one line naming the host, what happened, how often, how long."""
    import dataclasses
    import time

    from calsync.backends.microsoft.calendar import MicrosoftProvider
    from calsync.backends.retry import RetryPolicy
    from tests.fakes import BadServer

    with BadServer(mode) as bad:
        cal = dataclasses.replace(ms_env.calendar(), graph_url=f"{bad.url}/v1.0")
        policy = RetryPolicy(sleep=ms_env.sleeps, rand=lambda: 0.5, timeout=0.3, deadline=5.0)
        provider = MicrosoftProvider(cal, ms_env.owner(), ms_env.state,
                                     datetime.now().astimezone(), policy=policy)
        started = time.monotonic()
        with pytest.raises(ProviderError) as info:
            provider.fetch(Window(datetime(2026, 1, 1, tzinfo=UTC),
                                  datetime(2026, 3, 1, tzinfo=UTC)))
        spent = time.monotonic() - started
        provider.close()
    assert str(info.value).startswith(
        f"work: Graph GET /v1.0/me/calendarView/delta: cannot reach 127.0.0.1:{bad.port} "
        f"({why}) after 3 tries in ")
    assert bad.accepted == 3 and ms_env.sleeps.calls == [0.75, 1.5] and spent < 5.0
