"""``calsync setup caldav`` and ``calsync doctor`` against a real Radicale server."""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from calsync.cli.main import main
from tests.conftest import SCENARIOS
from tests.helpers import SCENARIO_NOW, cli
from tests.radicale_server import PASSWORD, USER, Radicale, running


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    with running(tmp_path_factory.mktemp("radicale")) as server:
        yield server


def setup(config: Path, *args: str, password: str = PASSWORD) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), "setup", "caldav", *args],
                              input=password + "\n", catch_exceptions=False)


def test_setup_checks_the_login_lists_and_writes_the_entry(radicale: Radicale,
                                                           tmp_path: Path) -> None:
    url = radicale.calendar(display="Work")
    radicale.upload(url, (SCENARIOS / "core.ics").read_text())
    config = tmp_path / "config.toml"
    secret = tmp_path / "caldav.password"
    result = setup(config, url, "--username", USER, "--password-file", str(secret),
                   "--owner", "me@example.com")
    assert result.exit_code == 0, result.output
    assert "* Work" in result.output and "connected (read and write)" in result.output
    assert PASSWORD not in result.output
    entry = tomllib.loads(config.read_text())["calendars"]
    assert entry == [{"provider": "caldav", "url": url, "username": USER,
                      "password_file": str(secret), "read_only": False}]
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and secret.read_text() == PASSWORD + "\n"
    assert PASSWORD not in config.read_text()
    status = cli("--config", config, "status", "--now", SCENARIO_NOW, "--format", "json")
    assert status.exit_code == 0, status.output
    assert len(json.loads(status.stdout)["relationships"]) >= 8
    again = setup(config, url, "--username", USER, "--password-file", str(secret), password="")
    assert again.exit_code == 0, again.output  # the stored password, asked for nothing
    assert len(tomllib.loads(config.read_text())["calendars"]) == 1
    doctor = cli("--config", config, "doctor", "--format", "json")
    line = next(c for c in json.loads(doctor.stdout)["checks"]
                if c["name"].startswith("calendar "))
    assert line["ok"] and "login works" in line["detail"]


def test_several_calendars_need_a_name(radicale: Radicale, tmp_path: Path) -> None:
    radicale.calendar(display="Home")
    radicale.calendar(display="Team")
    config = tmp_path / "config.toml"
    config.write_text('[owner]\nemail = "me@example.com"\n')
    result = setup(config, radicale.base + "/", "--username", USER)
    assert result.exit_code == 2, result.output
    assert "several calendars" in result.output and "Home" in result.output
    assert "Team" in result.output and "[[calendars]]" not in config.read_text()
    chosen = setup(config, radicale.base + "/", "--username", USER, "--calendar", "Team")
    assert chosen.exit_code == 0, chosen.output
    assert "* Team" in chosen.output
    entry = tomllib.loads(config.read_text())["calendars"][0]
    assert entry["calendar"] == "Team" and entry["url"] == radicale.base + "/"
    default = Path(str(tmp_path / "calsync-home" / "tokens"))
    assert [p.name for p in default.iterdir()] == ["caldav-team.password"]


def test_setup_with_a_wrong_password_exits_3_and_writes_nothing(radicale: Radicale,
                                                                tmp_path: Path) -> None:
    url = radicale.calendar()
    config = tmp_path / "config.toml"
    config.write_text('[owner]\nemail = "me@example.com"\n')
    result = setup(config, url, "--username", USER, password="wrong")
    assert result.exit_code == 3, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip() and "password" not in ln.lower()[:30]]
    assert len(lines) == 1 and "HTTP 401" in lines[0] and "Traceback" not in result.output
    assert config.read_text() == '[owner]\nemail = "me@example.com"\n'
    assert not (tmp_path / "calsync-home" / "tokens").exists()


def test_doctor_names_a_refused_login(radicale: Radicale, tmp_path: Path) -> None:
    url = radicale.calendar()
    secret = tmp_path / "pw"
    secret.write_text("wrong\n")
    secret.chmod(0o600)
    config = tmp_path / "config.toml"
    config.write_text('[owner]\nemail = "me@example.com"\n\n[[calendars]]\nprovider = "caldav"\n'
                      f'url = "{url}"\nusername = "{USER}"\npassword_file = "{secret}"\n')
    doctor = cli("--config", config, "doctor")
    assert doctor.exit_code == 3, doctor.output
    assert "HTTP 401" in doctor.output and "calsync setup caldav" in doctor.output
