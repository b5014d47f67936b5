"""Organisation runs on PostgreSQL (:mod:`calsync.app.store_pg_owners`), against a real
server (:mod:`tests.pg`): the fleet with the memory tenant, a lock per owner, two runners
at once, a runner that dies, and what each owner's run costs in round trips."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from calsync.app import fleet
from calsync.app.doctor import shared_state_check
from calsync.app.store_pg import PgStore
from calsync.app.store_pg_owners import ORG_SCOPE, PgOwners
from calsync.app.stores import open_owner_stores
from calsync.backends.base import Calendar
from calsync.config import Config, parse
from calsync.core.blocks import BEGIN
from calsync.core.state import KeyValue
from calsync.errors import ConfigError, LockedError, ProviderError
from tests.fakes.google import api_requests
from tests.fleet_world import NOW, MemoryTenant, tenant_with
from tests.pg import *  # noqa: F403
from tests.pg import PASSWORD
from tests.test_fleet import A, B, C, org_config, written

ROOT = Path(__file__).resolve().parents[1]
WHEN = datetime(2026, 11, 25, tzinfo=UTC)
TABLES = ("calsync_kv", "calsync_writes", "calsync_action_items", "calsync_runs")


def pg_run(config: Config, tenant: MemoryTenant, url: str, dry_run: bool = False,
           stores: PgOwners | None = None) -> fleet.FleetReport:
    own = stores or PgOwners(url)
    try:
        return fleet.run_all(config, NOW, own, dry_run=dry_run, opener=lambda org: tenant)
    finally:
        if stores is None:
            own.close()


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as db:
        cur = db.execute(sql)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(rows(url, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def busy(report: fleet.FleetReport) -> set[str]:
    return {o.member.address for o in report.orgs[0].owners if o.busy}


def ran(report: fleet.FleetReport) -> set[str]:
    return {o.member.address for o in report.orgs[0].owners if not o.busy and not o.failures}


def test_each_owner_is_written_once_and_a_steady_run_costs_four_round_trips_each(
        tmp_path: Path, pg_url: str) -> None:
    config = org_config(tmp_path)
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example", "r2@corp.example"],
                                                   B: ["r1@corp.example"]})
    first = pg_run(config, tenant, pg_url)
    assert first.exit_code() == 0, [str(f) for f in first.failures]
    assert written(first) == [("eng/ann@corp.example", "r1@corp.example"),
                              ("eng/ann@corp.example", "r2@corp.example"),
                              ("eng/ben@corp.example", "r1@corp.example")]
    assert len(tenant.mailboxes[A].writes) == 2 and len(tenant.mailboxes[B].writes) == 1
    stores = PgOwners(pg_url)
    second = pg_run(config, tenant, pg_url, stores=stores)
    assert second.exit_code() == 0 and written(second) == []
    assert len(tenant.mailboxes[A].writes) == 2 and len(tenant.mailboxes[B].writes) == 1
    # each owner: lock + their rows; the quiet memo dropped, then kept (each durable at once,
    # calsync.app.quiet); unlock. The organisation: its summary and its log line
    assert (stores.round_trips, stores.statements) == (4 * 2 + 2, 5 * 2 + 2)
    stores.close()
    assert rows(pg_url, "SELECT scope, count(*) FROM calsync_runs GROUP BY scope") == [(ORG_SCOPE, 2)]
    assert not rows(pg_url, "SELECT * FROM pg_locks WHERE locktype = 'advisory'")


def test_state_is_kept_per_owner_under_their_own_scope(tmp_path: Path, pg_url: str) -> None:
    config = org_config(tmp_path)
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example"], B: ["r1@corp.example"]})
    pg_run(config, tenant, pg_url)
    assert {r[0] for r in rows(pg_url, "SELECT DISTINCT scope FROM calsync_kv")} == {A, B, ORG_SCOPE}
    assert sorted(rows(pg_url, "SELECT scope, calendar FROM calsync_writes")) == [
        (A, "eng/ann@corp.example"), (B, "eng/ben@corp.example")]
    assert rows(pg_url, "SELECT ns FROM calsync_kv WHERE scope = ''") == [("org:eng",)]
    stores = PgOwners(pg_url)
    summary = fleet.stored_summary(stores, "eng")
    stores.close()
    assert summary is not None and summary["owners"] == 2


def test_a_dry_run_leaves_the_database_as_it_was(tmp_path: Path, pg_url: str) -> None:
    config = org_config(tmp_path)
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example"], B: ["r2@corp.example"]})
    PgOwners(pg_url).close()  # the tables
    dry = pg_run(config, tenant, pg_url, dry_run=True)
    assert len(written(dry)) == 2 and not tenant.mailboxes[A].writes
    assert all(not r for r in snapshot(pg_url).values())
    pg_run(config, tenant, pg_url)
    tenant.mailboxes[A].writes.clear()
    seed_more = tenant_with(config.organizations[0], {A: ["r1@corp.example", "r9@corp.example"],
                                                      B: ["r2@corp.example"]})
    before = snapshot(pg_url)
    again = pg_run(config, seed_more, pg_url, dry_run=True)
    assert written(again) and snapshot(pg_url) == before


def test_an_owners_fault_is_theirs_alone_on_pg(tmp_path: Path, pg_url: str) -> None:
    config = org_config(tmp_path, members=[A, B, C])
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example"], B: ["r2@corp.example"],
                                                   C: ["r3@corp.example"]})
    tenant.failing[B] = ProviderError("eng/ben@corp.example: the mailbox has no calendar")
    tenant.failing[C] = RuntimeError("boom")
    report = pg_run(config, tenant, pg_url)
    assert written(report) == [("eng/ann@corp.example", "r1@corp.example")]
    lines = [str(f) for f in report.failures]
    assert lines[0] == "eng/ben@corp.example: the mailbox has no calendar"
    assert lines[1].startswith("eng/cat@corp.example: internal error (RuntimeError: boom)")
    assert not rows(pg_url, "SELECT * FROM pg_locks WHERE locktype = 'advisory'")  # all let go
    del tenant.failing[B], tenant.failing[C]
    assert written(pg_run(config, tenant, pg_url)) == [("eng/ben@corp.example", "r2@corp.example"),
                                                       ("eng/cat@corp.example", "r3@corp.example")]


def test_an_owner_held_elsewhere_is_busy_not_failed(tmp_path: Path, pg_url: str) -> None:
    config = org_config(tmp_path)
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example"], B: ["r2@corp.example"]})
    single = PgStore(pg_url, scope=B)  # ben's own `calsync run` shares his lock and rows
    with single.lock():
        report = pg_run(config, tenant, pg_url)
    single.close()
    assert busy(report) == {B} and report.exit_code() == 0
    assert report.orgs[0].summary()["busy"] == 1
    assert written(report) == [("eng/ann@corp.example", "r1@corp.example")]
    assert written(pg_run(config, tenant, pg_url)) == [("eng/ben@corp.example", "r2@corp.example")]


class SlowTenant(MemoryTenant):
    """Each calendar takes a while to open, as over the network, so two runners overlap."""

    def open(self, cal: Any, owner: Any, state: KeyValue, now: datetime) -> Calendar:
        time.sleep(0.03)
        return super().open(cal, owner, state, now)


def test_two_runners_at_once_write_every_owner_exactly_once(tmp_path: Path, pg_url: str) -> None:
    people = [f"p{i:02d}@corp.example" for i in range(24)]
    config = org_config(tmp_path, members=people)
    world = tenant_with(config.organizations[0], {p: ["r1@corp.example", "r2@corp.example"]
                                                 for p in people})
    tenant = SlowTenant(world.org, world.mailboxes)
    stores = [PgOwners(pg_url), PgOwners(pg_url)]  # two machines: two sets of sessions
    start = threading.Barrier(2)
    reports: list[fleet.FleetReport] = []

    def runner(own: PgOwners) -> None:
        start.wait()
        reports.append(pg_run(config, tenant, pg_url, stores=own))

    threads = [threading.Thread(target=runner, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert all(r.exit_code() == 0 for r in reports), [str(f) for r in reports for f in r.failures]
    assert all(len(tenant.mailboxes[p].writes) == 2 for p in people)  # exactly once in total
    one, two = reports
    assert busy(one) | busy(two), "the runners never met"
    assert busy(one) <= ran(two) and busy(two) <= ran(one)  # busy: the other one had them
    assert ran(one) | ran(two) == set(people)
    assert written(pg_run(config, tenant, pg_url)) == []


HOLD = """
import sys, time
from calsync.app.store_pg_owners import PgOwners
owners = PgOwners(sys.argv[1])
with owners.owner(sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_runner_that_dies_lets_go_of_its_owners(tmp_path: Path, pg_url: str) -> None:
    config = org_config(tmp_path)
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example"], B: ["r2@corp.example"]})
    proc = subprocess.Popen([sys.executable, "-c", HOLD, pg_url, A], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        stores = PgOwners(pg_url)
        held = f"another calsync run \\(calsync {proc.pid}@"
        with pytest.raises(LockedError, match=held) as err, stores.owner(A):
            pass
        assert PASSWORD not in str(err.value)
        assert busy(pg_run(config, tenant, pg_url, stores=stores)) == {A}
    finally:
        proc.kill()
        proc.wait()
    for _ in range(100):  # the server notices the closed connection at once, or nearly
        if not rows(pg_url, "SELECT * FROM pg_locks WHERE locktype = 'advisory'"):
            break
        time.sleep(0.1)
    report = pg_run(config, tenant, pg_url, stores=stores)
    stores.close()
    assert busy(report) == set()
    assert written(report) == [("eng/ann@corp.example", "r1@corp.example")]


def test_a_lost_connection_fails_the_owner_and_lets_go(tmp_path: Path, pg_url: str) -> None:
    stores = PgOwners(pg_url, connections=1)
    with pytest.raises(ProviderError, match="calsync state"), stores.owner(A) as view:
        view.namespace("p").set("k", "v")
        rows(pg_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE application_name LIKE 'calsync %' AND pid <> pg_backend_pid()")
    assert not rows(pg_url, "SELECT * FROM pg_locks WHERE locktype = 'advisory'")
    with stores.owner(A) as view:  # a new connection for the next owner
        assert view.namespace("p").get("k") is None
    stores.close()


def test_a_failed_statement_fails_the_owner_and_lets_go(pg_url: str) -> None:
    stores = PgOwners(pg_url)
    with pytest.raises(ProviderError, match="calsync state: .*calsync_kv"), stores.owner(A) as view:
        view.namespace("p").set("k", "v")
        view.namespace("p").set("j", "w")
        rows(pg_url, "ALTER TABLE calsync_kv RENAME TO calsync_kv_gone")  # the flush fails
    assert not rows(pg_url, "SELECT * FROM pg_locks WHERE locktype = 'advisory'")
    with pytest.raises(ProviderError, match="calsync state: .*calsync_kv"), stores.owner(B):
        pass  # the read that comes with the lock fails: the lock must not stay behind
    assert not rows(pg_url, "SELECT * FROM pg_locks WHERE locktype = 'advisory'")
    rows(pg_url, "ALTER TABLE calsync_kv_gone RENAME TO calsync_kv")
    with stores.owner(A) as view:
        assert view.namespace("p").get("k") is None  # the failed flush left nothing half-done
    stores.close()


def test_checkpoints_are_durable_at_once_and_a_rolled_back_phase_is_dropped(pg_url: str) -> None:
    stores = PgOwners(pg_url)

    def stored() -> list[tuple[Any, ...]]:
        return rows(pg_url, "SELECT ns, key, value FROM calsync_kv ORDER BY ns, key")

    with stores.owner(A) as view:
        view.namespace("later").set("a", "1")
        view.namespace("sync", durable=True).set("token", "t1")  # a write-ahead record
        assert stored() == [("later", "a", "1"), ("sync", "token", "t1")]
        view.namespace("later").set("b", "2")
        with view.transaction():
            view.namespace("later").set("c", "3")
            view.record_write("cal", "evt1", "h1", WHEN)
            assert rows(pg_url, "SELECT hash FROM calsync_writes") == [("h1",)]
            view.namespace("later").set("d", "4")
        with view.transaction(rollback=True):
            view.namespace("later").set("e", "5")
            view.record_write("cal", "evt2", "h2", WHEN)  # a dry run's phase sends nothing
            assert view.written_hash("cal", "evt2") == "h2"
        with pytest.raises(RuntimeError), view.transaction():
            view.namespace("later").set("f", "6")
            raise RuntimeError
        assert view.namespace("later").get("e") is None and view.written_hash("cal", "evt2") is None
        assert [k for _, k, _ in stored()] == ["a", "b", "c", "token"]
        view.namespace("later").set("a", None)
    assert [k for _, k, _ in stored()] == ["b", "c", "d", "token"]
    with stores.owner(A) as view:
        assert view.namespace("later").get("d") == "4" and view.written_hash("cal", "evt1") == "h1"
    stores.close()


def test_action_items_keep_their_order_and_their_done_date(pg_url: str) -> None:
    stores = PgOwners(pg_url)
    with stores.owner(A) as view:
        view.upsert_action_item("rel", "k1", None, "first", "2026-11-01", None)
        view.upsert_action_item("rel", "k2", "ann", "second", "2026-11-01", None)
        view.upsert_action_item("rel", "k0", None, "older", "2026-10-01", None)
        view.upsert_action_item("rel", "k1", None, "first", "2026-11-08", "2026-11-08")
    before = stores.statements
    with stores.owner(A) as view:
        assert [(i.key, i.done_at) for i in view.action_items("rel")] == [
            ("k0", None), ("k1", "2026-11-08"), ("k2", None)]
        view.upsert_action_item("rel", "k1", None, "first", "2026-11-15", None)  # still done
        view.upsert_action_item("rel", "k2", "ann", "second", "2026-11-15", None)  # unchanged
        assert view.action_items("rel")[1].done_at == "2026-11-08"
    assert stores.statements - before == 3  # nothing to write
    with stores.owner(A) as view:
        view.upsert_action_item("rel", "k2", "ben", "second, reworded", "2026-11-15", None)
    stores.close()
    assert rows(pg_url, "SELECT key, owner, text, first_seen, done_at FROM calsync_action_items "
                        "ORDER BY first_seen, seq") == [
        ("k0", None, "older", "2026-10-01", None),
        ("k1", None, "first", "2026-11-01", "2026-11-08"),
        ("k2", "ben", "second, reworded", "2026-11-01", None)]


def test_owners_views_share_rows_with_the_single_owner_store(pg_url: str) -> None:
    single = PgStore(pg_url, scope=A)
    single.namespace("sync").set("token", "from-cron")
    single.record_write("cal", "evt", "h", WHEN)
    stores = PgOwners(pg_url)
    with stores.owner(A.upper()) as view:
        assert view.namespace("sync").get("token") == "from-cron"
        assert view.written_hash("cal", "evt") == "h"
        with pytest.raises(LockedError), single.lock():
            pass
        with pytest.raises(LockedError, match="this runner"), stores.owner(A):
            pass
    stores.close()
    single.close()


def pg_config(tmp_path: Path, url: str, mode: int) -> Config:
    path = tmp_path / "config.toml"
    path.write_text("")
    path.chmod(mode)
    return parse({"state_url": url, "organizations": [
        {"provider": "google", "name": "eng", "service_account": "sa.json", "members": [A]}]}, path)


def test_open_owner_stores_opens_postgresql_for_state_url(tmp_path: Path, pg_url: str) -> None:
    stores = open_owner_stores(pg_config(tmp_path, pg_url, 0o600))
    assert isinstance(stores, PgOwners)
    stores.close()
    with pytest.raises(ConfigError, match="state_url holds a password but the file is readable"):
        open_owner_stores(pg_config(tmp_path, pg_url, 0o644))


def test_doctor_checks_the_database_of_an_organisation_only_config(tmp_path: Path,
                                                                   pg_url: str) -> None:
    check = shared_state_check(pg_config(tmp_path, pg_url, 0o600))
    assert check.ok and "is reachable" in check.detail and PASSWORD not in check.detail
    bad = shared_state_check(pg_config(tmp_path, pg_url.replace(PASSWORD, "wrong"), 0o600))
    assert not bad.ok and "wrong" not in bad.detail


def test_two_runner_processes_split_a_google_organisation(tmp_path: Path, pg_url: str) -> None:
    """Two `calsync run` processes (two machines: their own CALSYNC_HOME) on one Workspace
    (the loopback fake, slow as over a network) and one PostgreSQL state."""
    from tests.fakes.google_tenant import FakeWorkspace
    from tests.test_google_org import ALL, FLEET_NOW, SERIES

    people = [f"m{i:02d}@example.com" for i in range(12)]
    with FakeWorkspace(latency=0.02) as f:
        key = tmp_path / "sa.json"
        f.add_service_account(key, ALL)
        f.add_user("admin@example.com", admin=True)
        for p in people:
            f.add_user(p)
            f.seed_ics(SERIES.format(me=p, peer=f"r.{p}"), [p])
        f.add_group("managers@example.com", "Managers", people)
        config = tmp_path / "config.toml"
        config.write_text(
            f'state_url = "{pg_url}"\n\n[[organizations]]\nprovider = "google"\nname = "acme"\n'
            f'service_account = "{key}"\nadmin = "admin@example.com"\n'
            f'groups = ["managers@example.com"]\napi_url = "{f.base}"\ntimezone = "UTC"\n'
            'concurrency = 2\n')
        config.chmod(0o600)
        cmd = [str(Path(sys.executable).with_name("calsync")), "--config", str(config), "run",
               "--now", FLEET_NOW.isoformat()]

        def start(home: str) -> subprocess.Popen[str]:
            env = {**os.environ, "CALSYNC_HOME": str(tmp_path / home)}
            return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)

        procs = [start("one"), start("two")]
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        lines = [next(line for line in out.splitlines() if line.startswith("acme:"))
                 for out, _ in outs]
        found = [re.search(r"(?:(\d+) busy elsewhere.*)?; (\d+) agendas written", line)
                 for line in lines]
        assert all(found), lines
        busy_counts = [int(m.group(1) or 0) for m in found if m]
        written_counts = [int(m.group(2)) for m in found if m]
        assert sum(written_counts) == len(people), lines  # each owner's agenda once in total
        assert sum(busy_counts) > 0, lines  # they met: the other one held those owners
        # and on the calendars: one write in all per owner, whoever made it
        assert len(api_requests(f, "PATCH")) == len(people)
        for p in people:
            assert len([e for e in f.events.values()
                        if p in e["_cals"] and BEGIN in e.get("description", "")]) == 1, p
        f.log.clear()
        third = start("three")
        out, err = third.communicate(timeout=300)
        assert third.returncode == 0, err
        assert "; 0 agendas written" in out and not api_requests(f, "PATCH")
