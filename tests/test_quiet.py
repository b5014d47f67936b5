"""An unchanged owner is left alone until their analysis is due (issue 13, calsync.app.quiet)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from calsync.app import fleet
from calsync.app.quiet import Memo, Memos, due
from calsync.app.store_owners import SqliteOwners
from calsync.config import Config
from calsync.core.state import MemoryState
from calsync.errors import ProviderError
from tests.fleet_world import NOW, MemoryTenant, seed, tenant_with
from tests.test_fleet import A, B, org_config, written


def _run(config: Config, tenant: MemoryTenant, db: Path, now=NOW) -> fleet.FleetReport:  # type: ignore[no-untyped-def]
    stores = SqliteOwners(db)
    try:
        return fleet.run_all(config, now, stores, opener=lambda org: tenant)
    finally:
        stores.close()


def _quiet(report: fleet.FleetReport) -> int:
    return sum(o.report.quiet for o in report.orgs[0].owners if o.report)


def _world(tmp_path: Path) -> tuple[Config, MemoryTenant, Path]:
    config = org_config(tmp_path)
    tenant = tenant_with(config.organizations[0], {A: ["r1@corp.example", "r2@corp.example"],
                                                   B: ["r3@corp.example"]})
    return config, tenant, tmp_path / "state.sqlite3"


def test_an_unchanged_owner_costs_one_sync_and_keeps_their_figures(tmp_path: Path) -> None:
    config, tenant, db = _world(tmp_path)
    first = _run(config, tenant, db)
    assert len(written(first)) == 3 and _quiet(first) == 0
    second = _run(config, tenant, db)  # sees its own writes as a change: read in full
    assert _quiet(second) == 0 and written(second) == []
    reads = tenant.mailboxes[A].fetches
    third = _run(config, tenant, db)
    assert _quiet(third) == 2 and written(third) == []
    assert tenant.mailboxes[A].fetches == reads  # not read at all
    assert third.orgs[0].summary()["teams"] == second.orgs[0].summary()["teams"]


def test_a_change_in_the_calendar_is_handled_at_once(tmp_path: Path) -> None:
    config, tenant, db = _world(tmp_path)
    for _ in range(2):
        _run(config, tenant, db)
    seed(tenant.mailboxes[A], A, ["new@corp.example"])  # a new 1on1 series for Ann
    report = _run(config, tenant, db)
    assert _quiet(report) == 1  # Ben's calendar is still as it was
    assert ("eng/ann@corp.example", "new@corp.example") in written(report)


def test_the_memo_ends_once_a_day_at_the_owners_own_time(tmp_path: Path) -> None:
    config, tenant, db = _world(tmp_path)
    for _ in range(2):
        _run(config, tenant, db)
    ann, ben = due("eng/ann@corp.example", False, NOW), due("eng/ben@corp.example", False, NOW)
    first, last = sorted((ann, ben))
    assert _quiet(_run(config, tenant, db, first - timedelta(seconds=1))) == 2
    report = _run(config, tenant, db, first)  # one owner's day is over: read in full
    assert _quiet(report) == 1
    for _ in range(2):  # (the agendas that moved on are seen once more as a change)
        _run(config, tenant, db, first + timedelta(seconds=1))
    assert _quiet(_run(config, tenant, db, last - timedelta(seconds=1))) == 2
    assert _quiet(_run(config, tenant, db, last)) == 1


def test_a_changed_config_voids_the_memo(tmp_path: Path) -> None:
    config, tenant, db = _world(tmp_path)
    for _ in range(2):
        _run(config, tenant, db)
    other = org_config(tmp_path, timezone="Asia/Tokyo")
    assert _quiet(_run(other, tenant, db)) == 0


def test_a_failing_read_after_a_change_leaves_no_memo(tmp_path: Path) -> None:
    config, tenant, db = _world(tmp_path)
    for _ in range(2):
        _run(config, tenant, db)
    cal = tenant.mailboxes[A]
    seed(cal, A, ["new@corp.example"])
    real = cal.fetch

    def broken(window):  # type: ignore[no-untyped-def]
        raise ProviderError("eng/ann@corp.example: the server went away")

    cal.fetch = broken  # type: ignore[method-assign]
    failed = _run(config, tenant, db)
    assert [str(f) for f in failed.failures] == ["eng/ann@corp.example: the server went away"]
    cal.fetch = real  # type: ignore[method-assign]
    # the sync saw the change before the read failed: the memo is gone, the change handled now
    report = _run(config, tenant, db)
    assert ("eng/ann@corp.example", "new@corp.example") in written(report)


def test_due_is_once_a_day_at_a_time_of_its_own() -> None:
    names = [f"eng/o{i}@corp.example" for i in range(200)]
    dues = [due(n, False, NOW) for n in names]
    assert all(NOW < d <= NOW + timedelta(days=1) for d in dues)
    assert len({d.time() for d in dues}) > 190  # spread over the day
    one = dues[0]
    assert due(names[0], False, one - timedelta(seconds=1)) == one
    assert due(names[0], False, one) == one + timedelta(days=1)  # at the slot: the next one
    assert due(names[0], False, NOW + timedelta(days=3)) == one + timedelta(days=3)
    assert due(names[0], True, NOW) == NOW  # a make-up pending: no memo


def test_memos_hold_until_their_time_for_their_config() -> None:
    state = MemoryState()
    memos = Memos(state, "digest-1")
    memo = Memo(NOW + timedelta(hours=1), (("healthy", 7.0),), ("w",))
    memos.keep("eng/a", memo, NOW)
    assert memos.valid("eng/a", NOW) == memo
    assert memos.valid("eng/a", NOW + timedelta(hours=1)) is None
    assert Memos(state, "digest-2").valid("eng/a", NOW) is None
    memos.keep("eng/a", Memo(NOW, (), ()), NOW)  # already due: nothing kept
    assert state.get("eng/a") is None


def test_a_run_killed_right_after_its_sync_saw_a_change_handles_it_next_time(
        tmp_path: Path) -> None:
    config, tenant, db = _world(tmp_path)
    for _ in range(3):
        _run(config, tenant, db)
    cal = tenant.mailboxes[A]
    seed(cal, A, ["new@corp.example"])
    real = cal.changed

    def killed(window):  # type: ignore[no-untyped-def]
        real(window)  # the change is synced away (a new token committed) ...
        raise KeyboardInterrupt  # ... and the run dies before handling it

    cal.changed = killed  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        _run(config, tenant, db)
    cal.changed = real  # type: ignore[method-assign]
    report = _run(config, tenant, db)
    assert ("eng/ann@corp.example", "new@corp.example") in written(report)
