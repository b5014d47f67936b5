"""Reading: the window, a series and its instances, overrides, cancellations, declines, rooms."""

from __future__ import annotations

from datetime import UTC, timedelta

from calsync.core.model import AttendeeKind, Occurrence, Response
from tests.contract import world as w
from tests.contract.world import World


def _read(world: World) -> list[Occurrence]:
    return world.calendar().fetch(w.WINDOW).occurrences


def _series(occs: list[Occurrence]) -> list[Occurrence]:
    return sorted((o for o in occs if o.uid == w.SERIES_UID), key=lambda o: o.start)


def _instance(occs: list[Occurrence], n: int) -> Occurrence:
    (occ,) = [o for o in _series(occs) if o.start == w.start_of(n)]
    return occ


def test_window_holds_what_overlaps_it_and_nothing_else(world: World) -> None:
    occs = _read(world)
    assert occs, "nothing read"
    for occ in occs:
        assert occ.start < w.WINDOW.end and occ.end > w.WINDOW.start, occ
    assert w.OLD_UID not in {o.uid for o in occs}  # two weeks before the window
    assert w.start_of(5) not in {o.start for o in occs}  # the instance after it
    assert [o.title for o in occs if o.uid == w.CAROL_UID] == [w.CAROL_TITLE]


def test_series_instances_share_one_series_and_keep_their_own_times(world: World) -> None:
    series = _series(_read(world))
    assert [o.start for o in series] == [w.start_of(n) for n in range(5)]
    assert len({o.series_id for o in series}) == 1 and series[0].series_id is not None
    assert len({o.ref for o in series}) == 5  # each instance its own handle
    for o in series:
        assert o.end - o.start == timedelta(minutes=w.MINUTES)
        assert o.organizer == w.ME and o.organizer_is_self is True
    # past the change to summer time the series keeps its wall-clock time
    assert series[-1].start.astimezone(w.TZ).hour == 10 != series[0].start.astimezone(UTC).hour
    carol = next(o for o in _read(world) if o.uid == w.CAROL_UID)
    assert carol.series_id is None and carol.organizer == w.CAROL
    assert carol.organizer_is_self is False


def test_override_moves_and_renames_one_instance(world: World) -> None:
    occs = _read(world)
    moved = _instance(occs, w.MOVED)
    assert moved.title == w.MOVED_TITLE and moved.recurrence_id == w.original(w.MOVED)
    assert moved.cancelled is False
    assert {o.title for o in _series(occs) if o is not moved} == {w.SERIES_TITLE}


def test_cancelled_instance_is_read_as_cancelled(world: World) -> None:
    occs = _read(world)
    assert [o.cancelled for o in _series(occs)] == [n == w.CANCELLED for n in range(5)]


def test_decline_is_read_on_that_instance_only(world: World) -> None:
    occs = _read(world)
    for n in (0, w.MOVED, w.DECLINED, w.TARGET):
        bob = next(a for a in _instance(occs, n).attendees if a.email == w.BOB)
        assert bob.response is (Response.DECLINED if n == w.DECLINED else Response.ACCEPTED), n
        assert bob.name == w.BOB_NAME and bob.is_person


def test_room_is_no_person_and_the_owner_is_self(world: World) -> None:
    occ = _instance(_read(world), 0)
    by_email = {a.email: a for a in occ.attendees}
    assert by_email[w.ROOM].kind in (AttendeeKind.ROOM, AttendeeKind.RESOURCE)
    assert not by_email[w.ROOM].is_person
    assert [a.email for a in occ.attendees if a.is_person and a.email != w.ME] == [w.BOB]


def test_each_instance_is_its_own_writable_event(world: World) -> None:
    occs = _read(world)
    occ = _instance(occs, w.TARGET)
    assert w.NOTES in world.stored(occ.ref) and occ.writable
    assert occ.ref != _instance(occs, 0).ref
