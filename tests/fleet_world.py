"""An organisation in memory: a :class:`~calsync.backends.org.Tenant` over memory calendars.

Each owner's mailbox is a :class:`~calsync.backends.memory.MemoryCalendar` seeded with weekly
1on1 series the owner organises; groups and a directory list members with teams; an owner
can be made to fail on open. The fleet's own behaviour (isolation, state per owner,
summaries, dry runs) is tested on it without any provider; the Google and Microsoft tenants
are tested against their fakes in their own test modules.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from calsync.backends.base import Calendar
from calsync.backends.google.config import GoogleCalendar
from calsync.backends.memory import MemoryCalendar
from calsync.backends.microsoft.config import MicrosoftCalendar
from calsync.backends.org import Member
from calsync.config_reader import OrgBase
from calsync.core.model import Attendee, Body, Occurrence, Owner, Response
from calsync.core.state import KeyValue
from calsync.errors import ProviderError

TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=TZ)


def seed(cal: MemoryCalendar, owner: str, reports: list[str], every: int = 7,
         minutes: int = 30, weeks: int = 12) -> None:
    """Weekly (``every`` days) 1on1s the owner organises with each report, past and ahead."""
    for i, report in enumerate(reports):
        first = NOW.replace(hour=10 + i % 6) - timedelta(days=every * weeks)
        uid = f"{owner}-{report}"
        for n in range(weeks + 3):
            start = first + timedelta(days=every * n)
            cal.put(Occurrence(
                provider="memory", calendar=cal.name, ref=f"{uid}/{n}", uid=uid,
                start=start, end=start + timedelta(minutes=minutes), title=f"1on1 {report}",
                series_id=uid, recurrence_id=start, organizer=owner, organizer_is_self=True,
                attendees=(Attendee(owner, response=Response.ACCEPTED, is_self=True),
                           Attendee(report, response=Response.ACCEPTED)),
                description=Body("Our notes")))


@dataclass
class MemoryTenant:
    """A tenant whose mailboxes live in memory (see the module docstring)."""

    org: OrgBase
    mailboxes: dict[str, MemoryCalendar] = field(default_factory=dict)
    groups: dict[str, list[Member]] = field(default_factory=dict)
    people: list[Member] = field(default_factory=list)  # the directory
    failing: dict[str, Exception] = field(default_factory=dict)  # address -> raised on open
    workers: int = 4
    opened: list[str] = field(default_factory=list)
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def group_members(self, group: str) -> list[Member]:
        if group not in self.groups:
            raise ProviderError(f"{self.org.name}: group {group!r} not found")
        return self.groups[group]

    def directory(self, filter: str | None) -> list[Member]:
        return [m for m in self.people if filter is None or m.team == filter]

    def calendar(self, member: Member) -> GoogleCalendar | MicrosoftCalendar:
        return GoogleCalendar(name=f"{self.org.name}/{member.address}", read_only=self.org.read_only)

    def open(self, cal: GoogleCalendar | MicrosoftCalendar, owner: Owner, state: KeyValue,
             now: datetime) -> Calendar:
        address = cal.name.split("/", 1)[1]
        with self.lock:
            self.opened.append(address)
        if address in self.failing:
            raise self.failing[address]
        return self.mailboxes[address]

    def requests(self) -> int:
        return len(self.opened)

    def close(self) -> None:
        self.closed = True


def tenant_with(org: OrgBase, owners: dict[str, list[str]]) -> MemoryTenant:
    """A tenant whose owners (address -> their reports) each have a seeded mailbox."""
    tenant = MemoryTenant(org)
    for owner, reports in owners.items():
        cal = MemoryCalendar(f"{org.name}/{owner}", owner=(owner,))
        seed(cal, owner, reports)
        tenant.mailboxes[owner] = cal
    return tenant
