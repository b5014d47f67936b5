"""`calsync run` on an Outlook calendar served by the Graph fake, through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCENARIOS
from tests.fakes.microsoft import TEAMS_BODY, FakeMicrosoft
from tests.helpers import SCENARIO_NOW, assert_private_state, cli
from tests.microsoft_fixtures import ms_tls, trust_ca  # noqa: F401


@pytest.fixture
def outlook(ms_tls: Any, trust_ca: Path,  # noqa: F811
            tmp_path: Path) -> Iterator[tuple[FakeMicrosoft, Path]]:
    from calsync.backends.microsoft.setup import setup

    fake = FakeMicrosoft(user_email="me@example.com", user_name="Me Owner").start(ms_tls[1])
    fake.seed_ics((SCENARIOS / "core.ics").read_text(encoding="utf-8"),
                  default_tz="Europe/Berlin")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n\n'
        f'[[calendars]]\nname = "outlook"\nprovider = "microsoft"\nclient_id = "cid"\n'
        f'authority_url = "{fake.base}"\ngraph_url = "{fake.graph_url}"\n',
        encoding="utf-8",
    )
    setup(cfg, None, "organizations", browser=False, read_only=False, echo=lambda s: None)
    fake.log.clear()
    yield fake, cfg
    fake.stop()


def _next_of(fake: FakeMicrosoft, counterpart: str, day: str) -> str:
    """The id of the counterpart's occurrence on ``day`` (a yyyy-mm-dd in UTC)."""
    lo = datetime.fromisoformat(day).replace(tzinfo=UTC)
    hi = lo.replace(hour=23, minute=59)
    for ev in fake.instances(lo, hi):
        if any(a["emailAddress"]["address"] == counterpart for a in ev["attendees"]):
            return str(ev["id"])
    raise AssertionError(f"no meeting with {counterpart} on {day}")


def test_run_writes_agendas_and_docs_then_stays_quiet(outlook: tuple[FakeMicrosoft, Path]) -> None:
    fake, cfg = outlook
    sam = _next_of(fake, "split@example.com", "2026-05-04")
    fake.edit(sam, body=TEAMS_BODY, _online=True)

    first = cli("--config", cfg, "run", "--now", SCENARIO_NOW)
    assert first.exit_code == 0, first.output
    patches = fake.graph_requests("PATCH")
    assert len(patches) >= 5
    for p in patches:
        assert p.headers["If-Match"].startswith('W/"')
        assert set(json.loads(p.body)) == {"body"}  # only the body, never anything else
    written = {p.path.rsplit("/", 1)[-1] for p in patches}
    for ident in written:
        ev = fake.events[ident]
        assert ev["type"] == "exception"  # an occurrence was written, never a series master
        assert ev["isOrganizer"]
    assert not any(any(a["emailAddress"]["address"] == "boss@example.com"
                       for a in fake.events[i]["attendees"]) for i in written)
    # Sam's Teams meeting: the block went in, the join block is byte for byte intact
    from calsync.core.agenda import find_block

    stored = fake.events[sam]["body"]["content"]
    span = find_block(stored, html=True)
    assert span is not None
    outside = stored[: span[0]] + stored[span[1]:].removeprefix("<br>")
    assert outside == TEAMS_BODY
    assert fake.render(fake.events[sam])["onlineMeeting"] is not None
    # one shared .docx per relationship written to, shared with the counterpart as writer
    shared = {p["invitation"]["email"] for item in fake.drive.values() for p in item["_perms"]}
    assert "split@example.com" in shared and len(fake.drive) == len(written)
    assert all(item["name"].endswith(".docx") for item in fake.drive.values())
    assert any(item["webUrl"] in fake.events[sam]["body"]["content"]
               for item in fake.drive.values())

    second = cli("--config", cfg, "run", "--now", SCENARIO_NOW)
    assert second.exit_code == 0, second.output
    fake.log.clear()
    patches_before = fake.patches
    third = cli("--config", cfg, "run", "--now", SCENARIO_NOW)
    assert third.exit_code == 0, third.output
    # steady state: the calendar delta, nothing else, no writes (docs are polled hourly)
    assert [r.path for r in fake.graph_requests()] == ["/v1.0/me/calendarView/delta"]
    assert fake.patches == patches_before and fake.graph_requests("PUT") == []


