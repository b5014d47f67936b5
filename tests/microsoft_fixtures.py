"""Pytest fixtures for the Microsoft tests: the TLS fake, trust, a logged-in calendar.

Import them into a test module with ``from tests.microsoft_fixtures import *``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from calsync.config import CalendarConfig, Owner, load
from calsync.core.state import MemoryState
from tests.fakes.microsoft import FakeMicrosoft, make_tls

__all__ = ["ms_tls", "fake_ms", "trust_ca", "ms_env", "MsEnv", "no_sleep"]

@pytest.fixture(scope="session")
def ms_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    ca, ctx = make_tls()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, ctx, path


@pytest.fixture
def trust_ca(monkeypatch: pytest.MonkeyPatch, ms_tls: tuple[Any, Any, Path]) -> Path:
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(var, str(ms_tls[2]))
    return ms_tls[2]


@pytest.fixture
def fake_ms(ms_tls: tuple[Any, Any, Path]) -> Iterator[FakeMicrosoft]:
    fake = FakeMicrosoft().start(ms_tls[1])
    yield fake
    fake.stop()


@dataclass
class Sleeps:
    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def no_sleep() -> Sleeps:
    return Sleeps()


@dataclass
class MsEnv:
    fake: FakeMicrosoft
    config_path: Path
    home: Path
    state: MemoryState
    sleeps: Sleeps

    def calendar(self) -> CalendarConfig:
        return load(self.config_path).calendars[0]

    def owner(self) -> Owner:
        return load(self.config_path).owner

    def provider(self, now: datetime | None = None, **kw: Any) -> Any:
        from calsync.backends.microsoft.calendar import MicrosoftProvider

        kw.setdefault("sleep", self.sleeps)
        return MicrosoftProvider(self.calendar(), self.owner(), self.state,
                                 now or datetime.now().astimezone(), **kw)


def write_config(path: Path, fake: FakeMicrosoft, extra: str = "") -> None:
    path.write_text(
        f'[owner]\nemail = "{fake.user_email}"\ntimezone = "Europe/Berlin"\n\n'
        "# Outlook through the loopback fake\n"
        f'[[calendars]]\nname = "work"\nprovider = "microsoft"\nclient_id = "cid-123"\n'
        f'authority_url = "{fake.base}"\ngraph_url = "{fake.graph_url}"\n'
        f'token_file = "tokens/ms.json"\n{extra}',
        encoding="utf-8",
    )


@pytest.fixture
def ms_env(fake_ms: FakeMicrosoft, trust_ca: Path, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch, no_sleep: Sleeps) -> MsEnv:
    """A config with one Microsoft calendar, logged in through the device-code flow."""
    from calsync.backends.microsoft.setup import setup

    monkeypatch.setenv("CALSYNC_HOME", str(tmp_path / "home"))
    cfg = tmp_path / "config.toml"
    write_config(cfg, fake_ms)
    setup(cfg, None, "organizations", browser=False, read_only=False, echo=lambda s: None)
    fake_ms.log.clear()
    return MsEnv(fake_ms, cfg, tmp_path / "home", MemoryState(), no_sleep)
