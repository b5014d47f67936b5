"""Load and validate the TOML config.

Every problem becomes one :class:`ConfigError` line naming the file, the key and what
is wrong. Relative paths are resolved against the config file's folder, so a config
and its calendars can travel together.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calsync.core.hours import WorkingHours, parse_hours
from calsync.errors import ConfigError

PROVIDERS = ("ics", "google", "microsoft")  # the ones `calsync init` offers
CALENDAR_PROVIDERS = (*PROVIDERS, "caldav")  # caldav: `calsync setup caldav` writes the entry
LANGUAGES = ("en", "ja")
SEND_UPDATES = ("none", "all", "externalOnly")


@dataclass(frozen=True)
class Owner:
    emails: tuple[str, ...]
    timezone: str | None = None
    working_hours: WorkingHours = field(default_factory=WorkingHours)  # make-up slots go here


@dataclass(frozen=True)
class Policy:
    """Cadence thresholds (brief, "Cadence"): opinions with evidence, hence configurable."""

    lookback_days: int = 180
    lookahead_days: int = 28
    recent_days: int = 56
    target_interval_days: float = 7
    max_interval_days: float = 14
    target_duration_min: float = 30
    max_duration_min: float = 45
    lapse_days: float = 28
    min_sessions: int = 3
    min_attendance: float = 0.6
    # deprecated: was "recent = the last N held"; now the window holds at least N held
    recent_sessions: int | None = None

    @property
    def recent_floor(self) -> int:
        """Held meetings the recent window is extended back to when it holds fewer."""
        return max(self.min_sessions, self.recent_sessions or 0)


@dataclass(frozen=True)
class Detection:
    include_counterparts: tuple[str, ...] = ()
    exclude_counterparts: tuple[str, ...] = ()
    include_titles: tuple[re.Pattern[str], ...] = ()
    exclude_titles: tuple[re.Pattern[str], ...] = ()
    min_adhoc_meetings: int = 3  # single meetings needed before a counterpart counts


@dataclass(frozen=True)
class Agenda:
    horizon_days: int = 7
    cadence_note: bool = False
    template: str = "default"  # or "grow"
    docs_dir: Path | None = None
    doc_url_template: str | None = None  # e.g. "https://wiki.example.com/1on1/{slug}"


@dataclass(frozen=True)
class Rescue:
    within_days: int = 5  # a skipped 1on1 with nothing planned this soon gets make-up slots


@dataclass(frozen=True)
class Pulse:
    enabled: bool = True  # a one-line pulse in each meeting's doc section, read back


@dataclass(frozen=True)
class CalendarConfig:
    """One configured calendar. Only the keys of its provider are meaningful."""

    name: str
    provider: str
    read_only: bool = False
    # ics
    path: Path | None = None
    # google
    calendar_id: str = "primary"
    client_secrets: Path | None = None
    api_url: str | None = None
    send_updates: str = "none"
    share_notify: bool = False
    attach_doc: bool = True
    # microsoft
    client_id: str | None = None
    tenant: str = "organizations"
    calendar: str | None = None
    authority_url: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    # google + microsoft
    token_file: Path | None = None
    # caldav (and `calendar`, the collection's name when `url` is not the collection)
    url: str | None = None
    username: str | None = None
    password_file: Path | None = None
    keyring: bool = False


@dataclass(frozen=True)
class Config:
    path: Path
    owner: Owner
    calendars: tuple[CalendarConfig, ...]
    policy: Policy = field(default_factory=Policy)
    detection: Detection = field(default_factory=Detection)
    agenda: Agenda = field(default_factory=Agenda)
    pulse: Pulse = field(default_factory=Pulse)
    rescue: Rescue = field(default_factory=Rescue)
    language: str = "en"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def default_config_path() -> Path:
    """``$CALSYNC_CONFIG``, else ``config.toml`` in the platform's user config dir."""
    env = os.environ.get("CALSYNC_CONFIG")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_path

    return user_config_path("calsync") / "config.toml"


def load(path: Path | None = None) -> Config:
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
    r = _Reader(path)
    r.known(data, "", {"owner", "calendars", "policy", "detection", "agenda", "pulse",
                   "rescue", "language"})
    owner = _owner(r, r.table(data, "owner", required=True))
    cals_raw = data.get("calendars")
    if not isinstance(cals_raw, list) or not cals_raw:
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
        raw=data,
    )


class _Reader:
    """Typed getters that fail with "file: key: problem"."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> Any:
        raise ConfigError(f"{self.path}: {key}: {problem}")

    def known(self, table: Mapping[str, Any], prefix: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                self.fail(prefix + key, f"unknown key (known: {hint})")

    def table(self, data: Mapping[str, Any], key: str, required: bool = False) -> dict[str, Any]:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(key, f"missing [{key}] table")
            return {}
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        return dict(value)

    def get(self, t: Mapping[str, Any], key: str, prefix: str, kind: type, default: Any) -> Any:
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
        value = self.get(t, key, prefix, kind, default)
        if value <= 0:
            self.fail(prefix + key, f"must be greater than 0, got {value}")
        return value

    def choice(
        self, t: Mapping[str, Any], key: str, prefix: str, options: tuple[str, ...], default: str
    ) -> str:
        value: str = self.get(t, key, prefix, str, default)
        if value not in options:
            self.fail(prefix + key, f"must be one of {', '.join(options)}; got {value!r}")
        return value

    def strings(self, t: Mapping[str, Any], key: str, prefix: str) -> tuple[str, ...]:
        value = t.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(prefix + key, "expected a list of strings")
        return tuple(value)

    def patterns(self, t: Mapping[str, Any], key: str, prefix: str) -> tuple[re.Pattern[str], ...]:
        out = []
        for p in self.strings(t, key, prefix):
            try:
                out.append(re.compile(p, re.IGNORECASE))
            except re.error as exc:
                self.fail(prefix + key, f"bad regular expression {p!r}: {exc}")
        return tuple(out)

    def path_(self, t: Mapping[str, Any], key: str, prefix: str) -> Path | None:
        value = self.get(t, key, prefix, str, None)
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.path.parent / p)

    def url(self, t: Mapping[str, Any], key: str, prefix: str, default: Any) -> Any:
        value = self.get(t, key, prefix, str, default)
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            self.fail(prefix + key, f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/") if isinstance(value, str) else value


def _email(r: _Reader, value: str, key: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
        r.fail(key, f"not an email address: {value!r}")
    return value.strip().lower()


def _owner(r: _Reader, t: Mapping[str, Any]) -> Owner:
    r.known(t, "owner.", {"email", "emails", "timezone", "working_hours"})
    emails = list(r.strings(t, "emails", "owner."))
    if "email" in t:
        emails.insert(0, r.get(t, "email", "owner.", str, ""))
    if not emails:
        r.fail("owner.email", "missing: the owner's address tells calsync who 'you' are")
    tz = r.get(t, "timezone", "owner.", str, None)
    if tz is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            r.fail("owner.timezone", f"unknown time zone {tz!r} (use an IANA name)")
    hours = WorkingHours()
    raw = r.get(t, "working_hours", "owner.", str, None)
    if raw is not None:
        parsed = parse_hours(raw)
        if parsed is None:
            r.fail("owner.working_hours", f"{raw!r} is not like \"09:00-18:00 Mon-Fri\"")
        assert parsed is not None
        hours = parsed
    return Owner(tuple(dict.fromkeys(_email(r, e, "owner.email") for e in emails)), tz, hours)


def _policy(r: _Reader, t: Mapping[str, Any]) -> Policy:
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


def _detection(r: _Reader, t: Mapping[str, Any]) -> Detection:
    p = "detection."
    r.known(t, p, set(Detection.__dataclass_fields__))
    return Detection(
        include_counterparts=tuple(
            _email(r, e, p + "include_counterparts")
            for e in r.strings(t, "include_counterparts", p)
        ),
        exclude_counterparts=tuple(
            _email(r, e, p + "exclude_counterparts")
            for e in r.strings(t, "exclude_counterparts", p)
        ),
        include_titles=r.patterns(t, "include_titles", p),
        exclude_titles=r.patterns(t, "exclude_titles", p),
        min_adhoc_meetings=r.positive(t, "min_adhoc_meetings", p, int, 3),
    )


def _agenda(r: _Reader, t: Mapping[str, Any]) -> Agenda:
    p = "agenda."
    r.known(t, p, set(Agenda.__dataclass_fields__))
    return Agenda(
        horizon_days=r.positive(t, "horizon_days", p, int, 7),
        cadence_note=r.get(t, "cadence_note", p, bool, False),
        template=r.choice(t, "template", p, ("default", "grow"), "default"),
        docs_dir=r.path_(t, "docs_dir", p),
        doc_url_template=_url_template(r, t, p),
    )


def _rescue(r: _Reader, t: Mapping[str, Any]) -> Rescue:
    p = "rescue."
    r.known(t, p, {"rescue_within_days"})
    return Rescue(within_days=r.positive(t, "rescue_within_days", p, int, 5))


def _pulse(r: _Reader, t: Mapping[str, Any]) -> Pulse:
    p = "pulse."
    r.known(t, p, set(Pulse.__dataclass_fields__))
    return Pulse(enabled=r.get(t, "enabled", p, bool, True))


def _url_template(r: _Reader, t: Mapping[str, Any], p: str) -> str | None:
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


_COMMON = {"name", "provider", "read_only"}
_KEYS = {
    "ics": _COMMON | {"path"},
    "google": _COMMON
    | {"calendar_id", "token_file", "client_secrets", "api_url", "send_updates",
       "share_notify", "attach_doc"},
    "microsoft": _COMMON
    | {"client_id", "tenant", "token_file", "calendar", "authority_url", "graph_url"},
    "caldav": _COMMON | {"url", "username", "password_file", "keyring", "calendar"},
}


def _calendar(r: _Reader, t: Any, i: int) -> CalendarConfig:
    p = f"calendars[{i}]."
    if not isinstance(t, dict):
        r.fail(f"calendars[{i}]", "must be a table ([[calendars]])")
    provider = r.get(t, "provider", p, str, "ics")
    if provider not in CALENDAR_PROVIDERS:
        r.fail(p + "provider",
               f"unknown provider {provider!r} (expected {', '.join(CALENDAR_PROVIDERS)})")
    r.known(t, p, _KEYS[provider])
    name = r.get(t, "name", p, str, None)
    if name is not None and not name.strip():
        r.fail(p + "name", "must not be empty (leave it out to use the default name)")
    common: dict[str, Any] = {
        "provider": provider,
        "read_only": r.get(t, "read_only", p, bool, False),
    }
    if provider == "ics":
        path = r.path_(t, "path", p)
        if path is None:
            r.fail(p + "path", "missing: an .ics file or a folder of .ics files")
        assert path is not None
        return CalendarConfig(name=name or path.stem, path=path, **common)
    home = _home_for_tokens()
    if provider == "caldav":
        return _caldav(r, t, p, name, home, common)
    if provider == "google":
        cal_id = r.get(t, "calendar_id", p, str, "primary")
        return CalendarConfig(
            name=name or f"google-{cal_id}",
            calendar_id=cal_id,
            token_file=r.path_(t, "token_file", p) or home / f"google-{_slug(cal_id)}.json",
            client_secrets=r.path_(t, "client_secrets", p),
            api_url=r.url(t, "api_url", p, None),
            send_updates=r.choice(t, "send_updates", p, SEND_UPDATES, "none"),
            share_notify=r.get(t, "share_notify", p, bool, False),
            attach_doc=r.get(t, "attach_doc", p, bool, True),
            **common,
        )
    client_id = r.get(t, "client_id", p, str, None)
    calendar = r.get(t, "calendar", p, str, None)
    return CalendarConfig(
        name=name or f"microsoft-{calendar or 'calendar'}",
        client_id=client_id,
        tenant=r.get(t, "tenant", p, str, "organizations"),
        calendar=calendar,
        token_file=r.path_(t, "token_file", p) or home / f"microsoft-{_slug(calendar or 'me')}.json",
        authority_url=r.url(t, "authority_url", p, "https://login.microsoftonline.com"),
        graph_url=r.url(t, "graph_url", p, "https://graph.microsoft.com/v1.0"),
        **common,
    )


def _caldav(r: _Reader, t: Mapping[str, Any], p: str, name: str | None, home: Path,
            common: dict[str, Any]) -> CalendarConfig:
    url = r.url(t, "url", p, None)
    username = r.get(t, "username", p, str, None)
    if url is None:
        r.fail(p + "url", "missing: the CalDAV server, principal or calendar URL")
    if not username:
        r.fail(p + "username", "missing: the login name on the CalDAV server")
    calendar = r.get(t, "calendar", p, str, None)
    name = name or f"caldav-{calendar or url.rsplit('/', 1)[-1] or 'calendar'}"
    return CalendarConfig(
        name=name, url=url + "/", username=username, calendar=calendar,
        password_file=r.path_(t, "password_file", p)
        or home / f"caldav-{_slug(name).removeprefix('caldav-')}.password",
        keyring=r.get(t, "keyring", p, bool, False), **common,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "default"


def _home_for_tokens() -> Path:
    from calsync.paths import data_dir

    return data_dir() / "tokens"
