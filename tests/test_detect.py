"""calsync.core.detect on hand-built occurrences: who counts as the other person, and when."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from calsync.core.detect import Detection, counterparts, detect
from calsync.core.model import Attendee, AttendeeKind, Occurrence

OWNER = ("mgr@example.com",)
T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def occ(i: int, *people: Attendee, title: str = "Sync", uid: str | None = None,
        series: str | None = None, all_day: bool = False) -> Occurrence:
    start = T0 + timedelta(days=7 * i)
    return Occurrence(
        provider="test", calendar="work", ref=f"{uid or i}", uid=uid or f"single-{i}",
        start=start, end=start + timedelta(minutes=30), title=title, series_id=series,
        all_day=all_day, organizer=OWNER[0], organizer_is_self=True,
        attendees=(Attendee(OWNER[0], is_self=True), *people),
    )


REP = Attendee("rep@example.com", "Rep")


def taken(occs: list[Occurrence], rules: Detection | None = None) -> list[str]:
    return [r.counterpart for r in detect(occs, OWNER, rules or Detection()).relationships]


def test_a_recurring_series_with_one_person_is_a_relationship() -> None:
    assert taken([occ(i, REP, series="s", uid="s") for i in range(2)]) == ["rep@example.com"]


def test_single_meetings_need_min_adhoc_meetings_without_a_title() -> None:
    assert taken([occ(i, REP) for i in range(2)]) == []
    assert taken([occ(i, REP) for i in range(3)]) == ["rep@example.com"]


def test_a_1on1_title_relaxes_the_adhoc_minimum_to_two() -> None:
    assert taken([occ(i, REP, title="1:1 Rep") for i in range(2)]) == ["rep@example.com"]
    assert taken([occ(0, REP, title="1:1 Rep")]) == []


def test_the_same_instant_twice_counts_once_for_adhoc_meetings() -> None:
    twins = [occ(0, REP, uid="a"), occ(0, REP, uid="b"), occ(1, REP, uid="c")]
    assert taken(twins) == []  # two distinct meetings, three needed


def test_rooms_resources_and_the_owner_are_not_people() -> None:
    room = Attendee("room@example.com", kind=AttendeeKind.ROOM)
    beamer = Attendee("beamer@example.com", kind=AttendeeKind.RESOURCE)
    me_again = Attendee("MGR@example.com".lower())
    assert taken([occ(i, REP, room, beamer, me_again, series="s", uid="s") for i in range(2)]) == [
        "rep@example.com"
    ]


def test_groups_three_people_all_day_and_alone_are_never_1on1s() -> None:
    group = Attendee("team@example.com", kind=AttendeeKind.GROUP)
    other = Attendee("other@example.com")
    result = detect(
        [occ(0, group, series="g", uid="g"), occ(0, REP, other, series="t", uid="t"),
         occ(0, REP, series="d", uid="d", all_day=True), occ(0, series="f", uid="f")],
        OWNER, Detection())
    assert result.relationships == []
    reasons = {c.series: c.reason for c in result.candidates}
    assert reasons == {"g": "a group address (counts as several people)", "t": "3 people",
                       "d": "all-day event", "f": "nobody else on the invite"}


def test_a_split_series_stays_one_relationship() -> None:
    occs = [occ(i, REP, series="a", uid="a") for i in range(3)]
    occs += [occ(i, REP, series="a_R", uid="a_R") for i in range(3, 6)]
    [r] = detect(occs, OWNER, Detection()).relationships
    assert r.series == ["a", "a_R"] and len(r.occurrences) == 6


def test_config_overrides_win() -> None:
    singles = [occ(i, REP) for i in range(1)]
    assert taken(singles, Detection(include_counterparts=("rep@example.com",))) == ["rep@example.com"]
    series = [occ(i, REP, series="s", uid="s") for i in range(3)]
    assert taken(series, Detection(exclude_counterparts=("rep@example.com",))) == []
    assert taken(series, Detection(exclude_titles=(re.compile("sync", re.I),))) == []
    assert taken(singles, Detection(include_titles=(re.compile("^sync$", re.I),))) == [
        "rep@example.com"
    ]


def test_owner_organizes_takes_the_providers_word_then_the_organizers_address() -> None:
    mine = occ(0, REP)
    assert mine.owner_organizes(OWNER)
    assert not replace(mine, organizer_is_self=False).owner_organizes(OWNER)
    unsure = replace(mine, organizer_is_self=None)
    assert unsure.owner_organizes(OWNER)
    assert not unsure.owner_organizes(("someone@else.org",))
    assert not replace(unsure, organizer=None).owner_organizes(OWNER)
    assert not unsure.owner_organizes(())


def test_an_organizer_the_owner_is_not_counts_as_the_other_person() -> None:
    theirs = replace(occ(0), organizer="rep@example.com", organizer_is_self=False)
    assert [a.email for a in counterparts(theirs, OWNER)] == ["rep@example.com"]
    unsure = replace(theirs, organizer_is_self=None)
    assert [a.email for a in counterparts(unsure, OWNER)] == ["rep@example.com"]
    ours = replace(theirs, organizer=OWNER[0], organizer_is_self=None)
    assert counterparts(ours, OWNER) == []
