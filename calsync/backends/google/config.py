"""The ``[[calendars]]`` keys of a Google calendar."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from calsync.config_reader import CalendarBase, OrgBase, OrgSchema, Reader, Schema, email, slug, token_home

SEND_UPDATES = ("none", "all", "externalOnly")


@dataclass(frozen=True, kw_only=True)
class GoogleCalendar(CalendarBase):
    """One Google calendar, read and written through the Calendar API."""

    provider: Literal["google"] = "google"
    calendar_id: str = "primary"
    token_file: Path | None = None
    client_secrets: Path | None = None
    api_url: str | None = None  # a loopback fake in tests; None: Google itself
    send_updates: str = "none"
    share_notify: bool = False
    attach_doc: bool = True


def default_token_file(calendar_id: str) -> Path:
    """Where the login for ``calendar_id`` is kept unless ``token_file`` says otherwise."""
    return token_home() / f"google-{slug(calendar_id)}.json"


def parse(
    r: Reader, t: Mapping[str, Any], p: str, name: str | None, read_only: bool
) -> GoogleCalendar:
    """Every key is optional: ``primary`` calendar, a token file named after it."""
    cal_id: str = r.get(t, "calendar_id", p, str, "primary")
    return GoogleCalendar(
        name=name or f"google-{cal_id}",
        read_only=read_only,
        calendar_id=cal_id,
        token_file=r.path_(t, "token_file", p) or default_token_file(cal_id),
        client_secrets=r.path_(t, "client_secrets", p),
        api_url=r.url(t, "api_url", p, None),
        send_updates=r.choice(t, "send_updates", p, SEND_UPDATES, "none"),
        share_notify=r.get(t, "share_notify", p, bool, False),
        attach_doc=r.get(t, "attach_doc", p, bool, True),
    )


SCHEMA = Schema(
    frozenset({"calendar_id", "token_file", "client_secrets", "api_url", "send_updates",
               "share_notify", "attach_doc"}),
    parse,
)


@dataclass(frozen=True, kw_only=True)
class GoogleOrg(OrgBase):
    """A Google Workspace organisation run: a service account with domain-wide delegation
    acting for each owner, and the admin it acts as to read the directory."""

    service_account: Path  # the key file (mode 0600), never logged
    admin: str | None = None  # the Workspace admin for Directory reads (groups, directory)
    customer: str = "my_customer"
    api_url: str | None = None  # a loopback fake in tests; None: Google itself
    send_updates: str = "none"
    attach_doc: bool = True


def parse_org(r: Reader, t: Mapping[str, Any], p: str, common: OrgBase) -> GoogleOrg:
    """``service_account`` is required; ``admin`` too once groups or the directory are read."""
    key = r.path_(t, "service_account", p)
    if key is None:
        r.fail(p + "service_account", "missing: the service account's JSON key file")
    admin: str | None = r.get(t, "admin", p, str, None)
    if admin is not None:
        admin = email(r, admin, p + "admin")
    if admin is None and (common.groups or common.directory):
        r.fail(p + "admin", "missing: groups and the directory are read as a Workspace admin")
    assert key is not None
    return GoogleOrg(
        **common.common(),
        service_account=key,
        admin=admin,
        customer=r.get(t, "customer", p, str, "my_customer"),
        api_url=r.url(t, "api_url", p, None),
        send_updates=r.choice(t, "send_updates", p, SEND_UPDATES, "none"),
        attach_doc=r.get(t, "attach_doc", p, bool, True),
    )


ORG_SCHEMA = OrgSchema(
    frozenset({"service_account", "admin", "customer", "api_url", "send_updates", "attach_doc"}),
    parse_org,
)
