"""State that outlives a run, in one SQLite file under ``CALSYNC_HOME`` by default.

:class:`StateStore` is the seam: :class:`Store` here keeps it in SQLite, and
:class:`calsync.app.store_pg.PgStore` in PostgreSQL for runners that share it
(``state_url``); :func:`calsync.app.stores.open_store` picks one from the config.

Holds provider state (sync tokens, cached events, doc ids) as namespaced key-values,
what calsync wrote where (content hashes), the action items it has seen, and a run
log. A run groups its own bookkeeping into one transaction per phase
(:meth:`Store.transaction`); a backend's state (a write-ahead record before a request
that must not be repeated) commits at once (a ``durable`` namespace checkpoints the open
transaction), so a run killed at any point leaves a state the next run converges from.
A write that would store the value already there is skipped: a steady run commits nothing
but its log line. Private notes are never stored: cached events keep their
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
    """One stored action item of a relationship; ``done_at`` is set once it is first seen checked."""

    key: str
    owner: str | None
    text: str
    first_seen: str
    done_at: str | None


class StateStore(Protocol):
    """Everything calsync keeps between runs, and the lock that keeps runs apart."""

    def close(self) -> None:
        """Close the connection."""
        ...

    def transaction(self, rollback: bool = False) -> AbstractContextManager[None]:
        """One transaction around a block; a block inside another joins it. ``rollback``: a dry run."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """Held for a whole ``run``: a second run on the same state raises LockedError."""
        ...

    def checkpoint(self) -> None:
        """Commit what was written so far, inside a transaction too (which goes on)."""
        ...

    def namespace(self, ns: str, durable: bool = False) -> KeyValue:
        """A key-value view of one namespace; ``durable``: each change committed at once."""
        ...

    def written_hash(self, calendar: str, ref: str) -> str | None:
        """The hash of what calsync last wrote to ``ref`` in this calendar, if anything."""
        ...

    def record_write(self, calendar: str, ref: str, digest: str, when: datetime) -> None:
        """Remember what was just written to ``ref``, durably (a crash must not repeat the write)."""
        ...

    def action_items(self, relationship: str) -> list[ActionItemRow]:
        """A relationship's action items, oldest first."""
        ...

    def upsert_action_item(
        self, relationship: str, key: str, owner: str | None, text: str, seen: str, done: str | None
    ) -> None:
        """Insert or update an action item; its done date, once set, is kept."""
        ...

    def log_run(self, started: datetime, finished: datetime, command: str, written: int,
                warnings: int, errors: int, exit_code: int) -> None:
        """Append one line to the run log."""
        ...


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


def probe(path: Path) -> tuple[str, str] | None:
    """Whether an existing state database can be written now, without changing it:
    None, or why not as (kind, SQLite's words); kind is open, locked, readonly or foreign."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=0.5, isolation_level=None)
    except sqlite3.Error as exc:
        return "open", str(exc)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        busy = "locked" in str(exc) or "busy" in str(exc)
        return ("locked" if busy else "readonly"), str(exc)
    except sqlite3.DatabaseError as exc:
        return "foreign", str(exc)
    finally:
        db.close()
    return None


class Phases:
    """One transaction per run phase, for both stores: blocks nest (an inner one joins the
    outer one), and a checkpoint commits what is written so far without ending the phase.
    A store gives the three statements; the bookkeeping is the same."""

    _depth = 0  # open transaction() blocks; only the outermost one talks to the database
    _keep = True  # the outermost block commits (False: a dry run's rollback)

    def _sql(self, statement: str) -> None:
        raise NotImplementedError

    def _abort(self) -> None:
        """Roll back after an exception (a lost connection may have rolled back already)."""
        self._sql("ROLLBACK")

    def _open(self) -> bool:
        return True

    @contextlib.contextmanager
    def transaction(self, rollback: bool = False) -> Iterator[None]:
        """One transaction around a block: committed at the end (or rolled back when
        ``rollback``, as a dry run wants), rolled back on an exception. A block inside
        another joins the outer one (a phase inside a dry run is rolled back with it)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._sql("BEGIN")
        self._depth, self._keep = 1, not rollback
        try:
            yield
        except BaseException:
            self._abort()
            raise
        finally:
            self._depth = 0
        self._sql("ROLLBACK" if rollback else "COMMIT")

    def checkpoint(self) -> None:
        """Make everything written so far durable, inside a transaction too (which goes
        on); nothing to do outside one, or in one that will be rolled back."""
        if self._depth and self._keep and self._open():
            self._sql("COMMIT")
            self._sql("BEGIN")


