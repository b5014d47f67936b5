"""The ``[[calendars]]`` keys of a Microsoft 365 (Outlook) calendar."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from calsync.config_reader import CalendarBase, Reader, Schema, slug, token_home


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
