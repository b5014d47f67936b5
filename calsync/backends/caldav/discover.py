"""From the URL a person has (server, principal or calendar) to the calendar collection.

RFC 4791 section 6 and RFC 5397: a calendar collection answers PROPFIND with a
``C:calendar`` resourcetype; anything else names its ``current-user-principal``, whose
``calendar-home-set`` lists the collections. Servers that keep CalDAV elsewhere answer
``/.well-known/caldav`` with a redirect (RFC 6764), which httpx follows.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, replace

from calsync.backends.caldav.dav import CALDAV, DAV, DavClient, DavError, Item
from calsync.errors import ConfigError, ProviderError

_SELF = [(DAV, "resourcetype"), (DAV, "displayname"), (DAV, "current-user-principal"),
         (CALDAV, "calendar-home-set"), (CALDAV, "supported-calendar-component-set")]


@dataclass(frozen=True)
class Collection:
    """A calendar collection found on the server."""

    url: str
    name: str  # displayname, or the last path segment when it has none
    events: bool  # holds VEVENTs (a tasks-only list does not)

    @property
    def segment(self) -> str:
        """The URL's last path segment, decoded: a second name the config may use for it."""
        return urllib.parse.unquote(self.url.rstrip("/").rsplit("/", 1)[-1])


def _collection(client: DavClient, item: Item) -> Collection | None:
    if not item.has(DAV, "resourcetype", (CALDAV, "calendar")):
        return None
    comps = item.props.get(f"{{{CALDAV}}}supported-calendar-component-set")
    names = {c.get("name", "").upper() for c in comps} if comps is not None else {"VEVENT"}
    found = Collection(client.url(item.href), (item.text(DAV, "displayname") or "").strip(),
                       "VEVENT" in names)
    return found if found.name else replace(found, name=found.segment)


def _one(client: DavClient, url: str) -> Item:
    found = client.propfind(url, _SELF, depth="0").items
    if not found:
        raise ProviderError(f"{client.label}: {url} answered PROPFIND with no properties")
    return found[0]


def calendars(client: DavClient, url: str) -> tuple[Collection | None, list[Collection]]:
    """``(the URL's own collection or None, every calendar of the principal)``."""
    try:
        here = _one(client, url)
    except DavError as exc:
        if exc.status not in (404, 405) or urllib.parse.urlsplit(url).path not in ("", "/"):
            raise
        here = _one(client, client.url("/.well-known/caldav"))
    own = _collection(client, here)
    if own is not None:
        return own, [own]
    homes = here.hrefs(CALDAV, "calendar-home-set")
    if not homes:
        principal = here.hrefs(DAV, "current-user-principal")
        if not principal:
            raise ProviderError(f"{client.label}: {url} is neither a calendar nor a CalDAV "
                                "principal (no current-user-principal)")
        homes = _one(client, client.url(principal[0])).hrefs(CALDAV, "calendar-home-set")
    if not homes:
        raise ProviderError(f"{client.label}: the principal has no calendar-home-set")
    found: list[Collection] = []
    for home in homes:
        for item in client.propfind(client.url(home), _SELF, depth="1").items:
            cal = _collection(client, item)
            if cal is not None:
                found.append(cal)
    return None, found


def choose(label: str, own: Collection | None, found: list[Collection],
           wanted: str | None) -> Collection:
    """The collection the config means: the URL's own, the one named, or the only one."""
    if own is not None:
        return own
    events = [c for c in found if c.events]
    if wanted is not None:
        for cal in events:
            if wanted in (cal.name, cal.segment):
                return cal
        raise ConfigError(f"{label}: no calendar named {wanted!r} on the server "
                          f"(found: {_names(events)})")
    if len(events) == 1:
        return events[0]
    if not events:
        raise ConfigError(f"{label}: the server lists no calendar with events")
    raise ConfigError(f"{label}: the server has several calendars ({_names(events)}); "
                      "set `calendar` to one of them")


def _names(cals: list[Collection]) -> str:
    return ", ".join(repr(c.name) for c in cals) or "none"
