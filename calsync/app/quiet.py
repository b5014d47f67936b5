"""Leaving an unchanged owner alone until their analysis is due again (organisation runs).

A steady run for 10,000 owners cannot re-read, re-detect and re-judge 1.6 million
occurrences every 15 minutes; it does not need to. After an owner's calendar was read and
every pair handled without a failure, a memo records until when the result cannot change
unless the calendar does: the owner's next local midnight (the day's warnings, figures
that age with the day), the start of each pair's next meeting (the agenda moves on to the
one after), and the moment the first meeting beyond the agenda horizon enters it. While
the memo holds and the calendar's incremental sync (:class:`~calsync.backends.base.Polls`)
brings no change, the run costs that one sync request and writes nothing. A sync that
brings a change drops the memo before anything else (durably), so a run killed while
handling the change handles it again. The memo keeps the figures the organisation summary
counts and the warnings JSON output lists; a changed config (policy, agenda) voids it.

Edits to the pair's docs are read on the run after the memo ends (docs were polled at
most hourly before; within a day now, and always before each meeting's agenda moves on).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from calsync.config import Config
from calsync.core.model import Relationship
from calsync.core.state import KeyValue

Figures = tuple[tuple[str, float | None], ...]  # per pair: (label, median interval in days)


@dataclass(frozen=True)
class Memo:
    """What a quiet calendar's last full handling left: until when it holds, and its output."""

    until: datetime
    figures: Figures
    warnings: tuple[str, ...]


def config_digest(config: Config, org: str | None = None) -> str:
    """A fingerprint of everything in the config (and calsync's version) a result depends
    on: for an organisation's owners, its entry without the list of who they are (computed
    once per organisation run, not once per owner)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("calsync")
    except PackageNotFoundError:  # pragma: no cover - a source checkout without metadata
        ours = "?"
    raw = {k: v for k, v in config.raw.items() if k != "organizations"}
    for entry in config.raw.get("organizations", []):
        if isinstance(entry, dict) and entry.get("name", entry.get("provider")) == org:
            raw["organization"] = {k: v for k, v in entry.items()
                                   if k not in ("members", "groups", "exclude")}
    text = json.dumps(raw, sort_keys=True, default=str)
    return hashlib.sha256(f"{ours}\n{text}".encode()).hexdigest()[:16]


def due(pairs: Sequence[tuple[Relationship, bool]], config: Config, now: datetime) -> datetime:
    """The first instant the result may change with the calendar unchanged (see the
    module docstring), given each pair and whether a make-up slot is pending for it;
    ``now`` when it may change at once (a pending make-up)."""
    zone = ZoneInfo(config.owner.timezone) if config.owner.timezone else now.tzinfo or UTC
    local = now.astimezone(zone)
    until = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
    horizon = now + timedelta(days=config.agenda.horizon_days)
    for rel, makeup in pairs:
        if makeup:
            return now
        ahead = sorted(o.start for o in rel.occurrences if o.start > now and not o.cancelled)
        if ahead:
            until = min(until, ahead[0])
        beyond = next((s for s in ahead if s > horizon), None)
        if beyond is not None:
            until = min(until, beyond - timedelta(days=config.agenda.horizon_days))
    return until


class Memos:
    """The memos of one owner's calendars, in a durable namespace of their state."""

    def __init__(self, state: KeyValue, digest: str) -> None:
        self.state, self.digest = state, digest

    def valid(self, calendar: str, now: datetime) -> Memo | None:
        """The calendar's memo when it still holds at ``now`` for this config."""
        raw = self.state.get(calendar)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            until = datetime.fromisoformat(data["until"])
            memo = Memo(until, tuple((str(label), days) for label, days in data["figures"]),
                        tuple(data["warnings"]))
        except (ValueError, KeyError, TypeError):
            return None
        return memo if data.get("config") == self.digest and now < until else None

    def forget(self, calendar: str) -> None:
        """Drop the memo (committed at once: what changed is handled before it can return)."""
        self.state.set(calendar, None)

    def keep(self, calendar: str, memo: Memo, now: datetime) -> None:
        """Record the memo of a calendar handled without a failure (none when already due)."""
        if memo.until <= now:
            self.forget(calendar)
            return
        self.state.set(calendar, json.dumps({
            "config": self.digest, "until": memo.until.isoformat(),
            "figures": [list(f) for f in memo.figures], "warnings": list(memo.warnings)}))
