"""calsync's state in PostgreSQL (``state_url``), so runners on several machines share it.

The same tables as the SQLite store, each row tagged with the owner it belongs to
(``scope``), so owners can share one database. The lock is a session-level advisory
lock on a hash of the owner's address: held on this store's connection, so a runner
that dies lets go of it with its connection, and a second runner on any machine sees
the lock and exits without writing. Every statement commits at once (autocommit) unless
inside :meth:`PgStore.transaction`.

The password: libpq reads it from ``~/.pgpass`` or ``PGPASSFILE`` (a 0600 file), which
keeps it out of the config; one written into ``state_url`` works too, but is never
printed: errors name the URL without it (:func:`redact`). psycopg is imported only here,
and this module only when ``state_url`` is set.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, LiteralString
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psycopg

from calsync.app.store import ActionItemRow, Phases
from calsync.errors import ConfigError, LockedError, ProviderError

SCHEMA: tuple[LiteralString, ...] = (
    "CREATE TABLE IF NOT EXISTS calsync_kv (scope TEXT, ns TEXT, key TEXT, value TEXT NOT NULL, "
    "PRIMARY KEY (scope, ns, key))",
    "CREATE TABLE IF NOT EXISTS calsync_writes (scope TEXT, calendar TEXT, ref TEXT, hash TEXT, "
    "written_at TIMESTAMPTZ, PRIMARY KEY (scope, calendar, ref))",
    "CREATE TABLE IF NOT EXISTS calsync_action_items (scope TEXT, relationship TEXT, key TEXT, "
    "owner TEXT, text TEXT, first_seen TEXT, done_at TEXT, seq BIGSERIAL, "
    "PRIMARY KEY (scope, relationship, key))",
    "CREATE TABLE IF NOT EXISTS calsync_runs (scope TEXT, started_at TIMESTAMPTZ, "
    "finished_at TIMESTAMPTZ, command TEXT, written INTEGER, warnings INTEGER, errors INTEGER, "
    "exit_code INTEGER)",
)
_SCHEMA_LOCK = 0x6361_6C73_796E_63  # "calsync": two first runs create the tables one at a time

# The statements both stores send (this one, and calsync.app.store_pg_owners).
LOCK: LiteralString = "SELECT pg_try_advisory_lock(%s)"
UNLOCK: LiteralString = "SELECT pg_advisory_unlock(%s)"
HOLDER: LiteralString = (
    "SELECT a.application_name, a.client_addr FROM pg_locks l "
    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
    "AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid AND l.objsubid = 1 "
    "AND l.granted")
KV_GET: LiteralString = "SELECT value FROM calsync_kv WHERE scope=%s AND ns=%s AND key=%s"
KV_DELETE: LiteralString = "DELETE FROM calsync_kv WHERE scope=%s AND ns=%s AND key=%s"
KV_PUT: LiteralString = ("INSERT INTO calsync_kv VALUES (%s, %s, %s, %s) ON CONFLICT (scope, ns, key) "
                         "DO UPDATE SET value=excluded.value")
WRITE_GET: LiteralString = "SELECT hash FROM calsync_writes WHERE scope=%s AND calendar=%s AND ref=%s"
WRITE_PUT: LiteralString = (
    "INSERT INTO calsync_writes VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope, calendar, ref) "
    "DO UPDATE SET hash=excluded.hash, written_at=excluded.written_at")
ITEMS_GET: LiteralString = (
    "SELECT key, owner, text, first_seen, done_at FROM calsync_action_items "
    "WHERE scope=%s AND relationship=%s ORDER BY first_seen, seq")
ITEM_GET: LiteralString = ("SELECT owner, text, done_at FROM calsync_action_items "
                           "WHERE scope=%s AND relationship=%s AND key=%s")
ITEM_PUT: LiteralString = (
    "INSERT INTO calsync_action_items (scope, relationship, key, owner, text, first_seen, done_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (scope, relationship, key) DO UPDATE SET "
    "owner=excluded.owner, text=excluded.text, "
    "done_at=COALESCE(calsync_action_items.done_at, excluded.done_at)")
RUN_PUT: LiteralString = "INSERT INTO calsync_runs VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"


def unchanged_item(row: tuple[Any, ...] | None, owner: str | None, text: str,
                   done: str | None) -> bool:
    """Whether a stored item ``(owner, text, done_at)`` needs no write for this sighting."""
    return row is not None and (row[0], row[1]) == (owner, text) and bool(row[2] or not done)


class Link:
    """How to reach the database named by a ``state_url`` without ever showing its password:
    connections (the tables created on the first), and psycopg's errors as one clean line."""

    def __init__(self, url: str, connect_timeout: int = 10) -> None:
        self.url, self.shown, self._secrets = url, redact(url), _secrets(url)
        try:
            given = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise ConfigError(f"state_url: not a PostgreSQL URL ({self.line(exc)})") from None
        self._extra: dict[str, Any] = {
            "autocommit": True, "application_name": f"calsync {os.getpid()}@{socket.gethostname()}"}
        if "connect_timeout" not in given:
            self._extra["connect_timeout"] = connect_timeout
        self._schema = False

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A new autocommit connection; the first one also creates the tables."""
        try:
            db = psycopg.connect(self.url, **self._extra)
        except psycopg.Error as exc:
            raise ProviderError(f"{self.shown}: cannot open calsync state: {self.line(exc)}") from None
        if self._schema:
            return db
        try:
            with self.errors("cannot set up calsync state"), db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for statement in SCHEMA:
                    db.execute(statement)
        except ProviderError:
            db.close()
            raise
        self._schema = True
        return db

    def line(self, exc: BaseException) -> str:
        """The error as one line, the password scrubbed."""
        text = " ".join(str(exc).split())
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text or type(exc).__name__

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """psycopg's errors in the block as one ProviderError naming the database."""
        try:
            yield
        except psycopg.Error as exc:
            raise ProviderError(f"{self.shown}: {doing}: {self.line(exc)}") from None

    def locked(self, scope: str, holder: str) -> LockedError:
        """The error for an owner another runner holds."""
        return LockedError(f"another calsync run ({holder}) holds the lock for "
                           f"{scope} in {self.shown}; this run exits without writing")


