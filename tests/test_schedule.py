"""`calsync schedule`: a systemd user timer where systemd works, else one crontab line."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from calsync.app import schedule
from tests.helpers import cli
from tests.schedulers import Schedulers, schedulers

__all__ = ["schedulers"]

CALSYNC = str(Path(sys.executable).parent / "calsync")


def test_install_writes_and_enables_a_systemd_user_timer(
        schedulers: Schedulers, tmp_path: Path, calsync_home: Path) -> None:
    config = tmp_path / "my config.toml"
    result = cli("--config", config, "schedule", "install", "--every", "30m")
    assert result.exit_code == 0, result.output
    assert "installed a systemd user timer" in result.output
    service = (schedulers.units / "calsync.service").read_text()
    timer = (schedulers.units / "calsync.timer").read_text()
    assert f'Environment="CALSYNC_CONFIG={config}"' in service
    assert f'Environment="CALSYNC_HOME={calsync_home}"' in service
    assert f'ExecStart="{CALSYNC}" "run" "--quiet"' in service
    assert "OnUnitActiveSec=30min" in timer and "WantedBy=timers.target" in timer
    assert ["systemctl", "--user", "enable", "--now", "calsync.timer"] in schedulers.calls()
    assert schedulers.crontab is None

    schedulers.clear()  # again, unchanged: files as they were, no daemon-reload
    before = service, timer
    assert cli("--config", config, "schedule", "install", "--every", "30m").exit_code == 0
    assert ((schedulers.units / "calsync.service").read_text(),
            (schedulers.units / "calsync.timer").read_text()) == before
    assert ["systemctl", "--user", "daemon-reload"] not in schedulers.calls()

    show = cli("schedule", "show")
    assert show.exit_code == 0 and "every 30min, enabled" in show.output

    removed = cli("schedule", "remove")
    assert removed.output == "removed the systemd user timer\n"
    assert not (schedulers.units / "calsync.timer").exists()
    assert ["systemctl", "--user", "disable", "--now", "calsync.timer"] in schedulers.calls()
    assert cli("schedule", "show").exit_code == 1


def test_without_systemd_one_marked_crontab_line_idempotent_and_removable(
        schedulers: Schedulers, tmp_path: Path, calsync_home: Path) -> None:
    schedulers.systemd_down()
    schedulers.crontab = "MAILTO=me@example.com\n0 3 * * * backup --all 50%\n"
    config = tmp_path / "c.toml"
    result = cli("--config", config, "schedule", "install")
    assert result.exit_code == 0, result.output
    lines = (schedulers.crontab or "").splitlines()
    assert lines[:2] == ["MAILTO=me@example.com", "0 3 * * * backup --all 50%"]
    (ours,) = lines[2:]
    assert ours.startswith(f"*/15 * * * * CALSYNC_CONFIG={config} CALSYNC_HOME={calsync_home} ")
    assert f"{CALSYNC} run --quiet" in ours and ours.endswith(schedule.MARKER)
    assert not (schedulers.units / "calsync.timer").exists()

    schedulers.clear()
    assert cli("--config", config, "schedule", "install").exit_code == 0
    assert [c for c in schedulers.calls() if c[:2] == ["crontab", "-"]] == []  # nothing written
    assert cli("--config", config, "schedule", "install", "--every", "1h").exit_code == 0
    assert (schedulers.crontab or "").count(schedule.MARKER) == 1
    assert "\n0 * * * * CALSYNC_CONFIG=" in (schedulers.crontab or "")

    assert cli("schedule", "show").output.startswith("crontab: 0 * * * * ")
    assert cli("schedule", "remove").output == "removed the crontab line\n"
    assert schedulers.crontab == "MAILTO=me@example.com\n0 3 * * * backup --all 50%\n"
    assert cli("schedule", "remove").output.startswith("nothing to remove")


def test_cron_line_runs_through_sh_with_odd_paths(schedulers: Schedulers) -> None:
    job = schedule.Job(("/opt/my tools/calsync",), (("CALSYNC_CONFIG", "/x/it's 100%.toml"),), 15)
    line = schedule.cron_line(job)
    command = line[len("*/15 * * * * "):-len(schedule.MARKER)].replace("\\%", "%")
    assert shlex.split(command) == ["CALSYNC_CONFIG=/x/it's 100%.toml", "/opt/my tools/calsync",
                                    "run", "--quiet"]
    assert "100\\%" in line  # cron turns a bare % into a newline


def test_moving_from_cron_to_systemd_leaves_one_scheduler(schedulers: Schedulers) -> None:
    schedulers.crontab = "# old\n*/15 * * * * calsync run " + schedule.MARKER + "\n"
    result = cli("schedule", "install")
    assert "removed calsync's old crontab line" in result.output
    assert schedulers.crontab == "# old\n"


@pytest.mark.parametrize(("every", "message"), [
    ("7m", "cron cannot run that evenly"),
    ("soon", "expected minutes or hours"),
    ("0m", "expected minutes or hours"),
])
def test_bad_intervals_are_one_line_and_change_nothing(
        schedulers: Schedulers, every: str, message: str) -> None:
    schedulers.systemd_down()
    result = cli("schedule", "install", "--every", every)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert message in line
    assert schedulers.crontab is None


def test_no_scheduler_at_all_says_what_to_run(schedulers: Schedulers) -> None:
    schedulers.systemd_down()
    schedulers.no_crontab()
    result = cli("schedule", "install")
    assert result.exit_code == 4
    (line,) = result.stderr.splitlines()
    assert "neither systemd user timers" in line and f"{CALSYNC} run --quiet" in line


@pytest.mark.parametrize(("text", "minutes"), [("15m", 15), ("90min", 90), ("2h", 120), ("45", 45)])
def test_parse_every(text: str, minutes: int) -> None:
    assert schedule.parse_every(text) == minutes
