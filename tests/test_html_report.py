"""`calsync report`: the page's structure, parsed, against the status figures (issue 9)."""

from __future__ import annotations

import re
import webbrowser
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calsync.app import html_report
from calsync.app.engine import CalendarSummary, RelationshipStatus, Report
from calsync.config import Policy, load
from calsync.core.cadence import analyse
from calsync.core.model import Attendee, Occurrence, Relationship
from tests.conftest import EXAMPLES, SCENARIOS
from tests.helpers import EXAMPLE_NOW, SCENARIO_NOW, by_counterpart, cli, status_json

CORE = SCENARIOS / "core.toml"
EXAMPLE = EXAMPLES / "config.toml"


# --- a small DOM from the standard parser ----------------------------------------------------

VOID = {"meta", "br", "img", "input", "link", "hr", "use", "line", "rect", "circle", "path"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def walk(self) -> list[Node]:
        out = [self]
        for child in self.children:
            out += child.walk()
        return out

    def find(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [
            n for n in self.walk()[1:]
            if (tag is None or n.tag == tag) and (cls is None or cls in n.classes())
        ]

    def one(self, tag: str | None = None, cls: str | None = None) -> Node:
        found = self.find(tag, cls)
        assert len(found) == 1, f"expected one {tag}.{cls}, found {len(found)}"
        return found[0]

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].text.append(data)


def parse(page: str) -> Node:
    builder = _Builder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def report_page(config: Path, now: str, tmp_path: Path, *extra: str) -> str:
    out = tmp_path / "report.html"
    result = cli("--config", config, "report", "--now", now, "--output", out, *extra)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    return out.read_text(encoding="utf-8")


def rows(doc: Node) -> dict[str, Node]:
    found = doc.find("article", "rel")
    return {n.attrs["data-counterpart"]: n for n in found}


def marks(row: Node) -> Counter[str]:
    """Mark kinds drawn on a relationship's timeline."""
    timeline = row.one(cls="timeline")
    kinds: Counter[str] = Counter()
    for node in timeline.find("svg", "mk"):
        (kind,) = [c.removeprefix("k-") for c in node.classes() if c.startswith("k-")]
        href = node.one("use").attrs["href"]
        assert href == f"#mk-{kind}", "each kind draws its own shape"
        kinds[kind] += 1
    return kinds


def found_by_id(doc: Node, anchor: str) -> str:
    """The counterpart of the row a summary link points at."""
    return next(n.attrs["data-counterpart"] for n in doc.find("article") if n.attrs.get("id") == anchor)


@pytest.fixture(scope="module")
def example_status() -> dict[str, dict[str, Any]]:
    return by_counterpart(status_json(EXAMPLE, EXAMPLE_NOW))


@pytest.fixture(scope="module")
def core_status() -> dict[str, dict[str, Any]]:
    return by_counterpart(status_json(CORE, SCENARIO_NOW))


@pytest.fixture
def example_doc(tmp_path: Path) -> Node:
    return parse(report_page(EXAMPLE, EXAMPLE_NOW, tmp_path))


# --- rows, labels, marks ---------------------------------------------------------------------


@pytest.mark.parametrize("which", ["example", "core", "present"])
def test_one_row_per_relationship_with_its_label_and_marks(
    which: str, tmp_path: Path, example_status: dict[str, dict], core_status: dict[str, dict]
) -> None:
    if which == "example":
        config, now, status = EXAMPLE, EXAMPLE_NOW, example_status
    elif which == "core":
        config, now, status = CORE, SCENARIO_NOW, core_status
    else:
        config, now = SCENARIOS / "present.toml", SCENARIO_NOW
        status = by_counterpart(status_json(config, now))
    doc = parse(report_page(config, now, tmp_path))
    found = rows(doc)
    assert set(found) == set(status)
    assert len(doc.find("article", "rel")) == len(status)
    for counterpart, row in found.items():
        want = status[counterpart]
        assert row.attrs["data-label"] == want["cadence"], counterpart
        badge = row.one(cls="meta").one(cls="badge")
        assert f"l-{want['cadence']}" in badge.classes()
        reasons = [li.attrs["data-reason"] for li in row.find("li") if "data-reason" in li.attrs]
        assert reasons == want["reasons"], counterpart
        kinds = marks(row)
        assert kinds["held"] == want["held"], counterpart
        assert kinds["cancelled"] + kinds["removed"] == want["cancelled"], counterpart
        assert kinds["declined"] == want["declined"], counterpart
    summary = doc.one("table", "summary")
    assert len(summary.one("tbody").find("tr")) == len(status)
    for tr in summary.one("tbody").find("tr"):
        counterpart = tr.one("a").attrs["href"].removeprefix("#")
        want = status[found_by_id(doc, counterpart)]
        cells = {td.attrs["data-col"]: td.all_text() for td in tr.find("td")}
        attendance = want["attendance"]
        assert cells["Attendance"] == (f"{round(attendance * 100)} %" if attendance is not None else "–")
        assert cells["Held / planned"] == f"{want['held']} / {want['planned']}"


def test_example_rows_tell_the_story(example_doc: Node) -> None:
    found = rows(example_doc)
    assert marks(found["bob@example.com"])["cancelled"] == 1
    assert marks(found["dan@example.com"])["declined"] == 1
    assert marks(found["alice@example.com"])["removed"] == 1
    # Planned meetings ahead are hollow marks; Dan's 1on1 has nothing planned.
    assert marks(found["alice@example.com"])["planned"] >= 1
    assert marks(found["dan@example.com"])["planned"] == 0
    # Problems first: drifting, then lapsed, then not enough data, then healthy.
    order = [n.attrs["data-label"] for n in example_doc.find("article", "rel")]
    assert order == ["drifting", "lapsed", "insufficient-data", "healthy", "healthy"]
    bob = found["bob@example.com"]
    figures = bob.one("dl").all_text()
    assert "every 7 d, 30 min → every 56 d, 60 min" in figures
    assert "Recent since3 Aug 2026" in figures
    assert "75 % · 3 of the last 4 planned held" in figures
    assert "Plan aheadevery 28 d, 60 min" in figures
    assert [li.all_text() for li in bob.one("ul", "reasons").find("li")] == [
        "meets every 56 days, more than 14",
        "meetings last 60 min, more than 45",
        "the plan ahead breaks the policy: every 28 d, 60 min (7 Dec 2026 –)",
    ]
    # The recent window is drawn where status says it starts, and flagged.
    timeline = bob.one(cls="timeline")
    assert "recent window from 3 Aug 2026" in timeline.attrs["aria-label"]
    assert timeline.one("span", "winflag").all_text() == "recent"


def test_overview_counts_labels_buckets_and_policy(example_doc: Node) -> None:
    overview = example_doc.one("section", "overview")
    labels = {
        next(c for c in li.one(cls="badge").classes() if c.startswith("l-")): int(li.one("b").all_text())
        for li in overview.one("ul", "labels").find("li")
    }
    assert labels == {"l-healthy": 2, "l-drifting": 1, "l-lapsed": 1, "l-insufficient-data": 1}
    buckets = {
        li.attrs["data-bucket"]: int(li.one("b").all_text())
        for li in overview.one("ul", "buckets").find("li")
    }
    # Alice every 7 days, Erin 7.75: weekly; Carol and Dan every 14; Bob every 56 → 6–10 weeks.
    assert buckets == {"weekly": 2, "3w": 2, "6w": 0, "10w": 1, "more": 0}
    policy = overview.one("p", "policy")
    assert (policy.attrs["data-max-interval"], policy.attrs["data-max-duration"]) == ("14", "45")
    text = policy.all_text()
    assert "every ≤ 14 days" in text and "≤ 45 min" in text and "attendance ≥ 60 %" in text
    assert "recent = the last 56 days (at least 3 held meetings)" in text
    assert "Generated 25 Nov 2026, 09:00 CET" in example_doc.one("header").all_text()


def test_buckets_follow_industry_bounds() -> None:
    assert [html_report.bucket(d) for d in (7, 8, 8.5, 14, 21, 21.5, 42, 43, 70, 71)] == [
        "weekly", "weekly", "3w", "3w", "3w", "6w", "6w", "10w", "10w", "more",
    ]
    assert html_report.bucket(None) == "none"


def _limit(chart: Node) -> tuple[str, float]:
    line = next(n for n in chart.walk() if n.tag == "line" and "limit" in n.classes())
    return chart.one("span", "lim").all_text(), float(line.attrs["y1"])


def _alt_values(chart: Node) -> list[float]:
    """The figures a bar chart's text alternative lists ("...: 7, 7, 21; policy max 14; ...")."""
    listed = chart.attrs["aria-label"].split(":", 1)[1].split(";")[0]
    return [float(v) for v in re.findall(r"[\d.]+", listed)]


def test_policy_band_values_and_bars_beyond_it(tmp_path: Path) -> None:
    doc = parse(report_page(EXAMPLE, EXAMPLE_NOW, tmp_path))
    bob = rows(doc)["bob@example.com"]
    interval, length = bob.find(cls="bars")
    assert _limit(interval)[0] == "max 14 d" and _limit(length)[0] == "max 45 min"
    gaps = _alt_values(interval)
    over = [n for n in interval.walk() if n.tag == "rect" and "over" in n.classes()]
    assert len(over) == sum(1 for g in gaps if g > 14) > 0
    assert all(n.attrs["fill"] == "url(#hatch)" for n in over), "beyond the band is hatched, not only red"
    # Bob's last meetings run 60 min: every length beyond 45 is marked.
    long = [n for n in length.walk() if n.tag == "rect" and "over" in n.classes()]
    assert len(long) >= 3
    alice = rows(doc)["alice@example.com"]
    assert not [n for n in alice.walk() if n.tag == "rect" and "over" in n.classes()]
    # Carol meets every 14 days for 45 min: exactly at the limits is inside the band.
    carol = rows(doc)["carol@example.com"]
    assert 14 in _alt_values(carol.find(cls="bars")[0]) and 45 in _alt_values(carol.find(cls="bars")[1])
    assert not [n for n in carol.walk() if n.tag == "rect" and "over" in n.classes()]

    # A stricter policy moves the band and its label.
    strict = tmp_path / "strict"
    strict.mkdir()
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'path = "calendar.ics"', f'path = "{EXAMPLES / "calendar.ics"}"'
    )
    (strict / "config.toml").write_text(text + "\n[policy]\nmax_interval_days = 10\n", encoding="utf-8")
    strict_doc = parse(report_page(strict / "config.toml", EXAMPLE_NOW, strict))
    strict_interval = rows(strict_doc)["bob@example.com"].find(cls="bars")[0]
    assert _limit(strict_interval)[0] == "max 10 d"
    assert "policy max 10" in strict_interval.attrs["aria-label"]
    # Bars and band share one scale: each bar stands to the limit line as its value to the limit.
    for chart, limit in ((interval, 14), (strict_interval, 10)):
        _, line_y = _limit(chart)
        bars = [n for n in chart.walk() if n.tag == "rect" and "bar" in n.classes()]
        heights = [float(n.attrs["height"]) for n in bars]
        values = _alt_values(chart)
        assert len(bars) == len(values)
        for h, v in zip(heights, values, strict=True):
            assert h == pytest.approx(min(v / limit * (100 - line_y), 100), abs=0.02)


