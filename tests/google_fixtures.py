"""Pytest fixtures for the Google tests: the loopback fake and a logged-in calendar.

Import them into a test module with ``from tests.google_fixtures import *``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from calsync.backends.google.calendar import GoogleProvider
from calsync.backends.google.config import GoogleCalendar
from calsync.backends.retry import RetryPolicy
from calsync.config import Owner
from calsync.core.state import MemoryState
from tests.fakes.google import ALL_SCOPES, FakeGoogle

__all__ = ["fake_google", "gcal", "GEnv", "Sleeps"]

@pytest.fixture
def fake_google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        yield fake


@dataclass
class Sleeps:
    """An injected sleep: records what would have been slept, sleeps not at all."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@dataclass
class GEnv:
    fake: FakeGoogle
    tmp: Path
    sleeps: Sleeps = field(default_factory=Sleeps)

    def calendar(self, user: str = "me@example.com", *, name: str | None = None,
                 read_only: bool = False, scopes: Any = ALL_SCOPES, expired: bool = False,
                 **kw: Any) -> GoogleCalendar:
        token = self.tmp / f"token-{user}.json"
        if not token.exists():
            self.fake.write_token(token, user, scopes, expired=expired)
        return GoogleCalendar(name=name or f"g-{user}", read_only=read_only,
                              calendar_id="primary", token_file=token,
                              api_url=self.fake.base, **kw)

    def provider(self, cal: GoogleCalendar, state: MemoryState | None = None,
                 owner: str = "me@example.com", now: datetime | None = None) -> GoogleProvider:
        return GoogleProvider(
            cal, Owner((owner,), "Europe/Berlin"), state if state is not None else MemoryState(),
            now or datetime.now().astimezone(),
            retry=RetryPolicy(sleep=self.sleeps, rand=lambda: 0.5),
        )


@pytest.fixture
def gcal(fake_google: FakeGoogle, tmp_path: Path) -> GEnv:
    return GEnv(fake_google, tmp_path)
