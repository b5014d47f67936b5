"""Every backend by provider name: its config schema and how to open its calendar.

Config schemas are small and imported with this module; provider modules import their
client libraries (100–400 ms), so each is imported only when a configured calendar
needs it. A new backend is one package under ``calsync/backends/`` plus one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from calsync.backends.caldav.config import SCHEMA as CALDAV
from calsync.backends.caldav.config import CaldavCalendar
from calsync.backends.google.config import ORG_SCHEMA as GOOGLE_ORG
from calsync.backends.google.config import SCHEMA as GOOGLE
from calsync.backends.google.config import GoogleCalendar
from calsync.backends.local.config import SCHEMA as ICS
from calsync.backends.local.config import IcsCalendar
from calsync.backends.microsoft.config import ORG_SCHEMA as MICROSOFT_ORG
from calsync.backends.microsoft.config import SCHEMA as MICROSOFT
from calsync.backends.microsoft.config import MicrosoftCalendar

if TYPE_CHECKING:
    from calsync.backends.base import Provider
    from calsync.backends.org import Tenant
    from calsync.config_reader import OrgBase, OrgSchema, Schema
    from calsync.core.model import Owner
    from calsync.core.state import KeyValue

CalendarConfig = IcsCalendar | GoogleCalendar | MicrosoftCalendar | CaldavCalendar
"""One configured calendar: a tagged union on ``provider``."""


C = TypeVar("C", IcsCalendar, GoogleCalendar, MicrosoftCalendar, CaldavCalendar)


def _open_ics(cal: IcsCalendar, owner: Owner, state: KeyValue, now: datetime) -> Provider:
    from calsync.backends.local.calendar import IcsProvider

    return IcsProvider(cal, owner)


def _open_google(cal: GoogleCalendar, owner: Owner, state: KeyValue, now: datetime) -> Provider:
    from calsync.backends.google.calendar import GoogleProvider

    return GoogleProvider(cal, owner, state, now)


def _open_microsoft(cal: MicrosoftCalendar, owner: Owner, state: KeyValue, now: datetime) -> Provider:
    from calsync.backends.microsoft.calendar import MicrosoftProvider

    return MicrosoftProvider(cal, owner, state, now)


def _open_caldav(cal: CaldavCalendar, owner: Owner, state: KeyValue, now: datetime) -> Provider:
    from calsync.backends.caldav.calendar import CaldavProvider

    return CaldavProvider(cal, owner, state, now)


def _google_tenant(org: OrgBase) -> Tenant:
    from calsync.backends.google.config import GoogleOrg
    from calsync.backends.google.tenant import GoogleTenant

    assert isinstance(org, GoogleOrg)
    return GoogleTenant(org)


@dataclass(frozen=True)
class Backend(Generic[C]):
    """A provider's config schema and the factory for its calendar, typed on its own config;
    a provider that can act for a whole organisation also has its ``[[organizations]]``
    schema and the factory for its :class:`~calsync.backends.org.Tenant`."""

    schema: Schema[C]
    open: Callable[[C, Owner, KeyValue, datetime], Provider]
    org: OrgSchema[Any] | None = None
    tenant: Callable[[OrgBase], Tenant] | None = None


BACKENDS: dict[str, Backend[Any]] = {
    "ics": Backend(ICS, _open_ics),
    "google": Backend(GOOGLE, _open_google, GOOGLE_ORG, _google_tenant),
    "microsoft": Backend(MICROSOFT, _open_microsoft, MICROSOFT_ORG),
    "caldav": Backend(CALDAV, _open_caldav),
}
PROVIDERS = tuple(BACKENDS)
ORG_PROVIDERS = tuple(k for k, b in BACKENDS.items() if b.org is not None)


def open_tenant(org: OrgBase) -> Tenant:
    """The organisation's tenant at its provider (the provider's client libraries load now)."""
    factory = BACKENDS[org.provider].tenant
    if factory is None:
        raise ValueError(f"provider {org.provider!r} has no organisation runs")
    return factory(org)


def open_provider(
    cal: CalendarConfig, owner: Owner, state: KeyValue, now: datetime
) -> Provider:
    """Build the provider for one configured calendar.

    ``state`` is namespaced by the caller per calendar; ``now`` is the run's clock.
    """
    backend = BACKENDS.get(cal.provider)
    if backend is None:
        raise ValueError(f"unknown provider {cal.provider!r}")
    return backend.open(cal, owner, state, now)
