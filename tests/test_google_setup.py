"""`calsync setup google` end to end, headless, and the CLI on a Google calendar."""

from __future__ import annotations

import json
import stat
import threading
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from calsync.config import load
from tests.fakes.google import FakeGoogle, api_requests
from tests.google_fixtures import *  # noqa: F403
from tests.helpers import SCENARIO_NOW, cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Plays the user: opens the consent URL in a thread and follows the redirect back."""
    from google_auth_oauthlib.flow import InstalledAppFlow

    opened: list[str] = []
    real = InstalledAppFlow.authorization_url

    def authorization_url(self: Any, **kwargs: Any) -> Any:
        url, state = real(self, **kwargs)
        opened.append(url)
        threading.Thread(target=lambda: urllib.request.urlopen(url, timeout=10).read(),
                         daemon=True).start()
        return url, state

    monkeypatch.setattr(InstalledAppFlow, "authorization_url", authorization_url)
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake token URI is plain http
    return opened


def client_file(fake: FakeGoogle, folder: Path) -> Path:
    path = folder / "client_secret.json"
    path.write_text(json.dumps(fake.client_config()))
    return path


def test_setup_headless_end_to_end(fake_google: FakeGoogle, tmp_path: Path,
                                   browser: list[str], calsync_home: Path) -> None:
    fake_google.consent_user = "me@example.com"
    fake_google.add_calendar("me@example.com", tz="Europe/Berlin")
    config = tmp_path / "config.toml"
    config.write_text(
        "# my calsync config\n[owner]\nemail = \"me@example.com\"\n\n"
        f"[[calendars]]\nname = \"work\"\nprovider = \"google\"\napi_url = \"{fake_google.base}\"\n"
    )
    secrets = client_file(fake_google, tmp_path)
    result = cli("--config", config, "setup", "google", "--client-secrets", secrets,
                 "--no-browser", "--port", "0")
    assert result.exit_code == 0, result.output
    assert "connected (read and write)" in result.output
    assert browser and browser[0] in result.output  # the URL is printed for the user
    (auth,) = fake_google.auth_requests
    assert auth["code_challenge_method"] == "S256" and auth["code_challenge"]
    assert auth["access_type"] == "offline" and auth["prompt"] == "consent"
    assert auth["redirect_uri"].startswith("http://localhost:")
    # the two it needs, and read-only free/busy for make-up slots (optional at run time)
    assert auth["scope"].split() == ["https://www.googleapis.com/auth/calendar.events",
                                     "https://www.googleapis.com/auth/drive.file",
                                     "https://www.googleapis.com/auth/calendar.events.freebusy"]
    token_file = calsync_home / "tokens" / "google-primary.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    saved = json.loads(token_file.read_text())
    assert saved["refresh_token"] in fake_google.refresh
    assert saved["token_uri"] == f"{fake_google.base}/token"
    assert "client-secret" not in result.output and saved["refresh_token"] not in result.output
    # the entry was updated in place: comment, name and api_url kept
    text = config.read_text()
    assert text.startswith("# my calsync config") and text.count("[[calendars]]") == 1
    entry = tomllib.loads(text)["calendars"][0]
    assert entry["name"] == "work" and entry["api_url"] == fake_google.base
    assert entry["calendar_id"] == "primary" and entry["read_only"] is False
    assert Path(entry["client_secrets"]) == secrets.resolve()
    cal = load(config).calendars[0]
    assert cal.token_file == token_file
    # and the login works for status
    status = cli("--config", config, "status", "--now", SCENARIO_NOW, "--format", "json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["relationships"] == []


def test_setup_read_only_creates_a_config(fake_google: FakeGoogle, tmp_path: Path,
                                          browser: list[str], calsync_home: Path) -> None:
    from calsync.backends.google.setup import setup

    fake_google.consent_user = "boss@example.com"
    config = tmp_path / "new" / "config.toml"
    config.parent.mkdir()
    # api_url must reach the fake for the check after login: seed an entry with it
    config.write_text(f"[[calendars]]\nprovider = \"google\"\ncalendar_id = \"primary\"\n"
                      f"api_url = \"{fake_google.base}\"\n")
    message = setup(config, client_file(fake_google, tmp_path), True, 0, "primary", True)
    assert "read-only" in message
    assert fake_google.auth_requests[0]["scope"].split() == [
        "https://www.googleapis.com/auth/calendar.events.readonly",
        "https://www.googleapis.com/auth/calendar.events.freebusy"]
    entry = tomllib.loads(config.read_text())["calendars"][0]
    assert entry["read_only"] is True


def test_setup_creates_missing_config_with_owner_from_primary(
        fake_google: FakeGoogle, tmp_path: Path, browser: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from calsync.backends.google import setup as google_setup

    fake_google.consent_user = "ann@example.com"
    config = tmp_path / "cfg" / "config.toml"
    # no config yet: the check after login has no api_url, so point the default at the fake
    real = google_setup._entry
    monkeypatch.setattr(google_setup, "_entry",
                        lambda p, c: {**real(p, c), "api_url": fake_google.base})
    google_setup.setup(config, client_file(fake_google, tmp_path), True, 0, "primary", False)
    data = tomllib.loads(config.read_text())
    assert data["owner"]["email"] == "ann@example.com"
    assert data["calendars"][0]["provider"] == "google"


def test_setup_rejects_a_web_client(fake_google: FakeGoogle, tmp_path: Path) -> None:
    secrets = tmp_path / "web.json"
    secrets.write_text(json.dumps({"web": fake_google.client_config()["installed"]}))
    result = cli("--config", tmp_path / "c.toml", "setup", "google", "--client-secrets", secrets,
                 "--no-browser")
    assert result.exit_code == 2
    assert "Desktop app" in result.output and "Traceback" not in result.output


# -- the CLI on a Google calendar --------------------------------------------------------


def google_config(fake: FakeGoogle, folder: Path, expired: bool = False) -> Path:
    token = folder / "token.json"
    fake.write_token(token, "me@example.com", expired=expired)
    config = folder / "config.toml"
    config.write_text(
        '[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n\n'
        f'[[calendars]]\nname = "scenarios"\nprovider = "google"\ntoken_file = "{token}"\n'
        f'api_url = "{fake.base}"\n'
    )
    return config


def test_revoked_login_exits_3_naming_the_fix(fake_google: FakeGoogle, tmp_path: Path) -> None:
    config = google_config(fake_google, tmp_path, expired=True)
    fake_google.revoke_all()
    result = cli("--config", config, "status", "--now", SCENARIO_NOW)
    assert result.exit_code == 3
    assert "calsync setup google" in result.output and "7 days" in result.output
    assert "Traceback" not in result.output


def _relationships(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    drop = {"provider", "calendar", "series"}
    return {r["counterpart"]: {k: v for k, v in r.items() if k not in drop}
            for r in doc["relationships"]}


# Google has no group marker on attendees (iCalendar CUTYPE=GROUP): a mailing list invited
# to a meeting looks like one person there. The scenario's group counterpart is left out.
GOOGLE_CANNOT_TELL = {"team@example.com"}


def test_scenarios_give_the_same_status_through_google(fake_google: FakeGoogle,
                                                        tmp_path: Path) -> None:
    scenarios = ROOT / "tests" / "scenarios"
    for ics in sorted(scenarios.glob("*.ics")):
        fake_google.seed_ics(ics.read_text(), ["me@example.com"], tz="Europe/Berlin")
    config = google_config(fake_google, tmp_path)
    via_google = cli("--config", config, "status", "--now", SCENARIO_NOW, "--format", "json")
    assert via_google.exit_code == 0, via_google.output
    every = tmp_path / "ics.toml"  # every scenario calendar, as the fake holds them
    every.write_text((scenarios / "core.toml").read_text().replace('"core.ics"', f'"{scenarios}"'))
    via_ics = cli("--config", every, "status", "--now", SCENARIO_NOW, "--format", "json")
    google = _relationships(json.loads(via_google.stdout))
    ics = _relationships(json.loads(via_ics.stdout))
    assert len(ics) >= 8
    for counterpart in GOOGLE_CANNOT_TELL:
        ics.pop(counterpart, None)
        google.pop(counterpart, None)
    assert google == ics
    # the second status is the steady state: one list request
    fake_google.log.clear()
    again = cli("--config", config, "status", "--now", SCENARIO_NOW, "--format", "json")
    assert _relationships(json.loads(again.stdout)).keys() >= ics.keys()
    calls = api_requests(fake_google)
    assert len(calls) == 1 and "syncToken" in calls[0]["query"]


def test_setup_keeps_a_relative_token_file(fake_google: FakeGoogle, tmp_path: Path,
                                           browser: list[str]) -> None:
    from calsync.backends.google.setup import setup

    fake_google.consent_user = "me@example.com"
    config = tmp_path / "config.toml"
    config.write_text('[owner]\nemail = "me@example.com"\n\n[[calendars]]\nprovider = "google"\n'
                      f'token_file = "tokens/g.json"\napi_url = "{fake_google.base}"\n')
    setup(config, client_file(fake_google, tmp_path), True, 0, "primary", False)
    entry = tomllib.loads(config.read_text())["calendars"]
    assert len(entry) == 1 and entry[0]["token_file"] == "tokens/g.json"
    token = tmp_path / "tokens" / "g.json"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert json.loads(token.read_text())["refresh_token"] in fake_google.refresh
