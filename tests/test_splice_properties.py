"""Properties of the agenda splice on the descriptions calsync meets in the wild.

Plain text (LF and CRLF), Google's HTML descriptions and Outlook HTML bodies with a
Teams join block, filled with generated text: non-BMP characters, text that looks like
our markers, a half block, one or two complete blocks. For every case:

* every byte outside the block is unchanged;
* splicing the same agenda again changes nothing;
* taking the block out again (:func:`calsync.core.agenda.unsplice`) gives the original back.

The number of cases comes from the hypothesis profile (tests/conftest.py): a modest one
by default, ``CALSYNC_HYPOTHESIS_PROFILE=slow`` for the ≥10,000-case run in ``.ci/run``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.core import agenda
from calsync.core.agenda import BEGIN, END, AgendaInput, OpenItem, render, splice, unsplice
from calsync.core.model import Body

_TEAMS = (
    "<div>________________________________________________________________________________</div>\r\n"
    '<div style="margin-bottom:24px"><span style="font-size:24px">Microsoft Teams meeting</span></div>\r\n'
    '<div><a href="https://teams.microsoft.com/l/meetup-join/19%3ameeting_X%40thread.v2/0?context=%7b%22Tid'
    '%22%3a%22t%22%7d" target="_blank">Click here to join the meeting</a></div>\r\n'
    "<div>Meeting ID: 123 456 789 0 Passcode: aB3dE</div>\r\n"
    "<div>________________________________________________________________________________</div>\r\n"
)
_OUTLOOK_HEAD = (
    '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
    "<style><!--\r\np.MsoNormal {margin:0cm;}\r\n--></style>\r\n</head>\r\n"
)

# Pieces people (and servers) put into descriptions, chosen to stress the marker rules.
_LOOKALIKES = [
    BEGIN, END, f" {BEGIN}", f"{END} ", BEGIN.upper(), BEGIN[:-1], END[1:], f"x{BEGIN}", f"{END}y",
    f"&lt;{BEGIN}&gt;", f'<a title="{BEGIN}">', f"<!-- {END} -->", BEGIN.replace(" ", "\u00a0"),
]
_PIECES = [
    "\n", "\r\n", "\r", "\n\n", "\r\n\r\n", " ", "\t", "\u00a0", "<br>", "<br/>", "<p>", "</p>", "<div>",
    "</div>", "<b>", "</b>", "&amp;", "&nbsp;", "<", ">", "😀", "𠮷野家", "🧑‍🤝‍🧑", "\U0010fffd", "日本語",
    "- [ ] Alice: send the deck", "☑ done", "https://meet.google.com/abc-defg-hij", "<body>", "</body>",
]
_text = st.one_of(
    st.sampled_from(_PIECES + _LOOKALIKES),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8),
)
_chunk = st.lists(_text, max_size=10).map("".join)

_ZONES = [ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Tokyo"), ZoneInfo("UTC")]
_names = st.one_of(
    st.none(), st.sampled_from(["Alice Chen", "佐藤 花子", "Bob <b>&", BEGIN, f"\n{END}\n", "😀"])
)
_URLS = [None, "https://docs.google.com/document/d/x/edit", "file:///tmp/a b.md"]


@st.composite
def _inputs(draw: st.DrawFn) -> AgendaInput:
    naive = draw(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1)))
    items = draw(st.lists(st.tuples(_names, _chunk), max_size=3))
    return AgendaInput(
        language=draw(st.sampled_from(["en", "ja"])),
        template=draw(st.sampled_from(["default", "grow"])),
        counterpart_email=draw(st.sampled_from(["alice@example.com", "hanako@example.jp"])),
        counterpart_name=draw(_names),
        start=naive.replace(tzinfo=draw(st.sampled_from(_ZONES))),
        doc_url=draw(st.sampled_from(_URLS)),
        open_items=tuple(OpenItem(text, owner, date(2026, 1, 5)) for owner, text in items),
        cadence_note=draw(_names),
    )


@dataclass(frozen=True)
class Case:
    """A description in one of the three shapes, and how many complete blocks it holds."""

    body: Body
    shape: str


def _old_block(draw: st.DrawFn, html: bool, crlf: bool) -> str:
    block = render(draw(_inputs()), html)
    return block.replace("\n", "\r\n") if crlf else block


@st.composite
def _cases(draw: st.DrawFn) -> Case:
    shape = draw(st.sampled_from(["plain", "plain-crlf", "google-html", "outlook"]))
    html = shape in ("google-html", "outlook")
    crlf = shape == "plain-crlf"
    parts = draw(st.lists(_chunk, min_size=1, max_size=4))
    # 0, 1 or 2 complete blocks, or half a block, at generated places between the chunks
    extra = draw(st.sampled_from(["none", "one", "two", "half-begin", "half-end"]))
    sep = "<br>" if html else ("\r\n" if crlf else "\n")
    inserts = {
        "none": [],
        "one": [_old_block(draw, html, crlf)],
        "two": [_old_block(draw, html, crlf), _old_block(draw, html, crlf)],
        "half-begin": [_old_block(draw, html, crlf).rsplit(END, 1)[0]],
        "half-end": [_old_block(draw, html, crlf).split(BEGIN, 1)[1]],
    }[extra]
    for piece in inserts:
        at = draw(st.integers(0, len(parts)))
        parts.insert(at, sep + piece + sep)
    text = "".join(parts)
    if crlf:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    if shape == "google-html":
        text = text.replace("\r\n", "<br>").replace("\n", "<br>")
    elif shape == "outlook":
        inner = f'<div class="WordSection1">{text}</div>\r\n{_TEAMS}'
        text = f'{_OUTLOOK_HEAD}<body lang="EN-US">\r\n{inner}</body>\r\n</html>\r\n'
    return Case(Body(text, html), shape)


def _outside(text: str, html: bool) -> tuple[str, str]:
    blocks = agenda.find_blocks(text, html)
    assert len(blocks) == 1, blocks
    s, e = blocks[0]
    return text[:s], text[e:]


def _check_outside(case: Case, a: AgendaInput) -> None:
    old = case.body
    blocks = agenda.find_blocks(old.text, old.html)
    new = splice(old, a)
    if len(blocks) > 1:
        assert new is None  # which block is ours cannot be told: nothing changes
        return
    if new is None:  # already holds exactly this block
        s, e = blocks[0] if len(blocks) == 1 else (0, -1)
        assert old.text[s:e].replace("\r\n", "\n") == render(a, old.html)
        return
    assert new.html == old.html
    before, after = _outside(new.text, new.html)
    assert new.text[len(before) : len(new.text) - len(after)] == render(a, old.html)
    if blocks:
        s, e = blocks[0]
        assert (before, after) == (old.text[:s], old.text[e:])
    else:
        sep = "<br>" if old.html else "\n\n"
        if old.text:
            assert after.startswith(sep)
            assert before + after[len(sep) :] == old.text
        else:
            assert (before, after) == ("", "")
        if case.shape == "outlook":
            assert before.endswith('<body lang="EN-US">')  # inside the body, ahead of the Teams block
        elif not old.html:
            assert before == ""


def _check_idempotent(case: Case, a: AgendaInput) -> None:
    once = splice(case.body, a)
    if once is None:
        return
    assert splice(once, a) is None


def _check_rerender(case: Case, a1: AgendaInput, a2: AgendaInput) -> None:
    once = splice(case.body, a1) or case.body
    if len(agenda.find_blocks(once.text, once.html)) != 1:
        return
    twice = splice(once, a2) or once
    assert _outside(twice.text, twice.html) == _outside(once.text, once.html)
    assert splice(twice, a2) is None


def _check_remove(case: Case, a: AgendaInput) -> None:
    old = case.body
    blocks = agenda.find_blocks(old.text, old.html)
    new = splice(old, a)
    if new is None:
        return
    back = unsplice(new)
    assert back is not None
    if not blocks:
        assert back == old
    else:
        assert back == unsplice(old)


# One test checks every property on each generated case, so the slow profile's 10,000
# cases cost one generation each (generation dominates the run time).
@given(_cases(), _inputs(), _inputs())
def test_splice_properties(case: Case, a1: AgendaInput, a2: AgendaInput) -> None:
    _check_outside(case, a1)
    _check_idempotent(case, a1)
    _check_rerender(case, a1, a2)
    _check_remove(case, a1)


def test_the_generator_reaches_every_shape_and_block_count() -> None:
    """Guards the properties against a generator that stopped producing the hard cases."""
    seen: set[tuple[str, int]] = set()

    @settings(max_examples=600, database=None, derandomize=True)
    @given(_cases())
    def collect(case: Case) -> None:
        seen.add((case.shape, min(len(agenda.find_blocks(case.body.text, case.body.html)), 2)))

    collect()
    shapes = ("plain", "plain-crlf", "google-html", "outlook")
    assert {(shape, n) for shape in shapes for n in (0, 1, 2)} <= seen
