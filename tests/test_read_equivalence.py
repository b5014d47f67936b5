"""The fast paths read exactly what the full read does (issue 16).

Every corpus file, the scenario calendars and the example are read in full (no cache)
and through the cache, cold and then warm with the window moved on, over several
windows; the occurrences (as a multiset) and the warnings (in order) must be identical.
`calsync status --format json` and `calsync detect --explain` must print the very same
text cold, warm and uncached.
"""

from __future__ import annotations

import functools
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calsync.backends.base import Window
from calsync.backends.local.calendar import IcsProvider
from calsync.config import CalendarConfig, Owner
from calsync.errors import CalendarFileError
from tests.conftest import EXAMPLES, ROOT, SCENARIOS, corpus_files
from tests.helpers import EXAMPLE_NOW, SCENARIO_NOW, cli

CALENDARS = [*corpus_files(), SCENARIOS / "core.ics", SCENARIOS / "present.ics",
             EXAMPLES / "calendar.ics", *sorted((ROOT / "tests" / "regressions").glob("*.ics"))]
NOWS = [datetime(2009, 6, 1, 9, tzinfo=UTC), datetime(2016, 3, 27, 1, 30, tzinfo=UTC),
        datetime(2023, 10, 29, 0, 45, tzinfo=UTC), datetime(2026, 4, 29, 10, tzinfo=UTC)]


def _windows(now: datetime) -> list[Window]:
    return [Window(now - timedelta(days=180), now + timedelta(days=180)),
            Window(now - timedelta(days=14), now + timedelta(days=28))]


def _read(path: Path, window: Window, **kw: bool) -> tuple[list[str], list[str]] | str:
    prov = IcsProvider(CalendarConfig(name="c", provider="ics", path=path),
                       Owner(("me@example.com", "me@x.org"), "Europe/Berlin"), **kw)
    try:
        got = prov.fetch(window)
    except CalendarFileError as exc:
        return str(exc)
    # the expander's order within a window is not defined (it walks sets): compare sorted
    return sorted(repr(o) for o in got.occurrences), got.warnings


@pytest.mark.parametrize("path", CALENDARS, ids=lambda p: p.name)
def test_cached_reads_equal_the_full_read(path: Path) -> None:
    for now in NOWS:
        for window in _windows(now):
            full = _read(path, window, cache=False)
            assert _read(path, window) == full  # cold: fills the cache
            later = Window(window.start + timedelta(hours=5), window.end + timedelta(hours=5))
            assert _read(path, later) == _read(path, later, cache=False)  # warm: served from it


def _uncached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(IcsProvider, "__init__",
                        functools.partialmethod(IcsProvider.__init__, cache=False))


@pytest.mark.parametrize(("config", "now"), [(SCENARIOS / "core.toml", SCENARIO_NOW),
                                             (SCENARIOS / "present.toml", SCENARIO_NOW),
                                             (EXAMPLES / "config.toml", EXAMPLE_NOW)],
                         ids=["core", "present", "example"])
def test_status_and_explain_are_identical_cold_warm_and_uncached(
    config: Path, now: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cal"
    shutil.copytree(config.parent, folder)
    cfg = folder / config.name
    commands = [("status", "--format", "json", "--now", now), ("detect", "--explain", "--now", now)]

    def outputs() -> list[str]:
        return [cli("--config", str(cfg), *c).stdout for c in commands]

    cold, warm = outputs(), outputs()
    with monkeypatch.context() as m:
        _uncached(m)
        full = outputs()
    assert cold == warm == full
    assert json.loads(cold[0])["relationships"]  # the comparison saw something
