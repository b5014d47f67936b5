"""One owner's state during an organisation run on PostgreSQL (:mod:`calsync.app.store_pg_owners`):
their rows as read once under their lock, and the changes since, sent only where they must
be durable (a checkpoint) and else with the unlock; a phase rolled back drops its changes.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, LiteralString, Protocol

import psycopg

from calsync.app.store import ActionItemRow
from calsync.app.store_pg import ITEM_PUT, KV_DELETE, KV_PUT, UNLOCK, WRITE_PUT, Link, unchanged_item
from calsync.core.state import KeyValue

LOAD: LiteralString = (
    "SELECT 'k', ns, key, value, NULL, NULL, NULL, 0::bigint FROM calsync_kv WHERE scope=%s "
    "UNION ALL SELECT 'w', calendar, ref, hash, NULL, NULL, NULL, 0 FROM calsync_writes "
    "WHERE scope=%s UNION ALL SELECT 'a', relationship, key, owner, text, first_seen, done_at, "
    "seq FROM calsync_action_items WHERE scope=%s")
Batch = list[tuple[LiteralString, Sequence[Any]]]
Conn = psycopg.Connection[tuple[Any, ...]]


class Wire(Protocol):
    """How a view reaches the database: :class:`calsync.app.store_pg_owners.PgOwners`."""

    dry_run: bool

    def send(self, conn: Conn, batch: Batch) -> list[list[tuple[Any, ...]]]:
        """The statements in one round trip, each one's rows."""
        ...


@dataclass
class Slot:
    """One connection of the runner's, opened on first use and again after it broke."""

    mutex: threading.Lock = field(default_factory=threading.Lock)
    conn: Conn | None = None

    def connection(self, link: Link) -> Conn:
        """The live connection (hold :attr:`mutex`)."""
        if self.conn is None or self.conn.closed or self.conn.broken:
            if self.conn is not None:
                with suppress(psycopg.Error):
                    self.conn.close()
            self.conn = link.connect()
        return self.conn

Item = tuple[ActionItemRow, int]  # the row and its place among items first seen the same day


@dataclass
class Changes:
    """What an owner's run changed and has not sent yet."""

    kv: dict[tuple[str, str], str | None] = field(default_factory=dict)
    writes: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)
    items: dict[str, dict[str, Item]] = field(default_factory=dict)

    def copy(self) -> Changes:
        """A copy to go back to when a phase is rolled back."""
        return Changes(dict(self.kv), dict(self.writes), {r: dict(i) for r, i in self.items.items()})

    def __bool__(self) -> bool:
        return bool(self.kv or self.writes or self.items)


