"""The shared .ics corpus served through Google gives the same occurrences as the file.

Each real-world file is imported into the fake the way Google would hold it (masters with
``recurrence``, instances, exceptions, EXDATE as cancelled instances), read back through
the Google provider and compared with calsync's own iCalendar reader.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from calsync.backends.base import Window
from calsync.backends.local.calendar import IcsProvider
from calsync.backends.local.config import IcsCalendar
from calsync.config import Owner
from calsync.core.model import Occurrence
from tests.conftest import corpus_files
from tests.google_fixtures import *  # noqa: F403
from tests.google_fixtures import GEnv

# Files where Google itself would not hold what the file says, or the fake cannot import
# the file as Google's importer would.
NOT_COMPARABLE = {
    "khal__tz_windows_format.ics": "Windows zone names: Google maps them on import; the fake not",
    "python-recurring-ical-events__issue_148_edge_case_1.ics": "several masters for one UID",
    "python-recurring-ical-events__issue_163_deleted_modification.ics": "several masters for one UID",
    "python-recurring-ical-events__issue_75_range_parameter.ics":
        "RANGE=THISANDFUTURE has no Google equivalent (Google splits the series)",
    "icalendar__issue_165_missing_event.ics": "RRULE with escaped separators: the fake's importer refuses it",
}


def _window(path: Path) -> Window:
    """The first 200 days of the file: recurrences, overrides and EXDATEs, kept fast."""
    import icalendar

    starts = []
    for comp in icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT"):
        value = comp.get("DTSTART")
        dt = getattr(value, "dt", None)
        if isinstance(dt, datetime):
            starts.append(dt if dt.tzinfo else dt.replace(tzinfo=UTC))
        elif isinstance(dt, date):
            starts.append(datetime(dt.year, dt.month, dt.day, tzinfo=UTC))
    first = min(starts) - timedelta(days=1)
    return Window(first, first + timedelta(days=200))


def _key(o: Occurrence) -> tuple[str, str, bool, str, bool]:
    return (o.start.astimezone(UTC).isoformat(), o.end.astimezone(UTC).isoformat(),
            o.cancelled, o.title, o.all_day)


@pytest.mark.parametrize(
    "path", [p for p in corpus_files() if p.name not in NOT_COMPARABLE], ids=lambda p: p.name
)
def test_corpus_file_reads_the_same_through_google(path: Path, gcal: GEnv) -> None:
    owner = Owner(("me@example.com",), "Europe/Berlin")
    w = _window(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ics = IcsProvider(IcsCalendar(name="x", path=path), owner,
                          prefilter=False).fetch(w)  # every event, as Google lists them
        gcal.fake.seed_ics(path.read_bytes(), ["me@example.com"], tz="Europe/Berlin",
                           start=w.start - timedelta(days=2), end=w.end + timedelta(days=2))
    google = gcal.provider(gcal.calendar()).fetch(w)
    assert sorted(map(_key, google.occurrences)) == sorted(map(_key, ics.occurrences))
