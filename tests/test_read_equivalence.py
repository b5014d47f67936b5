"""The fast paths read exactly what the full read does (issue 16).

Every corpus file, the scenario calendars and the example are read in full (no cache,
no prefilter) and through the fast paths, cold and then warm with the window moved on,
over several windows. Through the cache, the occurrences (as a multiset) and the
warnings (in order) are identical; through the prefilter, the warnings are identical and
every series that holds a 1on1-shaped occurrence comes back whole. `calsync status
--format json` and `calsync detect --explain` print the very same text with and without
either, for the scenarios, the example and every corpus file.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calsync.backends.base import Window
from calsync.backends.local.calendar import IcsProvider
from calsync.backends.local.config import IcsCalendar
from calsync.core.detect import shape
from calsync.core.model import FetchResult, Owner
from calsync.core.privacy import keepable
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


OWNER = ("me@example.com", "me@x.org")


def _fetch(path: Path, window: Window, **kw: bool) -> FetchResult | str:
    prov = IcsProvider(IcsCalendar(name="c", path=path),
                       Owner(OWNER, "Europe/Berlin"), **kw)
    try:
        return prov.fetch(window)
    except CalendarFileError as exc:
        return str(exc)


def _read(path: Path, window: Window, **kw: bool) -> tuple[list[str], list[str]] | str:
    got = _fetch(path, window, prefilter=False, **kw)
    if isinstance(got, str):
        return got
    # the expander's order within a window is not defined (it walks sets): compare sorted;
    # the cache keeps of a description only what the core reads (privacy.keepable)
    return sorted(repr(replace(o, description=keepable(o.description))) for o in got.occurrences), \
        got.warnings


@pytest.mark.parametrize("path", CALENDARS, ids=lambda p: p.name)
def test_prefiltered_reads_keep_every_1on1_series_and_every_warning(path: Path) -> None:
    for now in NOWS:
        for window in _windows(now):
            full = _fetch(path, window, cache=False, prefilter=False)
            fast = _fetch(path, window, cache=False)
            if isinstance(full, str):
                assert fast == full
                continue
            assert not isinstance(fast, str) and fast.partial and not full.partial
            assert fast.warnings == full.warnings
            kept = sorted(repr(o) for o in fast.occurrences)
            assert set(kept) <= {repr(o) for o in full.occurrences}
            series = {o.series_id or o.uid for o in full.occurrences
                      if shape(o, OWNER)[0] is not None}
            whole = sorted(repr(o) for o in full.occurrences if (o.series_id or o.uid) in series)
            assert sorted(r for r in kept if any(f"uid={s!r}" in r for s in series)) == whole
            everything = _fetch(path, Window(window.start, window.end, everything=True),
                                cache=False)
            assert not isinstance(everything, str) and not everything.partial
            assert sorted(map(repr, everything.occurrences)) == sorted(map(repr, full.occurrences))


@pytest.mark.parametrize("path", CALENDARS, ids=lambda p: p.name)
def test_cached_reads_equal_the_full_read(path: Path) -> None:
    for now in NOWS:
        for window in _windows(now):
            full = _read(path, window, cache=False)
            assert _read(path, window) == full  # cold: fills the cache
            later = Window(window.start + timedelta(hours=5), window.end + timedelta(hours=5))
            assert _read(path, later) == _read(path, later, cache=False)  # warm: served from it


def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every provider built from here on reads in full: no cache, no prefilter."""
    monkeypatch.setattr(IcsProvider, "__init__", functools.partialmethod(
        IcsProvider.__init__, cache=False, prefilter=False))


@pytest.mark.parametrize(("config", "now"), [(SCENARIOS / "core.toml", SCENARIO_NOW),
                                             (SCENARIOS / "present.toml", SCENARIO_NOW),
                                             (EXAMPLES / "config.toml", EXAMPLE_NOW)],
                         ids=["core", "present", "example"])
