"""Which state store a config asks for: SQLite under ``CALSYNC_HOME`` unless ``state_url``
names a PostgreSQL database (then psycopg is imported, and only then)."""

from __future__ import annotations

import stat

from calsync.app.store import StateStore, Store
from calsync.app.store_owners import OwnerStores, SqliteOwners
from calsync.config import Config
from calsync.errors import ConfigError
from calsync.paths import data_dir


def open_store(config: Config) -> StateStore:
    """The store the config names: PostgreSQL for ``state_url``, else SQLite under ``CALSYNC_HOME``.
    A password in ``state_url`` requires the config to be private (0600)."""
    if config.state_url is None:
        return Store(data_dir() / "state.sqlite3")
    from calsync.app.store_pg import PgStore, redact

    if redact(config.state_url) != config.state_url:
        _private_config(config)
    return PgStore(config.state_url, scope=config.owner.emails[0])


def open_owner_stores(config: Config) -> OwnerStores:
    """Every organisation owner's state: in the SQLite file under ``CALSYNC_HOME`` unless
    ``state_url`` names a PostgreSQL database (shared by runners, a lock per owner); the
    password rule is :func:`open_store`'s."""
    if config.state_url is None:
        return SqliteOwners(data_dir() / "state.sqlite3")
    from calsync.app.store_pg import redact
    from calsync.app.store_pg_owners import PgOwners

    if redact(config.state_url) != config.state_url:
        _private_config(config)
    return PgOwners(config.state_url)


def _private_config(config: Config) -> None:
    """A password in ``state_url`` is a secret: the config holding it must be 0600 like
    every other secret calsync reads."""
    try:
        mode = stat.S_IMODE(config.path.stat().st_mode)
    except OSError:
        return  # read a moment ago; whatever happened, the connection will say
    if mode & 0o077:
        raise ConfigError(
            f"{config.path}: state_url holds a password but the file is readable by others "
            f"(mode {mode:04o}): chmod 600 it, or move the password to ~/.pgpass"
        )