def holder_name(rows: list[tuple[Any, ...]]) -> str:
    """Who holds a lock, from :data:`HOLDER`'s rows."""
    if not rows:
        return "?"
    name, addr = rows[0]
    return f"{name or '?'}{f' from {addr}' if addr else ''}"


def redact(url: str) -> str:
    """``url`` without its password (in the user part or a ``password=`` parameter)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def lock_key(scope: str) -> int:
    """A stable 63-bit key for ``pg_try_advisory_lock`` (non-negative: two oids in pg_locks)."""
    return int.from_bytes(hashlib.sha256(b"calsync-run:" + scope.encode()).digest()[:8], "big") >> 1


class PgStore(Phases):
    """A :class:`calsync.app.store.StateStore` in PostgreSQL, for one owner (``scope``)."""

    def __init__(self, url: str, scope: str, connect_timeout: int = 10) -> None:
        self.link = Link(url, connect_timeout)
        self.url, self.shown, self.scope = url, self.link.shown, scope.lower()
        self.db = self.link.connect()

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def _rows(self, sql: LiteralString, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self.link.errors("calsync state"):
            cur = self.db.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def _sql(self, statement: str) -> None:
        self._rows(statement, ())  # type: ignore[arg-type]

    def _abort(self) -> None:
        with suppress(psycopg.Error):  # a lost connection has rolled back already
            self.db.execute("ROLLBACK")

    @contextmanager
    def lock(self) -> Iterator[None]:
        """This owner's advisory lock, for as long as the block runs (or the connection lives)."""
        key = lock_key(self.scope)
        if not self._rows(LOCK, (key,))[0][0]:
            raise self.link.locked(self.scope, holder_name(
                self._rows(HOLDER, (key >> 32, key & 0xFFFFFFFF))))
        try:
            yield
        finally:
            with suppress(psycopg.Error):  # a lost connection has let go of it already
                self.db.execute(UNLOCK, (key,))

    # -- namespaced key-values (calsync.core.state.KeyValue) ---------------------------------

    def namespace(self, ns: str, durable: bool = False) -> PgNamespace:
        """One namespace; ``durable``: every change is committed at once (as in Store)."""
        return PgNamespace(self, ns, durable)

    # -- writes -------------------------------------------------------------------------

    def written_hash(self, calendar: str, ref: str) -> str | None:
        """The hash last recorded for ``ref``, if any."""
        rows = self._rows(WRITE_GET, (self.scope, calendar, ref))
        return str(rows[0][0]) if rows else None

    def record_write(self, calendar: str, ref: str, digest: str, when: datetime) -> None:
        """Record what was just written to ``ref``, committed at once."""
        self._rows(WRITE_PUT, (self.scope, calendar, ref, digest, when))
        self.checkpoint()

    # -- action items -------------------------------------------------------------------

    def action_items(self, relationship: str) -> list[ActionItemRow]:
        """A relationship's action items, oldest first."""
        rows = self._rows(ITEMS_GET, (self.scope, relationship))
        return [ActionItemRow(*r) for r in rows]

    def upsert_action_item(
        self, relationship: str, key: str, owner: str | None, text: str, seen: str, done: str | None
    ) -> None:
        """As :meth:`calsync.app.store.Store.upsert_action_item`: unchanged items are not written."""
        rows = self._rows(ITEM_GET, (self.scope, relationship, key))
        if unchanged_item(rows[0] if rows else None, owner, text, done):
            return
        self._rows(ITEM_PUT, (self.scope, relationship, key, owner, text, seen, done))

    # -- run log ------------------------------------------------------------------------

    def log_run(self, started: datetime, finished: datetime, command: str, written: int,
                warnings: int, errors: int, exit_code: int) -> None:
        """Append one line to this owner's run log."""
        self._rows(RUN_PUT, (self.scope, started, finished, command, written, warnings, errors, exit_code))


class PgNamespace:
    """A :class:`calsync.core.state.KeyValue` over one namespace of one owner's state."""

    def __init__(self, store: PgStore, ns: str, durable: bool = False) -> None:
        self.store, self.ns, self.durable = store, ns, durable

    def get(self, key: str) -> str | None:
        """The value, or None when the key is not set."""
        rows = self.store._rows(KV_GET, (self.store.scope, self.ns, key))
        return str(rows[0][0]) if rows else None

    def set(self, key: str, value: str | None) -> None:
        """Store (None: delete) the value; storing the value already there writes nothing."""
        if self.get(key) == value:
            return
        if value is None:
            self.store._rows(KV_DELETE, (self.store.scope, self.ns, key))
        else:
            self.store._rows(KV_PUT, (self.store.scope, self.ns, key, value))
        if self.durable:
            self.store.checkpoint()


def _secrets(url: str) -> list[str]:
    """The password as written in the URL and decoded, to scrub from any error text."""
    found = [v for k, v in parse_qsl(urlsplit(url).query) if k == "password"]
    netloc = urlsplit(url).netloc
    if "@" in netloc and ":" in netloc.rsplit("@", 1)[0]:
        raw = netloc.rsplit("@", 1)[0].split(":", 1)[1]
        found += [raw, unquote(raw)]
    return [s for s in found if s]
