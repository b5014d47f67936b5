"""``calsync init``: a first, commented config from a few answers.

The answers come from flags or prompts; the text is rendered here, checked with calsync's
own config parser before it is written, and never replaces an existing file unless asked.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from calsync.app.config_edit import _value as toml_value
from calsync.config import LANGUAGES, PROVIDERS, parse
from calsync.errors import ConfigError

INIT_PROVIDERS = tuple(p for p in PROVIDERS if p != "caldav")  # caldav: `calsync setup caldav`


@dataclass(frozen=True)
class Answers:
    """What ``calsync init`` needs to write a config, from flags or prompts."""

    owners: tuple[str, ...]
    timezone: str | None
    language: str
    provider: str
    ics_path: Path | None = None
    client_secrets: Path | None = None
    client_id: str | None = None


def local_timezone() -> str | None:
    """The system's IANA zone name, when it can be told: $TZ, /etc/localtime, /etc/timezone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.readlink("/etc/localtime")
        candidates.append(target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "")
    except OSError:
        pass
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    for name in candidates:
        if name and "/" in name or name == "UTC":
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return name
    return None


def split_addresses(text: str) -> tuple[str, ...]:
    """The addresses in a comma- or semicolon-separated list, blanks dropped."""
    return tuple(a for a in (p.strip() for p in text.replace(";", ",").split(",")) if a)


Prompt = Callable[..., object]


def ask(given: Answers, prompt: Prompt) -> Answers:
    """Fill what the flags left open by asking (``prompt`` has click.prompt's signature)."""
    import click

    owners = given.owners or split_addresses(
        str(prompt("Your email address (several: separate with commas)"))
    )
    timezone = given.timezone or str(
        prompt("Your time zone (IANA name)", default=local_timezone() or "UTC")
    )
    language = given.language or str(
        prompt("Language of the agenda", default="en", type=click.Choice(LANGUAGES))
    )
    provider = given.provider or str(
        prompt("Your first calendar", default="ics", type=click.Choice(INIT_PROVIDERS))
    )
    ics_path, secrets, client_id = given.ics_path, given.client_secrets, given.client_id
    if provider == "ics" and ics_path is None:
        ics_path = Path(str(prompt("Path of an .ics file or a folder of .ics files")))
    if provider == "google" and secrets is None:
        text = str(prompt("OAuth client file of your Google Cloud \"Desktop app\" "
                          "(empty: give it to `calsync setup google` later)", default=""))
        secrets = Path(text) if text else None
    if provider == "microsoft" and not client_id:
        client_id = str(prompt("Application (client) ID of your app registration"))
    return Answers(owners, timezone, language, provider, ics_path, secrets, client_id)


def absolute(a: Answers) -> Answers:
    """Paths as absolute: relative ones in the config would be read from its own folder."""
    from dataclasses import replace

    def fix(p: Path | None) -> Path | None:
        return None if p is None else p.expanduser().absolute()

    return replace(a, ics_path=fix(a.ics_path), client_secrets=fix(a.client_secrets))


def missing(answers: Answers) -> str | None:
    """The flag a non-interactive init lacks, as a one-line hint, or None."""
    if not answers.owners:
        return "--owner ADDRESS is needed (repeat it for several addresses)"
    if not answers.provider:
        return "a first calendar is needed: --ics PATH, --google or --microsoft"
    if answers.provider == "microsoft" and not answers.client_id:
        return ("--client-id ID is needed with --microsoft (the Application (client) ID of "
                "your app registration; see docs/microsoft.md)")
    if answers.provider == "ics" and answers.ics_path is None:
        return "--ics PATH is needed"
    return None


def _owner_lines(a: Answers) -> list[str]:
    lines = ["[owner]",
             "# Who \"you\" are: your address(es) are never counted as the other person."]
    if len(a.owners) == 1:
        lines.append(f"email = {toml_value(a.owners[0])}")
    else:
        lines.append(f"emails = {toml_value(list(a.owners))}")
    lines.append("# Zone for floating times and for --now without an offset (IANA name).")
    if a.timezone:
        lines.append(f"timezone = {toml_value(a.timezone)}")
    else:
        lines.append('# timezone = "Europe/Berlin"')
    return lines


