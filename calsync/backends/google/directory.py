"""Who an organisation run acts for on Google: the Admin SDK Directory API, as the admin.

A group's users come from ``members.list`` (200 a page), nested groups listed in turn,
each group once (memberships may form cycles across groups); the team is the group's
name (``groups.get``). Suspended users are left out by the member's ``status``, so a
group of n users in g groups costs 1 + Σ⌈members/200⌉ requests, not one ``users.get``
per member. The whole directory is ``users.list`` (500 a page) with the org's ``query``;
suspended and archived users are left out, and the team is the user's department, else
their organisational unit. The Directory discovery document ships with
google-api-python-client, like Calendar's: nothing is fetched to build the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from calsync.backends.google.client import Session, http_error
from calsync.backends.org import Member
from calsync.errors import CalsyncError, ProviderError

API = ("admin", "directory_v1")
API_NAME = "Admin SDK API"
MEMBER_FIELDS = "nextPageToken,members(email,id,type,status)"
USER_FIELDS = ("nextPageToken,users(primaryEmail,aliases,name/fullName,suspended,archived,"
               "orgUnitPath,organizations(department,primary))")


class Directory:
    """The Workspace directory, read with the admin's delegated ``session``."""

    def __init__(self, session: Session, customer: str, label: str) -> None:
        self.session = session
        self.customer = customer
        self.label = label

    def _pages(self, collection: str, what: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of ``collection.list(**params)``."""
        from googleapiclient.errors import HttpError

        res = self.session.resource(*API, collection)
        req = res.list(**params)
        while req is not None:
            try:
                page = self.session.execute(req, retry=True, what=what)
            except HttpError as exc:
                raise self._error(exc, what) from None
            yield page
            req = res.list_next(req, page)

    def _error(self, exc: Any, what: str) -> CalsyncError:
        status = int(exc.status_code or 0)
        if status == 404:
            return ProviderError(f"{self.label}: {what}: not found in the directory")
        if status == 403 and b"Not Authorized" in (exc.content or b""):
            return ProviderError(
                f"{self.label}: {what}: Google refused the directory read (403): the `admin` "
                "must be a Workspace administrator allowed to read users and groups")
        return http_error(exc, self.label, what, API_NAME)

    def group_name(self, group: str) -> str:
        from googleapiclient.errors import HttpError

        what = f"reading group {group}"
        req = self.session.resource(*API, "groups").get(groupKey=group, fields="id,email,name")
        try:
            found = self.session.execute(req, retry=True, what=what)
        except HttpError as exc:
            raise self._error(exc, what) from None
        return str(found.get("name") or found.get("email") or group)

    def group_members(self, group: str) -> list[Member]:
        """The users of ``group`` and of the groups inside it, each once."""
        team = self.group_name(group)
        seen_groups = {group.lower()}
        queue = [group]
        users: dict[str, Member] = {}
        while queue:
            key = queue.pop(0)
            for page in self._pages("members", f"listing the members of {key}", groupKey=key,
                                    maxResults=200, fields=MEMBER_FIELDS):
                for m in page.get("members") or []:
                    email = str(m.get("email") or "").lower()
                    kind = m.get("type")
                    if kind == "GROUP":
                        ids = {email, str(m.get("id") or "").lower()} - {""}
                        if not ids & seen_groups:
                            seen_groups |= ids
                            queue.append(email or str(m["id"]))
                    elif kind == "USER" and email and m.get("status") != "SUSPENDED":
                        users.setdefault(email, Member(email, team=team))
        return list(users.values())

    def users(self, query: str | None) -> list[Member]:
        """Every active user matching ``query`` (Admin SDK user search syntax)."""
        params: dict[str, Any] = {"customer": self.customer, "maxResults": 500,
                                  "projection": "basic", "fields": USER_FIELDS}
        if query:
            params["query"] = query
        out: list[Member] = []
        for page in self._pages("users", "listing the directory's users", **params):
            for u in page.get("users") or []:
                if u.get("suspended") or u.get("archived") or not u.get("primaryEmail"):
                    continue
                out.append(member(u))
        return out


def member(user: dict[str, Any]) -> Member:
    """A ``users.list`` user as an owner: department (primary organisation first) or OU."""
    orgs = sorted(user.get("organizations") or [], key=lambda o: not o.get("primary"))
    department = next((o["department"] for o in orgs if o.get("department")), None)
    unit = user.get("orgUnitPath")
    name = (user.get("name") or {}).get("fullName")
    return Member(
        str(user["primaryEmail"]).lower(),
        team=department or (unit if unit and unit != "/" else None),
        name=name,
        aliases=tuple(str(a).lower() for a in user.get("aliases") or ()),
    )
