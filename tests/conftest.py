"""Shared guards and fixtures.

Every test runs with no network beyond loopback and with its own CALSYNC_HOME, so
nothing leaks between tests or into the developer's real state.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "scenarios"
EXAMPLES = ROOT / "examples"
CORPUS = Path(os.environ.get("CALSYNC_ICS_CORPUS", ROOT.parent / "shared" / "ics-corpus"))

# Property tests: a modest number of cases by default; CALSYNC_HYPOTHESIS_PROFILE=slow is
# the long run .ci/run makes (tests that set max_examples themselves keep theirs).
settings.register_profile("default", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("slow", max_examples=10_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("CALSYNC_HYPOTHESIS_PROFILE", "default"))

_LOOPBACK = {"127.0.0.1", "localhost", "::1", None}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host not in _LOOPBACK:
            raise RuntimeError(f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):  # type: ignore[no-untyped-def]
        if isinstance(address, tuple) and address[0] not in _LOOPBACK:
            raise RuntimeError(f"test tried to connect to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(autouse=True)
def calsync_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "calsync-home"
    monkeypatch.setenv("CALSYNC_HOME", str(home))
    monkeypatch.delenv("CALSYNC_CONFIG", raising=False)
    return home


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.ics")) if CORPUS.is_dir() else []


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"ics corpus not found at {CORPUS} (set CALSYNC_ICS_CORPUS)")
    return CORPUS
