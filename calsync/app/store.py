"""State that outlives a run, in one SQLite file under ``CALSYNC_HOME`` by default.

:class:`StateStore` is the seam: :class:`Store` here keeps it in SQLite, and
:class:`calsync.app.store_pg.PgStore` in PostgreSQL for runners that share it
(``state_url``); :func:`calsync.app.stores.open_store` picks one from the config.

Holds provider state (sync tokens, cached events, doc ids) as namespaced key-values,
what calsync wrote where (content hashes), the action items it has seen, and a run
log. Every write commits at once, so a run killed at any point leaves a state the
next run converges from. Private notes are never stored: cached events keep their
metadata (times, people, status, organizer, ETag) and of a description only its
checklist lines and calsync's own block (:mod:`calsync.core.privacy`); cached shared docs
keep only their checklist lines (and, for OneDrive, calsync's section headings). The folder is 0700,
the database and its journal files 0600, and deleted content is overwritten
(``secure_delete``), so an older cache's text does not linger in free pages.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from calsync.app.lock import run_lock
from calsync.core.state import KeyValue
from calsync.errors import ProviderError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (ns TEXT, key TEXT, value TEXT, PRIMARY KEY (ns, key));
CREATE TABLE IF NOT EXISTS writes (
    calendar TEXT, ref TEXT, hash TEXT, written_at TEXT, PRIMARY KEY (calendar, ref));
CREATE TABLE IF NOT EXISTS action_items (
    relationship TEXT, key TEXT, owner TEXT, text TEXT, first_seen TEXT, done_at TEXT,
    PRIMARY KEY (relationship, key));
CREATE TABLE IF NOT EXISTS runs (
    started_at TEXT, finished_at TEXT, command TEXT, written INTEGER, warnings INTEGER,
    errors INTEGER, exit_code INTEGER);
"""


@dataclass(frozen=True)
class ActionItemRow:
    key: str
    owner: str | None
    text: str
    first_seen: str
    done_at: str | None


class StateStore(Protocol):
    """Everything calsync keeps between runs, and the lock that keeps runs apart."""

    def close(self) -> None: ...

    def transaction(self, rollback: bool = False) -> AbstractContextManager[None]: ...

    def lock(self) -> AbstractContextManager[None]:
        """Held for a whole ``run``: a second run on the same state raises LockedError."""
        ...

    def namespace(self, ns: str) -> KeyValue: ...

    def written_hash(self, calendar: str, ref: str) -> str | None: ...

    def record_write(self, calendar: str, ref: str, digest: str, when: datetime) -> None: ...

    def action_items(self, relationship: str) -> list[ActionItemRow]: ...

    def upsert_action_item(
        self, relationship: str, key: str, owner: str | None, text: str, seen: str, done: str | None
    ) -> None: ...

    def log_run(self, started: datetime, finished: datetime, command: str, written: int,
                warnings: int, errors: int, exit_code: int) -> None: ...


_SIDECARS = ("-wal", "-shm", "-journal")


def private_files(path: Path) -> None:
    """The database's folder 0700, the database and its journal files 0600: created so,
    and an existing one (from an older calsync) fixed before anything is read from it."""
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)
    for suffix in _SIDECARS:
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.chmod(side, 0o600)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            private_files(path)
            old_mask = os.umask(0o077)  # journal files SQLite creates are ours alone too
            try:
                self.db = sqlite3.connect(path, isolation_level=None, timeout=10)
                self.db.execute("PRAGMA secure_delete=ON")
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.executescript(_SCHEMA)
            finally:
                os.umask(old_mask)
        except (OSError, sqlite3.Error) as exc:
            raise ProviderError(f"{path}: cannot open calsync state: {exc}") from None

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self, rollback: bool = False) -> Iterator[None]:
        """One transaction around a block: committed at the end (or rolled back when
        ``rollback``, as a dry run wants), rolled back on an exception."""
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("ROLLBACK" if rollback else "COMMIT")

    def lock(self) -> AbstractContextManager[None]:
        """The file lock beside the database: runs on this machine exclude each other."""
        return run_lock(self.path.parent / "run.lock")

    # -- namespaced key-values (calsync.core.state.KeyValue) -----------------------------------

    def namespace(self, ns: str) -> Namespace:
        return Namespace(self, ns)

    # -- writes ---------------------------------------------------------------------------

    def written_hash(self, calendar: str, ref: str) -> str | None:
        row = self.db.execute(
            "SELECT hash FROM writes WHERE calendar=? AND ref=?", (calendar, ref)
        ).fetchone()
        return row[0] if row else None

    def record_write(self, calendar: str, ref: str, digest: str, when: datetime) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO writes VALUES (?, ?, ?, ?)",
            (calendar, ref, digest, when.isoformat()),
        )

    # -- action items ---------------------------------------------------------------------

    def action_items(self, relationship: str) -> list[ActionItemRow]:
        rows = self.db.execute(
            "SELECT key, owner, text, first_seen, done_at FROM action_items "
            "WHERE relationship=? ORDER BY first_seen, rowid",
            (relationship,),
        ).fetchall()
        return [ActionItemRow(*r) for r in rows]

    def upsert_action_item(
        self, relationship: str, key: str, owner: str | None, text: str, seen: str, done: str | None
    ) -> None:
        self.db.execute(
            "INSERT INTO action_items VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (relationship, key) DO UPDATE SET "
            "owner=excluded.owner, text=excluded.text, "
            "done_at=COALESCE(action_items.done_at, excluded.done_at)",
            (relationship, key, owner, text, seen, done),
        )

    # -- run log --------------------------------------------------------------------------

    def log_run(
        self,
        started: datetime,
        finished: datetime,
        command: str,
        written: int,
        warnings: int,
        errors: int,
        exit_code: int,
    ) -> None:
        self.db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
            (started.isoformat(), finished.isoformat(), command, written, warnings, errors, exit_code),
        )


class Namespace:
    """A :class:`calsync.core.state.KeyValue` over one namespace of the store."""

    def __init__(self, store: Store, ns: str) -> None:
        self.store, self.ns = store, ns

    def get(self, key: str) -> str | None:
        row = self.store.db.execute(
            "SELECT value FROM kv WHERE ns=? AND key=?", (self.ns, key)
        ).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str | None) -> None:
        if value is None:
            self.store.db.execute("DELETE FROM kv WHERE ns=? AND key=?", (self.ns, key))
        else:
            self.store.db.execute(
                "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (self.ns, key, value)
            )
