"""An organisation's owners from Microsoft Entra ID (the directory) through Graph.

A group's owners are its ``transitiveMembers`` cast to users (Graph expands nested groups
and lists each user once); a group given as an address is first found by its ``mail``.
The whole directory is ``/users``, narrowed by the organisation's ``filter`` as Graph's
``$filter``; a filter that needs Graph's advanced queries (``ne``, ``not``,
``endsWith``, ``$count``, ``eq null``) gets ``ConsistencyLevel: eventual`` and
``$count=true``, as Graph requires for them. Disabled accounts are skipped. Needs the
application permission ``GroupMember.Read.All`` (groups) or ``User.Read.All``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from calsync.backends.org import Member
from calsync.errors import GraphError, ProviderError

if TYPE_CHECKING:
    from calsync.backends.microsoft.graph import Graph

SELECT = "id,mail,userPrincipalName,displayName,department,accountEnabled,proxyAddresses"
PAGE = "999"  # the most Graph gives per page of directory objects
_ADVANCED = re.compile(r"\b(ne|not|endswith)\b|\$count|\beq\s+null\b", re.I)
_EVENTUAL = {"ConsistencyLevel": "eventual"}


def needs_advanced(flt: str) -> bool:
    """Whether Graph serves ``flt`` only as an advanced query (see the module docstring)."""
    return bool(_ADVANCED.search(flt))


def member(user: dict[str, Any], team: str | None) -> Member | None:
    """A directory user as an owner; None for a disabled account or one with no address."""
    if user.get("accountEnabled") is False:
        return None
    address = str(user.get("mail") or user.get("userPrincipalName") or "").lower()
    if not address:
        return None
    aliases = []
    for proxy in user.get("proxyAddresses") or []:
        kind, _, addr = str(proxy).partition(":")
        if kind.lower() == "smtp" and addr and addr.lower() != address:
            aliases.append(addr.lower())
    return Member(address, team=team, name=user.get("displayName") or None,
                  aliases=tuple(dict.fromkeys(aliases)))


def _users(graph: Graph, path: str, params: dict[str, str],
           headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    for page in graph.pages(path, params=params, headers=headers):
        for item in page.get("value", []):
            if str(item.get("@odata.type", "#microsoft.graph.user")) == "#microsoft.graph.user":
                yield item


def _members(users: Iterator[dict[str, Any]], team: str | None,
             by_department: bool = False) -> list[Member]:
    out: dict[str, Member] = {}
    for user in users:
        m = member(user, user.get("department") or None if by_department else team)
        if m is not None and m.address not in out:
            out[m.address] = m
    return list(out.values())


def find_group(graph: Graph, org: str, group: str) -> tuple[str, str]:
    """(id, display name) of a group given by its address or its id."""
    if "@" in group:
        escaped = group.replace("'", "''")
        page = graph.get_json("/groups", params={"$filter": f"mail eq '{escaped}'",
                                                 "$select": "id,displayName,mail"})
        found = page.get("value") or []
        if len(found) != 1:
            raise ProviderError(f"{org}: {'no' if not found else 'more than one'} group with "
                                f"the address {group} in the directory")
        return str(found[0]["id"]), str(found[0].get("displayName") or group)
    try:
        got = graph.get_json(f"/groups/{urllib.parse.quote(group, safe='')}",
                             params={"$select": "id,displayName"})
    except GraphError as exc:
        if exc.status in (400, 404):
            raise ProviderError(f"{org}: no group {group!r} in the directory (give its "
                                "address or its object id)") from None
        raise
    return str(got["id"]), str(got.get("displayName") or group)


def group_members(graph: Graph, org: str, group: str) -> list[Member]:
    """The enabled users in ``group``, nested groups expanded; team is its display name."""
    gid, name = find_group(graph, org, group)
    path = f"/groups/{urllib.parse.quote(gid, safe='')}/transitiveMembers/microsoft.graph.user"
    return _members(_users(graph, path, {"$select": SELECT, "$top": PAGE}), name)


def directory_members(graph: Graph, org: str, flt: str | None) -> list[Member]:
    """Every enabled user matching ``flt`` (Graph ``$filter``); team is the department."""
    params = {"$select": SELECT, "$top": PAGE}
    headers = None
    if flt:
        params["$filter"] = flt
        if needs_advanced(flt):
            params["$count"] = "true"
            headers = dict(_EVENTUAL)
    try:
        return _members(_users(graph, "/users", params, headers), None, by_department=True)
    except GraphError as exc:
        if exc.status == 400 and flt:
            raise ProviderError(f"{org}: Graph refused the directory filter {flt!r} "
                                f"({exc.code or 'HTTP 400'})") from None
        raise
