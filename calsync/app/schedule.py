"""``calsync schedule``: run ``calsync run --quiet`` every N minutes, installed for the user.

A systemd user timer where ``systemctl --user`` works, else one marked line in the user's
crontab. Either way the job gets the environment of the invocation that installed it
(``CALSYNC_CONFIG``, ``CALSYNC_HOME``, the absolute path of calsync), because cron and
systemd start jobs with an environment of their own. Installing twice changes nothing;
``remove`` takes out exactly what ``install`` put in.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from calsync.errors import ConfigError, ScheduleError

UNIT = "calsync"
MARKER = "# calsync-schedule (remove with: calsync schedule remove)"


@dataclass(frozen=True)
class Job:
    """What the scheduler runs: the command and the environment it needs."""

    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    minutes: int


@dataclass(frozen=True)
class State:
    """The calsync schedule installed now: systemd units (and whether enabled), the crontab line."""

    systemd: bool  # the timer's unit files are installed
    systemd_enabled: bool
    cron_line: str | None

    @property
    def installed(self) -> bool:
        """Whether something actually runs calsync: an enabled timer or the crontab line."""
        return (self.systemd and self.systemd_enabled) or self.cron_line is not None


def this_calsync() -> tuple[str, ...]:
    """The absolute command that started this calsync, as a scheduler must call it."""
    import sys

    argv0 = Path(sys.argv[0])
    if argv0.name == "calsync" and argv0.is_file():
        return (str(argv0.absolute()),)
    sibling = Path(sys.executable).parent / "calsync"
    if sibling.is_file():
        return (str(sibling.absolute()),)
    return (str(Path(sys.executable).absolute()), "-m", "calsync.cli")


def job_for(config: Path, minutes: int) -> Job:
    """The job for ``config``, with the absolute config path and data folder it must see."""
    from calsync.paths import data_dir

    env = (("CALSYNC_CONFIG", str(config.expanduser().absolute())),
           ("CALSYNC_HOME", str(data_dir().absolute())))
    return Job(this_calsync(), env, minutes)


def parse_every(text: str) -> int:
    """``15m``, ``90min``, ``1h`` → minutes."""
    m = re.fullmatch(r"\s*(\d+)\s*(m|min|h|hr)?\s*", text)
    if not m or int(m.group(1)) <= 0:
        raise ConfigError(f"--every {text!r}: expected minutes or hours, e.g. 15m or 1h")
    value = int(m.group(1))
    return value * 60 if m.group(2) in ("h", "hr") else value


# -- running the tools -----------------------------------------------------------------


def _run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return subprocess.CompletedProcess(args, 127, "", f"{args[0]}: not found")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"{args[0]}: timed out")


def systemd_available() -> bool:
    """Whether ``systemctl --user`` is installed and reaches a user manager."""
    if shutil.which("systemctl") is None:
        return False
    return _run(["systemctl", "--user", "show-environment"]).returncode == 0


def _systemctl(*args: str) -> None:
    done = _run(["systemctl", "--user", *args])
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise ScheduleError(
            f"`systemctl --user {' '.join(args)}` failed: {why[0] if why else done.returncode}"
        )


def unit_dir() -> Path:
    """Where systemd looks for the user's unit files (``$XDG_CONFIG_HOME/systemd/user``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


# -- systemd ---------------------------------------------------------------------------


def _sd_quote(text: str, exec_line: bool = False) -> str:
    """A double-quoted systemd word: backslash and quote escaped, ``%`` (and ``$``) doubled."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    if exec_line:
        out = out.replace("$", "$$")
    return f'"{out}"'


def service_text(job: Job) -> str:
    """The oneshot service unit that runs ``calsync run --quiet`` with the job's environment."""
    env = "".join(f"Environment={_sd_quote(f'{k}={v}')}\n" for k, v in job.env)
    command = " ".join(_sd_quote(c, exec_line=True) for c in (*job.command, "run", "--quiet"))
    return (
        "# Written by `calsync schedule install`; `calsync schedule remove` deletes it.\n"
        "[Unit]\nDescription=calsync: agendas for the next 1on1s\n\n"
        f"[Service]\nType=oneshot\n{env}ExecStart={command}\n"
    )


def timer_text(job: Job) -> str:
    """The timer unit: the service every ``job.minutes`` minutes, first a minute after install."""
    return (
        "# Written by `calsync schedule install`; `calsync schedule remove` deletes it.\n"
        f"[Unit]\nDescription=Run calsync every {job.minutes} minutes\n\n"
        "[Timer]\nOnActiveSec=1min\nOnBootSec=2min\n"
        f"OnUnitActiveSec={job.minutes}min\nAccuracySec=30s\n\n"
        "[Install]\nWantedBy=timers.target\n"
    )


def _unit_paths() -> tuple[Path, Path]:
    folder = unit_dir()
    return folder / f"{UNIT}.service", folder / f"{UNIT}.timer"


