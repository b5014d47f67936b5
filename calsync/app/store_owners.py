"""Many owners' state in one store, for organisation runs (:mod:`calsync.app.fleet`).

An organisation run works for thousands of owners side by side, each through the usual
:class:`~calsync.app.store.StateStore` seam, so ``run`` and the providers do not change.
:class:`OwnerStores` hands out one owner's view for the time their run takes: their own
namespaces (prefixed by the owner's address), their own lock, and the shared parts of
the store (what was written where, action items) that are already keyed by calendar name,
which names the organisation and the owner.

:class:`SqliteOwners` keeps every view on one SQLite connection, used by one thread at a
time (a mutex around each statement), inside one transaction for the whole run: a view's
checkpoint (a write-ahead record, a durable sync token) commits everything so far, as a
single owner's checkpoint does, and the end of the run commits the rest, or rolls all back
for a dry run. Network calls never hold the database. Runs on one machine exclude each
other with the file lock; :mod:`calsync.app.store_pg_owners` shares the state between
machines with a lock per owner.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Protocol

from calsync.app.store import ActionItemRow, StateStore, Store
from calsync.core.state import KeyValue


class OwnerStores(Protocol):
    """Every owner's state for one organisation run."""

    def lock(self) -> AbstractContextManager[None]:
        """Held for the whole organisation run (SQLite: the file lock; PostgreSQL: nothing,
        each owner is locked on their own)."""
        ...

    def session(self, dry_run: bool) -> AbstractContextManager[None]:
        """Around the whole run: commits at the end, or rolls everything back (``dry_run``)."""
        ...

    def owner(self, scope: str) -> AbstractContextManager[StateStore]:
        """One owner's state for the block; LockedError when another runner holds the owner."""
        ...

    def namespace(self, ns: str) -> KeyValue:
        """A namespace of the organisation's own (its summary), committed with the run."""
        ...

    def log_run(self, started: datetime, finished: datetime, command: str, written: int,
                warnings: int, errors: int, exit_code: int) -> None:
        """One line in the run log for the whole organisation run."""
        ...

    def close(self) -> None:
        """Close the connections."""
        ...


class SqliteOwners:
    """Every owner's state in the SQLite file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.store = Store(path, threads=True)
        # WAL without an fsync per commit: a killed run keeps every commit (the WAL is
        # the OS's); only a power loss may lose the last ones, which the next run redoes
        self.store.db.execute("PRAGMA synchronous=NORMAL")
        self.mutex = threading.RLock()

    def lock(self) -> AbstractContextManager[None]:
        """The file lock beside the database, as a single owner's run takes it."""
        return self.store.lock()

    @contextlib.contextmanager
    def session(self, dry_run: bool) -> Iterator[None]:
        """One transaction for the run; the views' checkpoints commit within it."""
        with self.mutex:
            outer = self.store.transaction(rollback=dry_run)
            outer.__enter__()
        try:
            yield
        except BaseException as exc:
            with self.mutex:
                outer.__exit__(type(exc), exc, exc.__traceback__)
            raise
        with self.mutex:
            outer.__exit__(None, None, None)

    @contextlib.contextmanager
    def owner(self, scope: str) -> Iterator[StateStore]:
        """The owner's view; runs on this machine are apart already (:meth:`lock`)."""
        yield OwnerView(self, scope)

    def namespace(self, ns: str) -> KeyValue:
        """A namespace outside every owner's, for the organisation's own state."""
        return LockedNamespace(self, ns, durable=False)

    def log_run(self, started: datetime, finished: datetime, command: str, written: int,
                warnings: int, errors: int, exit_code: int) -> None:
        """The run log's one line for the organisation run."""
        with self.mutex:
            self.store.log_run(started, finished, command, written, warnings, errors, exit_code)

    def close(self) -> None:
        """Close the database."""
        self.store.close()


class LockedNamespace:
    """A namespace of the shared store, one statement at a time."""

    def __init__(self, owners: SqliteOwners, ns: str, durable: bool) -> None:
        self.owners, self.inner = owners, owners.store.namespace(ns, durable)

    def get(self, key: str) -> str | None:
        """The value, or None."""
        with self.owners.mutex:
            return self.inner.get(key)

    def set(self, key: str, value: str | None) -> None:
        """Store (None: delete); a durable namespace commits the run so far."""
        with self.owners.mutex:
            self.inner.set(key, value)


class OwnerView:
    """One owner's :class:`~calsync.app.store.StateStore` inside an organisation run."""

    def __init__(self, owners: SqliteOwners, scope: str) -> None:
        self.owners, self.scope = owners, scope.lower()

    def close(self) -> None:
        """Nothing to close: the connection is the run's."""

    def transaction(self, rollback: bool = False) -> AbstractContextManager[None]:
        """Joins the run's transaction (a dry run rolls the whole run back)."""
        return nullcontext()

    def lock(self) -> AbstractContextManager[None]:
        """Held by the run already (:meth:`SqliteOwners.lock`)."""
        return nullcontext()

    def checkpoint(self) -> None:
        """Commit the run so far (every owner's), as a single owner's checkpoint does."""
        with self.owners.mutex:
            self.owners.store.checkpoint()

    def namespace(self, ns: str, durable: bool = False) -> KeyValue:
        """The owner's own namespace ``ns``."""
        return LockedNamespace(self.owners, f"{self.scope}/{ns}", durable)

    def written_hash(self, calendar: str, ref: str) -> str | None:
        """What calsync last wrote to ``ref`` (calendar names name the owner)."""
        with self.owners.mutex:
            return self.owners.store.written_hash(calendar, ref)

    def record_write(self, calendar: str, ref: str, digest: str, when: datetime) -> None:
        """Remember a write, committed at once."""
        with self.owners.mutex:
            self.owners.store.record_write(calendar, ref, digest, when)

    def action_items(self, relationship: str) -> list[ActionItemRow]:
        """The relationship's action items (its key names the owner's calendar)."""
        with self.owners.mutex:
            return self.owners.store.action_items(relationship)

    def upsert_action_item(self, relationship: str, key: str, owner: str | None, text: str,
                           seen: str, done: str | None) -> None:
        """Insert or update an action item."""
        with self.owners.mutex:
            self.owners.store.upsert_action_item(relationship, key, owner, text, seen, done)

    def log_run(self, started: datetime, finished: datetime, command: str, written: int,
                warnings: int, errors: int, exit_code: int) -> None:
        """Not logged per owner: the organisation run logs one line."""