def test_every_chart_has_a_text_alternative_and_a_table(example_doc: Node, example_status: dict) -> None:
    for row in example_doc.find("article", "rel"):
        for chart in row.find(cls="chart"):
            assert chart.attrs.get("role") == "img" and chart.attrs.get("aria-label"), chart.attrs
        table = row.one("table", "meetings")
        held_rows = [tr for tr in table.one("tbody").find("tr") if "k-held" in tr.classes()]
        assert len(held_rows) == example_status[row.attrs["data-counterpart"]]["held"]
    alice = rows(example_doc)["alice@example.com"].one(cls="timeline").attrs["aria-label"]
    assert alice.startswith("Timeline of Alice Chen: 24 held, 1 removed from the series")
    for svg in example_doc.find("svg"):
        if "mk" in svg.classes() or "bg" in svg.classes():
            assert svg.attrs.get("aria-hidden") == "true"


def test_no_script_no_network_metadata_only(tmp_path: Path) -> None:
    page = report_page(EXAMPLE, EXAMPLE_NOW, tmp_path)
    doc = parse(page)
    assert not doc.find("script") and not doc.find("link") and not doc.find("img")
    assert not re.search(r"(src|href)=\"(https?:)?//", page) and "@import" not in page
    assert "url(http" not in page
    # Descriptions and the action items they hold never reach the page.
    for private in ("draft the Q1 onboarding plan", "Alice brings the topics", "Monthly catch-up"):
        assert private not in page


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    a = report_page(EXAMPLE, EXAMPLE_NOW, tmp_path)
    b = report_page(EXAMPLE, EXAMPLE_NOW, tmp_path)
    assert a == b
    later = report_page(EXAMPLE, "2026-11-25T10:00:00+01:00", tmp_path)
    assert later != a


