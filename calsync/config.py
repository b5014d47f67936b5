"""Load and validate the TOML config.

Every problem becomes one :class:`ConfigError` line naming the file, the key and what
is wrong. Relative paths are resolved against the config file's folder, so a config
and its calendars can travel together.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calsync.backends.registry import BACKENDS, ORG_PROVIDERS, PROVIDERS, CalendarConfig
from calsync.config_reader import COMMON_KEYS, ORG_KEYS, OrgBase, Reader, email, name_of
from calsync.core.cadence import Policy
from calsync.core.detect import Detection
from calsync.core.hours import WorkingHours, parse_hours
from calsync.core.model import Owner
from calsync.errors import ConfigError

LANGUAGES = ("en", "ja")

__all__ = [
    "PROVIDERS", "LANGUAGES", "Agenda", "CalendarConfig", "Config", "Detection", "Owner",
    "Policy", "Pulse", "Rescue", "default_config_path", "load", "parse",
]


@dataclass(frozen=True)
class Agenda:
    """How the invite block and the pair's doc are written (``[agenda]``)."""

    horizon_days: int = 7
    cadence_note: bool = False
    template: str = "default"  # or "grow"
    docs_dir: Path | None = None
    doc_url_template: str | None = None  # e.g. "https://wiki.example.com/1on1/{slug}"


@dataclass(frozen=True)
class Rescue:
    """When a skipped 1on1 earns proposed make-up slots (``[rescue]``)."""

    within_days: int = 5  # a skipped 1on1 with nothing planned this soon gets make-up slots
    book: bool = False  # `run` books the first slot as a one-off event (calsync.app.book)


@dataclass(frozen=True)
class Pulse:
    """Whether each meeting's doc section asks the one-line pulse (``[pulse]``)."""

    enabled: bool = True  # a one-line pulse in each meeting's doc section, read back


@dataclass(frozen=True)
class Config:
    """The whole validated config: owner, calendars and every table's settings."""

    path: Path
    owner: Owner
    calendars: tuple[CalendarConfig, ...]
    policy: Policy = field(default_factory=Policy)
    detection: Detection = field(default_factory=Detection)
    agenda: Agenda = field(default_factory=Agenda)
    pulse: Pulse = field(default_factory=Pulse)
    rescue: Rescue = field(default_factory=Rescue)
    language: str = "en"
    state_url: str | None = None  # postgresql://… : shared state (calsync.app.store_pg)
    organizations: tuple[OrgBase, ...] = ()  # [[organizations]]: many owners (calsync.app.fleet)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def default_config_path() -> Path:
    """``$CALSYNC_CONFIG``, else ``config.toml`` in the platform's user config dir."""
    env = os.environ.get("CALSYNC_CONFIG")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_path

    return user_config_path("calsync") / "config.toml"


def load(path: Path | None = None) -> Config:
    """Read and validate the config file (``path``, else the default one); ConfigError on any problem."""
    path = (path or default_config_path()).expanduser()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found (copy config.example.toml, or pass --config)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse(data, path)


def parse(data: Mapping[str, Any], path: Path) -> Config:
    """Validate an already-parsed TOML document (``path`` names it in errors)."""
    r = Reader(path)
    r.known(data, "", {"owner", "calendars", "policy", "detection", "agenda", "pulse",
                   "rescue", "language", "state_url", "organizations"})
    orgs = _organizations(r, data.get("organizations"))
    personal = not orgs or "owner" in data or "calendars" in data
    owner = _owner(r, r.table(data, "owner", required=True)) if personal else Owner(())
    cals_raw = data.get("calendars", [] if not personal else None)
    if not isinstance(cals_raw, list) or (personal and not cals_raw):
        r.fail("calendars", "at least one [[calendars]] entry is required")
    assert isinstance(cals_raw, list)
    calendars = tuple(_calendar(r, c, i) for i, c in enumerate(cals_raw))
    names = [c.name for c in calendars]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        r.fail("calendars", f"duplicate calendar name {sorted(dup)[0]!r}; give each a `name`")
    language = r.choice(data, "language", "", LANGUAGES, "en")
    return Config(
        path=path,
        owner=owner,
        calendars=calendars,
        policy=_policy(r, r.table(data, "policy")),
        detection=_detection(r, r.table(data, "detection")),
        agenda=_agenda(r, r.table(data, "agenda")),
        pulse=_pulse(r, r.table(data, "pulse")),
        rescue=_rescue(r, r.table(data, "rescue")),
        language=language,
        state_url=_state_url(r, data),
        organizations=orgs,
        raw=data,
    )


