"""Action items: which lines are checklist items, who owns them, and how they merge."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.core.actions import ActionItem, html_to_text, parse, strip_since


def one(line: str) -> ActionItem:
    items = parse(line)
    assert len(items) == 1, items
    return items[0]


@pytest.mark.parametrize(
    ("line", "done"),
    [
        ("- [ ] send the deck", False),
        ("* [ ] send the deck", False),
        ("+ [ ] send the deck", False),
        ("- [x] send the deck", True),
        ("- [X] send the deck", True),
        ("[ ] send the deck", False),
        ("[x] send the deck", True),
        ("☐ send the deck", False),
        ("☑ send the deck", True),
        ("☑️ send the deck", True),
        ("✅ send the deck", True),
        ("✔ send the deck", True),
        ("✔️ send the deck", True),
        ("1. [ ] send the deck", False),
        ("12) [x] send the deck", True),
        ("  - [ ] send the deck", False),  # nested list item
        ("\t* [ ] send the deck", False),
        ("- ☐ send the deck", False),
        ("・[ ] send the deck", False),  # Japanese middle-dot bullet
        ("- [　] send the deck", False),  # full-width space typed with a Japanese IME
    ],
)
def test_every_checklist_syntax_is_an_item(line: str, done: bool) -> None:
    item = one(line)
    assert item == ActionItem(text="send the deck", owner=None, done=done)


@pytest.mark.parametrize(
    "line",
    [
        "- send the deck",  # a bullet, not a checkbox
        "send the deck",
        "we agreed - [ ] is the syntax",  # checkbox in the middle of a line
        "- [ ]",  # nothing to do
        "- [ ]    ",
        "☐",
        "[link](https://example.com)",
        "- [?] unknown box",
        "-[ ] no space after the bullet",
        "> - [ ] quoted reply",
        "[x](https://example.com/x) a Markdown link, not a checkbox",
    ],
)
def test_lines_that_are_not_items(line: str) -> None:
    assert parse(line) == []


@pytest.mark.parametrize(
    ("rest", "owner", "text"),
    [
        ("Alice: send the deck", "Alice", "send the deck"),
        ("Alice Smith: send the deck", "Alice Smith", "send the deck"),
        ("Mary Ann Smith: send the deck", "Mary Ann Smith", "send the deck"),
        ("One Two Three Four: send the deck", None, "One Two Three Four: send the deck"),
        ("alice@example.com: send the deck", "alice@example.com", "send the deck"),
        ("田中：資料を送る", "田中", "資料を送る"),
        ("田中 太郎: 資料を送る", "田中 太郎", "資料を送る"),
        ("https://example.com/x read this", None, "https://example.com/x read this"),
        ("https: //example.com", "https", "//example.com"),  # a word, colon, space: an owner
        ("read https://example.com/x", None, "read https://example.com/x"),
        ("meet at 10:30", None, "meet at 10:30"),
        ("Alice:no space after the colon", None, "Alice:no space after the colon"),
        ("Alice: Bob: a nested colon", "Alice", "Bob: a nested colon"),
        ("Alice  :   spaced   out  ", "Alice", "spaced out"),
        ("Alice:", None, "Alice:"),
    ],
)
def test_owner_prefix(rest: str, owner: str | None, text: str) -> None:
    item = one(f"- [ ] {rest}")
    assert (item.owner, item.text) == (owner, text)


def test_calsyncs_since_suffix_is_removed_once_in_either_language() -> None:
    assert one("- [ ] Alice: send the deck (since 2026-11-19)").text == "send the deck"
    assert one("- [ ] 資料を送る（2026-11-19から）").text == "資料を送る"
    assert one("- [ ] 資料を送る (2026-11-19から)").text == "資料を送る"
    # only calsync's exact form, and only one of them
    assert one("- [ ] ship it (since last week)").text == "ship it (since last week)"
    assert one("- [ ] x (since 2026-01-01) (since 2026-02-02)").text == "x (since 2026-01-01)"
    assert one("- [ ] (since 2026-01-01) first").text == "(since 2026-01-01) first"
    assert strip_since("a (since 2026-01-01)\n") == "a (since 2026-01-01)\n"  # anchored at the very end


def test_whitespace_is_collapsed() -> None:
    item = one("- [ ]   Alice:   send\tthe   deck   ")
    assert item == ActionItem("send the deck", "Alice", False)


def test_key_ignores_case_spacing_and_width_but_not_owner() -> None:
    a = ActionItem("Send  the Deck", "Alice", False)
    assert a.key == ActionItem("send the deck", "ALICE", True).key
    assert ActionItem("ＡＢＣ", None, False).key == ActionItem("abc", None, False).key
    assert a.key != ActionItem("send the deck", None, False).key
    assert a.key != ActionItem("send the deck", "Bob", False).key
    # owner and text cannot bleed into each other
    assert ActionItem("b c", "a", False).key != ActionItem("c", "a b", False).key


def test_dedupe_keeps_document_order_and_done_wins_either_way() -> None:
    text = "\n".join(
        [
            "- [ ] first",
            "- [ ] Alice: second",
            "- [x] FIRST",  # same key, checked later
            "- [ ] third",
            "- [x] fourth",
            "☐ fourth",  # unchecked after checked: still done
            "- [ ] alice:   Second",
        ]
    )
    items = parse(text)
    assert [(i.text, i.owner, i.done) for i in items] == [
        ("first", None, True),
        ("second", "Alice", False),
        ("third", None, False),
        ("fourth", None, True),
    ]


def test_crlf_and_other_line_breaks() -> None:
    items = parse("- [ ] one\r\n- [x] two\r- [ ] three\r\n")
    assert [(i.text, i.done) for i in items] == [("one", False), ("two", True), ("three", False)]


def test_html_to_text_breaks_lines_and_unescapes_after_stripping() -> None:
    html = (
        "<html><head><style>p { color: red }</style><title>t</title></head><body>"
        "<p>one</p><div>two<br>three<BR/>four</div><ul><li>five</li><li>six</li></ul>"
        "&lt;b&gt;not a tag&lt;/b&gt; &amp;amp; <!-- hidden --><span>seven</span>"
        "<script>var x = '- [ ] not an item';</script></body></html>"
    )
    lines = [ln for ln in html_to_text(html).split("\n") if ln]
    assert lines == ["one", "two", "three", "four", "five", "six", "<b>not a tag</b> &amp; seven"]


def test_html_to_text_survives_unterminated_things() -> None:
    assert html_to_text("a<!-- never closed <br> b") == "a"
    assert html_to_text("x<style>unclosed<br>y") == "xunclosed\ny"
    assert html_to_text("1 < 2 and 3 > 2") == "1 < 2 and 3 > 2"


def test_html_source_line_breaks_stay_line_breaks() -> None:
    # Google descriptions mix plain lines with tags; every line is still an item
    mixed = '- [ ] one\n- [x] two <a href="https://x.example">link</a>\n- [ ] three'
    assert [(i.text, i.done) for i in parse(mixed, html=True)] == [
        ("one", False),
        ("two link", True),
        ("three", False),
    ]


def test_parse_html_google_and_outlook_shapes() -> None:
    google = "Notes<br><ul><li>[ ] Alice: book the room</li><li>[x] send &amp; sign</li></ul>"
    outlook = (
        '<html><head><meta http-equiv="Content-Type" content="text/html"></head><body>'
        '<div class="x">☐ Bob: draft the plan</div><div>✅ ship&nbsp;it</div>'
        "<p>- [ ] 田中：資料を送る</p></body></html>"
    )
    assert [(i.owner, i.text, i.done) for i in parse(google, html=True)] == [
        ("Alice", "book the room", False),
        (None, "send & sign", True),
    ]
    assert [(i.owner, i.text, i.done) for i in parse(outlook, html=True)] == [
        ("Bob", "draft the plan", False),
        (None, "ship it", True),
        ("田中", "資料を送る", False),
    ]
    # the same HTML read as plain text is one line with no checklist at its start
    assert parse(google) == []


def test_parse_is_linear_on_huge_and_hostile_input() -> None:
    plain = ("x" * 70 + "\n") * 70_000 + "- [ ] the needle\n"  # ~5 MB
    hostile_html = "<" * 1_000_000 + "<style>" * 100_000 + "<!--" * 100_000
    spaces = "- [ ] a" + " " * 2_000_000 + "b"
    started = time.perf_counter()
    assert [i.text for i in parse(plain)] == ["the needle"]
    assert [i.text for i in parse(plain.replace("\n", "<br>"), html=True)] == ["the needle"]
    assert parse(hostile_html, html=True) == []
    assert [i.text for i in parse(spaces)] == ["a b"]
    assert time.perf_counter() - started < 10


_words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30
)


@given(st.lists(st.tuples(st.booleans(), _words), max_size=15))
def test_parse_properties(lines: list[tuple[bool, str]]) -> None:
    text = "\n".join(f"- [{'x' if done else ' '}] {w}" for done, w in lines)
    items = parse(text)
    keys = [i.key for i in items]
    assert len(keys) == len(set(keys))
    for item in items:
        assert item.text and item.text == " ".join(item.text.split())
        assert item.owner is None or item.owner == " ".join(item.owner.split())
        # parsing an item written back the way calsync writes it gives the same key
        back = f"- [ ] {item.owner}: {item.text}" if item.owner else f"- [ ] {item.text}"
        assert [i.key for i in parse(back)] == [item.key]
    # done wins: an item is done iff some line with its key was checked
    for item in items:
        checked = [done for done, w in lines for i in parse(f"- [ ] {w}") if i.key == item.key]
        assert item.done == any(checked)


@given(st.text(), st.booleans())
def test_parse_never_fails_and_yields_unique_clean_items(text: str, html: bool) -> None:
    items = parse(text, html=html)
    assert len({i.key for i in items}) == len(items)
    assert all(i.text and "\n" not in i.text for i in items)