def test_times_read_in_the_owners_zone(tmp_path: Path) -> None:
    doc = parse(report_page(EXAMPLE, "2026-11-25T08:00:00+00:00", tmp_path))
    assert "Generated 25 Nov 2026, 09:00 CET" in doc.one("header").all_text()


def test_japanese_labels_and_dates(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        EXAMPLE.read_text(encoding="utf-8")
        .replace('language = "en"', 'language = "ja"')
        .replace('path = "calendar.ics"', f'path = "{EXAMPLES / "calendar.ics"}"'),
        encoding="utf-8",
    )
    doc = parse(report_page(config, EXAMPLE_NOW, tmp_path))
    assert doc.one("html").attrs["lang"] == "ja"
    assert "作成：2026年11月25日 09:00 CET" in doc.one("header").all_text()
    bob = rows(doc)["bob@example.com"]
    assert bob.one(cls="meta").one(cls="badge").all_text() == "乱れ"
    figures = bob.one("dl").all_text()
    assert "7日ごと、30分 → 56日ごと、60分" in figures and "直近の予定4回のうち3回実施" in figures
    assert bob.one("ul", "reasons").find("li")[0].all_text() == "間隔が56日で、上限14日を超えています"
    ticks = bob.one(cls="ticks").all_text()
    assert "6月" in ticks and "Jun" not in ticks
    english = {"held", "cancelled", "drifting", "healthy", "Overview", "Attendance", "Last held"}
    visible = doc.one("main").all_text()
    assert not {word for word in english if re.search(rf"\b{word}\b", visible)}