def test_run_carries_an_item_typed_into_the_docx(outlook: tuple[FakeMicrosoft, Path]) -> None:
    fake, cfg = outlook
    assert cli("--config", cfg, "run", "--now", SCENARIO_NOW).exit_code == 0
    doc = next(i for i in fake.drive.values()
               if any(p["invitation"]["email"] == "split@example.com" for p in i["_perms"]))
    fake.human_edit_doc(doc["id"], lambda xml: xml.replace(
        "<w:sectPr>", "<w:p><w:r><w:t>- [ ] Sam: write the migration plan</w:t></w:r></w:p>"
                      "<w:sectPr>"))
    fake.log.clear()
    later = (datetime.fromisoformat(SCENARIO_NOW) + timedelta(hours=2)).isoformat()
    result = cli("--config", cfg, "run", "--now", later)
    assert result.exit_code == 0, result.output
    bodies = [json.loads(p.body)["body"]["content"] for p in fake.graph_requests("PATCH")]
    assert any("write the migration plan" in b for b in bodies)


def test_revoked_login_stops_only_that_calendar(outlook: tuple[FakeMicrosoft, Path]) -> None:
    fake, cfg = outlook
    token_file = next(Path(p) for p in _token_files(cfg))
    data = json.loads(token_file.read_text())
    for at in data["AccessToken"].values():
        at["expires_on"] = "1"
    token_file.write_text(json.dumps(data))
    fake.revoke_all()
    cfg.write_text(cfg.read_text() + f'\n[[calendars]]\nname = "local"\nprovider = "ics"\n'
                                     f'path = "{SCENARIOS / "core.ics"}"\nread_only = true\n')
    result = cli("--config", cfg, "run", "--now", SCENARIO_NOW)
    assert result.exit_code == 3
    assert "calsync setup microsoft" in result.output
    status = cli("--config", cfg, "status", "--now", SCENARIO_NOW, "--format", "json")
    assert status.exit_code == 3 and '"calendar": "local"' in status.output


def _token_files(cfg: Path) -> list[str]:
    from calsync.config import load

    return [str(c.token_file) for c in load(cfg).calendars if c.token_file]


def test_refused_share_does_not_block_the_calendar(outlook: tuple[FakeMicrosoft, Path]) -> None:
    """The tenant refuses to share the docs (403 on invite): agendas are written all the
    same, every run; the run warns, and does not ask again until a week has passed."""
    fake, cfg = outlook
    fake.refuse_sharing.add("@example.com")
    first = cli("--config", cfg, "run", "--now", SCENARIO_NOW)
    assert first.exit_code == 0, first.output
    assert "could not share the doc" in first.output
    written = len(fake.graph_requests("PATCH"))
    assert written >= 5 and len(fake.drive) == written
    assert all(item["_perms"] == [] for item in fake.drive.values())
    invites = [r for r in fake.graph_requests("POST") if r.path.endswith("/invite")]
    assert len(invites) == len(fake.drive) and {r.status for r in invites} == {403}
    fake.log.clear()
    later = (datetime.fromisoformat(SCENARIO_NOW) + timedelta(hours=2)).isoformat()
    second = cli("--config", cfg, "run", "--now", later)
    assert second.exit_code == 0, second.output
    assert fake.graph_requests("POST") == [] and "could not share" not in second.output
    fake.refuse_sharing.clear()
    fake.log.clear()
    week = (datetime.fromisoformat(SCENARIO_NOW) + timedelta(days=7, hours=1)).isoformat()
    third = cli("--config", cfg, "run", "--now", week)
    assert third.exit_code == 0, third.output
    assert [r.status for r in fake.graph_requests("POST")] and \
        {r.status for r in fake.graph_requests("POST")} == {200}
    assert any(item["_perms"] for item in fake.drive.values())


