"""A Google Workspace organisation as a :class:`~calsync.backends.org.Tenant`.

One service account key (read once), one token cache, one set of built APIs and one
connection pool per worker thread serve every owner; what is per owner is only the
delegated login (``with_subject``) and the provider's own state. The directory is read
as the configured admin.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from calsync.backends.google.client import Session
from calsync.backends.google.config import GoogleCalendar, GoogleOrg
from calsync.backends.google.directory import Directory
from calsync.backends.google.service_account import (
    DIRECTORY_SCOPES,
    Refusals,
    ServiceAccountKey,
    ServiceAccountLogin,
    TokenCache,
    cache_path,
    entry_scopes,
    owner_scopes,
)
from calsync.backends.google.shared import SharedHttp
from calsync.backends.org import Member
from calsync.backends.retry import RetryPolicy
from calsync.errors import ConfigError

if TYPE_CHECKING:
    from calsync.backends.google.calendar import GoogleProvider
    from calsync.backends.microsoft.config import MicrosoftCalendar
    from calsync.core.model import Owner
    from calsync.core.state import KeyValue


class GoogleTenant:
    """Every owner of ``org``, each acted for by the service account (see module docstring)."""

    def __init__(self, org: GoogleOrg, retry: RetryPolicy | None = None) -> None:
        self.org = org
        self.workers = org.concurrency
        self.key = ServiceAccountKey.load(org.service_account, org.name)
        self.cache = TokenCache(cache_path(self.key))
        self.retry = retry or RetryPolicy()
        self.shared = SharedHttp(org.api_url, self.retry.timeout)
        self.scopes = owner_scopes(org.read_only)
        self.entry = entry_scopes(org)
        self.refusals = Refusals()
        self._directory: Directory | None = None

    def login(self, subject: str, label: str) -> ServiceAccountLogin:
        """The service account acting for ``subject`` with the owners' scopes."""
        return ServiceAccountLogin(self.key, subject, self.scopes, self.cache, label, self.entry,
                                   self.refusals)

    def _dir(self) -> Directory:
        if self._directory is None:
            admin = self.org.admin
            if admin is None:
                raise ConfigError(f"{self.org.name}: groups and the directory are read as a "
                                  "Workspace admin: set `admin`")
            label = f"{self.org.name} (directory as {admin})"
            login = ServiceAccountLogin(self.key, admin, DIRECTORY_SCOPES, self.cache, label,
                                        self.entry)
            session = Session(login, self.org.api_url, self.retry, label, self.shared)
            self._directory = Directory(session, self.org.customer, label)
        return self._directory

    def group_members(self, group: str) -> list[Member]:
        return self._dir().group_members(group)

    def directory(self, filter: str | None) -> list[Member]:
        return self._dir().users(filter)

    def calendar(self, member: Member) -> GoogleCalendar:
        org = self.org
        return GoogleCalendar(
            name=f"{org.name}/{member.address}", read_only=org.read_only,
            calendar_id="primary", api_url=org.api_url, send_updates=org.send_updates,
            attach_doc=org.attach_doc,
        )

    def subject(self, cal: GoogleCalendar | MicrosoftCalendar) -> str:
        """The owner a calendar from :meth:`calendar` belongs to."""
        prefix = f"{self.org.name}/"
        if not cal.name.startswith(prefix) or cal.provider != "google":
            raise ValueError(f"{cal.name}: not a calendar of organisation {self.org.name}")
        return cal.name[len(prefix):]

    def open(self, cal: GoogleCalendar | MicrosoftCalendar, owner: Owner, state: KeyValue,
             now: datetime) -> GoogleProvider:
        from calsync.backends.google.calendar import GoogleProvider

        subject = self.subject(cal)
        assert isinstance(cal, GoogleCalendar)
        return GoogleProvider(cal, owner, state, now, retry=self.retry,
                              login=self.login(subject, cal.name), shared=self.shared)

    def requests(self) -> int:
        return self.shared.requests()

    def close(self) -> None:
        """Write the token cache and close every thread's connections."""
        self.cache.flush()
        self.shared.close()