# --- escaping, with the renderer fed directly -----------------------------------------------


def _one_relationship(name: str, counterpart: str) -> Report:
    zone = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 11, 25, 9, 0, tzinfo=zone)
    occs = [
        Occurrence(
            provider="ics", calendar="work", ref=f"r{i}", uid="u1", series_id="u1",
            start=now - timedelta(days=7 * i), end=now - timedelta(days=7 * i, minutes=-30),
            title=f"{name} 1on1", attendees=(Attendee(counterpart, name),),
        )
        for i in range(4, 0, -1)
    ]
    rel = Relationship(counterpart, name, "ics", "work", occs)
    cadence = analyse(rel, Policy(), now, ("mia@example.com",))
    survey = CalendarSummary(None, [RelationshipStatus(rel, cadence)], [], [])  # type: ignore[arg-type]
    return Report(generated_at=now, surveys=[survey])


def test_calendar_text_is_escaped() -> None:
    name = '<script>alert("x")</script> "&amp; Co'
    counterpart = 'o"neil&<b>@example.com'
    config = load(EXAMPLE)
    page = html_report.render(_one_relationship(name, counterpart), config)
    doc = parse(page)
    assert not doc.find("script")
    assert all(n.classes() == {"n"} for n in doc.find("b")), "no <b> from the name"
    assert "<script>" not in page and 'o"neil' not in page
    row = doc.one("article", "rel")
    assert row.attrs["data-counterpart"] == counterpart
    assert row.one("h3").all_text().startswith(name)
    assert doc.one("table", "summary").one("a").all_text() == name
    assert name in row.one(cls="timeline").attrs["aria-label"]
    assert "&lt;script&gt;" in page and "&amp;amp; Co" in page
    assert marks(row)["held"] == 4 and row.attrs["data-label"] == "healthy"


# --- the command --------------------------------------------------------------------------


def test_default_output_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path = tmp_path / "here"
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    result = cli("--config", EXAMPLE, "report", "--now", EXAMPLE_NOW)
    assert result.exit_code == 0, result.output
    target = tmp_path / "calsync-report.html"
    assert result.stdout.strip() == str(target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["calsync-report.html"], "no temporary file left"


def test_unwritable_output_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "r.html"
    result = cli("--config", EXAMPLE, "report", "--now", EXAMPLE_NOW, "--output", missing)
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith(f"calsync: {missing}: cannot write the report")


class _Recorder(webbrowser.BaseBrowser):
    opened: list[str] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.opened.append(url)
        return True


def test_open_shows_the_page_in_the_browser(tmp_path: Path) -> None:
    webbrowser.register("calsync-test", None, _Recorder("calsync-test"), preferred=True)
    report_page(EXAMPLE, EXAMPLE_NOW, tmp_path, "--open")
    assert _Recorder.opened[-1] == (tmp_path / "report.html").as_uri()