def test_state_keeps_no_invite_text_and_is_private(outlook: tuple[FakeMicrosoft, Path],
                                                   calsync_home: Path) -> None:
    """The Teams join block (passcode, meeting id) and people's notes stay out of the
    state database and its -wal; checklist lines and calsync's block are all it keeps."""
    from calsync.app.store import Store
    from calsync.core.agenda import BEGIN, find_block

    fake, cfg = outlook
    note = "<p>private note: Sam is thinking of leaving</p><p>- [ ] Sam: draft the plan</p>"
    sam = [e["id"] for e in fake.instances(datetime(2026, 1, 1, tzinfo=UTC),
                                           datetime(2026, 6, 1, tzinfo=UTC))
           if any(a["emailAddress"]["address"] == "split@example.com" for a in e["attendees"])]
    for ident in sam:
        fake.edit(ident, body=TEAMS_BODY.replace("</body>", note + "</body>"), _online=True)
    holder = Store(calsync_home / "state.sqlite3")  # a reader keeps the -wal in place
    try:
        holder.db.execute("SELECT count(*) FROM kv").fetchone()
        for _ in range(2):
            result = cli("--config", cfg, "run", "--now", SCENARIO_NOW)
            assert result.exit_code == 0, result.output
        assert (calsync_home / "state.sqlite3-wal").exists()
        assert_private_state(calsync_home, "Zq7Hd3", "245 318 970 112", "thinking of leaving",
                             "meetup-join")
    finally:
        holder.close()
    bodies = [fake.events[i]["body"]["content"] for i in sam if i in fake.events]
    written = [b for b in bodies if BEGIN in b]
    assert len(written) == 1 and "Zq7Hd3" in written[0]
    span = find_block(written[0], html=True)
    assert span is not None and "Sam: draft the plan" in written[0][span[0]:span[1]]


def test_one_pairs_failure_leaves_the_others_written(outlook: tuple[FakeMicrosoft, Path]) -> None:
    """A 5xx on a guarded PATCH is retried; a 429 on a doc creation (an unguarded PUT,
    not retried) fails only that pair: the others are written and the exit code says 4."""
    from tests.fakes.microsoft import Fault

    fake, cfg = outlook
    at_once = {"Retry-After": "0"}
    fake.faults += [Fault(500, "/me/events/", method="PATCH", headers=at_once),
                    Fault(429, "/me/drive/root:", method="PUT", headers=at_once)]
    first = cli("--config", cfg, "run", "--now", SCENARIO_NOW)
    assert first.exit_code == 4, first.output
    errors = [line for line in first.stderr.splitlines() if line.startswith("calsync:")]
    assert len(errors) == 1 and errors[0].startswith("calsync: outlook: ")
    assert "HTTP 429" in errors[0]
    patched = {p.path for p in fake.graph_requests("PATCH")}
    assert len(fake.graph_requests("PATCH")) == len(patched) + 1  # the 500: retried once
    assert len(patched) >= 4 and not fake.faults
    fake.log.clear()
    second = cli("--config", cfg, "run", "--now", SCENARIO_NOW)
    assert second.exit_code == 0, second.output
    # only the pair that failed is left to write
    again = {p.path for p in fake.graph_requests("PATCH")}
    assert len(again) == 1 and not again & patched
    pair = errors[0].split(": ")[2]  # "Name <address>"
    name = pair.split(" <")[0]
    assert pair.endswith(">") and f"wrote agenda: {name}," in second.output


def test_a_doc_that_keeps_changing_does_not_stop_the_invite(
        outlook: tuple[FakeMicrosoft, Path]) -> None:
    """Two 412s on the doc's section upload (someone typing): that doc waits for the next
    run with a warning; every invite, that pair's included, is written."""
    from tests.fakes.microsoft import Fault

    fake, cfg = outlook
    baseline = cli("--config", cfg, "run", "--now", SCENARIO_NOW, "--dry-run")
    expected = baseline.output.count("would write agenda:")
    fake.faults.append(Fault(412, "/me/drive/items/", method="PUT", times=2))
    result = cli("--config", cfg, "run", "--now", SCENARIO_NOW)
    assert result.exit_code == 0, result.output
    assert result.output.count("wrote agenda:") == expected >= 4
    warned = [line for line in result.stderr.splitlines() if "kept changing" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: outlook: ")
