"""The issue-8 cases on a real calendar (tests/scenarios/present.ics). The same JSON through
the Google and Graph fakes: test_google_setup.py and test_microsoft_scenarios.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SCENARIOS
from tests.helpers import SCENARIO_NOW, by_counterpart, cli, status_json

PRESENT = SCENARIOS / "present.toml"


@pytest.fixture(scope="module")
def present() -> dict[str, dict[str, Any]]:
    return by_counterpart(status_json(PRESENT, SCENARIO_NOW))


def test_every_third_meeting_held_is_drifting_on_interval_and_attendance(
    present: dict[str, dict[str, Any]],
) -> None:
    tessa = present["third@example.com"]
    assert tessa["cadence"] == "drifting"
    assert tessa["reasons"] == ["interval", "attendance"]
    assert (tessa["median_interval_days"], tessa["median_duration_min"]) == (21.0, 20.0)
    assert tessa["attendance"] == 0.38 and tessa["recent_days"] == 56.0
    assert tessa["warnings"] == [
        "Tessa Third <third@example.com>: drifting: every 7 days, 20 min → every 21 days, 20 min; "
        "3 of the last 8 planned meetings were held"
    ]


def test_split_into_four_weekly_long_meetings_shows_the_new_rhythm(
    present: dict[str, dict[str, Any]],
) -> None:
    una = present["split4@example.com"]
    assert una["cadence"] == "drifting"
    assert una["reasons"] == ["interval", "duration", "plan"]
    assert (una["median_interval_days"], una["median_duration_min"]) == (28.0, 60.0)
    assert (una["baseline_interval_days"], una["baseline_duration_min"]) == (7.0, 30.0)
    assert una["recent_days"] == 71.04  # extended back to the third-last held meeting
    assert una["warnings"][0].startswith(
        "Una Split <split4@example.com>: drifting: every 7 days, 30 min → every 28 days, 60 min"
    )


def test_stopped_three_weeks_ago_is_drifting_before_it_lapses(
    present: dict[str, dict[str, Any]],
) -> None:
    stan = present["stopped@example.com"]
    assert stan["cadence"] == "drifting" and stan["reasons"] == ["open-gap"]
    assert stan["open_gap_days"] == 21.08
    assert stan["warnings"][0].endswith("; no 1on1 for 21 days")
    assert stan["next_planned"] == [] and stan["planned_interval_days"] is None


def test_every_other_meeting_declined_is_drifting_on_attendance(
    present: dict[str, dict[str, Any]],
) -> None:
    hal = present["halfdecl@example.com"]
    assert hal["cadence"] == "drifting" and hal["reasons"] == ["attendance"]
    assert hal["median_interval_days"] == 14.0  # at the limit, not beyond it
    assert hal["attendance"] == 0.5 and hal["declined"] == 4
    assert hal["warnings"][0].endswith("4 of the last 8 planned meetings were held")


def test_plan_ahead_warns_while_history_is_healthy(present: dict[str, dict[str, Any]]) -> None:
    pia = present["plan@example.com"]
    assert pia["cadence"] == "healthy" and pia["reasons"] == ["plan"]
    assert (pia["planned_interval_days"], pia["planned_duration_min"]) == (28.0, 60.0)
    assert pia["next_planned"] == [
        "2026-05-22T10:00:00+02:00", "2026-06-19T10:00:00+02:00",
        "2026-07-17T10:00:00+02:00", "2026-08-14T10:00:00+02:00",
    ]
    assert pia["warnings"] == [
        "Pia Plan <plan@example.com>: planned: every 28 days, 60 min from 2026-05-22 "
        "(now every 7 days, 20 min)"
    ]


def test_vacation_stays_healthy_and_still_reports_the_skips(
    present: dict[str, dict[str, Any]],
) -> None:
    vic = present["vaca@example.com"]
    assert vic["cadence"] == "healthy" and vic["reasons"] == [] and vic["warnings"] == []
    assert vic["attendance"] == 0.75 and vic["cancelled"] == 2


def test_status_text_draws_the_rhythm_and_the_reasons() -> None:
    out = cli("--config", PRESENT, "status", "--now", SCENARIO_NOW).stdout
    rows = {line.split("  ")[0]: line for line in out.splitlines()}
    assert "|●●●××●××●××●|" in rows["Tessa Third"]
    assert "|●●●●●●●●●   |" in rows["Stan Stopped"]  # stopped: blank weeks, nothing ahead
    assert "|●●●●●●●●××●●|" in rows["Vic Vacation"]
    assert "|●●●●×●×●×●×·|" in rows["Hal Half"]  # this week's meeting is still ahead
    assert "  Stan Stopped: no 1on1 for 21 days (at most 14)" in out
    assert ("  Tessa Third: meets every 21 days (at most 14); 3 of the last 8 planned meetings "
            "were held (at least 60 % needed)") in out