def test_status_and_explain_are_identical_cold_warm_and_plain(
    config: Path, now: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cal"
    shutil.copytree(config.parent, folder)
    cfg = folder / config.name
    commands = [("status", "--format", "json", "--now", now), ("detect", "--explain", "--now", now),
                ("run", "--dry-run", "--now", now)]

    def outputs() -> list[str]:
        return [cli("--config", str(cfg), *c).stdout for c in commands]

    cold, warm = outputs(), outputs()
    with monkeypatch.context() as m:
        _plain(m)
        full = outputs()
    assert cold == warm == full
    assert json.loads(cold[0])["relationships"]  # the comparison saw something


def _busiest(text: str) -> str:
    """The address on most invites: the calendar's likely owner."""
    pattern = r"(?im)^(?:ORGANIZER|ATTENDEE)[^\r\n]*?mailto:([^\s;]+)"
    found = Counter(m.lower() for m in re.findall(pattern, text))
    return found.most_common(1)[0][0] if found else "me@example.com"


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_status_json_is_identical_with_and_without_the_fast_paths(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    years = sorted(int(y) for y in re.findall(r"(?m)^DTSTART[^:\r\n]*:(\d{4})", text)) or [2026]
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[owner]\nemail = "{_busiest(text)}"\ntimezone = "Europe/Berlin"\n\n'
                   f'[[calendars]]\nname = "c"\nprovider = "ics"\npath = "{path}"\n')
    nows = {f"{years[len(years) // 2]}-06-15T09:00:00+02:00", "2026-04-29T12:00:00+02:00"}
    runs = [("status", "--format", "json", "--now", n) for n in sorted(nows)]

    def outputs() -> list[tuple[int, str]]:
        return [(r.exit_code, r.stdout) for r in (cli("--config", str(cfg), *c) for c in runs)]

    cold, warm = outputs(), outputs()
    with monkeypatch.context() as m:
        _plain(m)
        full = outputs()
    assert cold == warm == full


def test_a_cache_hit_imports_no_icalendar_library(tmp_path: Path) -> None:
    folder = tmp_path / "cal"
    shutil.copytree(EXAMPLES, folder)
    probe = ("import sys\nfrom calsync.cli.main import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print([m for m in ('icalendar', 'recurring_ical_events') if m in sys.modules])\n")
    args = ["--config", str(folder / "config.toml"), "status", "--now", EXAMPLE_NOW]
    env = {**os.environ, "CALSYNC_HOME": str(tmp_path / "home")}

    def imported() -> str:
        out = subprocess.run([sys.executable, "-c", probe, *args], env=env, check=True,
                             capture_output=True, text=True).stdout
        return out.strip().splitlines()[-1]

    assert imported() == "['icalendar', 'recurring_ical_events']"  # a miss parses
    assert imported() == "[]"  # a hit does not
    (folder / "calendar.ics").write_text((folder / "calendar.ics").read_text() + "\n")
    assert imported() == "['icalendar', 'recurring_ical_events']"  # the file changed: a miss


def test_the_cache_keeps_no_private_text_of_an_invite(tmp_path: Path) -> None:
    folder = tmp_path / "cal"
    shutil.copytree(EXAMPLES, folder)
    cal = folder / "calendar.ics"
    cal.write_text(cal.read_text().replace("Alice brings the topics.",
                                           "Alice brings the topics. Passcode 91-SECRET-17"))
    cfg = folder / "config.toml"
    assert cli("--config", str(cfg), "status", "--now", EXAMPLE_NOW).exit_code == 0
    entries = list((Path(os.environ["CALSYNC_HOME"]) / "cache" / "ics").glob("*.json"))
    assert entries and all("91-SECRET-17" not in e.read_text() for e in entries)
    assert all(oct(e.stat().st_mode)[-3:] == "600" for e in entries)
    dry = cli("--config", str(cfg), "run", "--dry-run", "--now", EXAMPLE_NOW)  # a hit
    assert "Passcode 91-SECRET-17" in dry.stdout  # the diff shows the whole description
