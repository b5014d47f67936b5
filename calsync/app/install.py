"""A library missing from the installation, as one line naming the command that fixes it.

Every provider's libraries are dependencies of calsync, so this means a broken or
hand-trimmed environment: the user needs the exact ``pip`` command for *this* Python.
"""

from __future__ import annotations

import shlex
import sys

from calsync.errors import MissingLibraryError

# top-level import name → (distribution on PyPI, what it is for)
_DISTRIBUTIONS = {
    "google_auth_oauthlib": ("google-auth-oauthlib", "Google login"),
    "googleapiclient": ("google-api-python-client", "Google Calendar"),
    "google_auth_httplib2": ("google-auth-httplib2", "Google Calendar"),
    "httplib2": ("httplib2", "Google Calendar"),
    "google": ("google-auth", "Google Calendar"),
    "msal": ("msal", "Microsoft 365 login"),
    "httpx": ("httpx", "Microsoft 365"),
    "requests": ("requests", "Microsoft 365 login"),
    "icalendar": ("icalendar", "iCalendar files"),
    "recurring_ical_events": ("recurring-ical-events", "iCalendar files"),
    "platformdirs": ("platformdirs", "finding calsync's folders"),
    "tzdata": ("tzdata", "time zones"),
    "psycopg": ("'psycopg[binary]'", "the PostgreSQL state (state_url)"),
}


def install_command(distribution: str, python: str | None = None) -> str:
    """The ``pip install`` command for this Python (or ``python``), shell-quoted."""
    return f"{shlex.quote(python or sys.executable)} -m pip install {distribution}"


def missing_library(exc: ModuleNotFoundError, python: str | None = None) -> MissingLibraryError | None:
    """The one-line error for a dependency that failed to import; None for anything else
    (a module of calsync itself missing is a bug and keeps its traceback)."""
    top = (exc.name or "").split(".")[0]
    known = _DISTRIBUTIONS.get(top)
    if known is None:
        return None
    dist, purpose = known
    return MissingLibraryError(
        f"the Python package {dist} (needed for {purpose}) is missing from this installation; "
        f"install it with: {install_command(dist, python)}"
    )
