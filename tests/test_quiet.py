"""An unchanged owner is left alone until their analysis is due (issue 13, calsync.app.quiet)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from calsync.app import fleet
from calsync.app.quiet import Memo, Memos, due
from calsync.app.store_owners import SqliteOwners
from calsync.backends.memory import MemoryCalendar
from calsync.config import Config
from calsync.core.model import Relationship, Status
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


def test_the_memo_ends_at_the_next_meeting_and_at_midnight(tmp_path: Path) -> None:
    config, tenant, db = _world(tmp_path)
    for _ in range(2):
        _run(config, tenant, db)
    # every seeded pair meets weekly at NOW's weekday, 10:00 + i hours: the next is ahead today
    later = NOW.replace(hour=23, minute=59)
    report = _run(config, tenant, db, later)
    assert _quiet(report) == 0  # the meetings at 10:00 and 11:00 started in between
    assert written(report)  # the agendas moved on to next week's meetings
    assert _quiet(_run(config, tenant, db, later + timedelta(seconds=15))) == 0  # those writes
    assert _quiet(_run(config, tenant, db, later + timedelta(seconds=30))) == 2
    assert _quiet(_run(config, tenant, db, later + timedelta(minutes=2))) == 0  # a new day


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


def _rel(*starts: timedelta, cancelled: int | None = None) -> Relationship:
    """A pair whose meetings start at NOW + each of ``starts`` (one of them cancelled)."""
    box = MemoryCalendar("m", owner=(A,))
    seed(box, A, ["r@corp.example"], weeks=0)
    occ = next(iter(box.events.values()))
    occs = [replace(occ, ref=f"x{i}", start=NOW + d, end=NOW + d + timedelta(minutes=30),
                    status=Status.CANCELLED if i == cancelled else occ.status)
            for i, d in enumerate(starts)]
    return Relationship("r@corp.example", None, "memory", "m", occurrences=occs)


def test_due_is_the_earliest_of_midnight_the_next_meeting_and_the_horizon(tmp_path: Path) -> None:
    config = org_config(tmp_path, timezone="Europe/Berlin")
    midnight = NOW.replace(hour=0, minute=0) + timedelta(days=1)
    assert due([], config, NOW) == midnight
    assert due([(_rel(timedelta(hours=3)), False)], config, NOW) == NOW + timedelta(hours=3)
    assert due([(_rel(-timedelta(hours=1), timedelta(days=3)), False)], config, NOW) == midnight
    # cancelled meetings do not count; a meeting 7 days + 2 h away enters the horizon in 2 h
    rel = _rel(timedelta(hours=1), timedelta(days=7, hours=2), cancelled=0)
    assert due([(rel, False)], config, NOW) == NOW + timedelta(hours=2)
    assert due([(_rel(timedelta(days=2)), True)], config, NOW) == NOW  # a make-up pending


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
