"""calsync's own exceptions.

The CLI turns each into one line on stderr and an exit code, so a cron mail says what
went wrong and what to do, never a traceback:

====  =====================================================================
code  meaning
====  =====================================================================
0     success (drift warnings included)
1     unexpected internal error (a bug: that one does print a traceback)
2     bad configuration or usage, or a library missing from the installation
3     a login expired or was revoked: run ``calsync setup <provider>``
4     a calendar could not be processed (file unreadable, server refused)
5     another calsync run holds the lock
====  =====================================================================
"""

from __future__ import annotations


class CalsyncError(Exception):
    """Base class: a failure the user can act on, shown as one line."""

    exit_code = 4


class ConfigError(CalsyncError):
    """The config file is missing, unreadable or invalid."""

    exit_code = 2


class MissingLibraryError(CalsyncError):
    """A dependency cannot be imported (a broken environment); names the pip command."""

    exit_code = 2


class UsageError(CalsyncError):
    """The command line asks for something that cannot be done (an unwritable --output)."""

    exit_code = 2


class AuthError(CalsyncError):
    """A login is missing, expired or revoked; the message names the command that fixes it."""

    exit_code = 3


class ProviderError(CalsyncError):
    """A calendar could not be read or written."""

    exit_code = 4


class CalendarFileError(ProviderError):
    """A local calendar file is unreadable or malformed."""


class ConflictError(ProviderError):
    """Someone changed the event between our read and our write (ETag / If-Match)."""


class ForbiddenError(ProviderError):
    """The provider refused a write (not the organizer, no permission)."""


class GraphError(ProviderError):
    """Microsoft Graph answered with an error: its HTTP ``status`` and Graph error ``code``
    ride along so callers can tell a missing item (404) or an expired delta (410) apart."""

    def __init__(self, message: str, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ScheduleError(CalsyncError):
    """systemd or crontab refused to install, or neither is available."""

    exit_code = 4


class LockedError(CalsyncError):
    """Another run holds the lock."""

    exit_code = 5