def _calendar_lines(a: Answers) -> list[str]:
    if a.provider == "ics":
        assert a.ics_path is not None
        return ["# A local iCalendar file, or a folder of .ics files. Needs no account.",
                "[[calendars]]", 'provider = "ics"', f"path = {toml_value(a.ics_path)}",
                "# name = \"work\"          # default: the file name; names must be unique",
                "# read_only = false      # true: detect and warn, never write"]
    if a.provider == "google":
        lines = ["# Google Calendar: `calsync setup google` logs in and completes this entry.",
                 "[[calendars]]", 'provider = "google"', 'calendar_id = "primary"']
        if a.client_secrets is not None:
            lines.append(f"client_secrets = {toml_value(a.client_secrets)}")
        else:
            lines.append('# client_secrets = "client_secret.json"   # the Desktop app OAuth client')
        return lines + ['# send_updates = "none"   # none | all | externalOnly: who is emailed',
                        "# read_only = false       # read-only scopes; never writes"]
    return ["# Microsoft 365 / Outlook: `calsync setup microsoft` logs in (device code).",
            "[[calendars]]", 'provider = "microsoft"', f"client_id = {toml_value(a.client_id)}",
            '# tenant = "organizations"',
            "# read_only = false"]


def render(a: Answers, today: date) -> str:
    """The commented config text for these answers (same answers, same bytes)."""
    lines = [
        f"# calsync configuration, written by `calsync init` on {today.isoformat()}.",
        "# config.example.toml (in calsync's source) documents every key.",
        "# Relative paths are resolved against this file's folder.",
        "",
        "# Language of the agenda block and the shared doc: \"en\" or \"ja\".",
        f"language = {toml_value(a.language)}",
        "",
        *_owner_lines(a),
        "",
        *_calendar_lines(a),
        "",
        "# Add more calendars as more [[calendars]] tables.",
        "",
        "# The agenda written into the next invite (defaults shown).",
        "# [agenda]",
        "# horizon_days = 7        # write the next occurrence starting within this many days",
        "# cadence_note = false    # add the cadence figures to the block",
        '# template = "default"    # or "grow" (Goal, Reality, Options, Will)',
        "",
        "# Cadence thresholds, measured on meetings actually held (defaults shown).",
        "# [policy]",
        "# target_interval_days = 7",
        "# max_interval_days = 14",
        "# target_duration_min = 30",
        "# max_duration_min = 45",
        "# lapse_days = 28",
        "",
    ]
    return "\n".join(lines)


def check(a: Answers, path: Path, text: str) -> None:
    """Refuse what calsync could not load, naming the flag (and a missing .ics path)."""
    if a.ics_path is not None and not a.ics_path.exists():
        raise ConfigError(f"--ics {a.ics_path}: no such file or folder")
    if a.client_secrets is not None and not a.client_secrets.is_file():
        raise ConfigError(f"--client-secrets {a.client_secrets}: no such file")
    parse(tomllib.loads(text), path)


def write(path: Path, text: str, force: bool) -> None:
    """The config written atomically (temp file, then rename); an existing one only with ``force``."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; edit it, or pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def next_steps(a: Answers, config_flag: str) -> list[str]:
    """What to run next; ``config_flag`` is "" or " --config PATH" (when not the default)."""
    first = {
        "ics": f"calsync{config_flag} status",
        "google": f"calsync{config_flag} setup google"
                  + ("" if a.client_secrets else " --client-secrets CLIENT_SECRET.json"),
        "microsoft": f"calsync{config_flag} setup microsoft",
    }[a.provider]
    return [first, f"calsync{config_flag} doctor", f"calsync{config_flag} schedule install"]
