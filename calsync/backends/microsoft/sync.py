"""The local copy of one Outlook calendar, kept current with Graph's calendarView delta.

Reading uses the calendarView delta function over a *chain window*: the requested window
widened to whole 7-day blocks, so the chain survives a week of cron runs as the window
rolls (a delta chain's window is fixed per token). The first run pages through the whole
view; later runs replay the stored deltaLink, which on a quiet calendar is a single Graph
request. When the requested window leaves the chain window, or Graph answers 410, the
chain restarts from scratch (which also reconciles any change delta missed). A calendar
without delta is read with the plain calendar view, and delta is asked for again a day
later. Series masters the view did not carry are fetched once and kept for a day.

State keys (namespaced per calendar by the caller): ``ms.delta`` (the chain), ``ms.items``
(the trimmed events), ``ms.masters``, ``ms.nodelta``, ``ms.calendar_id``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from calsync.backends.base import Window
from calsync.backends.microsoft.graph import quote_id
from calsync.backends.microsoft.normalise import trim
from calsync.errors import GraphError, ProviderError

if TYPE_CHECKING:
    from calsync.backends.microsoft.graph import Graph
    from calsync.core.state import KeyValue

PAGE_SIZE = 100
CHAIN_BLOCK = timedelta(days=7)
NODELTA_RETRY = timedelta(days=1)  # after delta was refused, ask for it again this much later
MASTER_TTL = timedelta(days=1)  # a series master fetched on its own is re-read this often
CACHE_VERSION = 2  # of ms.delta: 2 = bodies reduced (older chains start again)
_EPOCH = datetime(2001, 1, 1, tzinfo=UTC)  # a Monday: chain windows start on Mondays (UTC)

PREFER_READ = 'outlook.timezone="UTC", outlook.body-content-type="html"'

Items = dict[str, dict[str, Any]]


def chain_window(window: Window) -> tuple[datetime, datetime]:
    """The requested window widened to whole 7-day blocks, plus one block of slack ahead."""
    start = window.start.astimezone(UTC)
    end = window.end.astimezone(UTC)
    blocks = (start - _EPOCH) // CHAIN_BLOCK
    lo = _EPOCH + blocks * CHAIN_BLOCK
    hi_blocks = -((_EPOCH - end) // CHAIN_BLOCK)  # ceiling
    hi = _EPOCH + hi_blocks * CHAIN_BLOCK + CHAIN_BLOCK
    return lo, hi


def iso(dt: datetime) -> str:
    """A UTC timestamp as Graph's query parameters take it."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _age(now: datetime, stamp: Any) -> timedelta:
    """How long ago an ISO ``stamp`` was; unreadable or in the future counts as long ago."""
    try:
        age = now - datetime.fromisoformat(str(stamp))
    except (ValueError, TypeError):
        return timedelta.max
    return age if age >= timedelta(0) else timedelta.max


