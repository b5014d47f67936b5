"""``calsync setup caldav URL --username U``: check the login, list the calendars, save.

The password (an app password, for hosted servers) is asked once and kept in a 0600
file or the OS keyring, never in the config. The calendar to use is the URL itself when
it is a collection, else ``--calendar NAME`` or the only calendar with events; the
``[[calendars]]`` entry is added to the config or updated in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from calsync.backends.caldav.config import CaldavCalendar
from calsync.backends.caldav.dav import DavClient
from calsync.backends.caldav.discover import Collection, calendars, choose
from calsync.backends.caldav.secret import load_password, setup_hint, store_password
from calsync.config import parse
from calsync.errors import CalsyncError, ConfigError, UsageError


@dataclass(frozen=True)
class Request:
    """What ``calsync setup caldav`` was asked to connect, from its command-line options."""

    url: str
    username: str
    calendar: str | None = None
    password_file: Path | None = None
    keyring: bool = False
    read_only: bool = False
    owner: str | None = None


def setup(config_path: Path, req: Request, password: str | None) -> str:
    """Log in, find the calendar and write the entry; ``password`` None reads the stored one."""
    config_path = config_path.expanduser()
    entry: dict[str, object] = {"provider": "caldav", "url": req.url, "username": req.username}
    if req.calendar:
        entry["calendar"] = req.calendar
    if req.password_file is not None:
        entry["password_file"] = str(req.password_file)
    if req.keyring:
        entry["keyring"] = True
    entry["read_only"] = req.read_only
    probe = parse({"owner": {"email": req.owner or "probe@example.invalid"},
                   "calendars": [entry]}, config_path).calendars[0]
    assert isinstance(probe, CaldavCalendar)
    secret = password if password is not None else load_password(probe)
    client = DavClient(probe.url, req.username, secret, probe.name)
    try:
        own, found = calendars(client, probe.url)
    finally:
        client.close()
    try:
        chosen = choose(probe.name, own, found, req.calendar)
    except ConfigError as exc:
        raise UsageError(f"{exc}\n{listing(found, None)}") from None
    if own is None and req.calendar is None:
        entry["calendar"] = chosen.name  # pin it: a calendar added later must not change it
    if not config_path.exists() and req.owner is None:
        raise UsageError(f"{config_path} does not exist yet: pass --owner YOUR@ADDRESS")
    where = store_password(probe, secret) if password is not None else "kept as it was"
    from calsync.app.config_edit import upsert_calendar

    upsert_calendar(config_path, entry, ("provider", "url", "username"), owner_email=req.owner)
    mode = "read-only" if req.read_only else "read and write"
    return (f"{listing(found, chosen.url)}\nCalDAV calendar {chosen.name!r} connected ({mode}); "
            f"password: {where}; config updated: {config_path}")


def listing(found: list[Collection], chosen: str | None) -> str:
    """The server's calendars, one a line, ``*`` marking ``chosen`` and tasks-only lists noted."""
    lines = ["Calendars on the server:"]
    for cal in found:
        mark = "*" if cal.url == chosen else " "
        kind = "" if cal.events else "  (no events: tasks only)"
        lines.append(f" {mark} {cal.name}  {cal.url}{kind}")
    return "\n".join(lines)


def doctor_check(cal: CaldavCalendar) -> tuple[bool, str, str, int]:
    """``(ok, what, fix, exit code)`` for ``calsync doctor``: the stored login, tried once."""
    try:
        client = DavClient(cal.url, cal.username, load_password(cal), cal.name)
        try:
            own, found = calendars(client, cal.url)
            chosen = choose(cal.name, own, found, cal.calendar)
        finally:
            client.close()
    except CalsyncError as exc:
        return False, str(exc), setup_hint(cal), exc.exit_code
    return True, f"{chosen.url}: login works", "", 0