def _state_url(r: Reader, data: Mapping[str, Any]) -> str | None:
    url: str | None = r.get(data, "state_url", "", str, None)
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        r.fail("state_url", "expected a URL like postgresql://user@host/database")
    return url


def _organizations(r: Reader, raw: Any) -> tuple[OrgBase, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        r.fail("organizations", "must be a list of tables ([[organizations]])")
    orgs = tuple(_organization(r, t, i) for i, t in enumerate(raw))
    names = [o.name for o in orgs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        r.fail("organizations", f"duplicate organization name {sorted(dup)[0]!r}; give each a `name`")
    return orgs


def _organization(r: Reader, t: Any, i: int) -> OrgBase:
    """One ``[[organizations]]`` entry: the common keys here, the login's in its backend."""
    p = f"organizations[{i}]."
    if not isinstance(t, dict):
        r.fail(f"organizations[{i}]", "must be a table ([[organizations]])")
    provider = r.get(t, "provider", p, str, None)
    if provider not in ORG_PROVIDERS:
        r.fail(p + "provider", f"expected one of {', '.join(ORG_PROVIDERS)}, got {provider!r}")
    schema = BACKENDS[provider].org
    assert schema is not None
    r.known(t, p, ORG_KEYS | schema.keys)
    name = name_of(r, t, p) or provider
    if "/" in name:
        r.fail(p + "name", f"must not contain '/' (owners are named {name!r}/address), got {name!r}")
    members = tuple(email(r, e, p + "members") for e in r.strings(t, "members", p))
    groups = r.strings(t, "groups", p)
    directory = r.get(t, "directory", p, bool, False)
    if not (members or groups or directory):
        r.fail(p + "members", "say who the owners are: members, groups or directory = true")
    filter_: str | None = r.get(t, "filter", p, str, None)
    if filter_ is not None and not directory:
        r.fail(p + "filter", "narrows the directory: set directory = true too")
    zone: str | None = r.get(t, "timezone", p, str, None)
    if zone is not None:
        _zone(r, p + "timezone", zone)
    hours: str | None = r.get(t, "working_hours", p, str, None)
    if hours is not None and parse_hours(hours) is None:
        r.fail(p + "working_hours", f"{hours!r} is not like \"09:00-18:00 Mon-Fri\"")
    common = OrgBase(
        name=name, provider=provider, read_only=r.get(t, "read_only", p, bool, False),
        members=tuple(dict.fromkeys(members)), groups=groups, directory=directory, filter=filter_,
        exclude=tuple(email(r, e, p + "exclude") for e in r.strings(t, "exclude", p)),
        timezone=zone, working_hours=hours,
        concurrency=r.positive(t, "concurrency", p, int, 16),
    )
    return schema.parse(r, t, p, common)  # type: ignore[no-any-return]


def _zone(r: Reader, key: str, tz: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        r.fail(key, f"unknown time zone {tz!r} (use an IANA name)")


def _owner(r: Reader, t: Mapping[str, Any]) -> Owner:
    r.known(t, "owner.", {"email", "emails", "timezone", "working_hours"})
    emails = list(r.strings(t, "emails", "owner."))
    if "email" in t:
        emails.insert(0, r.get(t, "email", "owner.", str, ""))
    if not emails:
        r.fail("owner.email", "missing: the owner's address tells calsync who 'you' are")
    tz = r.get(t, "timezone", "owner.", str, None)
    if tz is not None:
        _zone(r, "owner.timezone", tz)
    hours = WorkingHours()
    raw = r.get(t, "working_hours", "owner.", str, None)
    if raw is not None:
        parsed = parse_hours(raw)
        if parsed is None:
            r.fail("owner.working_hours", f"{raw!r} is not like \"09:00-18:00 Mon-Fri\"")
        assert parsed is not None
        hours = parsed
    return Owner(tuple(dict.fromkeys(email(r, e, "owner.email") for e in emails)), tz, hours)


def _policy(r: Reader, t: Mapping[str, Any]) -> Policy:
    p = "policy."
    d = Policy()
    r.known(t, p, set(Policy.__dataclass_fields__))
    policy = Policy(
        lookback_days=r.positive(t, "lookback_days", p, int, d.lookback_days),
        lookahead_days=r.positive(t, "lookahead_days", p, int, d.lookahead_days),
        recent_days=r.positive(t, "recent_days", p, int, d.recent_days),
        recent_sessions=r.positive(t, "recent_sessions", p, int, None)
        if "recent_sessions" in t else None,
        target_interval_days=r.positive(t, "target_interval_days", p, float, d.target_interval_days),
        max_interval_days=r.positive(t, "max_interval_days", p, float, d.max_interval_days),
        target_duration_min=r.positive(t, "target_duration_min", p, float, d.target_duration_min),
        max_duration_min=r.positive(t, "max_duration_min", p, float, d.max_duration_min),
        lapse_days=r.positive(t, "lapse_days", p, float, d.lapse_days),
        min_sessions=r.positive(t, "min_sessions", p, int, d.min_sessions),
        min_attendance=r.get(t, "min_attendance", p, float, d.min_attendance),
    )
    if not 0 <= policy.min_attendance <= 1:
        r.fail(p + "min_attendance", f"must be between 0 and 1, got {policy.min_attendance}")
    if policy.max_interval_days < policy.target_interval_days:
        r.fail(p + "max_interval_days", "must not be smaller than target_interval_days")
    if policy.max_duration_min < policy.target_duration_min:
        r.fail(p + "max_duration_min", "must not be smaller than target_duration_min")
    if policy.min_sessions < 2:
        r.fail(p + "min_sessions", "must be at least 2 (an interval needs two meetings)")
    return policy


def _detection(r: Reader, t: Mapping[str, Any]) -> Detection:
    p = "detection."
    r.known(t, p, set(Detection.__dataclass_fields__))
    return Detection(
        include_counterparts=tuple(
            email(r, e, p + "include_counterparts")
            for e in r.strings(t, "include_counterparts", p)
        ),
        exclude_counterparts=tuple(
            email(r, e, p + "exclude_counterparts")
            for e in r.strings(t, "exclude_counterparts", p)
        ),
        include_titles=r.patterns(t, "include_titles", p),
        exclude_titles=r.patterns(t, "exclude_titles", p),
        min_adhoc_meetings=r.positive(t, "min_adhoc_meetings", p, int, 3),
    )


def _agenda(r: Reader, t: Mapping[str, Any]) -> Agenda:
    p = "agenda."
    r.known(t, p, set(Agenda.__dataclass_fields__))
    return Agenda(
        horizon_days=r.positive(t, "horizon_days", p, int, 7),
        cadence_note=r.get(t, "cadence_note", p, bool, False),
        template=r.choice(t, "template", p, ("default", "grow"), "default"),
        docs_dir=r.path_(t, "docs_dir", p),
        doc_url_template=_url_template(r, t, p),
    )


def _rescue(r: Reader, t: Mapping[str, Any]) -> Rescue:
    p = "rescue."
    r.known(t, p, {"rescue_within_days", "book"})
    return Rescue(within_days=r.positive(t, "rescue_within_days", p, int, 5),
                  book=r.get(t, "book", p, bool, False))


def _pulse(r: Reader, t: Mapping[str, Any]) -> Pulse:
    p = "pulse."
    r.known(t, p, set(Pulse.__dataclass_fields__))
    return Pulse(enabled=r.get(t, "enabled", p, bool, True))


def _url_template(r: Reader, t: Mapping[str, Any], p: str) -> str | None:
    value: str | None = r.get(t, "doc_url_template", p, str, None)
    if value is None:
        return None
    import string

    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
    except ValueError as exc:
        return r.fail(p + "doc_url_template", f"not a valid template: {exc}")  # type: ignore[no-any-return]
    unknown = fields - {"slug", "counterpart", "file"}
    if unknown:
        r.fail(p + "doc_url_template",
               f"unknown placeholder {{{sorted(unknown)[0]}}} (use {{slug}}, {{counterpart}}, {{file}})")
    return value


def _calendar(r: Reader, t: Any, i: int) -> CalendarConfig:
    p = f"calendars[{i}]."
    if not isinstance(t, dict):
        r.fail(f"calendars[{i}]", "must be a table ([[calendars]])")
    provider = r.get(t, "provider", p, str, "ics")
    if provider not in BACKENDS:
        r.fail(p + "provider", f"unknown provider {provider!r} (expected {', '.join(PROVIDERS)})")
    schema = BACKENDS[provider].schema
    r.known(t, p, COMMON_KEYS | schema.keys)
    name = name_of(r, t, p)
    cal: CalendarConfig = schema.parse(r, t, p, name, r.get(t, "read_only", p, bool, False))
    return cal
