"""Config validation: one clear line naming file, key and problem; exit code 2 (issue 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.config import load
from calsync.errors import ConfigError
from tests.helpers import cli

MINIMAL = '[owner]\nemail = "mgr@example.com"\n\n[[calendars]]\nprovider = "ics"\npath = "calendar.ics"\n'


def test_minimal_config_from_the_issue_works(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(MINIMAL)
    config = load(path)
    assert config.owner.emails == ("mgr@example.com",)
    assert config.calendars[0].path == tmp_path / "calendar.ics"
    assert config.policy.target_interval_days == 7 and config.policy.lookback_days == 180
    assert config.language == "en"


def test_several_owner_addresses(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(MINIMAL.replace('email = "mgr@example.com"',
                                    'email = "Mgr@Example.com"\nemails = ["m@alias.example.com"]'))
    assert load(path).owner.emails == ("mgr@example.com", "m@alias.example.com")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[calendars]]\npath='x.ics'\n", "owner: missing [owner] table"),
        ('[owner]\nemail="a@b.c"\n', "calendars: at least one [[calendars]] entry is required"),
        (MINIMAL.replace('"ics"', '"exchange"'), "calendars[0].provider: unknown provider 'exchange'"),
        (MINIMAL + "\n[policy]\nmax_interval_days = 'two weeks'\n",
         "policy.max_interval_days: expected float, got str"),
        (MINIMAL + "\n[policy]\nlookback_dayz = 90\n", "policy.lookback_dayz: unknown key"),
        (MINIMAL + "\n[policy]\nmin_sessions = 0\n", "policy.min_sessions: must be greater than 0"),
        (MINIMAL + "\n[detection]\ninclude_titles = ['(']\n",
         "detection.include_titles: bad regular expression"),
        (MINIMAL.replace("mgr@example.com", "not-an-address"), "owner.email: not an email address"),
        (MINIMAL + 'language = "fr"\n', "calendars[0].language: unknown key"),
        ('language = "fr"\n' + MINIMAL, "language: must be one of en, ja"),
        ("[owner\n", "invalid TOML"),
    ],
)
def test_bad_config_names_file_key_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_cli_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(MINIMAL.replace('"ics"', '"exchange"'))
    result = cli("--config", path, "status")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert "calendars[0].provider" in result.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    result = cli("--config", tmp_path / "nope.toml", "status")
    assert result.exit_code == 2 and "config file not found" in result.stderr


def test_config_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.toml"
    path.write_text(MINIMAL)
    (tmp_path / "calendar.ics").write_text("BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n")
    monkeypatch.setenv("CALSYNC_CONFIG", str(path))
    result = cli("status")
    assert result.exit_code == 0 and "No 1on1 relationships found" in result.stdout


def test_unreadable_calendar_exits_4_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(MINIMAL)
    result = cli("--config", path, "status", "--now", "2026-01-01T00:00:00+00:00")
    assert result.exit_code == 4
    assert "calendar.ics: no such file or folder" in result.stderr


def test_example_config_parses_and_documents_every_key() -> None:
    from dataclasses import fields

    from calsync.backends.google.config import GoogleCalendar
    from calsync.backends.local.config import IcsCalendar
    from calsync.backends.microsoft.config import MicrosoftCalendar
    from calsync.config import Agenda, Detection, Policy
    from tests.conftest import ROOT

    path = ROOT / "config.example.toml"
    load(path)
    text = path.read_text()
    for cls in (Policy, Detection, Agenda):
        for f in fields(cls):
            assert f"{f.name} =" in text, f"{cls.__name__}.{f.name} undocumented"
    for f in (f for c in (IcsCalendar, GoogleCalendar, MicrosoftCalendar) for f in fields(c)):
        assert f"{f.name} =" in text, f"calendars.{f.name} undocumented"


def test_doc_url_template_placeholders_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(MINIMAL + '\n[agenda]\ndoc_url_template = "https://wiki/{user}"\n')
    with pytest.raises(ConfigError, match=r"agenda\.doc_url_template: unknown placeholder \{user\}"):
        load(path)
    path.write_text(MINIMAL + '\n[agenda]\ndoc_url_template = "https://wiki/{slug"\n')
    with pytest.raises(ConfigError, match=r"agenda\.doc_url_template: not a valid template"):
        load(path)


def test_failure_names_the_calendar_once() -> None:
    from calsync.app.engine import Failure
    from calsync.errors import AuthError

    assert str(Failure("work", AuthError("work: login expired"))) == "work: login expired"
    assert str(Failure("work", AuthError("login expired"))) == "work: login expired"


def test_each_calendar_parses_into_its_own_backends_schema(tmp_path: Path) -> None:
    from calsync.backends.google.config import GoogleCalendar
    from calsync.backends.local.config import IcsCalendar
    from calsync.backends.microsoft.config import MicrosoftCalendar
    from calsync.backends.registry import PROVIDERS

    path = tmp_path / "config.toml"
    path.write_text(MINIMAL + '\n[[calendars]]\nprovider = "google"\ncalendar_id = "team@x.org"\n'
                    '\n[[calendars]]\nprovider = "microsoft"\ncalendar = "Work"\nread_only = true\n')
    ics, google, ms = load(path).calendars
    assert isinstance(ics, IcsCalendar) and ics.name == "calendar" and not ics.read_only
    assert isinstance(google, GoogleCalendar) and google.name == "google-team@x.org"
    assert google.token_file is not None and google.token_file.name == "google-team-x-org.json"
    assert isinstance(ms, MicrosoftCalendar) and ms.read_only and ms.name == "microsoft-Work"
    assert not hasattr(ics, "calendar_id") and not hasattr(google, "path")
    assert PROVIDERS == ("ics", "google", "microsoft", "caldav")


@pytest.mark.parametrize(("provider", "key"), [("ics", "calendar_id"), ("google", "path"),
                                               ("microsoft", "send_updates")])
def test_a_key_of_another_backend_is_unknown(tmp_path: Path, provider: str, key: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[owner]\nemail = "m@x.org"\n\n[[calendars]]\nprovider = "{provider}"\n'
                    f'path = "c.ics"\n{key} = "x"\n' if provider == "ics" else
                    f'[owner]\nemail = "m@x.org"\n\n[[calendars]]\nprovider = "{provider}"\n'
                    f'{key} = "x"\n')
    with pytest.raises(ConfigError, match=rf"calendars\[0\]\.{key}: unknown key \(known: "):
        load(path)


def test_a_caldav_calendar_needs_url_and_username(tmp_path: Path) -> None:
    from calsync.backends.caldav.config import CaldavCalendar

    path = tmp_path / "config.toml"
    base = MINIMAL.split("[[calendars]]")[0] + '[[calendars]]\nprovider = "caldav"\n'
    path.write_text(base + 'username = "me"\n')
    with pytest.raises(ConfigError, match=r"calendars\[0\]\.url: missing"):
        load(path)
    path.write_text(base + 'url = "https://dav.example.com/me/work"\n')
    with pytest.raises(ConfigError, match=r"calendars\[0\]\.username: missing"):
        load(path)
    path.write_text(base + 'url = "https://dav.example.com/me/work"\nusername = "me"\npath = "x"\n')
    with pytest.raises(ConfigError, match=r"calendars\[0\]\.path: unknown key"):
        load(path)
    path.write_text(base + 'url = "https://dav.example.com/me/work"\nusername = "me"\n')
    (cal,) = load(path).calendars
    assert isinstance(cal, CaldavCalendar) and cal.url == "https://dav.example.com/me/work/"
    assert cal.name == "caldav-work" and cal.password_file.name == "caldav-work.password"
