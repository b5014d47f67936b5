"""Google Workspace organisation runs: a service account with domain-wide delegation acting
for each owner, the Directory, the token cache and ``calsync setup google --service-account``,
through the real google-auth and google-api-python-client against the Workspace fake."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from calsync.backends.base import Window, WriteStatus
from calsync.backends.google.config import GoogleOrg
from calsync.backends.google.service_account import DIRECTORY_SCOPES, cache_path
from calsync.backends.google.tenant import GoogleTenant
from calsync.backends.org import Member
from calsync.backends.registry import open_tenant
from calsync.backends.retry import RetryPolicy
from calsync.cli.main import main
from calsync.config import Owner
from calsync.core.model import Body
from calsync.core.state import MemoryState
from calsync.errors import AuthError, ProviderError
from tests.fakes.google import api_requests
from tests.fakes.google_tenant import FakeWorkspace

AUTH = "https://www.googleapis.com/auth/"
OWNER_SCOPES = [f"{AUTH}calendar.events", f"{AUTH}drive.file", f"{AUTH}calendar.events.freebusy"]
ALL = [*OWNER_SCOPES, *DIRECTORY_SCOPES]
W = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))
NOW = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)

ONE_ON_ONE = """BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VEVENT
UID:{uid}
SUMMARY:{peer} / {me} 1on1
DTSTART:20260105T100000Z
DTEND:20260105T103000Z
RRULE:FREQ=WEEKLY;COUNT=6
DESCRIPTION:Notes of {me}
ORGANIZER:mailto:{me}
ATTENDEE;PARTSTAT=ACCEPTED:mailto:{me}
ATTENDEE;PARTSTAT=ACCEPTED:mailto:{peer}
END:VEVENT
END:VCALENDAR
"""


@dataclass
class Org:
    fake: FakeWorkspace
    key: Path
    org: GoogleOrg
    client_id: str

    def tenant(self, **changes: Any) -> GoogleTenant:
        return GoogleTenant(replace(self.org, **changes),
                            retry=RetryPolicy(sleep=lambda s: None, rand=lambda: 0.5))


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Org]:
    with FakeWorkspace() as fake:
        key = tmp_path / "sa.json"
        sa = fake.add_service_account(key, [*ALL, f"{AUTH}calendar.events.readonly"])
        fake.add_user("admin@example.com", admin=True)
        for u in ("alice", "bob", "carol"):
            fake.add_user(f"{u}@example.com")
        org = GoogleOrg(name="acme", provider="google", service_account=key,
                        admin="admin@example.com", api_url=fake.base)
        yield Org(fake, key, org, sa.client_id)


def seed(fake: FakeWorkspace, me: str, peer: str) -> None:
    fake.seed_ics(ONE_ON_ONE.format(uid=f"{me}-{peer}", me=me, peer=peer), [me])


def provider(tenant: GoogleTenant, address: str) -> Any:
    cal = tenant.calendar(Member(address))
    return tenant.open(cal, Owner((address,), "UTC"), MemoryState(), NOW)


def splice(body: Body) -> Body:
    return Body(body.text + "\n[calsync]agenda[/calsync]", body.html)


# -- the service account's token flow -------------------------------------------------------


def test_owner_token_is_a_verified_jwt_grant_for_that_subject(ws: Org) -> None:
    seed(ws.fake, "alice@example.com", "dan@example.com")
    tenant = ws.tenant()
    result = provider(tenant, "alice@example.com").fetch(W)
    assert {o.title for o in result.occurrences} == {"dan@example.com / alice@example.com 1on1"}
    (claims,) = ws.fake.jwt_grants
    assert claims["sub"] == "alice@example.com"
    assert claims["iss"].endswith(".iam.gserviceaccount.com")
    assert claims["scope"].split() == OWNER_SCOPES
    read_only = ws.tenant(read_only=True)
    provider(read_only, "bob@example.com").fetch(W)
    assert ws.fake.jwt_grants[-1]["scope"].split() == [f"{AUTH}calendar.events.readonly",
                                                       f"{AUTH}calendar.events.freebusy"]


def test_open_through_the_registry_is_the_google_tenant(ws: Org) -> None:
    tenant = open_tenant(ws.org)
    assert isinstance(tenant, GoogleTenant) and tenant.workers == 16
    tenant.close()


def test_two_subjects_write_each_into_their_own_calendar(ws: Org) -> None:
    seed(ws.fake, "alice@example.com", "dan@example.com")
    seed(ws.fake, "bob@example.com", "erin@example.com")
    tenant = ws.tenant()
    for me in ("alice@example.com", "bob@example.com"):
        p = provider(tenant, me)
        occ = sorted(p.fetch(W).occurrences, key=lambda o: o.start)[-1]
        assert p.write_description(occ, splice, "h1").status is WriteStatus.WRITTEN
        p.close()
    written = {next(iter(e["_cals"])): e["description"] for e in ws.fake.events.values()
               if "[calsync]" in e.get("description", "")}
    assert written == {"alice@example.com": "Notes of alice@example.com\n[calsync]agenda[/calsync]",
                       "bob@example.com": "Notes of bob@example.com\n[calsync]agenda[/calsync]"}
    patches = api_requests(ws.fake, "PATCH")
    users = [ws.fake.access[p["headers"]["authorization"][7:]].user for p in patches]
    assert users == ["alice@example.com", "bob@example.com"]


def test_owners_on_many_threads_share_built_apis_and_stay_apart(ws: Org) -> None:
    people = [f"m{i}@example.com" for i in range(12)]
    for me in people:
        ws.fake.add_user(me)
        seed(ws.fake, me, "peer@example.com")
    tenant = ws.tenant(concurrency=4)
    errors: list[BaseException] = []

    def work(chunk: list[str]) -> None:
        try:
            for me in chunk:
                p = provider(tenant, me)
                occ = sorted(p.fetch(W).occurrences, key=lambda o: o.start)[-1]
                p.write_description(occ, splice, "h")
                p.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(people[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for me in people:
        (ev,) = [e for e in ws.fake.events.values() if me in e["_cals"] and "[calsync]" in
                 e.get("description", "")]
        assert ev["description"].startswith(f"Notes of {me}\n")
    # one events resource for every owner, and every request counted
    assert [k for k in tenant.shared._resources if k.startswith("calendar")] == ["calendar:v3:events"]
    assert tenant.requests() == len(ws.fake.log)
    tenant.close()


# -- refusals -----------------------------------------------------------------------------------


def test_refused_delegation_is_one_line_with_client_id_and_scopes(ws: Org) -> None:
    ws.fake.service_accounts[next(iter(ws.fake.service_accounts))].delegated = {
        f"{AUTH}calendar.events"}
    tenant = ws.tenant()
    with pytest.raises(AuthError) as err:
        provider(tenant, "alice@example.com").fetch(W)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("acme/alice@example.com: Google refused domain-wide delegation for "
                           "alice@example.com (unauthorized_client)")
    assert "Domain-wide delegation" in text and f"client ID {ws.client_id} " in text
    assert text.endswith("with the scopes " + ",".join(ALL))


def test_unknown_subject_is_named(ws: Org) -> None:
    with pytest.raises(AuthError, match=r"no active user ghost@example.com"):
        provider(ws.tenant(), "ghost@example.com").fetch(W)


def test_key_file_readable_by_others_is_refused(ws: Org) -> None:
    ws.key.chmod(0o644)
    with pytest.raises(AuthError) as err:
        ws.tenant()
    assert str(err.value) == (f"acme: the service account key {ws.key} is readable by others "
                              f"(mode 644); run `chmod 600 {ws.key}`")


def test_a_key_that_is_not_a_service_account_key_is_refused(ws: Org) -> None:
    ws.key.write_text(json.dumps({"installed": {"client_id": "x"}}))
    with pytest.raises(AuthError, match="is not a service account key"):
        ws.tenant()


# -- the token cache ------------------------------------------------------------------------------


def test_second_run_sends_no_token_request(ws: Org) -> None:
    seed(ws.fake, "alice@example.com", "dan@example.com")
    first = ws.tenant()
    p = provider(first, "alice@example.com")
    p.fetch(W)
    p.close()
    first.close()
    assert ws.fake.token_requests() == 1
    path = cache_path(first.key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ws.fake.log.clear()
    second = ws.tenant()
    p = provider(second, "alice@example.com")
    p.fetch(W)
    second.close()
    assert ws.fake.token_requests() == 0 and len(api_requests(ws.fake)) == 1
    assert second.requests() == 1


def test_expired_cached_token_is_refreshed(ws: Org) -> None:
    first = ws.tenant()
    provider(first, "alice@example.com").fetch(W)
    first.close()
    path = cache_path(first.key)
    entries = json.loads(path.read_text())
    (k,) = entries
    old = entries[k]["token"]
    entries[k]["expiry"] = (datetime.now(UTC) - timedelta(minutes=1)).replace(tzinfo=None).isoformat()
    path.write_text(json.dumps(entries))
    ws.fake.log.clear()
    second = ws.tenant()
    provider(second, "alice@example.com").fetch(W)
    second.close()
    assert ws.fake.token_requests() == 1
    (new,) = json.loads(path.read_text()).values()
    assert new["token"] != old and new["expiry"] > datetime.now(UTC).replace(tzinfo=None).isoformat()


def test_cache_keeps_subjects_and_scopes_apart(ws: Org) -> None:
    t = ws.tenant()
    provider(t, "alice@example.com").fetch(W)
    provider(t, "bob@example.com").fetch(W)
    t.close()
    ro = ws.tenant(read_only=True)
    provider(ro, "alice@example.com").fetch(W)
    ro.close()
    assert ws.fake.token_requests() == 3
    assert len(json.loads(cache_path(t.key).read_text())) == 3


# -- the directory ---------------------------------------------------------------------------------


def test_nested_groups_are_expanded_once_each(ws: Org) -> None:
    f = ws.fake
    f.add_user("sus@example.com", suspended=True)
    f.add_group("managers@example.com", "Managers", ["alice@example.com", "leads@example.com",
                                                      "ops@example.com"])
    f.add_group("leads@example.com", "Leads", ["bob@example.com", "managers@example.com",
                                                "ops@example.com", "alice@example.com"])
    f.add_group("ops@example.com", "Ops", ["carol@example.com", "sus@example.com",
                                            "leads@example.com"])
    members = ws.tenant().group_members("managers@example.com")
    assert sorted(m.address for m in members) == ["alice@example.com", "bob@example.com",
                                                  "carol@example.com"]
    assert {m.team for m in members} == {"Managers"}
    listed = [unquote(r["path"]) for r in api_requests(f, contains="/members")]
    assert sorted(listed) == sorted(f"/admin/directory/v1/groups/{g}/members" for g in
                                    ("managers@example.com", "leads@example.com", "ops@example.com"))
    assert ws.fake.jwt_grants[0]["sub"] == "admin@example.com"
    assert ws.fake.jwt_grants[0]["scope"].split() == list(DIRECTORY_SCOPES)


def test_group_members_are_paged(ws: Org) -> None:
    people = [f"p{i:03d}@example.com" for i in range(250)]
    for p in people:
        ws.fake.add_user(p)
    ws.fake.add_group("big@example.com", "Big", people)
    gid = ws.fake.groups["big@example.com"].id
    members = ws.tenant().group_members(gid)
    assert sorted(m.address for m in members) == people
    assert len(api_requests(ws.fake, contains="/members")) == 2


def test_unknown_group_is_a_provider_error(ws: Org) -> None:
    with pytest.raises(ProviderError, match="nobody@example.com: not found"):
        ws.tenant().group_members("nobody@example.com")


def test_directory_with_a_query(ws: Org) -> None:
    f = ws.fake
    for i in range(520):
        f.add_user(f"eng{i:03d}@example.com", department="Engineering", org_unit="/Managers")
    f.add_user("sales@example.com", org_unit="/Managers/Sales")
    f.add_user("gone@example.com", org_unit="/Managers", suspended=True)
    f.add_user("old@example.com", org_unit="/Managers", archived=True)
    members = ws.tenant().directory("orgUnitPath:/Managers")
    got = {m.address: m.team for m in members}
    assert len(got) == 521 and got["sales@example.com"] == "/Managers/Sales"
    assert got["eng000@example.com"] == "Engineering"
    assert "gone@example.com" not in got and "old@example.com" not in got
    lists = api_requests(f, contains="/users")
    assert len(lists) == 2
    assert lists[0]["query"]["query"] == ["orgUnitPath:/Managers"]
    assert lists[0]["query"]["customer"] == ["my_customer"]
    everyone = ws.tenant().directory(None)
    assert len(everyone) == 521 + 4  # the admin, alice, bob, carol


def test_directory_as_a_non_admin_says_so(ws: Org) -> None:
    with pytest.raises(ProviderError, match="must be a Workspace administrator"):
        ws.tenant(admin="alice@example.com").directory(None)


# -- setup ------------------------------------------------------------------------------------------


def _setup(ws: Org, *extra: str) -> Any:
    return CliRunner().invoke(main, ["--config", str(ws.key.parent / "config.toml"), "setup",
                                    "google", "--service-account", str(ws.key),
                                    "--admin", "admin@example.com", *extra])


def test_setup_checks_delegation_and_prints_the_entry(ws: Org) -> None:
    result = _setup(ws, "--check-user", "alice@example.com", "--name", "acme")
    assert result.exit_code == 0, result.output
    assert f"client ID {ws.client_id}" in result.output
    assert "[[organizations]]" in result.output and 'name = "acme"' in result.output
    assert f'service_account = "{ws.key.resolve()}"' in result.output
    assert [g["sub"] for g in ws.fake.jwt_grants] == ["admin@example.com", "alice@example.com"]
    assert [g["scope"].split() for g in ws.fake.jwt_grants] == [list(DIRECTORY_SCOPES), OWNER_SCOPES]
    _no_secrets(ws, result.output)


def test_setup_names_client_id_and_scopes_when_delegation_is_missing(ws: Org) -> None:
    ws.fake.service_accounts[next(iter(ws.fake.service_accounts))].delegated = set(OWNER_SCOPES)
    result = _setup(ws)
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith("calsync: Google refused domain-wide delegation for "
                               "admin@example.com (unauthorized_client)")
    assert lines[0].endswith(f"client ID {ws.client_id} with the scopes {','.join(ALL)}")
    _no_secrets(ws, result.output)


def test_setup_with_no_delegation_at_all(ws: Org) -> None:
    ws.fake.service_accounts[next(iter(ws.fake.service_accounts))].delegated = set()
    result = _setup(ws)
    assert result.exit_code == 3
    assert result.output.strip() == (
        f"calsync: domain-wide delegation is not set up for "
        f"{next(iter(ws.fake.service_accounts))}: in the Admin console → Security → Access and "
        f"data control → API controls → Domain-wide delegation, add (or edit) client ID "
        f"{ws.client_id} with the scopes {','.join(ALL)}")


def test_setup_refuses_a_key_readable_by_others(ws: Org) -> None:
    ws.key.chmod(0o640)
    result = _setup(ws)
    assert result.exit_code == 3 and "chmod 600" in result.output and "Traceback" not in result.output
    assert ws.fake.token_requests() == 0


def _no_secrets(ws: Org, output: str) -> None:
    key = json.loads(ws.key.read_text())
    body = key["private_key"].splitlines()[1]
    assert body not in output and key["private_key_id"] not in output
    assert not any(token in output for token in ws.fake.access)
    assert "ya29." not in output


def test_errors_and_repr_never_carry_the_key_or_tokens(ws: Org) -> None:
    tenant = ws.tenant()
    provider(tenant, "alice@example.com").fetch(W)
    ws.fake.service_accounts[next(iter(ws.fake.service_accounts))].delegated = set()
    with pytest.raises(AuthError) as err:
        provider(tenant, "bob@example.com").fetch(W)
    tenant.close()
    _no_secrets(ws, str(err.value) + repr(tenant.key) + repr(tenant.login("x", "y").key))


def test_cached_token_google_no_longer_knows_is_replaced_on_its_401(ws: Org) -> None:
    first = ws.tenant()
    provider(first, "alice@example.com").fetch(W)
    first.close()
    ws.fake.expire_access_tokens()  # revoked or rotated on Google's side, still live here
    ws.fake.log.clear()
    second = ws.tenant()
    p = provider(second, "alice@example.com")
    p.fetch(W)
    p.close()
    second.close()
    assert [r["path"] for r in ws.fake.log].count("/token") == 1
    assert second.cache.issued == 1
    (entry,) = json.loads(cache_path(second.key).read_text()).values()
    assert entry["token"] in ws.fake.access


def test_two_tenants_on_one_key_keep_each_others_tokens(ws: Org) -> None:
    one, two = ws.tenant(name="one"), ws.tenant(name="two")
    provider(one, "alice@example.com").fetch(W)
    provider(two, "bob@example.com").fetch(W)
    one.close()
    two.close()  # written last: alice's token stays
    assert len(json.loads(cache_path(one.key).read_text())) == 2
    ws.fake.log.clear()
    three = ws.tenant()
    provider(three, "alice@example.com").fetch(W)
    provider(three, "bob@example.com").fetch(W)
    assert ws.fake.token_requests() == 0


def test_cache_file_readable_by_others_is_not_trusted(ws: Org) -> None:
    first = ws.tenant()
    provider(first, "alice@example.com").fetch(W)
    first.close()
    path = cache_path(first.key)
    path.chmod(0o644)
    ws.fake.log.clear()
    second = ws.tenant()
    provider(second, "alice@example.com").fetch(W)
    second.close()
    assert ws.fake.token_requests() == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- a whole organisation run ----------------------------------------------------------------

FLEET_NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SERIES = """BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VEVENT
UID:{me}-{peer}
SUMMARY:{peer} / {me}
DTSTART:20261007T100000Z
DTEND:20261007T103000Z
RRULE:FREQ=WEEKLY;COUNT=12
DESCRIPTION:Our notes
ORGANIZER:mailto:{me}
ATTENDEE;PARTSTAT=ACCEPTED:mailto:{me}
ATTENDEE;PARTSTAT=ACCEPTED:mailto:{peer}
END:VEVENT
END:VCALENDAR
"""


def test_fleet_run_over_a_group_writes_each_owners_agenda_then_nothing(ws: Org, tmp_path: Path) -> None:
    from calsync.app import fleet
    from calsync.app.store_owners import SqliteOwners
    from calsync.config import parse
    from calsync.core.blocks import BEGIN

    f = ws.fake
    f.add_group("managers@example.com", "Managers", ["alice@example.com", "bob@example.com"])
    for me, peer in (("alice@example.com", "dan@example.com"), ("bob@example.com", "erin@example.com")):
        f.seed_ics(SERIES.format(me=me, peer=peer), [me])
    config = parse({"organizations": [{
        "provider": "google", "name": "acme", "service_account": str(ws.key),
        "admin": "admin@example.com", "groups": ["managers@example.com"], "api_url": f.base,
        "timezone": "UTC"}]}, tmp_path / "config.toml")

    def go() -> Any:
        stores = SqliteOwners(tmp_path / "state.sqlite3")
        try:
            return fleet.run_all(config, FLEET_NOW, stores)
        finally:
            stores.close()

    first = go()
    assert first.exit_code() == 0, [str(x) for x in first.merged().failures]
    mine = {o.member.address: o.member.team for o in first.orgs[0].owners}
    assert mine == {"alice@example.com": "Managers", "bob@example.com": "Managers"}
    for me in ("alice@example.com", "bob@example.com"):
        agendas = [e for e in f.events.values() if me in e["_cals"]
                   and BEGIN in e.get("description", "")]
        assert len(agendas) == 1, me
    assert first.orgs[0].requests == len(f.log)
    f.log.clear()
    second = go()
    assert second.exit_code() == 0
    assert f.token_requests() == 0
    assert not api_requests(f, "PATCH") and not api_requests(f, "POST", "/drive")
    assert second.orgs[0].requests == len(f.log)


def test_after_one_refused_delegation_the_other_owners_fail_without_a_token_request(ws: Org) -> None:
    ws.fake.service_accounts[next(iter(ws.fake.service_accounts))].delegated = set()
    tenant = ws.tenant()
    errors = []
    for me in ("alice@example.com", "bob@example.com", "carol@example.com"):
        with pytest.raises(AuthError) as err:
            provider(tenant, me).fetch(W)
        errors.append(str(err.value))
    assert ws.fake.token_requests() == 1
    assert errors[1].startswith("acme/bob@example.com: Google refused domain-wide delegation "
                                "(unauthorized_client, as for alice@example.com): ")
    assert all(e.endswith(f"client ID {ws.client_id} with the scopes {','.join(ALL)}") for e in errors)
    # another scope set (the read-only owners, the directory) is asked for on its own
    with pytest.raises(AuthError):
        tenant.directory(None)
    assert ws.fake.token_requests() == 2
