"""Organisation runs (issue 13): owners side by side, each with their own state, and one
owner's failure isolated; the organisation summary; the ``[[organizations]]`` config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from calsync.app import fleet
from calsync.app.store_owners import SqliteOwners
from calsync.backends.base import WriteStatus
from calsync.backends.org import Member
from calsync.config import Config, parse
from calsync.config_reader import OrgBase
from calsync.errors import AuthError, ConfigError, ProviderError
from tests.fleet_world import NOW, MemoryTenant, tenant_with

A, B, C = "ann@corp.example", "ben@corp.example", "cat@corp.example"


def org_config(tmp_path: Path, **keys: Any) -> Config:
    entry = {"provider": "google", "name": "eng", "service_account": "sa.json",
             "members": [A, B], **keys}
    return parse({"organizations": [entry]}, tmp_path / "config.toml")


def fleet_run(config: Config, tenant: MemoryTenant, path: Path,
              dry_run: bool = False) -> fleet.FleetReport:
    stores = SqliteOwners(path)
    try:
        return fleet.run_all(config, NOW, stores, dry_run=dry_run, opener=lambda org: tenant)
    finally:
        stores.close()


def written(report: fleet.FleetReport) -> list[tuple[str, str]]:
    return sorted((c.calendar, c.counterpart) for c in report.merged().changes
                  if c.status is WriteStatus.WRITTEN)


def test_each_owner_gets_their_agendas_and_a_second_run_writes_nothing(tmp_path: Path) -> None:
    config = org_config(tmp_path)
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example", "r2@corp.example"],
                                                   B: ["r1@corp.example"]})
    db = tmp_path / "state.sqlite3"
    first = fleet_run(config, tenant, db)
    assert first.exit_code() == 0, [str(f) for f in first.failures]
    assert written(first) == [("eng/ann@corp.example", "r1@corp.example"),
                              ("eng/ann@corp.example", "r2@corp.example"),
                              ("eng/ben@corp.example", "r1@corp.example")]
    assert len(tenant.mailboxes[A].writes) == 2 and len(tenant.mailboxes[B].writes) == 1
    # the same report in two owners' 1on1s: each owner's pair has its own doc
    assert tenant.mailboxes[A].docs().texts and tenant.mailboxes[B].docs().texts
    assert tenant.closed
    second = fleet_run(config, tenant, db)
    assert second.exit_code() == 0
    assert written(second) == []
    assert len(tenant.mailboxes[A].writes) == 2 and len(tenant.mailboxes[B].writes) == 1


def test_state_is_kept_per_owner(tmp_path: Path) -> None:
    config = org_config(tmp_path)
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example"], B: ["r1@corp.example"]})
    db = tmp_path / "state.sqlite3"
    fleet_run(config, tenant, db)
    stores = SqliteOwners(db)
    rows = stores.store.db.execute("SELECT DISTINCT ns FROM kv").fetchall()
    stores.close()
    spaces = {r[0] for r in rows}
    assert {ns.split("/", 1)[0] for ns in spaces if "/" in ns and not ns.startswith("org:")} \
        >= {A, B}
    assert "org:eng" in spaces


def test_one_owner_failing_does_not_stop_the_others(tmp_path: Path) -> None:
    config = org_config(tmp_path, members=[A, B, C])
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example"], B: ["r2@corp.example"],
                                                   C: ["r3@corp.example"]})
    tenant.failing[B] = ProviderError("eng/ben@corp.example: the mailbox has no calendar")
    tenant.failing[C] = RuntimeError("boom")  # a bug for one owner
    report = fleet_run(config, tenant, tmp_path / "state.sqlite3")
    assert written(report) == [("eng/ann@corp.example", "r1@corp.example")]
    lines = [str(f) for f in report.failures]
    assert lines[0] == "eng/ben@corp.example: the mailbox has no calendar"
    assert lines[1].startswith("eng/cat@corp.example: internal error (RuntimeError: boom)")
    assert report.exit_code() == ProviderError.exit_code


def test_a_refused_login_for_one_owner_exits_as_a_login_failure(tmp_path: Path) -> None:
    config = org_config(tmp_path)
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example"], B: ["r2@corp.example"]})
    tenant.failing[A] = AuthError("eng/ann@corp.example: delegation refused")
    report = fleet_run(config, tenant, tmp_path / "state.sqlite3")
    assert written(report) == [("eng/ben@corp.example", "r2@corp.example")]
    assert report.exit_code() == AuthError.exit_code


def test_an_organisation_whose_directory_fails_is_one_line(tmp_path: Path) -> None:
    config = org_config(tmp_path, members=[], groups=["missing@corp.example"],
                        admin="admin@corp.example")
    tenant = tenant_with(config.organizations[0], {})
    report = fleet_run(config, tenant, tmp_path / "state.sqlite3")
    assert [str(f) for f in report.failures] == ["eng: group 'missing@corp.example' not found"]
    assert report.exit_code() == ProviderError.exit_code and tenant.closed


def test_a_dry_run_writes_nothing_anywhere(tmp_path: Path) -> None:
    config = org_config(tmp_path)
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example"], B: ["r2@corp.example"]})
    db = tmp_path / "state.sqlite3"
    dry = fleet_run(config, tenant, db, dry_run=True)
    assert len(written(dry)) == 2
    assert not tenant.mailboxes[A].writes and not tenant.mailboxes[B].writes
    stores = SqliteOwners(db)
    assert fleet.stored_summary(stores, "eng") is None
    assert stores.store.db.execute("SELECT count(*) FROM kv").fetchone() == (0,)
    stores.close()
    assert len(written(fleet_run(config, tenant, db))) == 2


def test_members_come_once_from_the_first_source_minus_exclude() -> None:
    org = OrgBase(name="eng", provider="google", members=(A,), groups=("g1", "g2"),
                  directory=True, exclude=(C,))
    tenant = MemoryTenant(org)
    tenant.groups = {"g1": [Member(B, "Platform"), Member(A, "Platform")],
                     "g2": [Member(B, "Apps"), Member("dan@corp.example", "Apps")]}
    tenant.people = [Member(C, "Sales"), Member("eve@corp.example", None)]
    found = fleet.members(org, tenant)
    assert [(m.address, m.team) for m in found] == [
        (A, None), (B, "Platform"), ("dan@corp.example", "Apps"), ("eve@corp.example", None)]


def test_the_summary_counts_labels_and_intervals_per_team(tmp_path: Path) -> None:
    config = org_config(tmp_path, members=[], groups=["g"], admin="admin@corp.example")
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example", "r2@corp.example"],
                                                   B: ["r3@corp.example"]})
    tenant.groups = {"g": [Member(A, "Platform"), Member(B, "Apps")]}
    db = tmp_path / "state.sqlite3"
    report = fleet_run(config, tenant, db)
    summary = report.orgs[0].summary()
    assert summary["owners"] == 2 and summary["failed"] == 0
    teams: Any = summary["teams"]
    assert teams["Platform"] == {"owners": 1, "relationships": 2, "labels": {"healthy": 2},
                                 "intervals": {"weekly": 2}}
    assert teams["Apps"]["relationships"] == 1
    stores = SqliteOwners(db)
    stored = fleet.stored_summary(stores, "eng")
    stores.close()
    assert stored is not None and stored["teams"] == teams
    assert "r1@corp.example" not in str(stored) and A not in str(stored)  # metadata only


@pytest.mark.parametrize(("days", "name"), [(None, "none"), (7.0, "weekly"), (8.0, "weekly"),
                                            (8.5, "fortnightly"), (16.0, "fortnightly"),
                                            (30.0, "monthly"), (35.0, "monthly"), (36.0, "rarer")])
def test_interval_buckets(days: float | None, name: str) -> None:
    assert fleet.bucket(days) == name


def test_owner_config_takes_the_organisations_defaults(tmp_path: Path) -> None:
    config = org_config(tmp_path, timezone="Asia/Tokyo", working_hours="10:00-19:00 Mon-Fri")
    org = config.organizations[0]
    member = Member(A, aliases=("ann.smith@corp.example",))
    one = fleet.owner_config(config, org, member, tenant_with(org, {}).calendar(member))
    assert one.owner.emails == (A, "ann.smith@corp.example")
    assert one.owner.timezone == "Asia/Tokyo" and one.owner.working_hours.start.hour == 10
    assert [c.name for c in one.calendars] == ["eng/ann@corp.example"]
    assert one.organizations == ()


@pytest.mark.parametrize(("keys", "message"), [
    ({"provider": "ics"}, "organizations[0].provider: expected one of google, microsoft"),
    ({"members": []}, "organizations[0].members: say who the owners are"),
    ({"filter": "x"}, "organizations[0].filter: narrows the directory"),
    ({"name": "a/b"}, "organizations[0].name: must not contain '/'"),
    ({"members": ["not-an-address"]}, "organizations[0].members: not an email address"),
    ({"timezone": "Mars/Base"}, "organizations[0].timezone: unknown time zone"),
    ({"concurrency": 0}, "organizations[0].concurrency: must be greater than 0"),
    ({"colour": "red"}, "organizations[0].colour: unknown key"),
    ({"groups": ["g"]}, "organizations[0].admin: missing"),
])
def test_bad_organisation_entries_are_one_line(tmp_path: Path, keys: dict[str, Any],
                                               message: str) -> None:
    with pytest.raises(ConfigError) as err:
        org_config(tmp_path, **keys)
    assert message in str(err.value)


def test_an_organisation_only_config_needs_no_owner_or_calendars(tmp_path: Path) -> None:
    config = org_config(tmp_path)
    assert config.calendars == () and config.owner.emails == ()
    assert [o.name for o in config.organizations] == ["eng"]
    with pytest.raises(ConfigError, match="duplicate organization name 'eng'"):
        parse({"organizations": [{"provider": "google", "name": "eng", "members": [A],
                                  "service_account": "k.json"}] * 2}, tmp_path / "c.toml")


def test_the_progress_bar_moves_once_per_owner(tmp_path: Path) -> None:
    config = org_config(tmp_path, members=[A, B, C])
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example"], B: [], C: []})
    seen: list[tuple[int, str, int]] = []

    def progress(items: Any, label: str) -> Any:
        for n, item in enumerate(items):
            yield item
            seen.append((len(items), label, n))

    stores = SqliteOwners(tmp_path / "state.sqlite3")
    try:
        fleet.run_all(config, NOW, stores, progress=progress, opener=lambda org: tenant)
    finally:
        stores.close()
    assert seen == [(3, "eng: owners", 0), (3, "eng: owners", 1), (3, "eng: owners", 2)]
