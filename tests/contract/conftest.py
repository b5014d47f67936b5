"""The ``world`` fixture: every contract test runs once per backend.

A new backend joins by adding its adapter module and one entry to :data:`WORLDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.contract.world import World
from tests.google_fixtures import fake_google  # noqa: F401  (fixtures)
from tests.microsoft_fixtures import ms_tls, trust_ca  # noqa: F401

WORLDS = ["memory", "local", "google", "microsoft"]


def _memory(request: pytest.FixtureRequest, tmp: Path) -> World:
    from tests.contract.world_memory import MemoryWorld

    return MemoryWorld()


def _local(request: pytest.FixtureRequest, tmp: Path) -> World:
    from tests.contract.world_local import LocalWorld

    return LocalWorld(tmp)


def _google(request: pytest.FixtureRequest, tmp: Path) -> World:
    from tests.contract.world_google import GoogleWorld

    return GoogleWorld(request.getfixturevalue("fake_google"), tmp)


def _microsoft(request: pytest.FixtureRequest, tmp: Path) -> World:
    from tests.contract.world_microsoft import microsoft_world

    return microsoft_world(request, tmp)


BUILD: dict[str, Callable[[pytest.FixtureRequest, Path], World]] = {
    "memory": _memory, "local": _local, "google": _google, "microsoft": _microsoft,
}


@pytest.fixture(params=WORLDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    return BUILD[request.param](request, tmp_path)
