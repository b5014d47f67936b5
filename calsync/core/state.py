"""The small key-value seam providers and doc backends use to keep state between runs.

Providers store sync tokens and cached events here; doc backends remember the ids of the
docs they created. :class:`calsync.app.store.Store` implements it on SQLite;
:class:`MemoryState` serves tests and dry runs.
"""

from __future__ import annotations

from typing import Protocol


class KeyValue(Protocol):
    """Where state survives between runs: string keys to string values."""

    def get(self, key: str) -> str | None:
        """The stored value, or None when the key was never set (or deleted)."""
        ...

    def set(self, key: str, value: str | None) -> None:
        """Store ``value``; None deletes the key."""
        ...


class MemoryState:
    """A :class:`KeyValue` held in memory: for tests and dry runs."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        """The stored value, or None."""
        return self.data.get(key)

    def set(self, key: str, value: str | None) -> None:
        """Store ``value``; None deletes the key."""
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value
