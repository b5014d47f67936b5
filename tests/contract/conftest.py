"""The backends the contract runs over: every test takes ``world`` (or a narrower fixture)
and so runs once per backend. A new backend joins with its adapter and one :data:`BACKENDS` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.contract.world import World
from tests.google_fixtures import fake_google  # noqa: F401  (fixtures the adapters ask for)
from tests.microsoft_fixtures import ms_tls, trust_ca  # noqa: F401
from tests.radicale_server import radicale_server  # noqa: F401


@dataclass(frozen=True)
class Backend:
    build: Callable[[pytest.FixtureRequest, Path], World]
    etags: bool = True  # writes are guarded by an ETag the service could fail to send
    shares: bool = True  # the backend shares docs with the counterpart itself
    attaches: bool = False  # the calendar attaches the pair's doc to the invite


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


def _caldav(request: pytest.FixtureRequest, tmp: Path) -> World:
    from tests.contract.world_caldav import CaldavWorld

    world = CaldavWorld(request.getfixturevalue("radicale_server"), tmp)
    request.addfinalizer(world.close)
    return world


BACKENDS: dict[str, Backend] = {
    "memory": Backend(_memory, attaches=True),
    # an .ics file's precondition is its bytes (always there); Markdown files share nothing
    "local": Backend(_local, etags=False, shares=False),
    "google": Backend(_google, attaches=True),  # Drive attachments
    "microsoft": Backend(_microsoft),
    "caldav": Backend(_caldav, shares=False),  # a real Radicale; docs are Markdown files
}


@pytest.fixture(params=list(BACKENDS))
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    return BACKENDS[request.param].build(request, tmp_path)


@pytest.fixture(params=[n for n, b in BACKENDS.items() if b.etags])
def etag_world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    return BACKENDS[request.param].build(request, tmp_path)


@pytest.fixture(params=[n for n, b in BACKENDS.items() if b.shares])
def sharing_world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    return BACKENDS[request.param].build(request, tmp_path)


@pytest.fixture(params=[n for n, b in BACKENDS.items() if b.attaches])
def attaching_world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    return BACKENDS[request.param].build(request, tmp_path)
