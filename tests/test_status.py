"""`calsync status` end to end on the scenario and example calendars (issue 2)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES, SCENARIOS
from tests.helpers import EXAMPLE_NOW, SCENARIO_NOW, by_counterpart, cli, status_json

CORE = SCENARIOS / "core.toml"
KEYS = {
    "counterpart", "name", "role", "provider", "calendar", "series", "titles", "held",
    "planned", "cancelled", "declined", "median_interval_days", "median_duration_min",
    "baseline_interval_days", "baseline_duration_min", "cadence", "warnings", "last_held", "next",
    "recent_days", "attendance", "open_gap_days", "planned_interval_days", "planned_duration_min",
    "next_planned", "reasons", "pulse", "makeup",
}


@pytest.fixture(scope="module")
def core() -> dict[str, dict]:
    return by_counterpart(status_json(CORE, SCENARIO_NOW))


def test_json_shape() -> None:
    doc = status_json(CORE, SCENARIO_NOW)
    assert set(doc) == {"generated_at", "relationships", "warnings", "errors"}
    assert doc["generated_at"].startswith("2026-04-29T12:00:00")
    for rel in doc["relationships"]:
        assert set(rel) == KEYS
        assert rel["cadence"] in {"healthy", "drifting", "lapsed", "insufficient-data"}
        assert rel["role"] in {"organizer", "attendee"}
        assert rel["provider"] == "ics" and rel["calendar"] == "scenarios"


def test_only_1on1s_appear(core: dict[str, dict]) -> None:
    assert set(core) == {
        "adhoc@example.com", "boss@example.com", "decline@example.com", "drift@example.com",
        "exdate@example.com", "lapsed@example.com", "override@example.com",
        "roomie@example.com", "split@example.com",
    }


def test_split_series_is_one_relationship_across_dst(core: dict[str, dict]) -> None:
    sam = core["split@example.com"]
    assert sam["series"] == ["split-a@example.com", "split-a@example.com_R20260302T090000"]
    assert (sam["held"], sam["planned"]) == (17, 17)
    # 2026-03-23 → 03-30 crosses the switch to summer time: still exactly 7 days.
    assert sam["median_interval_days"] == 7.0
    assert sam["cadence"] == "healthy" and sam["warnings"] == []


def test_exdate_and_cancelled_override_count_as_cancelled(core: dict[str, dict]) -> None:
    eve, olga = core["exdate@example.com"], core["override@example.com"]
    assert (eve["planned"], eve["cancelled"], eve["held"]) == (9, 2, 7)
    assert (olga["planned"], olga["cancelled"], olga["held"]) == (9, 1, 8)


def test_declines_are_not_held(core: dict[str, dict]) -> None:
    dora = core["decline@example.com"]
    assert (dora["planned"], dora["declined"], dora["cancelled"], dora["held"]) == (8, 2, 0, 6)


def test_rooms_and_resources_do_not_count(core: dict[str, dict]) -> None:
    assert core["roomie@example.com"]["name"] == "Rita Roomie"
    assert "room-1@example.com" not in core and "beamer@example.com" not in core


def test_owner_as_attendee(core: dict[str, dict]) -> None:
    boss = core["boss@example.com"]
    assert boss["role"] == "attendee"
    assert boss["median_duration_min"] == 45.0


def test_adhoc_repeats_are_a_relationship(core: dict[str, dict]) -> None:
    ada = core["adhoc@example.com"]
    assert ada["held"] == 3 and ada["series"] == [
        "adhoc-0@example.com", "adhoc-1@example.com", "adhoc-2@example.com"
    ]
    assert ada["next"] is None


def test_drifting_names_before_and_now(core: dict[str, dict]) -> None:
    dirk = core["drift@example.com"]
    assert dirk["cadence"] == "drifting"
    # the recent window (56 days) holds one meeting, so it reaches back to the last three
    assert (dirk["median_interval_days"], dirk["median_duration_min"]) == (35.0, 60.0)
    assert (dirk["baseline_interval_days"], dirk["baseline_duration_min"]) == (7.0, 30.0)
    assert dirk["reasons"] == ["interval", "duration", "plan"]
    assert dirk["warnings"] == [
        "Dirk Drift <drift@example.com>: drifting: every 7 days, 30 min → every 35 days, 60 min; "
        "planned: every 28 days, 60 min from 2026-05-04"
    ]


def test_lapsed(core: dict[str, dict]) -> None:
    lars = core["lapsed@example.com"]
    assert lars["cadence"] == "lapsed"
    assert lars["last_held"].startswith("2026-03-17T11:00:00")
    assert "no 1on1 held for 43 days" in lars["warnings"][0]


def test_policy_is_configurable(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    text = CORE.read_text().replace('path = "core.ics"', f'path = "{SCENARIOS / "core.ics"}"')
    config.write_text(text + "\n[policy]\nmax_interval_days = 40\nmax_duration_min = 60\n")
    dirk = by_counterpart(status_json(config, SCENARIO_NOW))["drift@example.com"]
    assert dirk["cadence"] == "healthy"


def test_example_calendar_labels() -> None:
    doc = by_counterpart(status_json(EXAMPLES / "config.toml", EXAMPLE_NOW))
    labels = {k: v["cadence"] for k, v in doc.items()}
    assert labels == {
        "alice@example.com": "healthy",
        "bob@example.com": "drifting",
        "carol@example.com": "healthy",
        "dan@example.com": "lapsed",
        "erin@example.com": "insufficient-data",
    }
    bob = doc["bob@example.com"]
    assert bob["warnings"] == [
        "Bob Okafor <bob@example.com>: drifting: every 7 days, 30 min → every 56 days, 60 min; "
        "3 of the last 4 planned meetings were held; planned: every 28 days, 60 min from 2026-12-07"
    ]
    assert doc["carol@example.com"]["role"] == "attendee"
    assert len(doc["alice@example.com"]["series"]) == 2


def test_text_output_is_a_table_with_warnings() -> None:
    result = cli("--config", EXAMPLES / "config.toml", "status", "--now", EXAMPLE_NOW)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert re.match(r"counterpart\s+role\s+cadence", lines[0])
    assert any(line.startswith("Bob Okafor") and "drifting" in line for line in lines)
    assert any(line.startswith("warning: Dan Weber") for line in lines)


def test_explain_gives_reasons() -> None:
    result = cli("--config", CORE, "detect", "--explain", "--now", SCENARIO_NOW)
    out = result.stdout
    assert "skip  'Trio' (34 occ.): 3 people" in out
    assert "skip  '1on1 day' (35 occ.): all-day event" in out
    assert "skip  'Team 1on1' (34 occ.): a group address" in out
    assert "skip  'Focus' (239 occ.): nobody else on the invite" in out
    assert "skip  'Chat' with twice@example.com (2 occ.): only 2 single meeting(s)" in out
    assert "take  'Catch-up' with adhoc@example.com (3 occ.): 3 repeated single meetings" in out


def _shuffled_calendar(text: str, seed: int) -> str:
    head, _, rest = text.partition("BEGIN:VEVENT")
    body, _, tail = ("BEGIN:VEVENT" + rest).rpartition("END:VEVENT")
    events = [e + "END:VEVENT" for e in (body + "END:VEVENT").split("END:VEVENT") if e.strip()]
    events = [e.lstrip("\r\n") for e in events]
    random.Random(seed).shuffle(events)
    return head + "\r\n".join(events) + tail


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_figures_do_not_depend_on_event_order(tmp_path: Path, seed: int) -> None:
    folder = tmp_path / str(seed)
    folder.mkdir()
    (folder / "core.ics").write_text(_shuffled_calendar((SCENARIOS / "core.ics").read_text(), seed))
    (folder / "core.toml").write_text(CORE.read_text())
    shuffled = status_json(folder / "core.toml", SCENARIO_NOW)
    original = status_json(CORE, SCENARIO_NOW)
    assert json.dumps(shuffled["relationships"], sort_keys=True) == json.dumps(
        original["relationships"], sort_keys=True
    )


def test_status_keeps_a_summary_that_reads_as_the_whole(tmp_path: Path, calsync_home: Path) -> None:
    """`status` drops each calendar's read (issue 16): what it keeps per relationship
    reads the same series, titles and role as the whole, with fewer occurrences."""
    from datetime import datetime

    from calsync.app import engine
    from calsync.app.store import Store
    from calsync.config import load
    from tests.helpers import write_config

    for config, when in ((EXAMPLES / "config.toml", EXAMPLE_NOW),
                         (write_config(tmp_path, SCENARIOS / "core.ics"), SCENARIO_NOW)):
        cfg, now = load(config), datetime.fromisoformat(when)
        store = Store(calsync_home / "state.sqlite3")
        whole = [st for item in engine.survey(cfg, now, store) if isinstance(item, engine.CalendarSurvey)
                 for st in item.statuses]
        kept = engine.status(cfg, now, store).statuses
        store.close()
        assert len(kept) == len(whole) >= 3
        for full, summary in zip(whole, kept, strict=True):
            rel, slim = full.relationship, summary.relationship
            assert (slim.counterpart, slim.series, slim.titles) == (rel.counterpart, rel.series,
                                                                    rel.titles)
            assert summary.role == full.role and summary.cadence == full.cadence
        assert sum(len(s.relationship.occurrences) for s in kept) * 3 < sum(
            len(s.relationship.occurrences) for s in whole)
