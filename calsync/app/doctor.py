"""``calsync doctor``: everything a cron run depends on, one line each, with the fix.

Checks the config, each calendar (reachable; for Google and Microsoft the login file, its
mode, a real refresh, the granted scopes, the clock against the server's ``Date``), the
state database, the run lock and the installed timer. Read-mostly: the only writes are
the refreshed login (as any run does) and nothing when a check fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calsync.app.doctor_check import Check, Clock, utcnow
from calsync.app.doctor_logins import google_checks, microsoft_checks
from calsync.app.store import probe
from calsync.backends.local.config import IcsCalendar
from calsync.config import CalendarConfig, Config
from calsync.errors import AuthError, CalendarFileError, CalsyncError, ConfigError

STALE_LOCK = timedelta(hours=1)  # a run holding the lock longer than this has hung


def exit_code(checks: list[Check]) -> int:
    """As the README says: a login problem (3) first, then the config (2), else 4."""
    failed = {c.code for c in checks if not c.ok}
    for code in (AuthError.exit_code, ConfigError.exit_code):
        if code in failed:
            return code
    return max(failed, default=0)


def as_text(checks: list[Check]) -> str:
    """The checks as ``calsync doctor`` prints them, one line each."""
    return "\n".join(c.line() for c in checks)


def as_json(checks: list[Check]) -> str:
    """The checks for ``--json``: overall ``ok`` and each check without its exit code."""
    rows = [{k: v for k, v in asdict(c).items() if k != "code"} for c in checks]
    return json.dumps({"ok": all(c.ok for c in checks), "checks": rows}, ensure_ascii=False, indent=2)


def diagnose(config_path: Path, clock: Clock = utcnow) -> list[Check]:
    """Every check in order: config, each calendar, state database, run lock, timer.
    A config that does not load skips the calendar checks but not the local ones."""
    from calsync.config import load
    from calsync.paths import data_dir

    checks: list[Check] = []
    try:
        config: Config | None = load(config_path)
    except ConfigError as exc:
        config = None
        missing = not config_path.expanduser().exists()
        fix = ("`calsync init` writes one" if missing else
               "edit that key (config.example.toml documents every key)")
        checks.append(Check("config", False, str(exc), fix, ConfigError.exit_code))
    if config is not None:
        n, k = len(config.calendars), len(config.organizations)
        orgs = f", {k} organization{'s' * (k != 1)}" if k else ""
        checks.append(Check("config", True,
                            f"{config.path} is valid ({n} calendar{'s' * (n != 1)}{orgs})"))
        for cal in config.calendars:
            checks.extend(calendar_checks(cal, clock))
    home = data_dir()
    if config is not None and config.state_url is not None:
        checks.append(shared_state_check(config))
    else:
        checks.append(state_check(home / "state.sqlite3"))
        checks.append(lock_check(home / "run.lock", clock))
    checks.append(timer_check())
    return checks


def calendar_checks(cal: CalendarConfig, clock: Clock) -> Iterator[Check]:
    """The checks of one calendar, by its provider."""
    if cal.provider == "ics":
        yield ics_check(cal)
    elif cal.provider == "google":
        yield from google_checks(cal, clock)
    elif cal.provider == "caldav":
        from calsync.backends.caldav.setup import doctor_check

        ok, detail, fix, code = doctor_check(cal)
        yield Check(f"calendar {cal.name}", ok, detail, fix, code or 4)
    else:
        yield from microsoft_checks(cal, clock)


def ics_check(cal: IcsCalendar) -> Check:
    """The .ics path holds calendar files (by the reader's own rule) and is readable."""
    from calsync.backends.local.calendar import ics_files  # the rule the reader itself applies

    name = f"calendar {cal.name}"
    path = cal.path
    assert path is not None
    try:
        files = ics_files(path)
    except CalendarFileError as exc:
        fix = ("export your calendar there, or point `path` at the .ics file" if path.is_dir()
               else "fix `path` in the config")
        return Check(name, False, str(exc), fix)
    if path.is_dir():
        return Check(name, True, f"{path} ({len(files)} .ics file{'s' * (len(files) != 1)})")
    if not os.access(path, os.R_OK):
        return Check(name, False, f"{path} is not readable", f"chmod u+r {path}")
    return Check(name, True, f"{path} is readable")


# -- local state ---------------------------------------------------------------------------


def state_check(path: Path) -> Check:
    """The state database can be created or opened for writing, and is calsync's."""
    name = "state database"
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), Path("/"))
        if os.access(parent, os.W_OK):
            return Check(name, True, f"{path} will be created by the first run")
        return Check(name, False, f"cannot create {path}: {parent} is not writable",
                     f"make {parent} writable, or point CALSYNC_HOME elsewhere")
    problem = probe(path)
    if problem is not None:
        kind, exc = problem
        if kind == "open":
            return Check(name, False, f"{path} cannot be opened for writing ({exc})",
                         f"chmod u+rw {path} {path.parent}")
        if kind == "locked":
            return Check(name, False, f"{path} is locked by another process",
                         f"wait for it to finish; `fuser {path}` names it")
        if kind == "readonly":
            return Check(name, False, f"{path} is not writable ({exc})",
                         f"chmod u+rw {path} {path.parent}")
        return Check(name, False, f"{path} is not a calsync database ({exc})",
                     f"move it aside (`mv {path} {path}.broken`); the next run starts afresh")
    return Check(name, True, f"{path} is writable")


