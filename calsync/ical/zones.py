"""Time zone names as calendars write them, turned into tzinfo: the one Windows→IANA map.

Exchange and Outlook name zones the Windows way (``W. Europe Standard Time``); .ics files
exported from them carry the same names in TZID. Both the .ics reader and the Microsoft
backend resolve names here, so a name is understood the same way everywhere. The table is
CLDR's windowsZones mapping as icalendar ships it, loaded on first use (it is imported
only by the runs that meet a zone name, never at start-up).
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Names Graph uses for UTC besides the IANA ones.
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "tzone://Microsoft/Utc"})


@cache
def _windows_table() -> dict[str, str]:
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    return dict(WINDOWS_TO_OLSON)


def windows_to_iana(name: str) -> str | None:
    """The IANA name for a Windows zone name (quotes around it ignored); None if unknown."""
    return _windows_table().get(name.strip().strip('"'))


def iana_to_windows(iana: str) -> str | None:
    """The first Windows name that maps to ``iana`` (what Exchange would report)."""
    if iana in ("UTC", "Etc/UTC"):
        return "UTC"
    for win, olson in _windows_table().items():
        if olson == iana:
            return win
    return None


def windows_zone(name: str) -> ZoneInfo | None:
    """The IANA zone for a Windows zone name; None when the name is not a Windows one."""
    iana = windows_to_iana(name)
    if iana is None:
        return None
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone(name: str | None) -> tzinfo:
    """A zone name, Windows or IANA, as a tzinfo; UTC when empty or unknown.

    This is how Graph's ``timeZone`` fields read: an unknown name never stops a run.
    """
    if not name or name in _UTC_NAMES:
        return UTC
    found = windows_zone(name)
    if found is not None:
        return found
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC

