"""Calendar providers: each knows one API and nothing about agendas.

Provider modules import their client libraries, which cost 100–400 ms, so they are
imported here only when a configured calendar needs them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from calsync.backends.base import Provider
    from calsync.config import CalendarConfig, Owner
    from calsync.core.state import KeyValue


def open_provider(
    cal: CalendarConfig, owner: Owner, state: KeyValue, now: datetime
) -> Provider:
    """Build the provider for one configured calendar.

    ``state`` is namespaced by the caller per calendar; ``now`` is the run's clock.
    """
    if cal.provider == "ics":
        from calsync.backends.local.calendar import IcsProvider

        return IcsProvider(cal, owner)
    if cal.provider == "google":
        from calsync.backends.google.calendar import GoogleProvider

        return GoogleProvider(cal, owner, state, now)
    if cal.provider == "microsoft":
        from calsync.backends.microsoft.calendar import MicrosoftProvider

        return MicrosoftProvider(cal, owner, state, now)
    if cal.provider == "caldav":
        from calsync.backends.caldav.calendar import CaldavProvider

        return CaldavProvider(cal, owner, state, now)
    raise ValueError(f"unknown provider {cal.provider!r}")
