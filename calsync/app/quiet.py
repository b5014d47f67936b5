"""Leaving an unchanged owner alone until their analysis is due again (organisation runs).

A steady run for 10,000 owners cannot re-read, re-detect and re-judge 4 million
occurrences every 15 minutes; it does not need to. After an owner's calendar was read and
every pair handled without a failure, a memo keeps what the run found (the figures the
organisation summary counts, the warnings JSON lists). While the memo holds and the
calendar's incremental sync (:class:`~calsync.backends.base.Polls`) brings no change, the
owner costs that one sync request and nothing is written. A sync that brings a change
drops the memo before anything else (durably), so a run killed while handling the change
handles it again; a changed config (policy, agenda, the organisation's entry) voids it.

The memo holds for a day (:func:`due`), ending at a time of day that differs per owner,
so the day's re-analysis is spread over the day's runs. What waits for it: figures that
age with time (days since the last meeting, a lapse), the agenda moving on to the next
meeting once one is over, and edits to the pair's shared doc (ticked items, pulse
answers), which reach the next invite's agenda within the day (a personal run reads docs
hourly). With a weekly 1on1 and a 7-day horizon the next meeting's agenda is written at
least six days before it; a pending make-up slot keeps the owner out of memos entirely.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from calsync.config import Config
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
    # the parsed entries are in the order written, their names already defaulted
    for entry, parsed in zip(config.raw.get("organizations", []), config.organizations,
                             strict=False):
        if parsed.name == org:
            raw["organization"] = {k: v for k, v in entry.items()
                                   if k not in ("members", "groups", "exclude")}
    text = json.dumps(raw, sort_keys=True, default=str)
    return hashlib.sha256(f"{ours}\n{text}".encode()).hexdigest()[:16]


REFRESH = timedelta(days=1)  # an unchanged owner is re-analysed this often


def due(calendar: str, makeup_pending: bool, now: datetime) -> datetime:
    """When an unchanged calendar's result is next worked out in full: once every
    :data:`REFRESH`, at a time of day of its own (a hash of its name spreads 10,000
    owners over the day, so no run re-reads everyone at once); ``now`` (at once) while a
    make-up slot is pending."""
    if makeup_pending:
        return now
    period = int(REFRESH.total_seconds())
    slot = int.from_bytes(hashlib.sha256(calendar.encode()).digest()[:4], "big") % period
    since = int(now.timestamp()) % period
    return now + timedelta(seconds=(slot - since) % period or period)


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
