"""Progress bars: on a terminal, for long runs only; never under cron, --quiet or JSON."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from calsync.app import progress
from calsync.app.run import run
from calsync.app.store import Store
from calsync.config import load
from tests.conftest import EXAMPLES
from tests.helpers import EXAMPLE_NOW, cli


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_bar_only_for_text_output_on_a_terminal() -> None:
    assert isinstance(progress.for_output("text", False, Tty()), progress.TerminalProgress)
    assert progress.for_output("text", True, Tty()) is progress.silent
    assert progress.for_output("json", False, Tty()) is progress.silent
    assert progress.for_output("text", False, io.StringIO()) is progress.silent


def test_the_bar_appears_once_the_run_is_slow_and_yields_every_item_in_order() -> None:
    clock, out = Clock(), Tty()
    bar = progress.TerminalProgress(out, after=2.0, clock=clock)
    seen = []
    for i in bar(list(range(5)), "work: agendas"):
        seen.append(i)
        if i == 1:
            clock.t += 2.5  # from the third item on, the run counts as slow
    assert seen == [0, 1, 2, 3, 4]
    text = out.getvalue()
    assert "work: agendas" in text and "5/5" in text


def test_a_quick_run_shows_nothing_even_on_a_terminal() -> None:
    out = Tty()
    bar = progress.TerminalProgress(out, after=2.0, clock=Clock())
    assert list(bar([1, 2, 3], "work: agendas")) == [1, 2, 3]
    assert out.getvalue() == ""


def test_run_reports_each_relationship_through_the_hook(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    config = load(tmp_path / "ex" / "config.toml")
    calls: list[tuple[str, int]] = []

    def record(items, label):  # type: ignore[no-untyped-def]
        calls.append((label, len(items)))
        yield from items

    from datetime import datetime

    report = run(config, datetime.fromisoformat(EXAMPLE_NOW), Store(tmp_path / "s.db"),
                 progress=record)
    assert calls == [("work: agendas", 5)]
    assert report.changes


def test_cron_output_has_no_bar(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    result = cli("--config", tmp_path / "ex" / "config.toml", "run", "--now", EXAMPLE_NOW)
    assert result.exit_code == 0
    assert "agendas" not in result.output and "\r" not in result.output
