"""The Google provider against the loopback fake, through the real client libraries."""

from __future__ import annotations

import dataclasses
import json
import logging
import stat
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calsync.backends.base import Window, WriteStatus
from calsync.backends.google.calendar import TAG_KEY
from calsync.config import Owner
from calsync.core.model import AttendeeKind, Body, Occurrence, Response, Status
from calsync.core.state import MemoryState
from calsync.errors import AuthError, ProviderError
from tests.fakes.google import FakeGoogle, api_requests
from tests.google_fixtures import *  # noqa: F403
from tests.google_fixtures import GEnv

W = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))

ONE_ON_ONE = """BEGIN:VCALENDAR
VERSION:2.0
X-WR-TIMEZONE:Europe/Berlin
BEGIN:VEVENT
UID:weekly@example.com
SUMMARY:Alex / Me 1on1
DTSTART;TZID=Europe/Berlin:20260105T100000
DTEND;TZID=Europe/Berlin:20260105T103000
RRULE:FREQ=WEEKLY;COUNT=10
EXDATE;TZID=Europe/Berlin:20260119T100000
DESCRIPTION:{description}
ORGANIZER;CN=Me:mailto:me@example.com
ATTENDEE;CN=Me;PARTSTAT=ACCEPTED:mailto:me@example.com
ATTENDEE;CN=Alex Report;PARTSTAT=ACCEPTED:mailto:alex@example.com
ATTENDEE;CUTYPE=ROOM;CN=Room 1;PARTSTAT=ACCEPTED:mailto:room1@resource.example.com
END:VEVENT
BEGIN:VEVENT
UID:weekly@example.com
RECURRENCE-ID;TZID=Europe/Berlin:20260202T100000
SUMMARY:Alex / Me 1on1
DTSTART;TZID=Europe/Berlin:20260203T150000
DTEND;TZID=Europe/Berlin:20260203T153000
ORGANIZER;CN=Me:mailto:me@example.com
ATTENDEE;CN=Me;PARTSTAT=ACCEPTED:mailto:me@example.com
ATTENDEE;CN=Alex Report;PARTSTAT=DECLINED:mailto:alex@example.com
END:VEVENT
BEGIN:VEVENT
UID:offsite@example.com
SUMMARY:Offsite
DTSTART;VALUE=DATE:20260210
DTEND;VALUE=DATE:20260211
END:VEVENT
END:VCALENDAR
"""


def seed(fake: FakeGoogle, description: str = "Notes for us", cals: tuple[str, ...] = (
        "me@example.com",)) -> None:
    fake.seed_ics(ONE_ON_ONE.replace("{description}", description), cals)


def series(result: Any) -> list[Occurrence]:
    return [o for o in result.occurrences if o.uid == "weekly@example.com"]


def block_splice(block: str = "[calsync]agenda[/calsync]") -> Any:
    def splice(body: Body) -> Body | None:
        if block in body.text:
            return None
        sep = "<br>" if body.html else "\n"
        return Body(body.text + sep + block, body.html)

    return splice


# -- reading and normalising ------------------------------------------------------------


def test_normalises_instances_cancellations_declines_and_resources(gcal: GEnv) -> None:
    seed(gcal.fake)
    result = gcal.provider(gcal.calendar()).fetch(W)
    occs = series(result)
    assert len(occs) == 10  # COUNT=10, the EXDATE'd one included as removed
    removed = [o for o in occs if o.removed]
    assert [o.start.isoformat() for o in removed] == ["2026-01-19T10:00:00+01:00"]
    assert removed[0].status is Status.CANCELLED and removed[0].cancelled
    first = occs[0]
    assert str(first.start.tzinfo) == "Europe/Berlin" and first.start.hour == 10
    assert first.organizer_is_self is True and first.organizer == "me@example.com"
    assert first.series_id and first.ref != first.series_id and first.etag
    assert first.uid == "weekly@example.com"
    kinds = {a.email: (a.kind, a.is_self) for a in first.attendees}
    assert kinds["room1@resource.example.com"][0] is AttendeeKind.RESOURCE
    assert kinds["me@example.com"] == (AttendeeKind.PERSON, True)
    # people's text is not cached (it would sit in the state database): only checklist
    # lines and calsync's block are kept, and "Notes for us" is neither
    assert first.description == Body("", html=False)
    moved = next(o for o in occs if o.recurrence_id and o.recurrence_id.day == 2
                 and o.recurrence_id.month == 2)
    assert (moved.start.day, moved.start.hour) == (3, 15)
    alex = next(a for a in moved.attendees if a.email == "alex@example.com")
    assert alex.response is Response.DECLINED
    allday = next(o for o in result.occurrences if o.title == "Offsite")
    assert allday.all_day and allday.series_id is None
    assert allday.duration == timedelta(days=1)


