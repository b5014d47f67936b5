"""The ``[[calendars]]`` keys of a Microsoft 365 (Outlook) calendar."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from calsync.config_reader import CalendarBase, OrgBase, OrgSchema, Reader, Schema, slug, token_home


@dataclass(frozen=True, kw_only=True)
class MicrosoftCalendar(CalendarBase):
    """One Outlook calendar, read and written through Microsoft Graph."""

    provider: Literal["microsoft"] = "microsoft"
    client_id: str | None = None
    tenant: str = "organizations"
    calendar: str | None = None  # a calendar's name; None: the default calendar
    mailbox: str | None = None  # another user's mailbox (/users/{id}); None: the login's own
    token_file: Path | None = None
    authority_url: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"


def parse(
    r: Reader, t: Mapping[str, Any], p: str, name: str | None, read_only: bool
) -> MicrosoftCalendar:
    """Every key is optional: the default calendar, a token file named after it."""
    client_id: str | None = r.get(t, "client_id", p, str, None)
    calendar: str | None = r.get(t, "calendar", p, str, None)
    return MicrosoftCalendar(
        name=name or f"microsoft-{calendar or 'calendar'}",
        read_only=read_only,
        client_id=client_id,
        tenant=r.get(t, "tenant", p, str, "organizations"),
        calendar=calendar,
        mailbox=r.get(t, "mailbox", p, str, None) or None,
        token_file=r.path_(t, "token_file", p) or token_home() / f"microsoft-{slug(calendar or 'me')}.json",
        authority_url=r.url(t, "authority_url", p, "https://login.microsoftonline.com"),
        graph_url=r.url(t, "graph_url", p, "https://graph.microsoft.com/v1.0"),
    )


SCHEMA = Schema(
    frozenset({"client_id", "tenant", "token_file", "calendar", "mailbox", "authority_url", "graph_url"}),
    parse,
)


@dataclass(frozen=True, kw_only=True)
class MicrosoftOrg(OrgBase):
    """A Microsoft 365 organisation run: an app registration signing in app-only (client
    credentials: a certificate or a secret) and reading each owner's mailbox at
    ``/users/{id}``, its requests combined into Graph ``$batch`` calls."""

    tenant: str  # the directory (tenant) id or a verified domain; never common/organizations
    client_id: str
    client_secret_file: Path | None = None  # a file (0600) holding the secret
    certificate: Path | None = None  # a PEM (0600) with the private key and the certificate
    authority_url: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    batch: bool = True  # combine requests into $batch calls of up to 20


def parse_org(r: Reader, t: Mapping[str, Any], p: str, common: OrgBase) -> MicrosoftOrg:
    """``tenant``, ``client_id`` and one of ``client_secret_file`` / ``certificate`` are required."""
    tenant: str | None = r.get(t, "tenant", p, str, None)
    if not tenant or tenant in ("common", "organizations", "consumers"):
        r.fail(p + "tenant", "missing: app-only sign-in needs the tenant id or domain")
    client_id: str | None = r.get(t, "client_id", p, str, None)
    if not client_id:
        r.fail(p + "client_id", "missing: the app registration's application (client) id")
    secret, cert = r.path_(t, "client_secret_file", p), r.path_(t, "certificate", p)
    if (secret is None) == (cert is None):
        r.fail(p + "certificate", "give exactly one of certificate and client_secret_file")
    assert tenant is not None and client_id is not None
    return MicrosoftOrg(
        **common.common(),
        tenant=tenant,
        client_id=client_id,
        client_secret_file=secret,
        certificate=cert,
        authority_url=r.url(t, "authority_url", p, "https://login.microsoftonline.com"),
        graph_url=r.url(t, "graph_url", p, "https://graph.microsoft.com/v1.0"),
        batch=r.get(t, "batch", p, bool, True),
    )


ORG_SCHEMA = OrgSchema(
    frozenset({"tenant", "client_id", "client_secret_file", "certificate", "authority_url",
               "graph_url", "batch"}),
    parse_org,
)