class Store(Phases):
    """The state in one SQLite file, private to the user (see the module docstring)."""

    def __init__(self, path: Path, threads: bool = False) -> None:
        """Open (creating) the database; ``threads``: used from several threads, one
        statement at a time (the caller serialises them, :mod:`calsync.app.store_owners`)."""
        self.path = path
        try:
            private_files(path)
            old_mask = os.umask(0o077)  # journal files SQLite creates are ours alone too
            try:
                self.db = sqlite3.connect(path, isolation_level=None, timeout=10,
                                          check_same_thread=not threads)
                self.db.execute("PRAGMA secure_delete=ON")
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.executescript(_SCHEMA)
            finally:
                os.umask(old_mask)
        except (OSError, sqlite3.Error) as exc:
            raise ProviderError(f"{path}: cannot open calsync state: {exc}") from None

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def _sql(self, statement: str) -> None:
        self.db.execute(statement)

    def _open(self) -> bool:
        return self.db.in_transaction

    def lock(self) -> AbstractContextManager[None]:
        """The file lock beside the database: runs on this machine exclude each other."""
        return run_lock(self.path.parent / "run.lock")

    # -- namespaced key-values (calsync.core.state.KeyValue) -----------------------------------

    def namespace(self, ns: str, durable: bool = False) -> Namespace:
        """One namespace; ``durable`` for a backend's own state, whose every change is
        committed at once (it may be the record that a request must not be sent twice)."""
        return Namespace(self, ns, durable)

    # -- writes ---------------------------------------------------------------------------

    def written_hash(self, calendar: str, ref: str) -> str | None:
        """The hash last recorded for ``ref``, if any."""
        row = self.db.execute(
            "SELECT hash FROM writes WHERE calendar=? AND ref=?", (calendar, ref)
        ).fetchone()
        return row[0] if row else None

    def record_write(self, calendar: str, ref: str, digest: str, when: datetime) -> None:
        """What was just written to an invite; committed at once, so a provider that
        re-encodes the block is not written again after a crash."""
        self.db.execute(
            "INSERT OR REPLACE INTO writes VALUES (?, ?, ?, ?)",
            (calendar, ref, digest, when.isoformat()),
        )
        self.checkpoint()

    # -- action items ---------------------------------------------------------------------

    def action_items(self, relationship: str) -> list[ActionItemRow]:
        """A relationship's action items, oldest first."""
        rows = self.db.execute(
            "SELECT key, owner, text, first_seen, done_at FROM action_items "
            "WHERE relationship=? ORDER BY first_seen, rowid",
            (relationship,),
        ).fetchall()
        return [ActionItemRow(*r) for r in rows]

    def upsert_action_item(
        self, relationship: str, key: str, owner: str | None, text: str, seen: str, done: str | None
    ) -> None:
        """Insert the item, or update its owner, text and (once) its done date; an item
        seen again unchanged is not written (a read takes no write lock)."""
        row = self.db.execute(
            "SELECT owner, text, done_at FROM action_items WHERE relationship=? AND key=?",
            (relationship, key),
        ).fetchone()
        if row is not None and (row[0], row[1]) == (owner, text) and (row[2] or not done):
            return
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
        """Append one line to the ``runs`` table."""
        self.db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
            (started.isoformat(), finished.isoformat(), command, written, warnings, errors, exit_code),
        )


class Namespace:
    """A :class:`calsync.core.state.KeyValue` over one namespace of the store."""

    def __init__(self, store: Store, ns: str, durable: bool = False) -> None:
        self.store, self.ns, self.durable = store, ns, durable

    def get(self, key: str) -> str | None:
        """The value, or None when the key is not set."""
        row = self.store.db.execute(
            "SELECT value FROM kv WHERE ns=? AND key=?", (self.ns, key)
        ).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str | None) -> None:
        """Store (None: delete) the value; storing the value already there writes nothing."""
        if self.get(key) == value:
            return
        if value is None:
            self.store.db.execute("DELETE FROM kv WHERE ns=? AND key=?", (self.ns, key))
        else:
            self.store.db.execute(
                "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (self.ns, key, value)
            )
        if self.durable:
            self.store.checkpoint()
