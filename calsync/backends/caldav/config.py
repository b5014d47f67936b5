"""The ``[[calendars]]`` keys of a CalDAV calendar (``calsync setup caldav`` writes them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from calsync.config_reader import CalendarBase, Reader, Schema, slug, token_home


@dataclass(frozen=True, kw_only=True)
class CaldavCalendar(CalendarBase):
    """One calendar collection on a CalDAV server, read and written over HTTP."""

    provider: Literal["caldav"] = "caldav"
    url: str  # the collection, or a principal / server URL to discover it from (ends in /)
    username: str
    calendar: str | None = None  # the collection's name when ``url`` is not the collection
    password_file: Path  # mode 0600; unused with ``keyring``
    keyring: bool = False


def parse(r: Reader, t: Mapping[str, Any], p: str, name: str | None, read_only: bool) -> CaldavCalendar:
    """``url`` and ``username`` are required; the password file defaults beside the tokens."""
    url = r.url(t, "url", p, None)
    username = r.get(t, "username", p, str, None)
    if url is None:
        r.fail(p + "url", "missing: the CalDAV server, principal or calendar URL")
    if not username:
        r.fail(p + "username", "missing: the login name on the CalDAV server")
    calendar: str | None = r.get(t, "calendar", p, str, None)
    name = name or f"caldav-{calendar or url.rsplit('/', 1)[-1] or 'calendar'}"
    default = token_home() / f"caldav-{slug(name).removeprefix('caldav-')}.password"
    return CaldavCalendar(
        name=name, read_only=read_only, url=url + "/", username=username, calendar=calendar,
        password_file=r.path_(t, "password_file", p) or default,
        keyring=r.get(t, "keyring", p, bool, False),
    )


SCHEMA = Schema(frozenset({"url", "username", "calendar", "password_file", "keyring"}), parse)
