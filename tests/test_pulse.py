"""The one-line pulse after each 1on1 (issue 15): written once into the meeting's doc
section, answered by deleting options, read back (that line only) and tracked."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync.backends.base import DocRequest
from calsync.backends.microsoft.docs import OneDriveDocs
from calsync.core import agenda, pulse
from calsync.core.state import MemoryState
from tests.conftest import EXAMPLES
from tests.google_fixtures import *  # noqa: F403
from tests.google_fixtures import GEnv
from tests.helpers import EXAMPLE_NOW, by_counterpart, cli, status_json
from tests.microsoft_fixtures import *  # noqa: F403
from tests.microsoft_fixtures import MsEnv

DAY = date(2026, 11, 26)
EN = pulse.line(DAY, "en")
JA = pulse.line(DAY, "ja")
NOW = datetime.fromisoformat(EXAMPLE_NOW)


def answered(line: str, score: str, grilled: str, *more: str) -> str:
    """The line with every option but the chosen ones deleted (the documented way)."""
    ja = "はい" in line
    topics = ("キャリア", "フィードバック", "問題解決", "その他") if ja else pulse.TOPICS
    out = line.replace("1 / 2 / 3 / 4 / 5", score, 1)
    out = out.replace("はい / いいえ" if ja else "yes / no", grilled, 1)
    if more:  # none chosen: all stay (unanswered)
        words = dict(zip(pulse.TOPICS, topics, strict=True))
        out = out.replace(" / ".join(topics), " / ".join(words[m] for m in more), 1)
    return out


# --- reading the line ---------------------------------------------------------------------


def test_unanswered_line_reads_as_no_answer_in_both_languages() -> None:
    for line in (EN, JA):
        (r,) = pulse.read(line)
        assert r.answer == pulse.Answer(DAY) and not r.answer.answered and r.problem is None


@pytest.mark.parametrize("line", [EN, JA])
def test_deleting_the_other_options_answers(line: str) -> None:
    text = answered(line, "4", "はい" if line is JA else "yes", "career")
    (r,) = pulse.read(f"notes above\n{text}\n- [ ] a checklist line")
    assert r.answer == pulse.Answer(DAY, 4, True, ("career",)) and r.problem is None


def test_strike_through_and_bold_count_as_the_markdown_export_shows_them() -> None:
    text = EN.replace("1 / 2 / 3 / 4 / 5", "~~1~~ / ~~2~~ / **3** / ~~4 / 5~~").replace(
        "yes / no", "~~yes~~ / no")
    (r,) = pulse.read("- " + text)
    assert (r.answer.score, r.answer.grilled, r.answer.more) == (3, False, ())


def test_half_answered_line_keeps_what_was_answered() -> None:
    text = EN.replace("1 / 2 / 3 / 4 / 5", "2")
    (r,) = pulse.read(text)
    assert r.answer == pulse.Answer(DAY, 2, None, ()) and r.problem is None


def test_garbled_line_is_named_and_reads_no_invented_answer() -> None:
    text = EN.replace("1 / 2 / 3 / 4 / 5", "3 4 maybe").replace("yes / no", "no")
    (r,) = pulse.read(text)
    assert r.answer.score is None and r.answer.grilled is False
    assert r.problem is not None and "3 4" in r.problem and "maybe" in r.problem


def test_only_pulse_lines_are_read() -> None:
    text = "Pulse check: we talked about 5 yes career things\nMy private note 1 2 3\n"
    assert pulse.read(text) == []


# --- stored and summarised ----------------------------------------------------------------


def test_remember_keeps_answers_and_an_unanswered_read_does_not_erase_them() -> None:
    state = MemoryState()
    first = pulse.read(answered(EN, "4", "no"))
    assert pulse.remember(state, "w:a", first)
    assert not pulse.remember(state, "w:a", first)  # the same answers: nothing written
    assert not pulse.remember(state, "w:a", pulse.read(EN))  # a cached or reset line
    assert not pulse.remember(state, "w:a", [])
    assert pulse.load(state, "w:a") == [pulse.Answer(DAY, 4, False, ())]
    assert pulse.remember(state, "w:a", pulse.read(answered(EN, "5", "no")))  # changed mind
    assert pulse.load(state, "w:a")[0].score == 5


def _answers(*scores: int | None, grilled: tuple[bool | None, ...] = ()) -> list[pulse.Answer]:
    g = grilled or (None,) * len(scores)
    return [pulse.Answer(DAY + timedelta(days=7 * i), s, g[i]) for i, s in enumerate(scores)]


def test_summary_last_median_trend_and_grilled_count() -> None:
    s = pulse.summarise(_answers(3, 5, 4, 4, 2, grilled=(True, False, None, False, True)), "Ann")
    assert (s.answered, s.last, s.median_last4, s.trend, s.grilled) == (5, 2, 4.0, "down", 2)
    assert pulse.summarise(_answers(2, 3), "Ann").trend == "up"
    assert pulse.summarise(_answers(3, 3), "Ann").trend == "flat"
    assert pulse.summarise(_answers(4), "Ann").trend is None
    assert pulse.summarise([], "Ann").last is None


def test_warning_when_the_score_falls_by_two_or_the_last_two_felt_grilled() -> None:
    assert pulse.summarise(_answers(4, 3), "Ann").warning is None
    fell = pulse.summarise(_answers(5, 3), "Ann").warning
    assert fell is not None and "Ann" in fell and "5 to 3" in fell
    grilled = pulse.summarise(_answers(4, 4, grilled=(True, True)), "Ann").warning
    assert grilled is not None and "grilled" in grilled
    assert pulse.summarise(_answers(4, 4, 4, grilled=(True, True, False)), "Ann").warning is None
    # an unanswered "grilled?" in between does not break the pair of yeses
    assert pulse.summarise(_answers(4, 4, 4, grilled=(True, None, True)), "Ann").warning


# --- in every doc backend -----------------------------------------------------------------


def _section(day: date, language: str = "en") -> tuple[str, str]:
    data = agenda.AgendaInput(
        language=language, template="default", counterpart_email="bob@example.com",
        counterpart_name="Bob", start=datetime(day.year, day.month, day.day, 10,
                                               tzinfo=ZoneInfo("Asia/Tokyo")),
        doc_url=None, open_items=(), cadence_note=None, pulse=True)
    return agenda.doc_section(data)


def test_section_ends_with_the_pulse_line_only_when_on() -> None:
    marker, text = _section(DAY)
    assert text.rstrip("\n").splitlines()[-1] == EN
    _, ja = _section(DAY, "ja")
    assert JA in ja
    data = agenda.AgendaInput("en", "default", "b@example.com", None,
                              datetime(2026, 11, 26, 10, tzinfo=ZoneInfo("UTC")), None, (), None)
    assert "Pulse" not in agenda.doc_section(data)[1]


REQ = DocRequest(key="work:bob@example.com", counterpart="bob@example.com",
                 counterpart_name="Bob", title="1on1: Bob",
                 template=f"# 1on1\n\n{agenda.DOC_LOG_ANCHOR}\n")


def test_google_doc_pulse_answer_reads_back_through_the_export(gcal: GEnv) -> None:
    state = MemoryState()
    docs = gcal.provider(gcal.calendar(), state).docs()
    ref = docs.ensure(REQ)
    marker, text = _section(DAY)
    assert docs.add_section(ref, marker, text)
    assert not docs.add_section(ref, marker, text)
    paragraphs = [p[0] for p in gcal.fake.docs[ref.id].paragraphs]
    assert paragraphs.count(EN) == 1
    gcal.fake.doc_edited(ref.id, "1 / 2 / 3 / 4 / 5", "4")  # half-answered
    (r,) = pulse.read(docs.read_text(ref))
    assert r.answer == pulse.Answer(DAY, 4, None, ()) and r.problem is None
    gcal.fake.doc_edited(ref.id, "yes / no", "yes no maybe")  # garbled
    later = gcal.provider(gcal.calendar(), state, now=datetime(2026, 11, 27, 12,
                                                               tzinfo=ZoneInfo("UTC"))).docs()
    (r,) = pulse.read(later.read_text(ref))
    assert r.answer.score == 4 and r.answer.grilled is None and r.problem


def test_onedrive_docx_pulse_answer_reads_back(ms_env: MsEnv) -> None:
    t0 = datetime(2026, 11, 26, 8, tzinfo=ZoneInfo("UTC"))
    docs = ms_env.provider(t0).docs()
    assert isinstance(docs, OneDriveDocs)
    ref = docs.ensure(REQ)
    docs.read_text(ref)
    marker, text = _section(DAY)
    assert docs.add_section(ref, marker, text)
    assert not docs.add_section(ref, marker, text)
    assert ms_env.fake.docx_text(ref.id).splitlines().count(EN) == 1
    ms_env.fake.human_edit_doc(ref.id, lambda xml: xml.replace(
        "useful? 1 / 2 / 3 / 4 / 5", "useful? 2").replace("yes / no", "yes"))
    fresh = ms_env.provider(t0 + timedelta(hours=2)).docs()
    (r,) = pulse.read(fresh.read_text(ref))
    assert r.answer == pulse.Answer(DAY, 2, True, ()) and r.problem is None
    ms_env.fake.human_edit_doc(ref.id, lambda xml: xml.replace("useful? 2", "useful? 2 3 dunno"))
    garbled = ms_env.provider(t0 + timedelta(hours=4)).docs()
    (r,) = pulse.read(garbled.read_text(ref))
    assert r.answer == pulse.Answer(DAY, None, True, ()) and r.problem is not None
    assert "dunno" in r.problem


# --- end to end on local Markdown docs ----------------------------------------------------


@pytest.fixture
def example(tmp_path: Path) -> Path:
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLES, folder)
    return folder / "config.toml"


def _run(config: Path, now: datetime) -> tuple[int, str, str]:
    result = cli("--config", config, "run", "--now", now.isoformat())
    return result.exit_code, result.stdout, result.stderr


def _alice_doc(config: Path) -> Path:
    return next((config.parent / "docs").glob("alice*.md"))


def _answer_in_file(doc: Path, day: str, score: str, grilled: str) -> None:
    text = doc.read_text(encoding="utf-8")
    line = pulse.line(date.fromisoformat(day), "en")
    assert text.count(line) == 1
    doc.write_text(text.replace(line, answered(line, score, grilled)), encoding="utf-8")


def test_run_writes_reads_and_status_shows_the_pulse(example: Path) -> None:
    code, _, err = _run(example, NOW)
    assert code == 0, err
    doc = _alice_doc(example)
    _answer_in_file(doc, "2026-11-26", "4", "no")
    week = NOW + timedelta(days=7)
    code, _, err = _run(example, week)
    assert code == 0, err
    text = doc.read_text(encoding="utf-8")
    assert text.count(pulse.line(date(2026, 12, 3), "en")) == 1
    assert "Pulse 2026-11-26" in text and text.count("Pulse 2026-11-26") == 1
    alice = by_counterpart(status_json(example, week.isoformat()))["alice@example.com"]
    assert alice["pulse"] == {"answered": 1, "last": 4, "median_last4": 4.0, "trend": None,
                              "grilled": 0, "more": {}, "warning": None}
    # a second run at the same instant changes no doc
    before = {p: p.read_bytes() for p in doc.parent.iterdir()}
    assert _run(example, week) == (0, "", "")
    assert {p: p.read_bytes() for p in doc.parent.iterdir()} == before


def test_two_grilled_answers_warn_and_a_garbled_line_is_named(example: Path) -> None:
    _run(example, NOW)
    doc = _alice_doc(example)
    _answer_in_file(doc, "2026-11-26", "4", "yes")
    week = NOW + timedelta(days=7)
    _run(example, week)
    _answer_in_file(doc, "2026-12-03", "2", "yes")
    code, out, err = _run(example, week + timedelta(days=7))
    assert code == 0
    assert "Alice Chen: the last two 1on1 pulses said it felt like being grilled" in err
    alice = by_counterpart(status_json(example, (week + timedelta(days=7)).isoformat()))
    p = alice["alice@example.com"]["pulse"]
    assert (p["last"], p["grilled"], p["trend"]) == (2, 2, "down")
    text = doc.read_text(encoding="utf-8")
    doc.write_text(text.replace(pulse.line(date(2026, 12, 10), "en"),
                                pulse.line(date(2026, 12, 10), "en").replace("yes / no", "perhaps")),
                   encoding="utf-8")
    code, out, err = _run(example, week + timedelta(days=8))
    assert code == 0
    assert "pulse line of 2026-12-10 in the shared doc: unknown text 'perhaps'" in err


def test_half_answered_line_in_the_markdown_doc_counts_its_answer(example: Path) -> None:
    _run(example, NOW)
    doc = _alice_doc(example)
    line = pulse.line(date(2026, 11, 26), "en")
    text = doc.read_text(encoding="utf-8")
    doc.write_text(text.replace(line, line.replace("yes / no", "no")), encoding="utf-8")
    week = NOW + timedelta(days=7)
    _run(example, week)
    p = by_counterpart(status_json(example, week.isoformat()))["alice@example.com"]["pulse"]
    assert (p["answered"], p["last"], p["grilled"]) == (1, None, 0)


def test_pulse_off_writes_no_line_and_status_has_none(example: Path) -> None:
    with example.open("a", encoding="utf-8") as fh:
        fh.write("\n[pulse]\nenabled = false\n")
    code, _, err = _run(example, NOW)
    assert code == 0, err
    assert "Pulse" not in _alice_doc(example).read_text(encoding="utf-8")
    doc = status_json(example, NOW.isoformat())
    assert all(r["pulse"] is None for r in doc["relationships"])


def test_report_page_shows_the_trend_in_the_row(example: Path, tmp_path: Path) -> None:
    _run(example, NOW)
    _answer_in_file(_alice_doc(example), "2026-11-26", "5", "no")
    week = NOW + timedelta(days=7)
    _run(example, week)
    out = tmp_path / "report.html"
    result = cli("--config", example, "report", "--now", week.isoformat(), "--output", out)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert '<small class="pulse">last 5/5, median 5 of the last 4, one score so far</small>' in page
