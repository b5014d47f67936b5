"""The seam for the shared agenda doc: one document per relationship.

The engine asks a backend to make sure the pair's doc exists (created from a
template on first use and shared with the counterpart), to read its text back
(for action items), and to add a dated section for the next meeting at the top,
without rewriting anything people wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from calsync.core.state import KeyValue

# How often a cloud backend asks whether someone edited a doc (Drive / OneDrive change
# feeds). A cron run every 15 minutes would otherwise spend a second request each time;
# a tick in the doc reaching the next invite within the hour is fresh enough.
POLL_EVERY = timedelta(hours=1)


def polled_recently(state: KeyValue, key: str, now: datetime | None) -> bool:
    """Whether a change feed was read less than :data:`POLL_EVERY` before ``now``."""
    polled = state.get(key)
    if polled is None or now is None:
        return False
    return timedelta(0) <= now - datetime.fromisoformat(polled) < POLL_EVERY


def mark_polled(state: KeyValue, key: str, now: datetime | None) -> None:
    if now is not None:
        state.set(key, now.isoformat())


@dataclass(frozen=True)
class DocRef:
    id: str  # the backend's handle (file path, Drive file id, OneDrive item id)
    url: str  # what the invite links to


@dataclass(frozen=True)
class DocRequest:
    """What a backend needs to create a pair's doc."""

    key: str  # stable relationship key, e.g. "<calendar>:<counterpart email>"
    counterpart: str
    counterpart_name: str | None
    title: str  # e.g. "1on1 — Alice Manager / Bob Report"
    template: str  # the initial text (Markdown): purpose, how we use this doc, the flow


class DocBackend(Protocol):
    def ensure(self, request: DocRequest) -> DocRef:
        """The pair's doc, created and shared on first use; the same ref on later calls."""
        ...

    def read_text(self, doc: DocRef) -> str:
        """The doc's current text (plain text or Markdown), for action items."""
        ...

    def add_section(self, doc: DocRef, marker: str, text: str) -> bool:
        """Put ``text`` at the top of the doc's meeting log unless ``marker`` is already there.

        ``marker`` identifies the section (e.g. the meeting date line), which makes the
        call idempotent across runs and crashes. Returns True when it added the section.
        """
        ...
