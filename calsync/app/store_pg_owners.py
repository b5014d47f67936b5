"""Every organisation owner's state in PostgreSQL (``state_url``), shared by several runners.

The :class:`~calsync.app.store_owners.OwnerStores` of :mod:`calsync.app.fleet` on the
tables of :mod:`calsync.app.store_pg`, each owner's rows under their own ``scope`` (their
address), so an owner's organisation run and their own ``calsync run`` share state and lock.

Locks: each owner is locked on their own, by the same session-level advisory lock
``PgStore`` takes (:func:`~calsync.app.store_pg.lock_key`), for as long as their run takes.
A session lock belongs to one connection, and a general pool hands a connection to whoever
asks next, so the runner keeps a few connections of its own
(:class:`~calsync.app.store_pg_view.Slot`) and pins each owner to one of them for their
run: the lock, every statement of theirs and the unlock go down that connection, one
thread at a time. An owner another runner holds raises LockedError (the fleet counts them
as busy). A runner that dies closes its connections and the server lets go of every owner
it held.

Round trips (:mod:`calsync.app.store_pg_view`): the owner's rows (key-values, what was
written where, action items) are read in one statement sent with the lock, reads are served
from them, and changes are kept until they must be durable: a checkpoint (a write-ahead
record, an invite just written) sends them at once in one transaction; the rest go with the
unlock. A steady owner costs one round trip to start and one to finish, and no connection
is held during the owner's network calls. A phase rolled back (a dry run, an error) drops
its changes; a dry run sends none at all.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext, suppress
from datetime import datetime
from typing import Any

import psycopg

from calsync.app.store_pg import (
    HOLDER,
    KV_DELETE,
    KV_GET,
    KV_PUT,
    LOCK,
    RUN_PUT,
    Link,
    holder_name,
    lock_key,
)
from calsync.app.store_pg_view import LOAD, Batch, Conn, OwnerView, Slot, unlock
from calsync.core.state import KeyValue

ORG_SCOPE = ""  # rows of no one owner: the organisations' summaries, their run log


class PgOwners:
    """Every owner's state in PostgreSQL (see the module docstring); ``connections``: how
    many this runner opens at most, whatever the number of owners in flight."""

    def __init__(self, url: str, connections: int = 4, connect_timeout: int = 10) -> None:
        self.link = Link(url, connect_timeout)
        self.slots = [Slot() for _ in range(max(1, connections))]
        self._turn = itertools.count()
        self._held: set[str] = set()  # owners this runner holds now
        self._count = threading.Lock()
        self.statements = self.round_trips = 0  # sent so far (the benchmark reads them)
        self.dry_run = False
        with self.slots[0].mutex:
            self.slots[0].connection(self.link)  # a wrong URL or password fails here, once

    def lock(self) -> AbstractContextManager[None]:
        """Nothing run-wide: each owner is locked on their own (:meth:`owner`)."""
        return nullcontext()

    @contextlib.contextmanager
    def session(self, dry_run: bool) -> Iterator[None]:
        """The run; a dry run sends no change at all (the views keep them in memory)."""
        self.dry_run = dry_run
        try:
            yield
        finally:
            self.dry_run = False

    @contextlib.contextmanager
    def owner(self, scope: str) -> Iterator[OwnerView]:
        """The owner's view, under their lock; their changes are sent with the unlock."""
        scope = scope.lower()
        key = lock_key(scope)
        with self._count:
            if scope in self._held:
                raise self.link.locked(scope, "this runner")
            self._held.add(scope)
        try:
            slot = self._pick()
            with slot.mutex:
                conn = slot.connection(self.link)
                try:
                    got, rows = self.send(conn, [(LOCK, (key,)), (LOAD, (scope,) * 3)])
                except BaseException:  # a session lock outlives the failed statement after it
                    unlock(conn, key)
                    raise
                if not got[0][0]:
                    who = self.send(conn, [(HOLDER, (key >> 32, key & 0xFFFFFFFF))])[0]
                    raise self.link.locked(scope, holder_name(who))
            view = OwnerView(self, slot, conn, scope, rows)
            try:
                yield view
            finally:
                view.finish(key)
        finally:
            with self._count:
                self._held.discard(scope)

    def _pick(self) -> Slot:
        """The next idle connection (taking turns), else the next one in turn."""
        first = next(self._turn)
        n = len(self.slots)
        return next((self.slots[(first + i) % n] for i in range(n)
                     if not self.slots[(first + i) % n].mutex.locked()), self.slots[first % n])

    def send(self, conn: Conn, batch: Batch) -> list[list[tuple[Any, ...]]]:
        """The statements in one round trip (a pipeline), each one's rows; a failure rolls
        back a transaction the batch left open."""
        with self._count:
            self.statements += len(batch)
            self.round_trips += 1
        try:
            with self.link.errors("calsync state"):
                if len(batch) == 1:
                    curs = [conn.execute(*batch[0])]
                else:
                    with conn.pipeline():
                        curs = [conn.execute(sql, params) for sql, params in batch]
                return [c.fetchall() if c.description else [] for c in curs]
        except BaseException:
            if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                with suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
            raise

    def on_any(self, batch: Batch) -> list[list[tuple[Any, ...]]]:
        """The batch on whichever connection comes next (statements of no owner's)."""
        slot = self._pick()
        with slot.mutex:
            return self.send(slot.connection(self.link), batch)

    def namespace(self, ns: str) -> KeyValue:
        """A namespace of the organisations' own (their summaries)."""
        return OrgNamespace(self, ns)

    def log_run(self, started: datetime, finished: datetime, command: str, written: int,
                warnings: int, errors: int, exit_code: int) -> None:
        """The run log's one line for the organisation run (none for a dry run)."""
        if not self.dry_run:
            self.on_any([(RUN_PUT, (ORG_SCOPE, started, finished, command, written, warnings,
                                    errors, exit_code))])

    def close(self) -> None:
        """Close the connections (the server lets go of any lock still held)."""
        for slot in self.slots:
            with slot.mutex:
                if slot.conn is not None:
                    slot.conn.close()
                    slot.conn = None


class OrgNamespace:
    """A namespace outside every owner's; a dry run's changes stay in memory."""

    def __init__(self, owners: PgOwners, ns: str) -> None:
        self.owners, self.ns = owners, ns
        self.dry: dict[str, str | None] = {}

    def get(self, key: str) -> str | None:
        """The value, or None."""
        if key in self.dry:
            return self.dry[key]
        rows = self.owners.on_any([(KV_GET, (ORG_SCOPE, self.ns, key))])[0]
        return str(rows[0][0]) if rows else None

    def set(self, key: str, value: str | None) -> None:
        """Store (None: delete), at once."""
        if self.owners.dry_run:
            self.dry[key] = value
        elif value is None:
            self.owners.on_any([(KV_DELETE, (ORG_SCOPE, self.ns, key))])
        else:
            self.owners.on_any([(KV_PUT, (ORG_SCOPE, self.ns, key, value))])