def test_omitted_attendees_make_a_group(gcal: GEnv) -> None:
    seed(gcal.fake)
    first = next(e for e in gcal.fake.events.values() if e.get("recurringEventId"))
    gcal.fake.edit(first["id"], attendeesOmitted=True)
    occ = next(o for o in gcal.provider(gcal.calendar()).fetch(W).occurrences
               if o.ref == first["id"])
    assert any(a.kind is AttendeeKind.GROUP for a in occ.attendees)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=st.integers(min_value=1, max_value=12))
def test_paging_never_changes_what_is_read(gcal: GEnv, page: int) -> None:
    if not gcal.fake.events:
        seed(gcal.fake)
    gcal.fake.page_cap = None
    whole = [(o.ref, o.etag) for o in gcal.provider(gcal.calendar(), MemoryState()).fetch(W).occurrences]
    gcal.fake.page_cap = page
    gcal.fake.log.clear()
    paged = [(o.ref, o.etag) for o in gcal.provider(gcal.calendar(), MemoryState()).fetch(W).occurrences]
    assert paged == whole
    assert len(api_requests(gcal.fake)) == -(-11 // page)  # 11 events in the synced span


def test_organizer_and_attendee_see_the_same_meeting(gcal: GEnv) -> None:
    seed(gcal.fake, cals=("me@example.com", "alex@example.com"))
    mine = series(gcal.provider(gcal.calendar("me@example.com")).fetch(W))
    bob = gcal.provider(gcal.calendar("alex@example.com"), owner="alex@example.com")
    theirs = series(bob.fetch(W))
    assert [o.ref for o in mine] == [o.ref for o in theirs]
    assert all(o.organizer_is_self for o in mine)
    assert not any(o.organizer_is_self for o in theirs)
    assert [a.email for a in theirs[0].attendees if a.is_self] == ["alex@example.com"]
    # the attendee's calsync never writes: refused locally, no PATCH sent
    nxt = theirs[-1]
    result = bob.write_description(nxt, block_splice(), "h1")
    assert result.status is WriteStatus.FORBIDDEN and "organizer" in result.detail
    assert api_requests(gcal.fake, "PATCH") == []
    # and were it to try, Google refuses it: FORBIDDEN with the reason, not retried
    forced = dataclasses.replace(nxt, organizer_is_self=True)
    result = bob.write_description(forced, block_splice(), "h1")
    assert result.status is WriteStatus.FORBIDDEN
    assert "forbiddenForNonOrganizer" in result.detail
    assert len(api_requests(gcal.fake, "PATCH")) == 1
    assert gcal.sleeps.calls == []


def test_steady_state_costs_one_list_request_and_no_writes(gcal: GEnv) -> None:
    seed(gcal.fake)
    gcal.fake.page_cap = 4  # force paging on the first sync
    state = MemoryState()
    cal = gcal.calendar()
    first = gcal.provider(cal, state)
    occs = first.fetch(W).occurrences
    first.close()
    pages = len(api_requests(gcal.fake, "GET"))
    assert pages == 3  # 11 events in pages of 4
    gcal.fake.log.clear()
    second = gcal.provider(cal, state)
    again = second.fetch(W).occurrences
    second.close()
    calls = api_requests(gcal.fake)
    assert [(c["method"], sorted(set(c["query"]) - {"alt"})) for c in calls] == [
        ("GET", ["maxResults", "singleEvents", "syncToken"])
    ]
    assert calls[0]["query"]["singleEvents"] == ["true"]
    assert [(o.ref, o.etag, o.start) for o in again] == [(o.ref, o.etag, o.start) for o in occs]


def test_incremental_sync_picks_up_edits_and_410_means_full_resync(gcal: GEnv) -> None:
    seed(gcal.fake)
    state, cal = MemoryState(), gcal.calendar()
    p = gcal.provider(cal, state)
    before = series(p.fetch(W))
    target = before[3]
    gcal.fake.edit(target.ref, description="<p>changed</p><p>- [ ] Alex: book the room</p>")
    gcal.fake.cancel(before[4].ref)
    p2 = gcal.provider(cal, state)
    after = {o.ref: o for o in series(p2.fetch(W))}
    assert after[target.ref].description == Body("- [ ] Alex: book the room<br>", html=True)
    assert after[before[4].ref].cancelled
    calls = api_requests(gcal.fake)
    assert calls[-2]["query"].get("syncToken")
    # a cancelled instance arrived: the series master is read once, to tell a cancelled
    # meeting from instances cut off by a series edit
    assert calls[-1]["path"].endswith("/events/" + str(target.series_id))
    gcal.fake.expire_sync_tokens()
    gcal.fake.log.clear()
    p3 = gcal.provider(cal, state)
    resynced = {o.ref: o for o in series(p3.fetch(W))}
    calls = api_requests(gcal.fake)
    assert len(calls) == 2 and "syncToken" in calls[0]["query"]
    assert "timeMin" in calls[1]["query"] and calls[1]["query"]["showDeleted"] == ["true"]
    assert {r: (o.description, o.cancelled) for r, o in resynced.items()} == {
        r: (o.description, o.cancelled) for r, o in after.items()
    }


def test_window_past_the_synced_span_triggers_a_full_sync(gcal: GEnv) -> None:
    seed(gcal.fake)
    state, cal = MemoryState(), gcal.calendar()
    gcal.provider(cal, state).fetch(W)
    later = Window(W.start + timedelta(days=200), W.end + timedelta(days=200))
    gcal.fake.log.clear()
    gcal.provider(cal, state).fetch(later)
    assert "timeMin" in api_requests(gcal.fake)[0]["query"]


def test_series_split_keeps_one_counterpart_and_no_phantom_cancellations(gcal: GEnv) -> None:
    seed(gcal.fake)
    state, cal = MemoryState(), gcal.calendar()
    gcal.provider(cal, state).fetch(W)
    master = next(e["id"] for e in gcal.fake.events.values() if e["_master"])
    at = datetime(2026, 2, 16, 9, 0, tzinfo=UTC)
    new_id = gcal.fake.split_series(master, at, shift=timedelta(hours=1),
                                    summary="Alex / Me 1on1 (new time)")
    incremental = gcal.provider(cal, state).fetch(W).occurrences
    fresh = gcal.provider(cal, MemoryState()).fetch(W).occurrences

    def view(occs: list[Occurrence]) -> list[tuple[str, str | None, str, bool]]:
        return [(o.start.isoformat(), o.series_id, o.title, o.cancelled) for o in occs
                if any(a.email == "alex@example.com" for a in o.attendees)]

    assert view(incremental) == view(fresh)
    after = [o for o in incremental if o.start >= at and o.title.startswith("Alex")]
    assert after and {o.series_id for o in after} == {new_id}
    assert all(o.start.hour == 11 for o in after if not o.cancelled)  # moved an hour later
    assert [o.start.day for o in incremental if o.cancelled] == [19]  # only the real EXDATE


# -- writing ----------------------------------------------------------------------------


def test_write_patches_one_instance_with_if_match_and_send_updates(gcal: GEnv) -> None:
    seed(gcal.fake)
    cal = gcal.calendar(send_updates="externalOnly")
    p = gcal.provider(cal)
    nxt = series(p.fetch(W))[-1]
    result = p.write_description(nxt, block_splice(), "abc123")
    assert result.status is WriteStatus.WRITTEN
    (patch,) = api_requests(gcal.fake, "PATCH")
    assert patch["path"].endswith("/events/" + nxt.ref)
    assert patch["headers"]["if-match"] == nxt.etag
    assert patch["query"]["sendUpdates"] == ["externalOnly"]
    assert patch["body"]["extendedProperties"] == {"private": {TAG_KEY: "abc123"}}
    assert set(patch["body"]) == {"description", "extendedProperties"}
    stored = gcal.fake.events[nxt.ref]
    assert stored["description"] == "Notes for us\n[calsync]agenda[/calsync]"
    assert gcal.fake.private[("me@example.com", nxt.ref)] == {TAG_KEY: "abc123"}
    # other instances of the series are untouched
    assert not any("[calsync]" in e.get("description", "") for e in gcal.fake.events.values()
                   if e["id"] != nxt.ref)
    # unchanged block: the body is read again (the cache does not hold it), nothing written
    gcal.fake.log.clear()
    again = p.write_description(nxt, block_splice(), "abc123")
    assert again.status is WriteStatus.UNCHANGED
    assert [c["method"] for c in api_requests(gcal.fake)] == ["GET"]


def test_html_description_outside_the_block_is_kept_exactly(gcal: GEnv) -> None:
    html = ('<b>Shared notes</b><br>Link: <a href="https://example.com/x?a=1&amp;b=2">'
            'doc</a>&nbsp;<i>日本語</i><br><ul><li>one</li></ul>')
    seed(gcal.fake)
    nxt_id = sorted(e["id"] for e in gcal.fake.events.values()
                    if e.get("recurringEventId") and e["status"] != "cancelled")[-1]
    gcal.fake.edit(nxt_id, description=html)
    p = gcal.provider(gcal.calendar())
    nxt = next(o for o in p.fetch(W).occurrences if o.ref == nxt_id)
    assert nxt.description == Body("", html=True)  # the cache keeps none of it
    seen: list[Body] = []

    def splice(body: Body) -> Body:
        seen.append(body)
        return Body(body.text + "<br>[calsync]<br>agenda<br>[/calsync]", body.html)

    assert p.write_description(nxt, splice, "t").status is WriteStatus.WRITTEN
    assert seen == [Body(html, True)]
    stored = gcal.fake.events[nxt_id]["description"]
    assert stored.startswith(html) and stored == html + "<br>[calsync]<br>agenda<br>[/calsync]"


def test_concurrent_edit_is_resliced_once_then_conflict(gcal: GEnv) -> None:
    seed(gcal.fake)
    p = gcal.provider(gcal.calendar())
    occs = series(p.fetch(W))
    nxt = occs[-1]
    pending = ["Notes for us\nAlex: can we talk about X?"]

    def edit_once(eid: str) -> None:  # someone saves between calsync's read and its write
        if pending:
            gcal.fake.edit(eid, description=pending.pop())

    gcal.fake.before_patch = edit_once
    result = p.write_description(nxt, block_splice(), "t1")
    assert result.status is WriteStatus.WRITTEN
    assert result.before == Body("Notes for us\nAlex: can we talk about X?")
    assert gcal.fake.events[nxt.ref]["description"] == (
        "Notes for us\nAlex: can we talk about X?\n[calsync]agenda[/calsync]")
    methods = [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in api_requests(gcal.fake)[1:]]
    assert methods == [("GET", nxt.ref), ("PATCH", nxt.ref), ("GET", nxt.ref), ("PATCH", nxt.ref)]
    # someone keeps editing: one re-read, then CONFLICT, and their words stay
    other = occs[-2]
    edits = iter(range(100))
    gcal.fake.before_patch = lambda eid: gcal.fake.edit(eid, description=f"edit {next(edits)}")
    result = p.write_description(other, block_splice(), "t2")
    assert result.status is WriteStatus.CONFLICT
    assert "[calsync]" not in gcal.fake.events[other.ref]["description"]
    assert len([c for c in api_requests(gcal.fake, "PATCH") if other.ref in c["path"]]) == 2


def test_read_only_calendar_never_writes_and_uses_read_only_scopes(gcal: GEnv) -> None:
    seed(gcal.fake)
    cal = gcal.calendar(read_only=True,
                        scopes=["https://www.googleapis.com/auth/calendar.events.readonly"])
    p = gcal.provider(cal)
    occs = series(p.fetch(W))
    assert occs and not any(o.writable for o in occs)
    result = p.write_description(occs[-1], block_splice(), "t")
    assert result.status is WriteStatus.FORBIDDEN and "read_only" in result.detail
    assert api_requests(gcal.fake, "PATCH") == []


def test_write_to_deleted_event_is_gone(gcal: GEnv) -> None:
    seed(gcal.fake)
    p = gcal.provider(gcal.calendar())
    nxt = series(p.fetch(W))[-1]
    del gcal.fake.events[nxt.ref]
    assert p.write_description(nxt, block_splice(), "t").status is WriteStatus.GONE


# -- retries and errors -----------------------------------------------------------------


def test_rate_limit_storm_is_retried_with_backoff_and_retry_after(gcal: GEnv) -> None:
    seed(gcal.fake)
    gcal.fake.fail_next = [
        {"status": 429, "retry_after": 7},
        503,
        {"status": 403, "reason": "userRateLimitExceeded"},
        500,
    ]
    result = gcal.provider(gcal.calendar()).fetch(W)
    assert len(series(result)) == 10
    assert len(api_requests(gcal.fake, "GET")) == 5
    # Retry-After honoured, then 1, 2, 4 s steps at 75 % (jitter pinned by rand=0.5)
    assert gcal.sleeps.calls == [7.0, 1.5, 3.0, 6.0]


def test_guarded_write_is_retried_but_other_403s_are_not(gcal: GEnv) -> None:
    seed(gcal.fake)
    p = gcal.provider(gcal.calendar())
    nxt = series(p.fetch(W))[-1]
    gcal.fake.fail_next = [{"status": 503, "path": "/events/", "method": "PATCH"}]
    assert p.write_description(nxt, block_splice(), "t").status is WriteStatus.WRITTEN
    assert len(api_requests(gcal.fake, "PATCH")) == 2
    gcal.fake.fail_next = [{"status": 403, "reason": "quotaExceeded"}]
    with pytest.raises(ProviderError, match="quotaExceeded"):
        gcal.provider(gcal.calendar(), MemoryState()).fetch(W)
    assert gcal.sleeps.calls == [0.75]  # the 503 only; quotaExceeded is final


def test_endless_storm_gives_up_cleanly_within_the_budget(gcal: GEnv) -> None:
    seed(gcal.fake)
    gcal.fake.fail_next = [{"status": 429, "retry_after": 30}] * 20
    with pytest.raises(ProviderError, match="giving up"):
        gcal.provider(gcal.calendar()).fetch(W)
    assert sum(gcal.sleeps.calls) <= 120
    assert 1 < len(api_requests(gcal.fake)) <= 6


def test_expired_access_token_is_refreshed_and_saved_back(gcal: GEnv) -> None:
    seed(gcal.fake)
    cal = gcal.calendar(expired=True)
    assert cal.token_file is not None
    old = json.loads(cal.token_file.read_text())
    p = gcal.provider(cal)
    assert series(p.fetch(W))
    p.close()
    paths = [c["path"] for c in gcal.fake.log]
    assert paths[0] == "/token" and paths[1].endswith("/events")
    token_call = gcal.fake.log[0]["body"]
    assert token_call["grant_type"] == "refresh_token"
    assert token_call["refresh_token"] == old["refresh_token"]
    new = json.loads(cal.token_file.read_text())
    assert new["token"] != old["token"] and new["token"] in gcal.fake.access
    assert new["refresh_token"] == old["refresh_token"]
    assert new["token_uri"] == f"{gcal.fake.base}/token"
    assert stat.S_IMODE(cal.token_file.stat().st_mode) == 0o600


def test_access_token_rejected_midway_is_refreshed_once(gcal: GEnv) -> None:
    seed(gcal.fake)
    cal = gcal.calendar()
    gcal.fake.expire_access_tokens()  # the file says valid; the server says 401
    assert series(gcal.provider(cal).fetch(W))
    assert [c["path"].rsplit("/", 1)[-1] for c in gcal.fake.log] == ["events", "token", "events"]


def test_revoked_login_is_an_auth_error_naming_the_fix(gcal: GEnv) -> None:
    seed(gcal.fake)
    cal = gcal.calendar(expired=True)
    gcal.fake.revoke_all()
    with pytest.raises(AuthError) as info:
        gcal.provider(cal).fetch(W)
    message = str(info.value)
    assert "calsync setup google" in message and "7 days" in message
    assert "Testing" in message and "invalid_grant" in message
    assert info.value.exit_code == 3
    assert "fake-refresh" not in message and "client-secret" not in message


def test_missing_token_file_is_an_auth_error(gcal: GEnv) -> None:
    cal = dataclasses.replace(gcal.calendar(), token_file=gcal.tmp / "nope.json")
    with pytest.raises(AuthError, match="calsync setup google"):
        gcal.provider(cal).fetch(W)


@pytest.mark.parametrize("content", ["[]", '["refresh_token"]', '"token"', "42", "null"])
def test_token_file_that_is_not_a_json_object_is_an_auth_error(gcal: GEnv, content: str) -> None:
    cal = gcal.calendar()
    assert cal.token_file is not None
    cal.token_file.write_text(content)
    with pytest.raises(AuthError) as info:
        gcal.provider(cal).fetch(W)
    assert str(cal.token_file) in str(info.value) and "calsync setup google" in str(info.value)


def test_client_library_warnings_stay_off_stderr(gcal: GEnv,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    # googleapiclient logs "Encountered 403 Forbidden with reason ..." at WARNING on every
    # such answer; with no handler configured Python prints it to stderr, in cron mail
    quiet = [logging.getLogger(name) for name in ("googleapiclient", "google_auth_httplib2")]
    levels = [q.level for q in quiet]
    root = logging.getLogger()
    root_state = (root.level, list(root.handlers))
    try:
        for q in quiet:
            q.setLevel(logging.NOTSET)  # as in a fresh process
        seed(gcal.fake)
        gcal.fake.fail_next = [{"status": 403, "reason": "rateLimitExceeded"}, 503]
        with caplog.at_level(logging.DEBUG):
            assert series(gcal.provider(gcal.calendar()).fetch(W))
        noisy = [r for r in caplog.records if r.levelno >= logging.WARNING
                 and r.name.startswith(("googleapiclient", "google_auth_httplib2"))]
        assert noisy == []
        assert (root.level, list(root.handlers)) == root_state  # the root logger is not touched
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)


def test_an_answer_that_is_not_json_fails_the_calendar_cleanly(gcal: GEnv) -> None:
    seed(gcal.fake)
    gcal.fake.fail_next = [{"status": 200, "raw": "<html>Sign in to the proxy</html>"}]
    with pytest.raises(ProviderError, match="not JSON"):
        gcal.provider(gcal.calendar()).fetch(W)


def test_token_endpoint_outage_is_not_a_login_problem(gcal: GEnv,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth._exponential_backoff as backoff

    monkeypatch.setattr(backoff.time, "sleep", lambda s: None)  # google-auth's own retries
    seed(gcal.fake)
    cal = gcal.calendar(expired=True)
    gcal.fake.token_fail_next = [503] * 10
    with pytest.raises(ProviderError) as info:
        gcal.provider(cal).fetch(W)
    assert not isinstance(info.value, AuthError) and "temporarily" in str(info.value)
    assert len([c for c in gcal.fake.log if c["path"] == "/token"]) >= 2


def test_unreachable_server_fails_the_calendar_cleanly(gcal: GEnv) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening
        cal = dataclasses.replace(gcal.calendar(), api_url=dead)
        with pytest.raises(ProviderError, match=r"listing events: cannot reach 127\.0\.0\.1:"
                           r"\d+ \(connection refused\) after 3 tries in \d+ s$"):
            gcal.provider(cal).fetch(W)
    assert len(gcal.sleeps.calls) == 2


@pytest.mark.parametrize(("mode", "why"), [("reset", "connection reset"),
                                           ("silent", "no answer in time")])
def test_reset_or_silent_server_names_host_and_ends_in_bounded_time(
        gcal: GEnv, mode: str, why: str) -> None:
    """A server that resets every connection or never answers: a few tries, a bounded
    wait, and one line saying which host, what happened, how often and how long."""
    import time

    from calsync.backends.google.calendar import GoogleProvider
    from calsync.backends.retry import RetryPolicy
    from tests.fakes import BadServer

    with BadServer(mode) as bad:
        cal = dataclasses.replace(gcal.calendar(), api_url=bad.url.replace("https", "http"))
        policy = RetryPolicy(sleep=gcal.sleeps, rand=lambda: 0.5, timeout=0.3, deadline=5.0)
        provider = GoogleProvider(cal, Owner(("me@example.com",), "UTC"), MemoryState(),
                                  datetime.now().astimezone(), retry=policy)
        started = time.monotonic()
        with pytest.raises(ProviderError) as info:
            provider.fetch(W)
        spent = time.monotonic() - started
    message = str(info.value)
    assert message.startswith(f"{cal.name}: listing events: cannot reach 127.0.0.1:{bad.port} "
                              f"({why}) after 3 tries in ")
    assert bad.accepted == 3 and gcal.sleeps.calls == [0.75, 1.5] and spent < 5.0
    # a tighter deadline: no try is begun that could not end within it
    with BadServer("silent") as bad:
        cal = dataclasses.replace(gcal.calendar(), api_url=bad.url.replace("https", "http"))
        tight = RetryPolicy(sleep=lambda s: None, rand=lambda: 0.5, timeout=0.3, deadline=1.0)
        provider = GoogleProvider(cal, Owner(("me@example.com",), "UTC"), MemoryState(),
                                  datetime.now().astimezone(), retry=tight)
        started = time.monotonic()
        with pytest.raises(ProviderError, match=r"\(no answer in time\) after 1 try in 0 s"):
            provider.fetch(W)  # 0.3 s, then 0.75 s of backoff and 0.3 s more would pass 1 s
        assert time.monotonic() - started < 1.0 and bad.accepted == 1
