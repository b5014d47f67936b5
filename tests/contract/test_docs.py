"""Docs: created once, shared once, a section added once on top of the log with what
people wrote kept, and the items read back."""

from __future__ import annotations

from calsync.core import actions
from tests.contract import world as w
from tests.contract.world import World

FIRST = "## Meeting of 2026-03-23"
SECOND = "## Meeting of 2026-03-30"


def test_ensure_creates_one_doc_from_the_template_and_keeps_returning_it(world: World) -> None:
    docs = world.docs()
    ref = docs.ensure(w.DOC_REQUEST)
    assert docs.ensure(w.DOC_REQUEST) == ref
    assert world.docs().ensure(w.DOC_REQUEST) == ref  # the next run
    assert world.doc_count() == 1
    assert "Purpose: growth, not an evaluation." in world.doc_text(ref)
    # read back: at least the checklist lines (a cache may keep no more)
    assert "- [ ] Me: share the roadmap" in docs.read_text(ref).splitlines()


def test_doc_is_shared_with_the_counterpart_once(sharing_world: World) -> None:
    world = sharing_world
    ref = world.docs().ensure(w.DOC_REQUEST)
    world.docs().ensure(w.DOC_REQUEST)
    world.docs().ensure(w.DOC_REQUEST)
    assert world.shared_with(ref) == [w.BOB]


def test_section_goes_on_top_of_the_log_once_and_people_text_stays(world: World) -> None:
    ref = world.docs().ensure(w.DOC_REQUEST)
    world.human_types(ref, "Bob wrote this himself")
    docs = world.docs()
    assert docs.add_section(ref, FIRST, f"{FIRST}\n\n- [ ] Bob: send the draft\n") is True
    assert docs.add_section(ref, FIRST, f"{FIRST}\n\n- [ ] Bob: send the draft\n") is False
    assert world.docs().add_section(ref, FIRST, f"{FIRST}\n\nother text\n") is False
    assert world.docs().add_section(ref, SECOND, f"{SECOND}\n\n- [ ] Me: book a room\n") is True
    text = world.doc_text(ref)
    assert text.count("2026-03-23") == 1 and "other text" not in text
    assert text.index("2026-03-30") < text.index("2026-03-23")  # newest first
    assert text.index("Purpose: growth") < text.index("2026-03-30")  # below the template
    assert "Bob wrote this himself" in text


def test_items_are_read_back(world: World) -> None:
    ref = world.docs().ensure(w.DOC_REQUEST)
    world.docs().add_section(ref, FIRST, f"{FIRST}\n\n- [ ] Bob: send the draft\n- [x] Me: fix CI\n")
    items = {i.text: i for i in actions.parse(world.docs().read_text(ref))}
    assert items["send the draft"].owner == "Bob" and not items["send the draft"].done
    assert items["fix CI"].owner == "Me" and items["fix CI"].done
    assert items["share the roadmap"].owner == "Me"  # from the template
