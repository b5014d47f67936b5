"""The typed TOML getters every config schema is built from, and the keys all calendars share.

config.py parses the shared tables with these; each backend's ``config.py`` parses its
own ``[[calendars]]`` keys with them, so every error reads the same: "file: key: problem".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from calsync.errors import ConfigError

COMMON_KEYS = frozenset({"name", "provider", "read_only"})


@dataclass(frozen=True, kw_only=True)
class CalendarBase:
    """What every configured calendar has, whatever its provider."""

    name: str
    read_only: bool = False


C = TypeVar("C", bound=CalendarBase, covariant=True)


@dataclass(frozen=True)
class Schema(Generic[C]):
    """One backend's ``[[calendars]]`` keys and the parser that turns them into its config.

    ``parse(reader, table, prefix, name, read_only)`` gets ``name`` as written (None: the
    backend picks its default) and returns the backend's frozen config.
    """

    keys: frozenset[str]  # its own keys; COMMON_KEYS are always allowed
    parse: Callable[[Reader, Mapping[str, Any], str, str | None, bool], C]


class Reader:
    """Typed getters that fail with "file: key: problem"."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> Any:
        """Raise the one-line error for ``key``."""
        raise ConfigError(f"{self.path}: {key}: {problem}")

    def known(self, table: Mapping[str, Any], prefix: str, allowed: Set[str]) -> None:
        """Refuse a key outside ``allowed`` (a typo would otherwise be silently ignored)."""
        for key in table:
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                self.fail(prefix + key, f"unknown key (known: {hint})")

    def table(self, data: Mapping[str, Any], key: str, required: bool = False) -> dict[str, Any]:
        """The sub-table ``key`` (empty when absent)."""
        value = data.get(key)
        if value is None:
            if required:
                self.fail(key, f"missing [{key}] table")
            return {}
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        return dict(value)

    def get(self, t: Mapping[str, Any], key: str, prefix: str, kind: type, default: Any) -> Any:
        """``t[key]`` checked to be a ``kind`` (an int is taken as a float), else ``default``."""
        if key not in t:
            return default
        value = t[key]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self.fail(prefix + key, f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    def positive(self, t: Mapping[str, Any], key: str, prefix: str, kind: type, default: Any) -> Any:
        """Like :meth:`get`, for a number that must be above 0."""
        value = self.get(t, key, prefix, kind, default)
        if value <= 0:
            self.fail(prefix + key, f"must be greater than 0, got {value}")
        return value

    def choice(
        self, t: Mapping[str, Any], key: str, prefix: str, options: tuple[str, ...], default: str
    ) -> str:
        """Like :meth:`get`, for a string that must be one of ``options``."""
        value: str = self.get(t, key, prefix, str, default)
        if value not in options:
            self.fail(prefix + key, f"must be one of {', '.join(options)}; got {value!r}")
        return value

    def strings(self, t: Mapping[str, Any], key: str, prefix: str) -> tuple[str, ...]:
        """A string or a list of strings, as a tuple."""
        value = t.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(prefix + key, "expected a list of strings")
        return tuple(value)

    def patterns(self, t: Mapping[str, Any], key: str, prefix: str) -> tuple[re.Pattern[str], ...]:
        """A list of case-insensitive regular expressions, compiled."""
        out = []
        for p in self.strings(t, key, prefix):
            try:
                out.append(re.compile(p, re.IGNORECASE))
            except re.error as exc:
                self.fail(prefix + key, f"bad regular expression {p!r}: {exc}")
        return tuple(out)

    def path_(self, t: Mapping[str, Any], key: str, prefix: str) -> Path | None:
        """A path, resolved against the config file's folder when relative."""
        value = self.get(t, key, prefix, str, None)
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.path.parent / p)

    def url(self, t: Mapping[str, Any], key: str, prefix: str, default: Any) -> Any:
        """An http(s) URL without its trailing slash."""
        value = self.get(t, key, prefix, str, default)
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            self.fail(prefix + key, f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/") if isinstance(value, str) else value


def email(r: Reader, value: str, key: str) -> str:
    """``value`` lower-cased, after checking it looks like an address."""
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
        r.fail(key, f"not an email address: {value!r}")
    return value.strip().lower()


def name_of(r: Reader, t: Mapping[str, Any], prefix: str) -> str | None:
    """The calendar's ``name`` if given; the backend picks a default when it is None."""
    name: str | None = r.get(t, "name", prefix, str, None)
    if name is not None and not name.strip():
        r.fail(prefix + "name", "must not be empty (leave it out to use the default name)")
    return name


def slug(text: str) -> str:
    """A file-name-safe form of ``text`` (token files are named after calendars)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "default"


def token_home() -> Path:
    """Where login tokens live unless a calendar names its own ``token_file``."""
    from calsync.paths import data_dir

    return data_dir() / "tokens"


ORG_KEYS = frozenset({
    "name", "provider", "read_only", "members", "groups", "directory", "filter", "exclude",
    "timezone", "working_hours", "concurrency",
})


@dataclass(frozen=True, kw_only=True)
class OrgBase:
    """What every ``[[organizations]]`` entry has, whatever its provider: who the owners
    are (explicit addresses, groups expanded transitively, or the directory with a
    provider-native filter, minus ``exclude``), their defaults, and how many requests may
    be in flight at once. A backend's own org config subclasses it with its login keys."""

    name: str
    provider: str
    read_only: bool = False
    members: tuple[str, ...] = ()  # addresses, lower-cased
    groups: tuple[str, ...] = ()  # group addresses or ids, members listed transitively
    directory: bool = False  # every enabled user of the directory (narrowed by ``filter``)
    filter: str | None = None  # the provider's own filter syntax (Graph $filter, Admin SDK query)
    exclude: tuple[str, ...] = ()
    timezone: str | None = None  # the owners' default time zone (IANA)
    working_hours: str | None = None  # the owners' default, e.g. "09:00-18:00 Mon-Fri"
    concurrency: int = 16  # requests in flight at once for this organisation

    def common(self) -> dict[str, Any]:
        """The common fields as keywords, for a backend's subclass to be built from."""
        from dataclasses import fields

        return {f.name: getattr(self, f.name) for f in fields(OrgBase)}


G = TypeVar("G", bound=OrgBase, covariant=True)


@dataclass(frozen=True)
class OrgSchema(Generic[G]):
    """One backend's own ``[[organizations]]`` keys and their parser:
    ``parse(reader, table, prefix, common)`` returns the backend's org config."""

    keys: frozenset[str]  # its own keys; ORG_KEYS are always allowed
    parse: Callable[[Reader, Mapping[str, Any], str, OrgBase], G]
