"""The CalDAV backend against a real Radicale server (issue 14).

Every test talks HTTP to Radicale through the counting proxy of tests/radicale_server.py,
so the request counts are what calsync really sent.
"""

from __future__ import annotations

import json
import re
import stat
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calsync.backends.base import Window, WriteStatus
from calsync.backends.caldav.calendar import CaldavProvider
from calsync.config import load
from calsync.core.model import Body, Occurrence
from calsync.core.state import MemoryState
from tests.conftest import SCENARIOS
from tests.helpers import SCENARIO_NOW, cli
from tests.radicale_server import PASSWORD, USER, Proxy, Radicale, running

NOW = datetime.fromisoformat(SCENARIO_NOW)
WINDOW = Window(NOW - timedelta(days=180), NOW + timedelta(days=28))


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    with running(tmp_path_factory.mktemp("radicale")) as server:
        yield server


@pytest.fixture
def proxy(radicale: Radicale) -> Iterator[Proxy]:
    p = Proxy(radicale.base).start()
    yield p
    p.close()


def scenario_calendar(radicale: Radicale, pattern: str = "*.ics") -> tuple[str, dict[str, str]]:
    """A new collection holding the scenario calendars, one resource per UID."""
    url = radicale.calendar()
    uploaded: dict[str, str] = {}
    for ics in sorted(SCENARIOS.glob(pattern)):
        uploaded.update(radicale.upload(url, ics.read_text()))
    return url, uploaded


def via_proxy(proxy: Proxy, url: str) -> str:
    return proxy.base + urllib.parse.urlsplit(url).path


def caldav_config(folder: Path, url: str, *, password: str = PASSWORD, mode: int = 0o600,
                  extra: str = "") -> Path:
    secret = folder / "caldav.password"
    secret.write_text(password + "\n")
    secret.chmod(mode)
    config = folder / "config.toml"
    config.write_text(
        '[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n\n'
        f'[[calendars]]\nname = "scenarios"\nprovider = "caldav"\nurl = "{url}"\n'
        f'username = "{USER}"\npassword_file = "{secret}"\n{extra}')
    return config


