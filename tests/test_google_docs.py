"""The shared Google Doc per relationship, and the fake's payloads against discovery."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calsync.backends.base import DocRequest, Window, WriteStatus
from calsync.backends.google.docedit import LOG_HEADING
from calsync.core.model import Body
from calsync.core.state import MemoryState
from calsync.errors import AuthError, ForbiddenError, ProviderError
from tests.fakes.google import FakeGoogle, api_requests, schema_errors
from tests.google_fixtures import *  # noqa: F403
from tests.google_fixtures import GEnv
from tests.test_google import ONE_ON_ONE, W, series

REQ = DocRequest(
    key="work:alex@example.com",
    counterpart="alex@example.com",
    counterpart_name="Alex Report",
    title="1on1 — Me / Alex Report",
    template="# 1on1 — Me / Alex\n\nPurpose: growth and problem-solving — not an evaluation.\n",
)


def test_ensure_creates_shares_and_remembers(gcal: GEnv) -> None:
    state = MemoryState()
    docs = gcal.provider(gcal.calendar(), state).docs()
    ref = docs.ensure(REQ)
    assert ref.url.startswith("https://docs.google.com/document/d/" + ref.id)
    (perm,) = gcal.fake.permissions[ref.id]
    assert perm["emailAddress"] == "alex@example.com" and perm["role"] == "writer"
    share = api_requests(gcal.fake, "POST", "/permissions")[0]
    assert share["query"]["sendNotificationEmail"] == ["false"]
    doc = gcal.fake.docs[ref.id]
    assert [p[0] for p in doc.paragraphs[:3]] == [
        "1on1 — Me / Alex", "", "Purpose: growth and problem-solving — not an evaluation."]
    assert doc.paragraphs[0][1] == "HEADING_1"
    assert [p for p in doc.paragraphs if p[0] == LOG_HEADING][0][1] == "HEADING_2"
    assert gcal.fake.files[ref.id]["appProperties"] == {"calsync-key": REQ.key}
    # remembered: no request the second time, even from a new run
    gcal.fake.log.clear()
    again = gcal.provider(gcal.calendar(), state).docs().ensure(REQ)
    assert again == ref and api_requests(gcal.fake) == []


def test_ensure_finds_a_doc_it_created_but_forgot(gcal: GEnv) -> None:
    first = gcal.provider(gcal.calendar(), MemoryState()).docs().ensure(REQ)
    # state lost (a crash right after creating): found by appProperties, not created twice
    gcal.fake.log.clear()
    again = gcal.provider(gcal.calendar(), MemoryState()).docs().ensure(REQ)
    assert again.id == first.id and len(gcal.fake.files) == 1
    # its template is there already: read, not written again; its share is found, not resent
    assert [p[0] for p in gcal.fake.docs[first.id].paragraphs].count(LOG_HEADING) == 1
    assert api_requests(gcal.fake, "POST") == []
    assert len(gcal.fake.permissions[first.id]) == 1


def _template_count(fake: FakeGoogle, doc_id: str) -> int:
    return [p[0] for p in fake.docs[doc_id].paragraphs].count(LOG_HEADING)


def test_template_write_is_pinned_so_a_lost_answer_cannot_insert_it_twice(gcal: GEnv) -> None:
    # the template lands, its answer is lost: a retry must not insert it a second time
    gcal.fake.fail_next = [{"status": 503, "path": ":batchUpdate", "after": True}]
    ref = gcal.provider(gcal.calendar()).docs().ensure(REQ)
    assert _template_count(gcal.fake, ref.id) == 1
    updates = api_requests(gcal.fake, "POST", ":batchUpdate")
    assert updates and all(u["body"].get("writeControl") for u in updates)


def test_a_failed_template_write_is_made_good_by_the_next_run(gcal: GEnv) -> None:
    state = MemoryState()
    gcal.fake.fail_next = [{"status": 400, "reason": "badRequest", "path": ":batchUpdate"}]
    with pytest.raises(ProviderError, match="template"):
        gcal.provider(gcal.calendar(), state).docs().ensure(REQ)
    (doc_id,) = gcal.fake.files
    assert _template_count(gcal.fake, doc_id) == 0 and not gcal.fake.permissions
    ref = gcal.provider(gcal.calendar(), state).docs().ensure(REQ)
    assert ref.id == doc_id and len(gcal.fake.files) == 1
    assert _template_count(gcal.fake, doc_id) == 1
    assert len(gcal.fake.permissions[doc_id]) == 1
    # and with the state lost too: the doc is found and filled, not made again
    gcal.fake.fail_next = [{"status": 400, "reason": "badRequest", "path": ":batchUpdate"}]
    other = DocRequest(key="work:bo@example.com", counterpart="bo@example.com",
                       counterpart_name="Bo", title="1on1 — Me / Bo", template=REQ.template)
    with pytest.raises(ProviderError):
        gcal.provider(gcal.calendar(), MemoryState()).docs().ensure(other)
    found = gcal.provider(gcal.calendar(), MemoryState()).docs().ensure(other)
    assert len(gcal.fake.files) == 2 and _template_count(gcal.fake, found.id) == 1


def test_share_is_sent_once_even_when_its_answer_is_lost(gcal: GEnv) -> None:
    state = MemoryState()
    cal = gcal.calendar(share_notify=True)  # every share request emails the counterpart
    gcal.fake.fail_next = [{"status": 503, "path": "/permissions", "method": "POST",
                            "after": True}]
    with pytest.raises(ProviderError):
        gcal.provider(cal, state).docs().ensure(REQ)
    assert len(api_requests(gcal.fake, "POST", "/permissions")) == 1  # not retried
    # the next run looks before it shares again: the share had landed
    ref = gcal.provider(cal, state).docs().ensure(REQ)
    assert len(api_requests(gcal.fake, "POST", "/permissions")) == 1
    assert [p["emailAddress"] for p in gcal.fake.permissions[ref.id]] == ["alex@example.com"]
    gcal.fake.log.clear()
    gcal.provider(cal, state).docs().ensure(REQ)
    assert api_requests(gcal.fake) == []  # remembered as shared


def test_refused_share_is_retried_by_the_runs_clock(gcal: GEnv) -> None:
    state = MemoryState()
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    gcal.fake.fail_next = [{"status": 403, "reason": "cannotShareTeamDriveWithNonGoogleAccounts",
                            "path": "/permissions"}]
    ref = gcal.provider(gcal.calendar(), state, now=t0).docs().ensure(REQ)
    assert gcal.fake.permissions.get(ref.id) is None
    gcal.fake.log.clear()
    gcal.provider(gcal.calendar(), state, now=t0 + timedelta(days=6)).docs().ensure(REQ)
    assert api_requests(gcal.fake, "POST") == []  # refused 6 days ago (by --now): not yet
    gcal.provider(gcal.calendar(), state, now=t0 + timedelta(days=8)).docs().ensure(REQ)
    assert [p["emailAddress"] for p in gcal.fake.permissions[ref.id]] == ["alex@example.com"]


@pytest.mark.parametrize("reason", ["insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"])
def test_doc_api_scope_refusal_is_a_login_problem(gcal: GEnv, reason: str) -> None:
    gcal.fake.fail_next = [{"status": 403, "reason": reason, "path": "/v1/documents"}]
    with pytest.raises(AuthError, match="calsync setup google") as info:
        gcal.provider(gcal.calendar()).docs().ensure(REQ)
    assert info.value.exit_code == 3 and reason in str(info.value)


def test_login_without_the_drive_scope_is_a_login_problem(gcal: GEnv) -> None:
    # the user unchecked "drive.file" on the consent screen: Google answers 403
    cal = gcal.calendar(scopes=["https://www.googleapis.com/auth/calendar.events"])
    with pytest.raises(AuthError, match="calsync setup google") as info:
        gcal.provider(cal).docs().ensure(REQ)
    assert info.value.exit_code == 3 and "insufficientPermissions" in str(info.value)


def test_rejected_login_on_the_doc_is_a_login_problem(gcal: GEnv) -> None:
    docs = gcal.provider(gcal.calendar()).docs()
    ref = docs.ensure(REQ)
    # 401 after google-auth's own refresh-and-retry (twice): the login is not accepted
    gcal.fake.fail_next = [{"status": 401, "reason": "authError", "path": "/v1/documents"}] * 3
    with pytest.raises(AuthError, match="calsync setup google"):
        docs.add_section(ref, "2026-03-02", "2026-03-02")


@pytest.mark.parametrize(("reason", "error"), [
    ("insufficientPermissions", AuthError), ("domainPolicy", ProviderError)])
def test_change_feed_refusal_is_a_calsync_error(gcal: GEnv, reason: str,
                                                error: type[Exception]) -> None:
    state = MemoryState()
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    docs = gcal.provider(gcal.calendar(), state, now=t0).docs()
    ref = docs.ensure(REQ)
    docs.read_text(ref)  # takes the change feed's start token
    gcal.fake.fail_next = [{"status": 403, "reason": reason, "path": "/drive/v3/changes"}]
    later = gcal.provider(gcal.calendar(), state, now=t0 + timedelta(hours=2)).docs()
    with pytest.raises(error) as info:
        later.read_text(ref)
    assert type(info.value) is error
    fix = "calsync setup google" if error is AuthError else "reading Drive changes"
    assert fix in str(info.value)


def test_refused_share_keeps_the_doc_and_is_not_retried_every_run(gcal: GEnv) -> None:
    state = MemoryState()
    docs = gcal.provider(gcal.calendar(), state).docs()
    gcal.fake.fail_next = [{"status": 403, "reason": "cannotShareTeamDriveWithNonGoogleAccounts",
                            "path": "/permissions"}]
    ref = docs.ensure(REQ)
    assert ref.id in gcal.fake.docs and gcal.fake.permissions.get(ref.id) is None
    assert "alex@example.com" in docs.warnings[0] and "share it by hand" in docs.warnings[0]
    gcal.fake.log.clear()
    assert gcal.provider(gcal.calendar(), state).docs().ensure(REQ) == ref
    assert api_requests(gcal.fake) == []  # not retried on every run
    assert gcal.sleeps.calls == []


def test_disabled_api_names_the_fix(gcal: GEnv) -> None:
    gcal.fake.fail_next = [{"status": 403, "reason": "accessNotConfigured",
                            "message": "Google Docs API has not been used in project 1 before "
                                       "or it is disabled.", "path": "/v1/documents"}]
    with pytest.raises(ProviderError, match="Google Docs API is not enabled"):
        gcal.provider(gcal.calendar()).docs().ensure(REQ)


def test_share_notification_follows_config(gcal: GEnv) -> None:
    docs = gcal.provider(gcal.calendar(share_notify=True)).docs()
    docs.ensure(REQ)
    share = api_requests(gcal.fake, "POST", "/permissions")[0]
    assert share["query"]["sendNotificationEmail"] == ["true"]


def test_add_section_goes_on_top_of_the_log_without_touching_text(gcal: GEnv) -> None:
    docs = gcal.provider(gcal.calendar()).docs()
    ref = docs.ensure(REQ)
    assert docs.add_section(ref, "2026-03-02", "2026-03-02\n- [ ] Alex: draft the plan")
    # people write in the doc (a human edit, through the fake)
    doc = gcal.fake.docs[ref.id]
    gcal.fake.doc_typed(ref.id, "Alex wrote this, 日本語も 🙂")
    before = [p[0] for p in doc.paragraphs]
    assert docs.add_section(ref, "2026-03-09", "2026-03-09\n- [ ] Me: book the room")
    assert not docs.add_section(ref, "2026-03-09", "2026-03-09\n- [ ] Me: book the room")
    texts = [p[0] for p in doc.paragraphs]
    log = texts.index(LOG_HEADING)
    assert texts[log + 1: log + 3] == ["2026-03-09", "- [ ] Me: book the room"]
    assert texts[log + 3: log + 5] == ["2026-03-02", "- [ ] Alex: draft the plan"]
    # everything that was there is still there, in order
    rest = [t for t in texts if t not in ("2026-03-09", "- [ ] Me: book the room")]
    assert rest == before
    assert doc.paragraphs[log + 1][1] == "HEADING_3" and doc.paragraphs[log + 2][1] == "NORMAL_TEXT"
    text = docs.read_text(ref)
    assert "- [ ] Alex: draft the plan" in text and "Alex wrote this, 日本語も 🙂" in text
    assert f"## {LOG_HEADING}" in text


def test_add_section_retries_on_a_concurrent_doc_edit(gcal: GEnv) -> None:
    docs = gcal.provider(gcal.calendar()).docs()
    ref = docs.ensure(REQ)
    doc = gcal.fake.docs[ref.id]
    real = doc.resource
    calls = {"n": 0}

    def racing() -> dict[str, Any]:
        out = real()
        calls["n"] += 1
        if calls["n"] == 1:  # someone types between our read and our write
            gcal.fake.doc_typed(ref.id, "typed meanwhile", at=0)
        return out

    doc.resource = racing  # type: ignore[method-assign]
    assert docs.add_section(ref, "2026-03-16", "2026-03-16")
    texts = [p[0] for p in doc.paragraphs]
    assert texts[0] == "typed meanwhile" and texts[texts.index(LOG_HEADING) + 1] == "2026-03-16"


def test_doc_reads_cost_one_change_feed_request_an_hour(gcal: GEnv) -> None:
    state = MemoryState()
    clock = [datetime(2026, 3, 2, 8, 0, tzinfo=UTC)]
    docs = gcal.provider(gcal.calendar(), state, now=clock[0]).docs()
    ref = docs.ensure(REQ)
    assert docs.add_section(ref, "2026-03-02", "2026-03-02\n- [ ] Alex: draft")
    assert "- [ ] Alex: draft" in docs.read_text(ref)

    def next_run(minutes: int = 61) -> tuple[str, list[str]]:
        clock[0] += timedelta(minutes=minutes)
        gcal.fake.log.clear()
        backend = gcal.provider(gcal.calendar(), state, now=clock[0]).docs()
        again = backend.ensure(REQ)
        backend.add_section(again, "2026-03-02", "2026-03-02\n- [ ] Alex: draft")
        text = backend.read_text(again)
        return text, [c["path"].rsplit("/", 1)[-1] for c in api_requests(gcal.fake)]

    # the first read came after calsync's own insert: a quiet run exports nothing
    text, calls = next_run()
    assert calls == ["changes"] and "- [ ] Alex: draft" in text
    gcal.fake.doc_typed(ref.id, "- [x] Alex: draft")
    # within the hour the feed is not read again: cached text, no request at all
    text, calls = next_run(minutes=15)
    assert calls == [] and "- [ ] Alex: draft" in text
    text, calls = next_run()
    assert calls == ["changes", "export"] and "- [x] Alex: draft" in text
    # an expired feed token: read everything again, then steady again
    state.set("gdrive.changes", "999999")
    assert next_run()[1] == ["changes", "startPageToken", "export"]
    assert next_run()[1] == ["changes"]


def test_read_only_calendar_creates_no_doc(gcal: GEnv) -> None:
    docs = gcal.provider(gcal.calendar(read_only=True)).docs()
    with pytest.raises(ForbiddenError):
        docs.ensure(REQ)
    assert gcal.fake.files == {}


def test_write_attaches_the_linked_doc(gcal: GEnv) -> None:
    gcal.fake.seed_ics(ONE_ON_ONE.replace("{description}", "hi"), ["me@example.com"])
    p = gcal.provider(gcal.calendar())
    ref = p.docs().ensure(REQ)
    nxt = series(p.fetch(W))[-1]

    def splice(body: Body) -> Body:
        return Body(body.text + f"\n[calsync] doc: {ref.url} [/calsync]")

    assert p.write_description(nxt, splice, "t", attach=ref).status is WriteStatus.WRITTEN
    patch = api_requests(gcal.fake, "PATCH")[0]
    assert patch["query"]["supportsAttachments"] == ["true"]
    (att,) = gcal.fake.events[nxt.ref]["attachments"]
    assert att["fileUrl"] == ref.url and att["fileId"] == ref.id
    # attached once: a later write leaves the attachments alone
    p2 = gcal.provider(gcal.calendar())
    p2.docs().ensure(REQ)
    occ = next(o for o in p2.fetch(W).occurrences if o.ref == nxt.ref)
    p2.write_description(occ, lambda b: Body(b.text + " again"), "t2", attach=ref)
    assert "attachments" not in api_requests(gcal.fake, "PATCH")[-1]["body"]


def test_attach_doc_off_sends_no_attachments(gcal: GEnv) -> None:
    gcal.fake.seed_ics(ONE_ON_ONE.replace("{description}", "hi"), ["me@example.com"])
    p = gcal.provider(gcal.calendar(attach_doc=False))
    ref = p.docs().ensure(REQ)
    nxt = series(p.fetch(W))[-1]
    p.write_description(nxt, lambda b: Body(b.text + ref.url), "t", attach=ref)
    patch = api_requests(gcal.fake, "PATCH")[0]
    assert "attachments" not in patch["body"] and patch["query"]["supportsAttachments"] == ["false"]


# -- the fake against the discovery documents --------------------------------------------


def _get(fake: FakeGoogle, token: str, path: str) -> Any:
    req = urllib.request.Request(fake.base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_fake_payloads_match_the_discovery_schemas(gcal: GEnv) -> None:
    fake = gcal.fake
    fake.seed_ics(ONE_ON_ONE.replace("{description}", "<b>x</b>"), ["me@example.com"])
    p = gcal.provider(gcal.calendar())
    ref = p.docs().ensure(REQ)
    occs = p.fetch(Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)))
    nxt = series(occs)[-1]
    p.write_description(nxt, lambda b: Body(b.text + ref.url), "t", attach=ref)
    token = json.loads(gcal.calendar().token_file.read_text())["token"]  # type: ignore[union-attr]
    listing = _get(fake, token, "/calendar/v3/calendars/primary/events?singleEvents=true"
                                "&showDeleted=true&maxResults=3")
    full = _get(fake, token, "/calendar/v3/calendars/primary/events")
    assert listing["items"] and listing["nextPageToken"]
    assert any(i.get("recurrence") for i in full["items"])  # masters without singleEvents
    master = next(i["id"] for i in full["items"] if i.get("recurrence"))
    instances = _get(fake, token, f"/calendar/v3/calendars/primary/events/{master}/instances")
    event = _get(fake, token, f"/calendar/v3/calendars/primary/events/{nxt.ref}")
    assert event["attachments"] and event["extendedProperties"]["private"]
    checks = [
        (listing, "Events", "calendar.v3"), (full, "Events", "calendar.v3"),
        (instances, "Events", "calendar.v3"), (event, "Event", "calendar.v3"),
        (_get(fake, token, f"/v1/documents/{ref.id}"), "Document", "docs.v1"),
        (_get(fake, token, "/drive/v3/files?q=trashed%3Dfalse"), "FileList", "drive.v3"),
        (fake.permissions[ref.id][0], "Permission", "drive.v3"),
    ]
    for payload, schema, api in checks:
        assert schema_errors(payload, {"$ref": schema}, api) == [], schema
    # the oracle does catch drift
    assert schema_errors({"items": [{"subject": "x"}]}, {"$ref": "Events"}) == [
        "$.items[0].subject: not in discovery schema"]
    assert schema_errors({"start": {"dateTime": 5}}, {"$ref": "Event"}) == [
        "$.start.dateTime: expected string, got int"]


def test_fake_error_bodies_are_google_shaped(gcal: GEnv) -> None:
    fake = gcal.fake
    fake.fail_next = [{"status": 403, "reason": "rateLimitExceeded"}]
    token = fake.issue("me@example.com")[0]
    with pytest.raises(urllib.error.HTTPError) as info:
        _get(fake, token, "/calendar/v3/calendars/primary/events")
    body = json.loads(info.value.read())
    assert body["error"]["code"] == 403
    assert body["error"]["errors"][0] == {"domain": "usageLimits", "reason": "rateLimitExceeded",
                                          "message": "Injected failure"}
