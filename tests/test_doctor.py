"""`calsync doctor` against the loopback Google and Graph fakes: each line, each fix."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calsync.app import doctor, doctor_logins
from calsync.app.schedule import MARKER
from tests.fakes.google import FakeGoogle
from tests.google_fixtures import *  # noqa: F403
from tests.google_fixtures import GEnv
from tests.helpers import cli, write_config
from tests.microsoft_fixtures import *  # noqa: F403
from tests.microsoft_fixtures import MsEnv
from tests.schedulers import Schedulers, schedulers
from tests.test_google_setup import browser, client_file

__all__ = ["schedulers", "browser"]


def lines(config: Path, *extra: str) -> tuple[int, dict[str, str]]:
    """Exit code and {check name: its line}."""
    result = cli("--config", config, "doctor", *extra)
    out = {}
    for line in result.stdout.splitlines():
        name = line[2:].split(":", 1)[0]
        out[name] = line
    return result.exit_code, out


@pytest.fixture
def timer(schedulers: Schedulers) -> Schedulers:
    schedulers.systemd_down()
    schedulers.crontab = f"*/15 * * * * calsync run --quiet {MARKER}\n"
    return schedulers


def ics_config(tmp_path: Path) -> Path:
    folder = tmp_path / "cals"
    folder.mkdir()
    (folder / "a.ics").write_text("BEGIN:VCALENDAR\nEND:VCALENDAR\n")
    return write_config(tmp_path, folder)


def test_everything_fine_is_all_ticks_and_exit_0(tmp_path: Path, timer: Schedulers) -> None:
    config = ics_config(tmp_path)
    code, out = lines(config)
    assert code == 0, out
    assert all(line.startswith("✓ ") for line in out.values())
    assert set(out) == {"config", "calendar cals", "state database", "run lock", "timer"}
    doc = json.loads(cli("--config", config, "doctor", "--format", "json").stdout)
    assert doc["ok"] is True and {c["name"] for c in doc["checks"]} == set(out)


def test_missing_config_names_init(tmp_path: Path, timer: Schedulers) -> None:
    code, out = lines(tmp_path / "none.toml")
    assert code == 2
    assert out["config"].startswith("✗ config: ") and out["config"].endswith(
        "— fix: `calsync init` writes one")
    assert out["timer"].startswith("✓")  # the other checks still run


def test_empty_calendar_folder_and_missing_timer(tmp_path: Path, schedulers: Schedulers) -> None:
    schedulers.systemd_down()
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "old.ics").mkdir()  # a folder named like a calendar is not one (as run reads it)
    code, out = lines(write_config(tmp_path, folder))
    assert code == 4
    assert out["calendar empty"] == (f"✗ calendar empty: {folder}: a folder with no .ics files in it"
                                     " — fix: export your calendar there, or point `path` at the"
                                     " .ics file")
    assert out["timer"].endswith("— fix: run `calsync schedule install`")
    doc = json.loads(cli("--config", tmp_path / "config.toml", "doctor", "--format", "json").stdout)
    assert doc["ok"] is False


def google_config(gcal: GEnv, tmp_path: Path, **kw: object) -> Path:
    cal = gcal.calendar(**kw)  # type: ignore[arg-type]
    path = tmp_path / "config.toml"
    path.write_text('[owner]\nemail = "me@example.com"\n\n[[calendars]]\nname = "work"\n'
                    f'provider = "google"\ntoken_file = "{cal.token_file}"\n'
                    f'api_url = "{gcal.fake.base}"\n')
    return path


def test_google_all_good(gcal: GEnv, tmp_path: Path, timer: Schedulers) -> None:
    code, out = lines(google_config(gcal, tmp_path))
    assert code == 0, out
    assert out["login work"].endswith("(mode 0600)")
    assert "not recorded" in out["login work refresh"]
    assert out["login work scopes"] == "✓ login work scopes: has every scope calsync needs"
    assert out["calendar work"] == "✓ calendar work: Google calendar 'primary' answers"
    assert out["clock vs Google"].startswith("✓")
    assert any(r["path"] == "/token" for r in gcal.fake.log)  # it really refreshed


def test_google_token_readable_by_others(gcal: GEnv, tmp_path: Path, timer: Schedulers) -> None:
    config = google_config(gcal, tmp_path)
    token = tmp_path / "token-me@example.com.json"
    token.chmod(0o644)
    code, out = lines(config)
    assert code == 3  # as `run` exits when it refuses such a file
    assert out["login work"] == (f"✗ login work: {token} has mode 0644: others can read the login"
                                 f" — fix: chmod 600 {token}")


def test_google_revoked_login(gcal: GEnv, tmp_path: Path, timer: Schedulers) -> None:
    config = google_config(gcal, tmp_path)
    gcal.fake.revoke_all()
    code, out = lines(config)
    assert code == 3
    line = out["login work"]
    assert line.startswith("✗") and "invalid_grant" in line
    assert "fix: run `calsync setup google`" in line and "In production" in line


def test_google_missing_scope(gcal: GEnv, tmp_path: Path, timer: Schedulers) -> None:
    config = google_config(gcal, tmp_path,
                           scopes=["https://www.googleapis.com/auth/calendar.events"])
    code, out = lines(config)
    assert code == 3
    assert out["login work scopes"].startswith(
        "✗ login work scopes: lacks https://www.googleapis.com/auth/drive.file — fix: run "
        "`calsync setup google`")


def test_google_broader_scope_is_enough(gcal: GEnv, tmp_path: Path, timer: Schedulers) -> None:
    config = google_config(gcal, tmp_path, scopes=["https://www.googleapis.com/auth/calendar",
                                                   "https://www.googleapis.com/auth/drive"])
    assert lines(config)[1]["login work scopes"].startswith("✓")


def test_google_missing_login_file(tmp_path: Path, fake_google: FakeGoogle, timer: Schedulers) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[owner]\nemail = "me@example.com"\n\n[[calendars]]\nname = "work"\n'
                      f'provider = "google"\napi_url = "{fake_google.base}"\n')
    code, out = lines(config)
    assert code == 3
    assert out["login work"].startswith("✗ login work: no login saved at ")
    assert out["login work"].endswith("— fix: run `calsync setup google`")
    assert "calendar work" not in out


def test_clock_skew_against_the_server_date(gcal: GEnv, tmp_path: Path, timer: Schedulers) -> None:
    config = google_config(gcal, tmp_path)
    ahead = doctor.diagnose(config, clock=lambda: datetime.now(UTC) + timedelta(minutes=10))
    (skew,) = [c for c in ahead if c.name == "clock vs Google"]
    assert not skew.ok and "ahead of the server" in skew.detail and "timedatectl" in skew.fix
    fine = doctor.diagnose(config, clock=lambda: datetime.now(UTC) + timedelta(seconds=30))
    assert [c.ok for c in fine if c.name == "clock vs Google"] == [True]
    behind = doctor_logins.skew_check("x", "Mon, 01 Jan 2024 00:00:00 GMT",
                               lambda: datetime(2023, 12, 31, 23, 57, tzinfo=UTC))
    assert not behind.ok and behind.detail == "this machine is 180 s behind the server"


def test_google_calendar_not_found(gcal: GEnv, tmp_path: Path, timer: Schedulers) -> None:
    config = google_config(gcal, tmp_path)
    config.write_text(config.read_text() + 'calendar_id = "nobody@example.com"\n')
    code, out = lines(config)
    assert code == 4
    assert out["calendar work"].startswith("✗ calendar work: Google has no calendar 'nobody@example.com'")


def test_testing_note_says_what_is_knowable() -> None:
    now = datetime(2026, 5, 10, 12, tzinfo=UTC)
    assert "ends on 2026-05-15 (5 days left" in doctor_logins.testing_note(now - timedelta(days=2), now)
    assert "not in \"Testing\"" in doctor_logins.testing_note(now - timedelta(days=10), now)
    assert "not recorded" in doctor_logins.testing_note(None, now)


def test_setup_records_when_the_login_was_made(fake_google: FakeGoogle, tmp_path: Path,
                                               browser: list[str], timer: Schedulers) -> None:
    fake_google.consent_user = "me@example.com"
    config = tmp_path / "config.toml"
    config.write_text('[owner]\nemail = "me@example.com"\n\n[[calendars]]\nname = "work"\n'
                      f'provider = "google"\napi_url = "{fake_google.base}"\n')
    secrets = client_file(fake_google, tmp_path)
    done = cli("--config", config, "setup", "google", "--client-secrets", secrets, "--no-browser")
    assert done.exit_code == 0, done.output
    code, out = lines(config)
    assert code == 0, out
    today = datetime.now(UTC).date() + timedelta(days=7)
    assert out["login work refresh"] == (
        "✓ login work refresh: logged in 0 days ago; if the OAuth consent screen is in "
        f"\"Testing\", this login ends on {today.isoformat()} (6 days left; set it "
        "\"In production\" to keep it)")


def ms_lines(ms_env: MsEnv, *extra: str) -> tuple[int, dict[str, str]]:
    return lines(ms_env.config_path, *extra)


def test_microsoft_all_good(ms_env: MsEnv, timer: Schedulers) -> None:
    code, out = ms_lines(ms_env)
    assert code == 0, out
    assert out["login work refresh"] == (f"✓ login work refresh: refreshed as {ms_env.fake.user_email} "
                                         "(Microsoft logins last while used at least every 90 days)")
    assert out["login work scopes"].startswith("✓")
    assert out["calendar work"].startswith("✓") and out["clock vs Microsoft Graph"].startswith("✓")
    assert ms_env.fake.token_requests()  # a real refresh


def test_microsoft_revoked(ms_env: MsEnv, timer: Schedulers) -> None:
    ms_env.fake.revoke_all()
    code, out = ms_lines(ms_env)
    assert code == 3
    assert out["login work"].startswith("✗ login work: work: the Microsoft login was refused")
    assert out["login work"].endswith("— fix: run `calsync setup microsoft`")


def test_microsoft_named_calendar_missing(ms_env: MsEnv, timer: Schedulers) -> None:
    ms_env.config_path.write_text(ms_env.config_path.read_text() + 'calendar = "Team"\n')
    code, out = ms_lines(ms_env)
    assert code == 4
    assert out["calendar work"] == ("✗ calendar work: no Outlook calendar named 'Team' (there are: "
                                    "Calendar) — fix: fix `calendar` in the config")


def test_microsoft_read_only_scope_lacking(ms_env: MsEnv) -> None:
    granted = {"calendars.read"}
    covers = doctor_logins._GRAPH_COVERS
    assert doctor_logins.missing_scopes(["calendars.readwrite", "files.readwrite"], granted,
                                        covers) == ["calendars.readwrite", "files.readwrite"]
    assert doctor_logins.missing_scopes(["calendars.read"], {"calendars.readwrite"}, covers) == []


def test_state_database_locked(tmp_path: Path, calsync_home: Path) -> None:
    calsync_home.mkdir(parents=True)
    path = calsync_home / "state.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    assert doctor.state_check(path).ok
    holder.execute("BEGIN IMMEDIATE")
    try:
        check = doctor.state_check(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not check.ok and check.detail == f"{path} is locked by another process"
    path.chmod(0o400)
    if os.geteuid() != 0:  # root writes anyway
        assert not doctor.state_check(path).ok


def test_run_lock_in_progress_and_stale(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    assert doctor.lock_check(path, lambda: datetime.now(UTC)).detail == "no run in progress"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.write(fd, b"4242")
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        fresh = doctor.lock_check(path, lambda: datetime.now(UTC))
        assert fresh.ok and fresh.detail == "a run (pid 4242) is in progress, for 0 minutes"
        two_hours_ago = time.time() - 7200
        os.utime(path, (two_hours_ago, two_hours_ago))
        stale = doctor.lock_check(path, lambda: datetime.now(UTC))
        assert not stale.ok and stale.fix == "kill 4242" and "for 120 minutes" in stale.detail
    finally:
        os.close(fd)
    assert doctor.lock_check(path, lambda: datetime.now(UTC)).detail == "no run in progress"


def test_exit_code_ranks_login_then_config_over_the_rest() -> None:
    from calsync.app.doctor import Check, exit_code

    ok, timer = Check("a", True, "fine"), Check("timer", False, "none", "calsync schedule install")
    config = Check("config", False, "bad", "fix it", 2)
    login = Check("login", False, "expired", "setup", 3)
    assert exit_code([ok]) == 0
    assert exit_code([ok, timer]) == 4
    assert exit_code([timer, config]) == 2
    assert exit_code([timer, config, login]) == 3


def test_an_organisation_config_is_counted(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[organizations]]\nprovider = "google"\nservice_account = "sa.json"\n'
                      'members = ["a@corp.example"]\n')
    checks = doctor.diagnose(config)
    assert checks[0].ok and checks[0].detail.endswith("is valid (0 calendars, 1 organization)")
