"""The seam for organisation runs: one admin login acting for many owners' mailboxes.

A :class:`Tenant` is what a backend gives for one ``[[organizations]]`` entry: it lists
the owners (a group's members, transitively, or the directory narrowed by a filter),
names each owner's calendar, and opens a :class:`~calsync.backends.base.Calendar` for an
owner that shares the tenant's login (a service account acting for the owner, or one
app-only token) and its connections. The app runs owners side by side; a tenant must be
safe to use from several threads at once and keep its requests in flight within
:attr:`~calsync.config_reader.OrgBase.concurrency`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from calsync.backends.base import Calendar
    from calsync.backends.google.config import GoogleCalendar
    from calsync.backends.microsoft.config import MicrosoftCalendar
    from calsync.core.model import Owner
    from calsync.core.state import KeyValue


@dataclass(frozen=True)
class Member:
    """One owner an organisation run acts for."""

    address: str  # primary address, lower-cased
    team: str | None = None  # the group they were listed from, or their department
    name: str | None = None
    aliases: tuple[str, ...] = ()  # the owner's other addresses (lower-cased)


class Tenant(Protocol):
    """An organisation's login and directory at one provider (see the module docstring)."""

    workers: int  # owners worth running at once (more than ``concurrency`` when requests batch)

    def group_members(self, group: str) -> list[Member]:
        """The users in ``group`` (an address or id), nested groups expanded, each once;
        team is the group's display name. ProviderError when the group is unknown."""
        ...

    def directory(self, filter: str | None) -> list[Member]:
        """Every enabled user of the directory matching the provider-native ``filter``;
        team is the user's department when the directory has one."""
        ...

    def calendar(self, member: Member) -> GoogleCalendar | MicrosoftCalendar:
        """The owner's primary calendar as a configured calendar (its name names the
        organisation and the owner, so state and messages stay apart per owner)."""
        ...

    def open(self, cal: GoogleCalendar | MicrosoftCalendar, owner: Owner, state: KeyValue,
             now: datetime) -> Calendar:
        """The owner's calendar, acting as them with the tenant's login (a refused
        delegation or an unlicensed mailbox raises on first use, for that owner alone)."""
        ...

    def requests(self) -> int:
        """HTTP requests sent so far (tokens, directory and calendars; a batch counts once)."""
        ...

    def close(self) -> None:
        """Close the shared connections."""
        ...