def _install_systemd(job: Job) -> str:
    service, timer = _unit_paths()
    changed = False
    for path, text in ((service, service_text(job)), (timer, timer_text(job))):
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed = True
    if changed:
        _systemctl("daemon-reload")
    _systemctl("enable", "--now", f"{UNIT}.timer")
    return (
        f"installed a systemd user timer ({timer}): `calsync run --quiet` every {job.minutes} "
        "minutes. User timers run while you are logged in; to keep them running when you are "
        "not: loginctl enable-linger"
    )


def _remove_systemd() -> bool:
    service, timer = _unit_paths()
    if not (service.exists() or timer.exists()):
        return False
    if systemd_available():
        _systemctl("disable", "--now", f"{UNIT}.timer")
    service.unlink(missing_ok=True)
    timer.unlink(missing_ok=True)
    if systemd_available():
        _systemctl("daemon-reload")
    return True


# -- cron ------------------------------------------------------------------------------


def cron_spec(minutes: int) -> str:
    """The cron schedule for every ``minutes``; refused unless it divides an hour or a day evenly."""
    if minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    if minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        hours = minutes // 60
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    raise ConfigError(
        f"--every {minutes}m: cron cannot run that evenly; use a divisor of an hour "
        "(5m, 10m, 15m, 20m, 30m) or of a day (1h, 2h, 3h, 4h, 6h, 8h, 12h, 24h)"
    )


def cron_line(job: Job) -> str:
    """The job's crontab line, ending with the marker ``remove`` finds it by."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in job.env)
    command = " ".join(shlex.quote(c) for c in (*job.command, "run", "--quiet"))
    line = f"{cron_spec(job.minutes)} {env} {command}".replace("%", "\\%")  # % is a newline
    return f"{line} {MARKER}"


def _read_crontab() -> str | None:
    """The user's crontab ("" when there is none yet); None when crontab is missing."""
    if shutil.which("crontab") is None:
        return None
    done = _run(["crontab", "-l"])
    if done.returncode != 0:
        if "no crontab" in done.stderr.lower():
            return ""
        raise ScheduleError(f"`crontab -l` failed: {done.stderr.strip() or done.returncode}")
    return done.stdout


def _write_crontab(text: str) -> None:
    done = _run(["crontab", "-"], stdin=text)
    if done.returncode != 0:
        raise ScheduleError(f"`crontab -` refused the new crontab: {done.stderr.strip()}")


def _without_ours(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if MARKER not in ln]


def _install_cron(job: Job) -> str:
    current = _read_crontab()
    if current is None:
        raise ScheduleError(
            "neither systemd user timers (`systemctl --user`) nor `crontab` work here; "
            f"have your scheduler run: {' '.join(shlex.quote(c) for c in job.command)} run --quiet"
        )
    line = cron_line(job)
    new = "\n".join([*_without_ours(current), line]) + "\n"
    if new != current:
        _write_crontab(new)
    return f"added to your crontab: {line}"


def _remove_cron() -> bool:
    current = _read_crontab()
    if not current or MARKER not in current:
        return False
    kept = _without_ours(current)
    _write_crontab("\n".join(kept) + "\n" if kept else "")
    return True


# -- the commands ----------------------------------------------------------------------


def install(job: Job) -> str:
    """Install the job under systemd if it works, else in the crontab, removing the other one."""
    if systemd_available():
        message = _install_systemd(job)
        if _remove_cron():  # one scheduler only: never two runs racing for the lock
            message += " (and removed calsync's old crontab line)"
        return message
    cron_spec(job.minutes)  # a bad interval fails before anything changes
    message = _install_cron(job)
    _remove_systemd()
    return message


def remove() -> str:
    """Remove calsync's timer and crontab line, whichever are there."""
    done = [what for what, removed in (("the systemd user timer", _remove_systemd()),
                                       ("the crontab line", _remove_cron())) if removed]
    return f"removed {' and '.join(done)}" if done else "nothing to remove: no calsync schedule installed"


def state() -> State:
    """The calsync schedule installed now; a failing ``crontab -l`` reads as no line."""
    service, timer = _unit_paths()
    systemd = service.exists() and timer.exists()
    enabled = systemd and systemd_available() and _run(
        ["systemctl", "--user", "is-enabled", f"{UNIT}.timer"]).stdout.strip() == "enabled"
    try:
        crontab = _read_crontab() or ""
    except ScheduleError:
        crontab = ""
    line = next((ln for ln in crontab.splitlines() if MARKER in ln), None)
    return State(systemd, enabled, line)


def describe(current: State) -> list[str]:
    """The installed schedule in lines, for ``schedule show`` and ``doctor``."""
    lines = []
    if current.systemd:
        _, timer = _unit_paths()
        every = re.search(r"OnUnitActiveSec=(\S+)", timer.read_text(encoding="utf-8"))
        lines.append(f"systemd user timer {timer}: every {every.group(1) if every else '?'}, "
                     + ("enabled" if current.systemd_enabled else
                        "NOT enabled (run `calsync schedule install` again)"))
    if current.cron_line:
        lines.append(f"crontab: {current.cron_line}")
    return lines or ["no calsync schedule installed; run `calsync schedule install`"]
