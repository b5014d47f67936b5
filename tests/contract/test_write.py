"""Writing: splice, unchanged, conflict (re-read and re-splice once), not the organizer,
no ETag, gone. What is stored is checked underneath the backend, through its world."""

from __future__ import annotations

from calsync.backends.base import Calendar, DocRef, HasDocs, WriteStatus
from calsync.core.model import Body, Occurrence
from tests.contract import world as w
from tests.contract.world import World

BLOCK = "[calsync]agenda for Bob[/calsync]"


def add_block(body: Body) -> Body:
    return Body(body.text + (f"<p>{BLOCK}</p>" if body.html else f"\n{BLOCK}"), body.html)


def add_once(body: Body) -> Body | None:
    return None if BLOCK in body.text else add_block(body)


def target(world: World, n: int = w.TARGET) -> tuple[Calendar, Occurrence]:
    cal = world.calendar()
    occs = cal.fetch(w.WINDOW).occurrences
    (occ,) = [o for o in occs if o.uid == w.SERIES_UID and o.start == w.start_of(n)]
    return cal, occ


def carol(world: World) -> tuple[Calendar, Occurrence]:
    cal = world.calendar()
    (occ,) = [o for o in cal.fetch(w.WINDOW).occurrences if o.uid == w.CAROL_UID]
    return cal, occ


def test_splice_writes_the_block_into_that_instance_only(world: World) -> None:
    cal, occ = target(world)
    first = target(world, 0)[1]
    untouched = world.stored(first.ref)
    result = cal.write_description(occ, add_block, "tag1")
    assert result.status is WriteStatus.WRITTEN, result.detail
    assert result.before is not None and result.after is not None
    assert w.NOTES in result.before.text and BLOCK not in result.before.text
    assert BLOCK in result.after.text
    stored = world.stored(occ.ref)
    assert BLOCK in stored and w.NOTES in stored
    assert world.stored(first.ref) == untouched


def test_second_run_with_nothing_to_change_writes_nothing(world: World) -> None:
    cal, occ = target(world)
    assert cal.write_description(occ, add_once, "tag1").status is WriteStatus.WRITTEN
    cal.close()
    cal, occ = target(world)  # the next run
    version = world.version(occ.ref)
    again = cal.write_description(occ, add_once, "tag1")
    assert again.status is WriteStatus.UNCHANGED, again.detail
    assert world.version(occ.ref) == version


def test_unchanged_returns_the_stored_body_as_before_and_after(world: World) -> None:
    cal, occ = target(world)
    version = world.version(occ.ref)
    for splice in (lambda body: None, lambda body: body):
        result = cal.write_description(occ, splice, "tag1")
        assert result.status is WriteStatus.UNCHANGED, result.detail
        assert result.before is not None and result.after == result.before
        assert w.NOTES in result.before.text
    assert world.version(occ.ref) == version


def test_concurrent_edit_is_reread_and_respliced_once(world: World) -> None:
    cal, occ = target(world)
    seen: list[str] = []

    def racing(body: Body) -> Body:
        seen.append(body.text)
        if len(seen) == 1:  # someone edits the invite while calsync splices
            world.human_edit(occ.ref, "Typed by Bob")
        return add_block(body)

    result = cal.write_description(occ, racing, "tag1")
    assert result.status is WriteStatus.WRITTEN, result.detail
    assert len(seen) == 2 and "Typed by Bob" in seen[1] and "Typed by Bob" not in seen[0]
    stored = world.stored(occ.ref)
    assert "Typed by Bob" in stored and BLOCK in stored


def test_edits_during_both_tries_leave_the_human_text_alone(world: World) -> None:
    cal, occ = target(world)
    seen: list[str] = []

    def racing(body: Body) -> Body:
        seen.append(body.text)
        world.human_edit(occ.ref, f"Typed by Bob, take {len(seen)}")
        return add_block(body)

    result = cal.write_description(occ, racing, "tag1")
    assert result.status is WriteStatus.CONFLICT, result.detail
    assert len(seen) == 2  # re-read and re-spliced once, then left alone
    stored = world.stored(occ.ref)
    assert "Typed by Bob, take 2" in stored and BLOCK not in stored


def test_not_the_organizer_is_refused_and_nothing_is_written(world: World) -> None:
    cal, occ = carol(world)
    version = world.version(occ.ref)
    result = cal.write_description(occ, add_block, "tag1")
    assert result.status is WriteStatus.FORBIDDEN
    assert world.version(occ.ref) == version and BLOCK not in world.stored(occ.ref)


def test_no_etag_means_no_write(etag_world: World) -> None:
    world = etag_world
    cal, occ = target(world)
    world.drop_etag(occ.ref)
    version = world.version(occ.ref)
    result = cal.write_description(occ, add_block, "tag1")
    assert result.status is WriteStatus.CONFLICT, result.detail
    assert world.version(occ.ref) == version and BLOCK not in world.stored(occ.ref)


def test_cancelled_instance_is_gone(world: World) -> None:
    cal, occ = target(world, w.CANCELLED)
    result = cal.write_description(occ, add_block, "tag1")
    assert result.status is WriteStatus.GONE, result.detail
    assert BLOCK not in world.stored(occ.ref)


def test_a_doc_named_for_the_write_never_changes_its_outcome(world: World) -> None:
    cal, occ = target(world)
    doc = DocRef(id="doc-1", url="https://docs.example.com/doc-1")
    result = cal.write_description(occ, add_block, "tag1", attach=doc)
    assert result.status is WriteStatus.WRITTEN and BLOCK in world.stored(occ.ref)


def test_the_doc_the_app_names_is_attached_once(attaching_world: World) -> None:
    world = attaching_world
    cal, occ = target(world)
    assert isinstance(cal, HasDocs)
    doc = cal.docs().ensure(w.DOC_REQUEST)
    assert cal.write_description(occ, add_block, "tag1").status is WriteStatus.WRITTEN
    assert world.attached(occ.ref) == []  # no doc named: none attached, whatever the text says
    cal, occ = target(world)
    more = lambda body: Body(body.text + " more", body.html)  # noqa: E731
    assert cal.write_description(occ, more, "tag2", attach=doc).status is WriteStatus.WRITTEN
    cal, occ = target(world)
    assert cal.write_description(occ, add_block, "tag3", attach=doc).status is WriteStatus.WRITTEN
    assert world.attached(occ.ref) == [doc.url]


def test_read_only_calendar_writes_nothing(world: World) -> None:
    _, occ = target(world)
    version = world.version(occ.ref)
    result = world.calendar(read_only=True).write_description(occ, add_block, "tag1")
    assert result.status is WriteStatus.FORBIDDEN
    assert world.version(occ.ref) == version and BLOCK not in world.stored(occ.ref)
