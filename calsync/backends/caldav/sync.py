"""Keeping a local copy of one calendar collection current, with as few requests as the
server allows.

With a stored sync token, ``sync-collection`` (RFC 6578) lists only the members that
changed or went away, with their ETags; a quiet calendar costs that one request. Only
members whose ETag differs from the copy are fetched, in ``calendar-multiget`` batches.
A token the server no longer honours (``DAV:valid-sync-token``, or a bare 403/409)
starts a full listing; a server without sync at all (403/501/405/400 to the listing
too) is asked with a time-range ``calendar-query`` over the window instead, and asked
for sync again a day later.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from calsync.backends.caldav.cache import reduce
from calsync.backends.caldav.dav import (
    CALDAV,
    DAV,
    DavClient,
    DavError,
    Item,
    multiget_body,
    query_body,
    sync_collection_body,
)
from calsync.core.state import KeyValue

STATE_KEY = "caldav"
BATCH = 50  # hrefs per calendar-multiget
NOSYNC_RETRY = timedelta(days=1)
NO_SYNC = frozenset({400, 403, 405, 409, 501})
MAX_ROUNDS = 20  # a server that truncates its listing (507) gets this many follow-ups


@dataclass
class Copy:
    """The collection as last seen: sync token and href → (ETag, reduced text)."""

    source: str  # the config's url|calendar: another value starts afresh
    collection: str | None = None
    token: str | None = None
    nosync_until: str | None = None
    items: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, state: KeyValue, source: str) -> Copy:
        """The copy kept in ``state``, or an empty one when none is kept for ``source``."""
        raw = state.get(STATE_KEY)
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict) or data.get("source") != source:
            return cls(source)
        items = {str(h): (str(v[0]), str(v[1])) for h, v in data.get("items", {}).items()}
        return cls(source, data.get("collection"), data.get("token"), data.get("nosync_until"),
                   items)

    def save(self, state: KeyValue) -> None:
        """Keeps the copy in ``state`` (as JSON under one key)."""
        state.set(STATE_KEY, json.dumps({
            "source": self.source, "collection": self.collection, "token": self.token,
            "nosync_until": self.nosync_until,
            "items": {h: list(v) for h, v in sorted(self.items.items())},
        }))


class Syncer:
    """Brings a :class:`Copy` up to date for one collection URL."""

    def __init__(self, client: DavClient, copy: Copy, now: datetime) -> None:
        self.client = client
        self.copy = copy
        self.now = now
        self.mode = ""  # "sync" or "query": how the last refresh asked (for tests, status)

    def refresh(self, collection: str, start: datetime, end: datetime) -> None:
        """Syncs by token; while the server refuses sync, queries the window (sync retried a day on)."""
        until = self.copy.nosync_until
        if until is None or datetime.fromisoformat(until) <= self.now:
            try:
                self._sync(collection)
                self.copy.nosync_until = None
                self.mode = "sync"
                return
            except DavError as exc:
                if exc.status not in NO_SYNC:
                    raise
            self.copy.nosync_until = (self.now + NOSYNC_RETRY).isoformat()
            self.copy.token = None
        self._query(collection, start, end)
        self.mode = "query"

    def _sync(self, collection: str) -> None:
        token = self.copy.token
        try:
            listing = self._listing(collection, token)
        except DavError as exc:
            stale = exc.precondition(DAV, "valid-sync-token") or exc.status in (403, 409)
            if token is None or not stale:
                raise
            token = None  # the server forgot the token: list every member again
            listing = self._listing(collection, None)
        changed, gone, new_token = listing
        if token is None:  # a full listing: what it does not name is gone
            gone |= set(self.copy.items) - set(changed)
        for href in gone:
            self.copy.items.pop(href, None)
        self._fetch(collection, changed)
        self.copy.token = new_token

    def _listing(self, collection: str, token: str | None
                 ) -> tuple[dict[str, str], set[str], str | None]:
        changed: dict[str, str] = {}
        gone: set[str] = set()
        own = _path(self.client.url(collection))
        for _ in range(MAX_ROUNDS):
            answer = self.client.xml("REPORT", collection, sync_collection_body(token), "1")
            truncated = False
            for item in answer.items:
                if item.href.rstrip("/") == own.rstrip("/"):
                    truncated = truncated or item.status == 507
                    continue
                if item.status in (404, 410):
                    gone.add(item.href)
                    changed.pop(item.href, None)
                    continue
                etag = item.text(DAV, "getetag")
                if etag is not None:
                    changed[item.href] = etag.strip()
                    gone.discard(item.href)
            token = answer.sync_token or token
            if not truncated:
                break
        return changed, gone, token

    def _query(self, collection: str, start: datetime, end: datetime) -> None:
        answer = self.client.xml("REPORT", collection, query_body(_stamp(start), _stamp(end)), "1")
        found = {i.href: (i.text(DAV, "getetag") or "").strip() for i in answer.items
                 if i.status in (None, 200)}
        for href in set(self.copy.items) - set(found):
            del self.copy.items[href]
        self._fetch(collection, found)

    def _fetch(self, collection: str, listed: dict[str, str]) -> None:
        """calendar-multiget the members whose ETag is not the one in the copy."""
        wanted = [h for h, etag in sorted(listed.items())
                  if not etag or self.copy.items.get(h, ("", ""))[0] != etag]
        for batch in _chunks(wanted, BATCH):
            for item in self.client.xml("REPORT", collection, multiget_body(batch), "1").items:
                self._keep(item)

    def _keep(self, item: Item) -> None:
        if item.status in (404, 410):
            self.copy.items.pop(item.href, None)
            return
        data = item.text(CALDAV, "calendar-data")
        if data is None:
            return
        self.copy.items[item.href] = ((item.text(DAV, "getetag") or "").strip(), reduce(data))


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path
