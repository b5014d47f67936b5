"""A Microsoft 365 organisation as a :class:`~calsync.backends.org.Tenant`.

Everything expensive is made once per tenant and shared by all owners: the app-only token
source (:mod:`.apponly`), one TLS context, one connection pool and one ``httpx.Client``
over the batching transport (:mod:`.batch`). Opening an owner's calendar is then only a
:class:`~calsync.backends.microsoft.calendar.MicrosoftProvider` on ``/users/{address}``
that borrows them (no request is sent until it fetches).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from calsync.backends.microsoft.apponly import AppTokenSource
from calsync.backends.microsoft.auth import ca_bundle
from calsync.backends.microsoft.batch import LINGER, BatchTransport, BoundedTransport
from calsync.backends.microsoft.calendar import MicrosoftProvider
from calsync.backends.microsoft.config import MicrosoftCalendar
from calsync.backends.microsoft.directory import directory_members, group_members
from calsync.backends.microsoft.graph import Graph
from calsync.backends.retry import RetryPolicy

if TYPE_CHECKING:
    from calsync.backends.google.config import GoogleCalendar
    from calsync.backends.microsoft.config import MicrosoftOrg
    from calsync.backends.org import Member
    from calsync.core.model import Owner
    from calsync.core.state import KeyValue

PER_BATCH = 20  # owners worth running per batch in flight, so that batches fill


class MicrosoftTenant:
    """One ``[[organizations]]`` entry with ``provider = "microsoft"`` (app-only)."""

    def __init__(self, org: MicrosoftOrg, *, sleep: Callable[[float], None] = time.sleep,
                 linger: float = LINGER) -> None:
        import httpx

        self.org = org
        self.sleep = sleep
        self.tokens = AppTokenSource(org)
        concurrency = max(1, org.concurrency)
        verify: Any = True
        ca = ca_bundle()
        if ca:
            import ssl

            verify = ssl.create_default_context(cafile=ca)
        inner = httpx.HTTPTransport(verify=verify, limits=httpx.Limits(
            max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2))
        self.transport: BoundedTransport = (
            BatchTransport(inner, org.graph_url, concurrency, linger) if org.batch
            else BoundedTransport(inner, concurrency))
        self.client = httpx.Client(transport=self.transport, follow_redirects=False,
                                   timeout=httpx.Timeout(RetryPolicy().timeout))
        self.workers = concurrency * PER_BATCH if org.batch else concurrency
        self._directory = Graph(org.graph_url, self.tokens, client=self.client, name=org.name,
                                policy=RetryPolicy(sleep=sleep))

    def group_members(self, group: str) -> list[Member]:
        """The group's enabled users, nested groups expanded (see :mod:`.directory`)."""
        return group_members(self._directory, self.org.name, group)

    def directory(self, filter: str | None) -> list[Member]:  # noqa: A002 (the Protocol's name)
        """Every enabled user matching ``filter`` (Graph ``$filter`` syntax)."""
        return directory_members(self._directory, self.org.name, filter)

    def calendar(self, member: Member) -> MicrosoftCalendar:
        """The owner's default calendar at ``/users/{address}``."""
        org = self.org
        return MicrosoftCalendar(
            name=f"{org.name}/{member.address}", read_only=org.read_only,
            client_id=org.client_id, tenant=org.tenant, mailbox=member.address,
            authority_url=org.authority_url, graph_url=org.graph_url)

    def open(self, cal: GoogleCalendar | MicrosoftCalendar, owner: Owner, state: KeyValue,
             now: datetime) -> MicrosoftProvider:
        """The owner's calendar on the tenant's shared token source and client."""
        if not isinstance(cal, MicrosoftCalendar):
            raise TypeError(f"{cal.name}: not a Microsoft calendar")
        return MicrosoftProvider(cal, owner, state, now, sleep=self.sleep, tokens=self.tokens,
                                 client=self.client)

    def requests(self) -> int:
        """HTTP requests sent: sign-in (discovery, tokens), directory and calendars (a
        ``$batch`` counts once; :attr:`sub_requests` counts what the batches carried)."""
        return self.transport.sent + self.tokens.requests

    @property
    def sub_requests(self) -> int:
        return self.transport.sub_requests

    def close(self) -> None:
        """Close the shared connections."""
        self.client.close()
