"""cadence.timeline: the one classification of planned meetings shared by status and report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calsync.core.cadence import timeline
from calsync.core.model import Attendee, MarkKind, Occurrence, Relationship, Response, Status

OWNER = ("mgr@example.com",)
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def occ(day: int, uid: str = "s1", **kw: object) -> Occurrence:
    start = datetime(2026, 11, day, 9, 0, tzinfo=UTC) if day > 0 else NOW + timedelta(days=-day)
    fields: dict[str, object] = {
        "provider": "ics",
        "calendar": "work",
        "ref": f"{uid}-{day}",
        "uid": uid,
        "start": start,
        "end": start + timedelta(minutes=30),
        "attendees": (Attendee("rep@example.com"),),
    }
    fields.update(kw)
    return Occurrence(**fields)  # type: ignore[arg-type]


def rel(*occs: Occurrence) -> Relationship:
    return Relationship("rep@example.com", "Rep", "ics", "work", sorted(occs, key=lambda o: o.start))


def kinds(r: Relationship) -> list[MarkKind]:
    return [m.kind for m in timeline(r, NOW, OWNER)]


def test_each_fate_is_classified() -> None:
    r = rel(
        occ(2),
        occ(9, removed=True),
        occ(16, status=Status.CANCELLED),
        occ(23, attendees=(Attendee("rep@example.com", response=Response.DECLINED),)),
        occ(-7),
    )
    assert kinds(r) == [
        MarkKind.HELD,
        MarkKind.REMOVED,
        MarkKind.CANCELLED,
        MarkKind.DECLINED,
        MarkKind.PLANNED,
    ]


def test_owner_declining_is_a_decline_too() -> None:
    owner_declined = Attendee("mgr@example.com", response=Response.DECLINED)
    r = rel(occ(2, attendees=(Attendee("rep@example.com"), owner_declined)))
    assert kinds(r) == [MarkKind.DECLINED]


def test_meeting_in_progress_is_not_held_yet() -> None:
    start = NOW - timedelta(minutes=10)
    r = rel(occ(1, start=start, end=start + timedelta(minutes=30)))
    assert kinds(r) == [MarkKind.PLANNED]


def test_two_series_at_one_instant_are_one_meeting_and_the_held_one_wins() -> None:
    r = rel(occ(2, uid="old", status=Status.CANCELLED), occ(2, uid="new"), occ(9, uid="old", removed=True))
    marks = timeline(r, NOW, OWNER)
    assert [m.kind for m in marks] == [MarkKind.HELD, MarkKind.REMOVED]
    assert [m.start.day for m in marks] == [2, 9]