def relationships(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    drop = {"provider", "calendar"}
    return {r["counterpart"]: {k: v for k, v in r.items() if k not in drop}
            for r in doc["relationships"]}


def status(config: Path) -> dict[str, Any]:
    result = cli("--config", config, "status", "--now", SCENARIO_NOW, "--format", "json")
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def file_status(tmp_path: Path) -> dict[str, Any]:
    every = tmp_path / "ics.toml"  # every scenario calendar, as the server holds them
    every.write_text((SCENARIOS / "core.toml").read_text().replace('"core.ics"', f'"{SCENARIOS}"'))
    return status(every)


def provider(url: str, state: MemoryState | None = None, read_only: bool = False,
             folder: Path | None = None) -> CaldavProvider:
    assert folder is not None
    config = load(caldav_config(folder, url, extra="read_only = true\n" if read_only else ""))
    return CaldavProvider(config.calendars[0], config.owner, state or MemoryState(), NOW)


# -- reading -----------------------------------------------------------------------------


def test_status_is_the_same_through_caldav_and_through_the_file(
        radicale: Radicale, proxy: Proxy, tmp_path: Path) -> None:
    url, uploaded = scenario_calendar(radicale)
    assert len(uploaded) == 27  # UIDs in core.ics and present.ics
    server = tmp_path / "server"
    server.mkdir()
    through_caldav = status(caldav_config(server, via_proxy(proxy, url)))
    ics = relationships(file_status(tmp_path))
    assert len(ics) >= 8
    assert relationships(through_caldav) == ics
    assert {r["provider"] for r in through_caldav["relationships"]} == {"caldav"}
    assert through_caldav["warnings"] == []
    multigets = proxy.reports("calendar-multiget")
    assert len(proxy.reports("sync-collection")) == 1 and len(multigets) == 1


def test_discovery_from_the_server_url_finds_the_only_calendar(
        radicale: Radicale, proxy: Proxy, tmp_path: Path) -> None:
    # the user may own other calendars from earlier tests: name this one
    url, _ = scenario_calendar(radicale)
    name = url.rstrip("/").rsplit("/", 1)[-1]
    config = caldav_config(tmp_path, proxy.base + "/", extra=f'calendar = "{name}"\n')
    assert relationships(status(config)) == relationships(file_status(tmp_path))
    assert [s.method for s in proxy.seen[:3]] == ["PROPFIND"] * 3  # server, principal, home
    proxy.seen.clear()
    status(config)  # the collection found is remembered: no discovery again
    assert [(s.method, s.report) for s in proxy.seen] == [("REPORT", "sync-collection")]


def test_steady_state_is_one_sync_request_and_no_writes(
        radicale: Radicale, proxy: Proxy, tmp_path: Path) -> None:
    url, _ = scenario_calendar(radicale)
    config = caldav_config(tmp_path, via_proxy(proxy, url))
    first = cli("--config", config, "run", "--now", SCENARIO_NOW)
    assert first.exit_code == 0, first.output
    puts = [s for s in proxy.writes() if s.method == "PUT"]
    assert puts, "the first run writes agendas into the next invites"
    written = radicale.get(radicale.base + puts[0].path).text
    assert "calsync" in written.lower()
    for _ in range(2):
        proxy.seen.clear()
        again = cli("--config", config, "run", "--now", SCENARIO_NOW)
        assert again.exit_code == 0, again.output
        assert [(s.method, s.report) for s in proxy.seen] == [("REPORT", "sync-collection")]


def test_a_deleted_resource_disappears_with_one_request(
        radicale: Radicale, proxy: Proxy, tmp_path: Path) -> None:
    url, uploaded = scenario_calendar(radicale, "core.ics")
    state = MemoryState()
    p = provider(via_proxy(proxy, url), state, folder=tmp_path)
    before = p.fetch(WINDOW).occurrences
    p.close()
    victim = next(uid for uid in uploaded if uid.startswith("decline"))
    assert any(o.uid == victim for o in before)
    assert radicale.http.delete(uploaded[victim]).status_code in (200, 204)
    proxy.seen.clear()
    p = provider(via_proxy(proxy, url), state, folder=tmp_path)
    after = p.fetch(WINDOW).occurrences
    assert not any(o.uid == victim for o in after)
    assert len({o.uid for o in after}) == len({o.uid for o in before}) - 1
    assert [s.report for s in proxy.seen] == ["sync-collection"]  # nothing to fetch
    # writing into the deleted event: gone, nothing written
    target = next(o for o in before if o.uid == victim)
    result = p.write_description(target, lambda b: Body(b.text + " x"), "t")
    assert result.status is WriteStatus.GONE and not proxy.writes()


def test_a_changed_resource_is_fetched_alone(radicale: Radicale, proxy: Proxy,
                                             tmp_path: Path) -> None:
    url, uploaded = scenario_calendar(radicale, "core.ics")
    state = MemoryState()
    p = provider(via_proxy(proxy, url), state, folder=tmp_path)
    p.fetch(WINDOW)
    p.close()
    uid = next(u for u in uploaded if u.startswith("override"))
    text = radicale.get(uploaded[uid]).text.replace("SUMMARY:Olga 1:1", "SUMMARY:Olga 1:1 (moved)")
    radicale.put(uploaded[uid], text)
    proxy.seen.clear()
    p = provider(via_proxy(proxy, url), state, folder=tmp_path)
    titles = {o.title for o in p.fetch(WINDOW).occurrences if o.uid == uid}
    assert "Olga 1:1 (moved)" in titles
    assert [s.report for s in proxy.seen] == ["sync-collection", "calendar-multiget"]


def test_without_sync_collection_it_falls_back_to_calendar_query(
        radicale: Radicale, proxy: Proxy, tmp_path: Path) -> None:
    url, _ = scenario_calendar(radicale)
    proxy.refuse_sync = True
    config = caldav_config(tmp_path, via_proxy(proxy, url))
    assert relationships(status(config)) == relationships(file_status(tmp_path))
    assert len(proxy.reports("sync-collection")) == 1  # refused once: not asked again today
    assert len(proxy.reports("calendar-query")) == 1
    proxy.seen.clear()
    status(config)
    assert [s.report for s in proxy.seen] == ["calendar-query"]


def test_a_forgotten_sync_token_starts_a_full_listing(radicale: Radicale, proxy: Proxy,
                                                       tmp_path: Path) -> None:
    url, uploaded = scenario_calendar(radicale, "core.ics")
    state = MemoryState()
    p = provider(via_proxy(proxy, url), state, folder=tmp_path)
    count = len(p.fetch(WINDOW).occurrences)
    p.close()
    saved = json.loads(state.data["caldav"])
    saved["token"] = "http://radicale.org/ns/sync/0000000000000000000000000000000000000000"
    state.data["caldav"] = json.dumps(saved)
    victim = next(iter(uploaded.values()))
    radicale.http.delete(victim)
    proxy.seen.clear()
    p = provider(via_proxy(proxy, url), state, folder=tmp_path)
    again = p.fetch(WINDOW).occurrences
    assert [s.report for s in proxy.seen] == ["sync-collection", "sync-collection"]
    assert 0 < len(again) < count  # the full listing dropped the deleted resource


# -- writing -----------------------------------------------------------------------------


def _next_own(p: CaldavProvider) -> Occurrence:
    occs = [o for o in p.fetch(WINDOW).occurrences
            if o.organizer_is_self and o.writable and o.start > NOW and o.uid.startswith("override")]
    return min(occs, key=lambda o: o.start)


def test_a_concurrent_edit_is_kept_and_spliced_again(radicale: Radicale, proxy: Proxy,
                                                     tmp_path: Path) -> None:
    url, uploaded = scenario_calendar(radicale, "core.ics")
    p = provider(via_proxy(proxy, url), folder=tmp_path)
    target = _next_own(p)
    resource = uploaded[target.uid]

    def someone_saves(path: str) -> None:
        text = radicale.get(resource).text
        radicale.put(resource, text.replace("SUMMARY:Olga 1:1", "SUMMARY:Olga 1:1 (room 4)", 1))

    proxy.before_put = someone_saves
    events = radicale.get(resource).text.count("BEGIN:VEVENT")
    result = p.write_description(target, lambda b: Body(b.text + "AGENDA"), "t")
    assert result.status is WriteStatus.WRITTEN
    puts = [s for s in proxy.seen if s.method == "PUT"]
    assert len(puts) == 2  # the first met 412
    stored = radicale.get(resource).text
    assert "(room 4)" in stored and "AGENDA" in stored
    assert stored.count("BEGIN:VEVENT") == events + 1  # one new override, not two


def test_an_edit_on_every_try_is_a_conflict(radicale: Radicale, proxy: Proxy,
                                            tmp_path: Path) -> None:
    url, uploaded = scenario_calendar(radicale, "core.ics")
    p = provider(via_proxy(proxy, url), folder=tmp_path)
    target = _next_own(p)
    resource = uploaded[target.uid]
    edits = []

    def someone_saves(path: str) -> None:
        edits.append(path)
        text = radicale.get(resource).text
        radicale.put(resource, text.replace("DTSTAMP:", f"X-EDIT-{len(edits)}:x\r\nDTSTAMP:", 1))
        proxy.before_put = someone_saves  # again at the next PUT

    proxy.before_put = someone_saves
    result = p.write_description(target, lambda b: Body(b.text + "AGENDA"), "t")
    assert result.status is WriteStatus.CONFLICT
    assert "AGENDA" not in radicale.get(resource).text and len(edits) == 2


def test_the_override_is_written_into_the_resource_only(radicale: Radicale, proxy: Proxy,
                                                        tmp_path: Path) -> None:
    url, uploaded = scenario_calendar(radicale, "core.ics")
    p = provider(via_proxy(proxy, url), folder=tmp_path)
    target = _next_own(p)
    resource = uploaded[target.uid]
    before = radicale.get(resource).text
    result = p.write_description(target, lambda b: Body("AGENDA"), "t")
    assert result.status is WriteStatus.WRITTEN
    after = radicale.get(resource).text
    assert after.count("BEGIN:VEVENT") == before.count("BEGIN:VEVENT") + 1
    assert "RECURRENCE-ID" in after and "DESCRIPTION:AGENDA" in after
    others = {u: radicale.get(h).text for u, h in uploaded.items() if u != target.uid}
    assert all("AGENDA" not in t for t in others.values())


def test_no_write_to_an_event_someone_else_organizes(radicale: Radicale, proxy: Proxy,
                                                     tmp_path: Path) -> None:
    url, _ = scenario_calendar(radicale, "core.ics")
    p = provider(via_proxy(proxy, url), folder=tmp_path)
    theirs = next(o for o in p.fetch(WINDOW).occurrences if o.organizer_is_self is False)
    proxy.seen.clear()
    result = p.write_description(theirs, lambda b: Body("AGENDA"), "t")
    assert result.status is WriteStatus.FORBIDDEN and theirs.organizer in result.detail
    assert proxy.seen == []


def test_read_only_never_writes(radicale: Radicale, proxy: Proxy, tmp_path: Path) -> None:
    url, _ = scenario_calendar(radicale, "core.ics")
    p = provider(via_proxy(proxy, url), read_only=True, folder=tmp_path)
    occs = p.fetch(WINDOW).occurrences
    assert occs and not any(o.writable for o in occs)
    target = next(o for o in occs if o.organizer_is_self and o.start > NOW)
    result = p.write_description(target, lambda b: Body("AGENDA"), "t")
    assert result.status is WriteStatus.FORBIDDEN and not proxy.writes()


def test_the_cache_keeps_no_private_text(radicale: Radicale, proxy: Proxy, tmp_path: Path,
                                         calsync_home: Path) -> None:
    url = radicale.calendar()
    ics = (SCENARIOS / "core.ics").read_text()
    secret_lines = ("DESCRIPTION:Teams passcode 918273\\n- [ ] bring the numbers\r\n"
                    "LOCATION:Secret room 42\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n"
                    "DESCRIPTION:alarm text 5566\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n")
    ics = re.sub(r"(UID:override@example.com\r?\n)", lambda m: m.group(1) + secret_lines, ics,
                 count=1)
    radicale.upload(url, ics)
    config = caldav_config(tmp_path, via_proxy(proxy, url))
    doc = status(config)
    assert doc["relationships"]
    from tests.helpers import assert_private_state

    assert_private_state(calsync_home, "918273", "Secret room", "5566")
    saved = b"".join(p.read_bytes() for p in calsync_home.glob("state.sqlite3*"))
    assert b"bring the numbers" in saved  # checklist lines are what the core reads


# -- errors ------------------------------------------------------------------------------


def test_wrong_password_exits_3_with_one_line(radicale: Radicale, proxy: Proxy,
                                              tmp_path: Path) -> None:
    url, _ = scenario_calendar(radicale, "core.ics")
    config = caldav_config(tmp_path, via_proxy(proxy, url), password="not-it")
    result = cli("--config", config, "status", "--now", SCENARIO_NOW)
    assert result.exit_code == 3, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "HTTP 401" in lines[0] and "calsync setup caldav" in lines[0]
    assert "not-it" not in result.output and "Traceback" not in result.output


def test_a_password_file_others_can_read_is_refused(radicale: Radicale, proxy: Proxy,
                                                    tmp_path: Path) -> None:
    url, _ = scenario_calendar(radicale, "core.ics")
    config = caldav_config(tmp_path, via_proxy(proxy, url), mode=0o644)
    result = cli("--config", config, "status", "--now", SCENARIO_NOW)
    assert result.exit_code == 3 and "chmod 600" in result.output
    assert proxy.seen == []  # refused before any request
    assert stat.S_IMODE((tmp_path / "caldav.password").stat().st_mode) == 0o644


def test_an_unreachable_server_exits_4_with_one_line(tmp_path: Path) -> None:
    from tests.radicale_server import free_port

    config = caldav_config(tmp_path, f"http://127.0.0.1:{free_port()}/me/work/")
    result = cli("--config", config, "status", "--now", SCENARIO_NOW)
    assert result.exit_code == 4, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot reach 127.0.0.1" in lines[0]
    assert "Traceback" not in result.output


def test_a_missing_calendar_name_lists_the_ones_there(radicale: Radicale, proxy: Proxy,
                                                      tmp_path: Path) -> None:
    radicale.calendar()
    config = caldav_config(tmp_path, proxy.base + "/", extra='calendar = "nope"\n')
    result = cli("--config", config, "status", "--now", SCENARIO_NOW)
    assert result.exit_code == 2, result.output
    assert "no calendar named 'nope'" in result.output and "found: " in result.output


def test_keyring_without_the_package_says_what_to_install(tmp_path: Path) -> None:
    import importlib.util

    assert importlib.util.find_spec("keyring") is None  # not a calsync dependency
    config = caldav_config(tmp_path, "http://127.0.0.1:9/me/work/", extra="keyring = true\n")
    result = cli("--config", config, "status", "--now", SCENARIO_NOW)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "pip install keyring" in lines[0]
