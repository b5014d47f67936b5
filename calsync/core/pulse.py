"""The one-line pulse on the 1on1 itself: written into each meeting's doc section,
answered by either person, read back and tracked per relationship.

Answer format: **delete the options that do not apply** (``useful? 4``). Deleting text
reads the same in every backend's text (Markdown, a Google Doc's Markdown export, the
paragraph text of a .docx), where bold or a colour does not survive; a Markdown
strike-through (``~~2~~``, also what Google's export makes of struck text) counts as
deleted too. Only lines that start with ``Pulse <date>`` (``パルス <date>``) are read;
nothing else in the doc is looked at or kept.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from datetime import date

from calsync.core.state import KeyValue

SCORES = ("1", "2", "3", "4", "5")
TOPICS = ("career", "feedback", "problem-solving", "other")

_TEMPLATE = {
    "en": "Pulse {date} — useful? 1 / 2 / 3 / 4 / 5 · felt like being grilled? yes / no"
          " · want more of: career / feedback / problem-solving / other"
          " (delete what does not apply)",
    "ja": "パルス {date} — 役に立った？ 1 / 2 / 3 / 4 / 5 · 詰められていると感じた？ はい / いいえ"
          " · もっと話したい：キャリア / フィードバック / 問題解決 / その他（当てはまらないものを消す）",
}
# label and hint texts, longest first so a shorter one never eats part of a longer one
_LABELS = sorted(
    ("useful?", "felt like being grilled?", "want more of:", "(delete what does not apply)",
     "役に立った？", "詰められていると感じた？", "もっと話したい：", "（当てはまらないものを消す）",
     "felt like being grilled", "useful", "want more of", "grilled?", "more of:"),
    key=len, reverse=True,
)
_YES = {"yes": True, "no": False, "はい": True, "いいえ": False}
_TOPIC_WORDS = {t: t for t in TOPICS} | {
    "キャリア": "career", "フィードバック": "feedback", "問題解決": "problem-solving", "その他": "other"}
_LINE = re.compile(r"^[\s>#*_\-+]*(?:pulse|パルス)\s*[:：]?\s*(\d{4}-\d{2}-\d{2})\s*(.*)$",
                   re.IGNORECASE)
_STRUCK = re.compile(r"~~.*?~~")
_TOKENS = re.compile(r"[\s/·・|,、—–]+")


@dataclass(frozen=True)
class Answer:
    """One meeting's answers; None where that question was left unanswered."""

    day: date
    score: int | None = None
    grilled: bool | None = None
    more: tuple[str, ...] = ()

    @property
    def answered(self) -> bool:
        """Did this meeting get any answer at all?"""
        return self.score is not None or self.grilled is not None or bool(self.more)


@dataclass(frozen=True)
class Reading:
    """What one pulse line said; ``problem`` names what could not be read."""

    answer: Answer
    problem: str | None = None


def line(day: date, language: str) -> str:
    """The unanswered pulse line for the meeting on ``day``."""
    return _TEMPLATE["ja" if language == "ja" else "en"].format(date=day.isoformat())


def read(text: str) -> list[Reading]:
    """Every pulse line in ``text``, read; all other lines are skipped unread."""
    found = []
    for raw in text.splitlines():
        m = _LINE.match(raw)
        if m is None:
            continue
        try:
            day = date.fromisoformat(m.group(1))
        except ValueError:
            continue
        found.append(_answers(day, m.group(2)))
    return found


def _answers(day: date, rest: str) -> Reading:
    rest = _STRUCK.sub(" ", rest).replace("\\", "").replace("*", "").replace("～", "")
    rest = re.sub(r"(?<![a-z])_|_(?![a-z])", " ", rest)
    for label in _LABELS:
        rest = re.sub(re.escape(label), " ", rest, flags=re.IGNORECASE)
    scores, yes, more, unknown = [], [], [], []
    for token in _TOKENS.split(rest.strip().lower()):
        if not token:
            continue
        if token in SCORES:
            scores.append(int(token))
        elif token in _YES:
            yes.append(_YES[token])
        elif token in _TOPIC_WORDS:
            more.append(_TOPIC_WORDS[token])
        else:
            unknown.append(token)
    problems = []
    score = scores[0] if len(scores) == 1 else None
    if 1 < len(scores) < len(SCORES):
        problems.append(f"several scores left ({' '.join(map(str, scores))})")
    grilled = yes[0] if len(yes) == 1 else None
    chosen = tuple(dict.fromkeys(more)) if 0 < len(set(more)) < len(TOPICS) else ()
    if unknown:
        problems.append(f"unknown text {' '.join(unknown[:3])!r}")
    answer = Answer(day, score, grilled, chosen)
    return Reading(answer, "; ".join(problems) or None)


# --- stored per relationship --------------------------------------------------------------


def load(state: KeyValue, key: str) -> list[Answer]:
    """The relationship's answers, oldest first."""
    raw = json.loads(state.get(key) or "{}")
    return [
        Answer(date.fromisoformat(d), v.get("score"), v.get("grilled"), tuple(v.get("more", ())))
        for d, v in sorted(raw.items())
    ]


def remember(state: KeyValue, key: str, readings: list[Reading]) -> bool:
    """Keep each answered line's answers (the latest reading of a day wins); an
    unanswered or unreadable line keeps what was stored. True when anything changed."""
    stored = {a.day: a for a in load(state, key)}
    merged = dict(stored)
    for r in readings:
        if r.answer.answered:
            merged[r.answer.day] = r.answer
    if merged == stored:
        return False
    state.set(key, json.dumps({
        a.day.isoformat(): {"score": a.score, "grilled": a.grilled, "more": list(a.more)}
        for a in sorted(merged.values(), key=lambda a: a.day)
    }, sort_keys=True))
    return True


# --- the trend ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """A pair's pulse answers boiled down: the latest score, the trend, what was asked for."""

    answered: int
    last: int | None
    median_last4: float | None
    trend: str | None  # "up" | "down" | "flat"; None with fewer than two scores
    grilled: int  # answers that said "felt grilled"
    more: tuple[tuple[str, int], ...]  # topics asked for, most asked first
    warning: str | None


def summarise(answers: list[Answer], who: str) -> Summary:
    """A pair's answers (oldest first) summed up; warns after two "grilled" or a drop of 2+."""
    scores = [a.score for a in answers if a.score is not None]
    last4 = scores[-4:]
    trend = None
    if len(scores) >= 2:
        before = statistics.median(scores[-5:-1])
        trend = "up" if scores[-1] > before else "down" if scores[-1] < before else "flat"
    counts: dict[str, int] = {}
    for a in answers:
        for t in a.more:
            counts[t] = counts.get(t, 0) + 1
    return Summary(
        answered=len([a for a in answers if a.answered]),
        last=scores[-1] if scores else None,
        median_last4=float(statistics.median(last4)) if last4 else None,
        trend=trend,
        grilled=sum(1 for a in answers if a.grilled is True),
        more=tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        warning=_warning(answers, scores, who),
    )


def _warning(answers: list[Answer], scores: list[int], who: str) -> str | None:
    said = [a.grilled for a in answers if a.grilled is not None]
    if len(said) >= 2 and said[-1] and said[-2]:
        return f"{who}: the last two 1on1 pulses said it felt like being grilled"
    if len(scores) >= 2 and scores[-1] <= scores[-2] - 2:
        return f"{who}: the 1on1 pulse score fell from {scores[-2]} to {scores[-1]}"
    return None

