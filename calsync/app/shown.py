"""Which warnings a ``run`` already printed today (issue 17: cron mails every output)."""

from __future__ import annotations

import hashlib
import json
from contextlib import suppress
from datetime import date

from calsync.app.store import StateStore


class ShownToday:
    """Which warnings a ``run`` already printed today: each distinct one goes out once a
    day (cron mails every output), while ``status`` and JSON always list them all.

    Kept in state as today's date and the hashes of today's warnings, so it stays small.
    """

    _KEY = "today"

    def __init__(self, store: StateStore, day: date, show_all: bool) -> None:
        self.ns = store.namespace("warned")
        self.day = day.isoformat()
        self.show_all = show_all
        self.seen: set[str] = set()
        raw = self.ns.get(self._KEY)
        with suppress(ValueError, TypeError, AttributeError):
            rec = json.loads(raw) if raw else {}
            if rec.get("day") == self.day:
                self.seen = {str(k) for k in rec.get("keys", [])}
        self.now_seen = set(self.seen)

    def first(self, identity: str) -> bool:
        """True the first time today a warning of this identity is met (always in a dry run)."""
        key = hashlib.sha256(identity.encode()).hexdigest()[:16]
        new = key not in self.now_seen
        self.now_seen.add(key)
        return new or self.show_all

    def save(self) -> None:
        """Keep today's seen warnings; nothing is written when none was new."""
        if self.now_seen != self.seen:
            self.ns.set(self._KEY, json.dumps({"day": self.day, "keys": sorted(self.now_seen)}))
