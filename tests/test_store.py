"""The state store's contract, held by both stores: SQLite (the default) and PostgreSQL
(``state_url``, against a real server started by :mod:`tests.pg`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from calsync.app.store import StateStore, Store
from calsync.app.store_pg import PgStore
from calsync.errors import LockedError
from tests.pg import pg_server, pg_url  # noqa: F401

Opener = Callable[[], StateStore]
WHEN = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens a store on one shared state, as often as a test wants (two runners)."""
    if request.param == "sqlite":
        return lambda: Store(tmp_path / "home" / "state.sqlite3")
    url = request.getfixturevalue("pg_url")
    return lambda: PgStore(url, scope="Me@Example.com")


@pytest.fixture
def store(opener: Opener) -> StateStore:
    return opener()


def runs(store: StateStore) -> list[tuple[Any, ...]]:
    if isinstance(store, PgStore):
        return store.db.execute("SELECT command, written, warnings, errors, exit_code, started_at "
                                "FROM calsync_runs").fetchall()
    assert isinstance(store, Store)
    return store.db.execute("SELECT command, written, warnings, errors, exit_code, started_at "
                            "FROM runs").fetchall()


def test_namespaces_keep_values_apart_and_none_deletes(store: StateStore) -> None:
    a, b = store.namespace("cal:work"), store.namespace("cal:home")
    assert a.get("sync") is None
    a.set("sync", "token-1")
    b.set("sync", "other")
    assert (a.get("sync"), b.get("sync")) == ("token-1", "other")
    a.set("sync", "token-2")
    assert a.get("sync") == "token-2"
    a.set("sync", None)
    assert a.get("sync") is None and b.get("sync") == "other"
    a.set("sync", None)  # deleting what is gone is no error
    a.set("text", "ünïcode ✓ and 'quotes'; DROP TABLE kv")
    assert a.get("text") == "ünïcode ✓ and 'quotes'; DROP TABLE kv"


def test_everything_outlives_the_store(opener: Opener) -> None:
    first = opener()
    first.namespace("docs").set("pair", "doc-id")
    first.record_write("work", "evt-1", "hash-a", WHEN)
    first.upsert_action_item("rel", "k1", "sam", "ship it", "2026-05-01", None)
    first.log_run(WHEN, WHEN, "run", 2, 1, 0, 0)
    first.close()
    again = opener()
    assert again.namespace("docs").get("pair") == "doc-id"
    assert again.written_hash("work", "evt-1") == "hash-a"
    assert [r.text for r in again.action_items("rel")] == ["ship it"]
    rows = runs(again)
    assert [r[:5] for r in rows] == [("run", 2, 1, 0, 0)]
    started = rows[0][5]
    assert (started if isinstance(started, datetime) else datetime.fromisoformat(started)) == WHEN


def test_writes_remember_the_last_hash_per_calendar_and_ref(store: StateStore) -> None:
    assert store.written_hash("work", "evt-1") is None
    store.record_write("work", "evt-1", "hash-a", WHEN)
    store.record_write("work", "evt-1", "hash-b", WHEN)
    store.record_write("home", "evt-1", "hash-c", WHEN)
    assert store.written_hash("work", "evt-1") == "hash-b"
    assert store.written_hash("home", "evt-1") == "hash-c"
    assert store.written_hash("work", "evt-2") is None


def test_action_items_keep_order_first_seen_and_their_done_date(store: StateStore) -> None:
    store.upsert_action_item("rel", "k2", None, "second", "2026-05-02", None)
    store.upsert_action_item("rel", "k1", "sam", "first", "2026-05-01", None)
    store.upsert_action_item("rel", "k3", None, "same day, later", "2026-05-02", None)
    store.upsert_action_item("other", "k1", None, "elsewhere", "2026-04-01", None)
    # seen again: new text and owner, first_seen kept; done once stays done
    store.upsert_action_item("rel", "k1", "kim", "first, edited", "2026-05-09", "2026-05-09")
    store.upsert_action_item("rel", "k1", "kim", "first, edited", "2026-05-10", None)
    rows = store.action_items("rel")
    assert [r.key for r in rows] == ["k1", "k2", "k3"]
    assert (rows[0].owner, rows[0].text, rows[0].first_seen, rows[0].done_at) == (
        "kim", "first, edited", "2026-05-01", "2026-05-09")
    assert rows[1].owner is None and rows[1].done_at is None
    assert [r.text for r in store.action_items("other")] == ["elsewhere"]
    assert store.action_items("nobody") == []


def test_transaction_commits_rolls_back_on_request_and_on_error(opener: Opener) -> None:
    store, reader = opener(), opener()
    ns = store.namespace("n")
    with store.transaction():
        ns.set("kept", "1")
        store.record_write("c", "r", "h", WHEN)
    assert reader.namespace("n").get("kept") == "1" and reader.written_hash("c", "r") == "h"
    with store.transaction(rollback=True):  # a dry run
        ns.set("kept", "changed")
        ns.set("dry", "1")
        assert ns.get("dry") == "1"  # visible inside
    assert (ns.get("kept"), ns.get("dry")) == ("1", None)
    with pytest.raises(RuntimeError), store.transaction():
        ns.set("boom", "1")
        raise RuntimeError("mid-run")
    assert ns.get("boom") is None and reader.namespace("n").get("boom") is None
    ns.set("after", "1")  # back to committing each write at once
    assert reader.namespace("n").get("after") == "1"


def test_the_lock_keeps_a_second_runner_out_until_released(opener: Opener) -> None:
    first, second = opener(), opener()
    with first.lock():
        with pytest.raises(LockedError) as caught, second.lock():
            pytest.fail("two runners held the lock at once")
        assert "another calsync run" in str(caught.value)
        assert caught.value.exit_code == 5
    with second.lock():
        pass
    with first.lock():  # and again: released on exit
        pass


def test_a_phase_is_one_transaction_and_a_checkpoint_survives_a_crash(opener: Opener) -> None:
    """What run relies on: a block inside a phase joins it, a checkpoint (a durable
    namespace, a recorded write) is kept when the phase then fails, the rest is not."""
    store = opener()
    plain, durable = store.namespace("docs"), store.namespace("cal:work", durable=True)
    with pytest.raises(RuntimeError), store.transaction():
        plain.set("before", "1")
        with store.transaction():  # joins the phase: no commit of its own
            plain.set("inner", "1")
        durable.set("sync", "token")  # checkpoint: everything so far is committed
        plain.set("after", "1")
        store.record_write("work", "ev-1", "abc", WHEN)
        plain.set("lost", "1")
        raise RuntimeError("crash")
    again = opener()
    kept, side = again.namespace("docs"), again.namespace("cal:work")
    assert (kept.get("before"), kept.get("inner"), side.get("sync")) == ("1", "1", "token")
    assert kept.get("after") == "1" and again.written_hash("work", "ev-1") == "abc"
    assert kept.get("lost") is None


def test_a_dry_run_phase_rolls_back_even_its_checkpoints(opener: Opener) -> None:
    store = opener()
    with store.transaction(rollback=True):
        store.namespace("cal:work", durable=True).set("sync", "token")
        store.record_write("work", "ev-1", "abc", WHEN)
    again = opener()
    assert again.namespace("cal:work").get("sync") is None
    assert again.written_hash("work", "ev-1") is None