class OwnerView:
    """One owner's :class:`~calsync.app.store.StateStore` during their organisation run:
    their rows as read at the start, and the changes since (see the module docstring)."""

    def __init__(self, owners: Wire, slot: Slot, conn: Conn, scope: str,
                 rows: list[tuple[Any, ...]]) -> None:
        self.owners, self.slot, self.conn, self.scope = owners, slot, conn, scope
        self.kv: dict[tuple[str, str], str] = {}
        self.writes: dict[tuple[str, str], str] = {}
        self.items: dict[str, dict[str, Item]] = {}
        for kind, a, b, c, d, e, f, seq in rows:
            if kind == "k":
                self.kv[(a, b)] = c
            elif kind == "w":
                self.writes[(a, b)] = c
            else:
                self.items.setdefault(a, {})[b] = (ActionItemRow(b, c, d, e, f), seq)
        self.pending = Changes()
        self.mutex = threading.RLock()
        self._depth, self._keep, self._mark = 0, True, Changes()
        self._new = itertools.count(2**62)  # new items sort after the stored ones

    # -- transactions ---------------------------------------------------------------------

    def close(self) -> None:
        """Nothing to close: the connection is the runner's."""

    def lock(self) -> AbstractContextManager[None]:
        """Held already (:meth:`PgOwners.owner`)."""
        return nullcontext()

    @contextlib.contextmanager
    def transaction(self, rollback: bool = False) -> Iterator[None]:
        """A phase: its changes are dropped when it is rolled back or fails, else kept to be
        sent (a phase inside another joins it)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        with self.mutex:
            self._depth, self._keep, self._mark = 1, not rollback, self.pending.copy()
        try:
            yield
        except BaseException:
            self._undo()
            raise
        finally:
            self._depth = 0
        if rollback:
            self._undo()

    def _undo(self) -> None:
        with self.mutex:
            self.pending = self._mark

    def checkpoint(self) -> None:
        """Send the changes so far in one transaction (not in a phase to be rolled back)."""
        if (self._depth and not self._keep) or self.owners.dry_run:
            return
        with self.mutex:
            batch = self._batch()
            if not batch:
                return
            with self.slot.mutex:
                self.owners.send(self.conn, atomic(batch))
            self._sent()

    def finish(self, key: int) -> None:
        """The changes not sent yet, and the unlock, in one round trip."""
        with self.mutex:
            batch = [] if self.owners.dry_run else self._batch()
            with self.slot.mutex:
                try:
                    self.owners.send(self.conn, [*atomic(batch), (UNLOCK, (key,))])
                except BaseException:
                    unlock(self.conn, key)
                    raise

    def _batch(self) -> Batch:
        s, out = self.scope, Batch()
        for (ns, key), value in self.pending.kv.items():
            out.append((KV_DELETE, (s, ns, key)) if value is None else (KV_PUT, (s, ns, key, value)))
        for (cal, ref), (digest, when) in self.pending.writes.items():
            out.append((WRITE_PUT, (s, cal, ref, digest, when)))
        for rel, items in self.pending.items.items():
            for key, (row, _) in items.items():
                out.append((ITEM_PUT, (s, rel, key, row.owner, row.text, row.first_seen, row.done_at)))
        return out

    def _sent(self) -> None:
        for k, value in self.pending.kv.items():
            if value is None:
                self.kv.pop(k, None)
            else:
                self.kv[k] = value
        self.writes.update({k: digest for k, (digest, _) in self.pending.writes.items()})
        for rel, items in self.pending.items.items():
            self.items.setdefault(rel, {}).update(items)
        self.pending, self._mark = Changes(), Changes()

    # -- state ----------------------------------------------------------------------------

    def namespace(self, ns: str, durable: bool = False) -> KeyValue:
        """The owner's namespace ``ns``; ``durable``: each change sent at once."""
        return ViewNamespace(self, ns, durable)

    def get(self, ns: str, key: str) -> str | None:
        """A key-value as the run sees it."""
        k = (ns, key)
        return self.pending.kv[k] if k in self.pending.kv else self.kv.get(k)

    def put(self, ns: str, key: str, value: str | None, durable: bool) -> None:
        """Change a key-value (the same value: nothing); ``durable``: sent at once."""
        with self.mutex:
            if self.get(ns, key) == value:
                return
            if self.kv.get((ns, key)) == value:
                self.pending.kv.pop((ns, key))  # back to what is stored
            else:
                self.pending.kv[(ns, key)] = value
        if durable:
            self.checkpoint()

    def written_hash(self, calendar: str, ref: str) -> str | None:
        """What calsync last wrote to ``ref``."""
        k = (calendar, ref)
        return self.pending.writes[k][0] if k in self.pending.writes else self.writes.get(k)

    def record_write(self, calendar: str, ref: str, digest: str, when: datetime) -> None:
        """Remember a write, sent at once (a crash must not repeat it)."""
        with self.mutex:
            self.pending.writes[(calendar, ref)] = (digest, when)
        self.checkpoint()

    def action_items(self, relationship: str) -> list[ActionItemRow]:
        """The relationship's action items, oldest first."""
        found = {**self.items.get(relationship, {}), **self.pending.items.get(relationship, {})}
        return [row for row, _ in sorted(found.values(), key=lambda i: (i[0].first_seen, i[1]))]

    def upsert_action_item(self, relationship: str, key: str, owner: str | None, text: str,
                           seen: str, done: str | None) -> None:
        """As :meth:`calsync.app.store.Store.upsert_action_item`: unchanged items are not written."""
        with self.mutex:
            old = self.pending.items.get(relationship, {}).get(key) \
                or self.items.get(relationship, {}).get(key)
            if old is None:
                new = (ActionItemRow(key, owner, text, seen, done), next(self._new))
            else:
                row, seq = old
                if unchanged_item((row.owner, row.text, row.done_at), owner, text, done):
                    return
                new = (ActionItemRow(key, owner, text, row.first_seen, row.done_at or done), seq)
            self.pending.items.setdefault(relationship, {})[key] = new

    def log_run(self, started: datetime, finished: datetime, command: str, written: int,
                warnings: int, errors: int, exit_code: int) -> None:
        """Not logged per owner: the organisation run logs one line."""


class ViewNamespace:
    """One namespace of an owner's view."""

    def __init__(self, view: OwnerView, ns: str, durable: bool) -> None:
        self.view, self.ns, self.durable = view, ns, durable

    def get(self, key: str) -> str | None:
        """The value, or None."""
        return self.view.get(self.ns, key)

    def set(self, key: str, value: str | None) -> None:
        """Store (None: delete)."""
        self.view.put(self.ns, key, value, self.durable)


def unlock(conn: Conn, key: int) -> None:
    """Let go of an owner after a failure (a lost connection has let go of them already)."""
    if not conn.closed:
        with suppress(psycopg.Error):
            conn.execute(UNLOCK, (key,))


def atomic(batch: Batch) -> Batch:
    """Several changes in one transaction (one is atomic on its own)."""
    if len(batch) < 2:
        return batch
    return [("BEGIN", ()), *batch, ("COMMIT", ())]