class CalendarSync:
    """Events of one calendar (``calendar`` is a name or id; None for the main one)."""

    def __init__(self, graph: Graph, state: KeyValue, name: str, calendar: str | None,
                 now: datetime) -> None:
        self.graph = graph
        self.state = state
        self.name = name
        self.calendar = calendar
        self.now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self._calendar_path: str | None = None
        self._items: Items | None = None
        self._synced: tuple[Window, bool] | None = None  # the window synced, and whether it changed

    def calendar_path(self) -> str:
        """``{mailbox}`` (main calendar) or ``{mailbox}/calendars/{id}`` for a named one."""
        if self._calendar_path is not None:
            return self._calendar_path
        box = self.graph.mailbox
        name = self.calendar
        if not name:
            self._calendar_path = box
            return self._calendar_path
        cached = self.state.get("ms.calendar_id")
        if cached:
            ident, _, for_name = cached.partition("\n")
            if for_name == name:
                self._calendar_path = f"{box}/calendars/{ident}"
                return self._calendar_path
        found = None
        for page in self.graph.pages(f"{box}/calendars", params={"$select": "id,name"}):
            found = next((str(c["id"]) for c in page.get("value", [])
                          if name in (c.get("id"), c.get("name"))), None)
            if found is not None:
                break
        if found is None:
            raise ProviderError(f"{self.name}: no Outlook calendar named {name!r}")
        self.state.set("ms.calendar_id", f"{found}\n{name}")
        self._calendar_path = f"{box}/calendars/{found}"
        return self._calendar_path

    def items(self, window: Window) -> Items:
        """Every cached event (trimmed) after bringing the cache up to date for ``window``
        (once: a window :meth:`changed` synced is not synced again)."""
        self.changed(window)
        return self._load_items()

    def changed(self, window: Window) -> bool:
        """Sync for ``window`` once per run; whether any event changed (True when unknown)."""
        if self._synced is None or self._synced[0] != window:
            self._synced = (window, self._sync(window))
        return self._synced[1]

    def _load_items(self) -> Items:
        if self._items is None:
            raw = self.state.get("ms.items")
            self._items = json.loads(raw) if raw else {}
        return self._items

    def _sync(self, window: Window) -> bool:
        lo, hi = chain_window(window)
        chain_raw = self.state.get("ms.delta")
        chain = json.loads(chain_raw) if chain_raw else None
        w_start, w_end = window.start.astimezone(UTC), window.end.astimezone(UTC)
        fresh = not (
            chain
            and datetime.fromisoformat(chain["start"]) <= w_start
            and w_end <= datetime.fromisoformat(chain["end"])
            and chain.get("calendar") == (self.calendar or "")
            and chain.get("v") == CACHE_VERSION
        )
        changed = False
        if not fresh:
            assert chain is not None
            try:  # the cached events are read only when the round brings a change
                link, changed = self._replay(chain["link"], None)
            except GraphError as exc:
                if exc.status not in (410, 400) and exc.code not in ("syncStateNotFound",):
                    raise
                fresh = True  # the token expired: start a new chain
        if fresh and self._no_delta():
            self._items = self._view(window)  # learnt recently: this calendar has no delta
            return True
        if fresh:
            items = self._items = {}
            params = {"startDateTime": iso(lo), "endDateTime": iso(hi)}
            try:
                link, _ = self._replay(f"{self.calendar_path()}/calendarView/delta", items,
                                       params)
            except GraphError as exc:
                if exc.status not in (400, 404, 501):
                    raise
                # No delta for this calendar (Graph v1.0 offers it on some calendars only),
                # or a one-off refusal: read the plain calendar view of the run window, and
                # ask for delta again after NODELTA_RETRY.
                self.state.set("ms.delta", None)
                self.state.set("ms.items", None)
                self.state.set("ms.nodelta", json.dumps({
                    "calendar": self.calendar or "",
                    "until": (self.now + NODELTA_RETRY).isoformat()}))
                self._items = self._view(window)
                return True
            self.state.set("ms.nodelta", None)
            chain = {"start": lo.isoformat(), "end": hi.isoformat(), "link": link,
                     "calendar": self.calendar or "", "v": CACHE_VERSION}
            changed = True
        else:
            assert chain is not None
            chain["link"] = link
        self.state.set("ms.delta", json.dumps(chain))
        if changed:
            self.state.set("ms.items", json.dumps(self._load_items(), separators=(",", ":")))
        return changed

    def _no_delta(self) -> bool:
        """Whether delta was refused for this calendar recently (within NODELTA_RETRY)."""
        raw = self.state.get("ms.nodelta")
        if not raw:
            return False
        try:
            rec = json.loads(raw)
            until = datetime.fromisoformat(rec["until"])
        except (ValueError, TypeError, KeyError):
            return False  # a record from an older calsync (kept forever): ask again now
        return rec.get("calendar") == (self.calendar or "") and self.now < until

    def series_masters(self, items: Items, warnings: list[str]) -> Items:
        """Masters of the occurrences in ``items``: from the items, else from a cache.

        A master the view did not carry (a plain calendarView never does; delta may not) is
        fetched with ``GET {mailbox}/events/{id}`` once and kept in state (``ms.masters``)
        for MASTER_TTL, so a steady-state run stays one Graph request in both modes.
        """
        masters = {k: v for k, v in items.items() if v.get("type") == "seriesMaster"}
        missing = {
            str(v["seriesMasterId"]) for v in items.values()
            if v.get("type") in ("occurrence", "exception") and v.get("seriesMasterId")
            and v["seriesMasterId"] not in masters
        }
        raw = self.state.get("ms.masters")
        try:
            cache = json.loads(raw) if raw else {}
        except ValueError:
            cache = {}
        if not isinstance(cache, dict):
            cache = {}
        kept: dict[str, Any] = {}
        for master_id in sorted(missing):
            rec = cache.get(master_id)
            if isinstance(rec, dict) and _age(self.now, rec.get("at")) < MASTER_TTL:
                if isinstance(rec.get("item"), dict):  # an older cache kept whole bodies
                    rec = {**rec, "item": trim(rec["item"])}
                    masters[master_id] = rec["item"]
                kept[master_id] = rec
                continue
            try:
                got = self.graph.get_json(f"{self.graph.mailbox}/events/{quote_id(master_id)}",
                                          headers={"Prefer": PREFER_READ})
            except GraphError as exc:
                if exc.status != 404:
                    raise
                warnings.append(f"series {master_id[:12]}… vanished; skipped")
                kept[master_id] = {"at": self.now.isoformat(), "item": None}
                continue
            masters[master_id] = trim(got)
            kept[master_id] = {"at": self.now.isoformat(), "item": masters[master_id]}
        if kept != cache:  # masters no occurrence needs any more drop out
            self.state.set("ms.masters",
                           json.dumps(kept, separators=(",", ":")) if kept else None)
        return masters

    def _view(self, window: Window) -> Items:
        """Every event in the window from ``calendarView``, following ``@odata.nextLink``."""
        headers = {"Prefer": f"{PREFER_READ}, odata.maxpagesize={PAGE_SIZE}"}
        params = {"startDateTime": iso(window.start), "endDateTime": iso(window.end)}
        items: Items = {}
        for page in self.graph.pages(f"{self.calendar_path()}/calendarView", params, headers):
            for item in page.get("value", []):
                items[str(item.get("id"))] = trim(item)
        return items

    def _replay(self, url: str, items: Items | None,
                params: dict[str, str] | None = None) -> tuple[str, bool]:
        """Follow a delta round to its deltaLink, applying changes to ``items`` (None: the
        cached events, read at the first change)."""
        headers = {"Prefer": f"{PREFER_READ}, odata.maxpagesize={PAGE_SIZE}"}
        changed = False
        next_url: str | None = url
        while next_url:
            page = self.graph.get_json(next_url, params=params, headers=headers)
            params = None
            for item in page.get("value", []):
                changed = True
                if items is None:
                    items = self._load_items()
                ident = str(item.get("id"))
                if "@removed" in item:
                    items.pop(ident, None)
                else:
                    items[ident] = trim(item)
            if "@odata.deltaLink" in page:
                return str(page["@odata.deltaLink"]), changed
            next_url = page.get("@odata.nextLink")
        raise ProviderError(f"{self.name}: Graph delta ended without a deltaLink")