def shared_state_check(config: Config) -> Check:
    """A ``state_url`` database can be opened (schema included) and whether a run holds
    this owner's lock there now; the password is never shown."""
    from calsync.app.store_pg import redact
    from calsync.app.stores import open_owner_stores, open_store
    from calsync.errors import CalsyncError, LockedError

    assert config.state_url is not None
    name, shown = "state database", redact(config.state_url)
    try:
        if not config.owner.emails:  # organisations only: each owner is locked in turn
            open_owner_stores(config).close()
            return Check(name, True, f"{shown} is reachable")
        store = open_store(config)
    except CalsyncError as exc:
        return Check(name, False, str(exc),
                     "check state_url, the password in ~/.pgpass, and that the server is up",
                     exc.exit_code)
    try:
        with store.lock():
            pass
    except LockedError:
        return Check(name, True, f"{shown} is reachable; a run holds this owner's lock now")
    except CalsyncError as exc:
        return Check(name, False, str(exc), "check that the server is up", exc.exit_code)
    finally:
        store.close()
    return Check(name, True, f"{shown} is reachable; no run in progress")


def lock_check(path: Path, clock: Clock) -> Check:
    """Whether a run holds the lock now, and whether it has held it so long it has probably hung."""
    import fcntl

    name = "run lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return Check(name, True, "no run in progress")
    except OSError as exc:
        return Check(name, False, f"{path} cannot be opened ({exc.strerror})", f"chmod u+rw {path}")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            since = datetime.fromtimestamp(os.fstat(fd).st_mtime, UTC)
            held = clock() - since
            minutes = int(held.total_seconds() // 60)
            if held > STALE_LOCK:
                return Check(name, False, f"a run (pid {pid}) has held {path} for {minutes} "
                             "minutes; it has probably hung", f"kill {pid}")
            return Check(name, True, f"a run (pid {pid}) is in progress, for {minutes} minutes")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return Check(name, True, "no run in progress")
    finally:
        os.close(fd)


def timer_check() -> Check:
    """Whether a systemd timer or crontab line runs calsync."""
    from calsync.app import schedule

    try:
        current = schedule.state()
    except CalsyncError as exc:
        return Check("timer", False, str(exc), "run `calsync schedule install`")
    lines = schedule.describe(current)
    if current.installed:
        return Check("timer", True, "; ".join(lines))
    detail = lines[0] if current.systemd else "no systemd timer or crontab line runs calsync"
    return Check("timer", False, detail, "run `calsync schedule install`")
