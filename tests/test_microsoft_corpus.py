"""The shared .ics corpus through Graph: the same occurrences as the ics provider reads.

Each corpus file is loaded into the Graph fake (series, exceptions, deleted occurrences,
time zones) and read back through the Microsoft provider; the ics provider (on
recurring-ical-events) is the independent oracle. Files whose import into Outlook cannot
keep their meaning are listed with the reason and left out.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calsync.backends.base import Window
from calsync.backends.local.calendar import IcsProvider
from calsync.backends.local.config import IcsCalendar
from calsync.config import Owner, load
from calsync.core.model import Occurrence
from calsync.core.state import MemoryState
from tests.conftest import corpus_files
from tests.fakes.microsoft import FakeMicrosoft
from tests.microsoft_fixtures import ms_tls, trust_ca  # noqa: F401


def window_for(text: str) -> Window:
    """Four years from the file's first event: every feature, without decades of dailies."""
    import icalendar

    starts = []
    for c in icalendar.Calendar.from_ical(text).walk("VEVENT"):
        try:
            d = c.decoded("DTSTART")
        except (KeyError, ValueError):
            continue
        starts.append(datetime(d.year, d.month, d.day, tzinfo=UTC))
    first = min(starts) - timedelta(days=2)
    return Window(first, first + timedelta(days=4 * 365))

RDATE = "RDATE has no patternedRecurrence equivalent: imported as single events, EXDATEs lost"
NOT_OUTLOOK = {
    "icalendar__issue_156_RDATE_with_PERIOD_TZID_khal_2": RDATE,
    "icalendar__period_with_timezone": RDATE,
    "python-recurring-ical-events__issue_113_period_in_rdate": RDATE,
    "python-recurring-ical-events__rdate": RDATE,
    "python-recurring-ical-events__rdate_falls_on_rrule_until": RDATE,
    "python-recurring-ical-events__issue_75_range_parameter": "RANGE=THISANDFUTURE overrides",
    "python-recurring-ical-events__issue_163_deleted_modification": "override of an EXDATE slot",
    "python-recurring-ical-events__issue_148_edge_case_1": "RECURRENCE-ID off the rule",
    "python-recurring-ical-events__issue_173_only_modifications_error": "no master",
    "python-recurring-ical-events__issue_253_additional_recurrence_id": "RECURRENCE-ID off the rule",
    "khal__tz_windows_format": "VTIMEZONE contradicts its Windows name (khal's test of it)",
    "python-recurring-ical-events__issue_20_exdate_ignored": "UNTIL mid-day: Outlook ends series on a date",
    "python-recurring-ical-events__issue_27_t1": "floating UNTIL, empty DTSTART: broken file",
    "python-recurring-ical-events__issue_27_t2": "floating UNTIL, empty DTSTART: broken file",
    "python-recurring-ical-events__issue_28_rrule_with_UTC_endinginZ":
        "all-day series with timed RECURRENCE-IDs in a Windows zone",
    "icalendar__parsing_error": "malformed RRULE: the import skips the event, ics tolerates it",
    "icalendar__issue_165_missing_event": "malformed EXDATE: the import skips the event",
    "icalendar__issue_722_missing_timezones": "TZIDs with no VTIMEZONE, read differently",
}
FILES = [p for p in corpus_files() if p.stem not in NOT_OUTLOOK]


def key(o: Occurrence) -> tuple[str, bool, str]:
    when = o.start.date().isoformat() if o.all_day else o.start.astimezone(UTC).isoformat()
    return when, o.cancelled, o.title


@pytest.fixture(scope="module")
def graph_login(ms_tls: Any, tmp_path_factory: pytest.TempPathFactory,  # noqa: F811
                ) -> Iterator[tuple[FakeMicrosoft, Path]]:
    """One fake and one login for the module: each test loads its own calendar into it."""
    from calsync.backends.microsoft.setup import setup

    ca_file = str(ms_tls[2])
    saved = {v: os.environ.get(v) for v in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                                              "SSL_CERT_FILE", "CALSYNC_HOME")}
    folder = tmp_path_factory.mktemp("corpus")
    os.environ.update(REQUESTS_CA_BUNDLE=ca_file, CURL_CA_BUNDLE=ca_file, SSL_CERT_FILE=ca_file,
                      CALSYNC_HOME=str(folder / "home"))
    fake = FakeMicrosoft(user_email="me@example.com").start(ms_tls[1])
    cfg = folder / "c.toml"
    cfg.write_text(
        '[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n\n'
        f'[[calendars]]\nname = "o"\nprovider = "microsoft"\nclient_id = "c"\n'
        f'authority_url = "{fake.base}"\ngraph_url = "{fake.graph_url}"\n'
        f'token_file = "{folder / "token.json"}"\n',
        encoding="utf-8",
    )
    setup(cfg, None, "organizations", browser=False, read_only=True, echo=lambda s: None)
    try:
        yield fake, cfg
    finally:
        fake.stop()
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


@pytest.mark.skipif(not FILES, reason="ics corpus not found")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_corpus_file_reads_the_same_through_graph(
    path: Path, graph_login: tuple[FakeMicrosoft, Path], trust_ca: Path,  # noqa: F811
     # noqa: F811
) -> None:
    from calsync.backends.microsoft.calendar import MicrosoftProvider

    fake, cfg = graph_login
    with fake.lock:
        fake.events.clear()
    text = path.read_text(encoding="utf-8", errors="replace")
    fake.seed_ics(text, default_tz="Europe/Berlin")
    window = window_for(text)
    conf = load(cfg)
    graph = MicrosoftProvider(conf.calendars[0], conf.owner, MemoryState(),
                              datetime.now(UTC)).fetch(window)
    ics = IcsProvider(IcsCalendar(name="i", path=path),
                      Owner(("me@example.com",), "Europe/Berlin"),
                      prefilter=False).fetch(window)  # every event, as Graph lists them
    got, want = Counter(map(key, graph.occurrences)), Counter(map(key, ics.occurrences))
    assert want, "the oracle should find occurrences"
    assert (sorted((got - want).elements()), sorted((want - got).elements())) == ([], [])
