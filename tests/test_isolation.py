"""Failure isolation per relationship (issue 10) and a run's state writes (issue 16).

One pair's error (its doc unreadable, a second agenda block in its invite, the provider
refusing or failing its write) names that pair and never stops the others; the exit
code still reports a failure. A steady run stores nothing but its log line.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from calsync.app.run import run
from calsync.app.store import Store
from calsync.config import load
from calsync.core import agenda
from calsync.paths import data_dir
from tests.conftest import EXAMPLES
from tests.fakes.google import FakeGoogle
from tests.google_fixtures import *  # noqa: F403
from tests.helpers import EXAMPLE_NOW, SCENARIO_NOW, cli
from tests.test_google_run import setup_calendar


@pytest.fixture
def example(tmp_path: Path) -> Path:
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLES, folder)
    return folder / "config.toml"


def _run(config: Path, now: str = EXAMPLE_NOW) -> tuple[int, str, str]:
    result = cli("--config", config, "run", "--now", now)
    return result.exit_code, result.stdout, result.stderr


def _written(out: str) -> set[str]:
    return {line.split("wrote agenda: ", 1)[1].split(",")[0]
            for line in out.splitlines() if "wrote agenda: " in line}


def test_an_unreadable_doc_fails_only_its_pair(example: Path) -> None:
    reference = example.parent.parent / "reference"
    shutil.copytree(example.parent, reference)
    code, out, _ = _run(reference / "config.toml")
    everyone = _written(out)
    assert code == 0 and len(everyone) >= 2
    (example.parent / "docs" / "alice@example.com.md").mkdir(parents=True)  # not a file
    code, out, err = _run(example)
    assert code == 4, err
    errors = [line for line in err.splitlines() if line.startswith("calsync:")]
    assert len(errors) == 1 and errors[0].startswith("calsync: work: Alice Chen <alice@example.com>: ")
    assert "cannot read the shared doc" in errors[0]
    assert _written(out) == everyone - {"Alice Chen"}  # every other pair was written
    (example.parent / "docs" / "alice@example.com.md").rmdir()
    code, out, err = _run(example)
    assert (code, _written(out)) == (0, {"Alice Chen"}), err
    def unfolded(folder: Path) -> str:  # folding moves with the doc path's length
        text = re.sub(r"\n[ \t]", "", (folder / "calendar.ics").read_text())
        return text.replace(str(folder), "FOLDER")

    assert unfolded(example.parent) == unfolded(reference)  # where an unbroken run ends


def test_a_pasted_second_block_is_refused_for_that_pair_only(example: Path) -> None:
    assert _run(example)[0] == 0
    cal = example.parent / "calendar.ics"
    pasted = f"{agenda.BEGIN}\\nlast week's agenda\\n{agenda.END}\\n"
    text = cal.read_text()
    assert text.count("DESCRIPTION:--- calsync agenda") >= 2
    # Alice's invite (the first block in the file) gets a second, pasted block
    cal.write_text(text.replace("DESCRIPTION:--- calsync agenda",
                                "DESCRIPTION:" + pasted + "--- calsync agenda", 1))
    docs = example.parent / "docs"
    for doc in docs.glob("*.md"):  # every block would change
        doc.write_text(doc.read_text() + "\n- [ ] Mia: one more thing\n")
    later = datetime.fromisoformat(EXAMPLE_NOW).replace(hour=10).isoformat()
    code, out, err = _run(example, later)
    assert code == 0, err
    conflicts = [line for line in err.splitlines() if "more than one calsync agenda block" in line]
    assert len(conflicts) == 1 and "Alice Chen" in conflicts[0]
    assert "Alice Chen" not in _written(out) and len(_written(out)) >= 1
    assert cal.read_text().count("Mia: one more thing") == len(_written(out))


def test_google_forbidden_and_failing_writes_stop_only_their_pairs(fake_google: FakeGoogle,
                                                                  tmp_path: Path) -> None:
    config = setup_calendar(fake_google, tmp_path)
    dry = cli("--config", config, "run", "--now", SCENARIO_NOW, "--dry-run")
    expected = dry.output.count("would write agenda:")
    assert expected >= 3, dry.output
    # the first PATCH refused outright; the second fails on every try (retries exhausted)
    fake_google.fail_next = [{"status": 403, "reason": "forbidden", "method": "PATCH"}] + [
        {"status": 503, "method": "PATCH"}] * 20
    shared = fake_google.fail_next
    first = cli("--config", config, "run", "--now", SCENARIO_NOW)
    fake_google.fail_next = []
    written = _written(first.output)
    assert first.exit_code == 4, first.output
    errors = [line for line in first.stderr.splitlines() if line.startswith("calsync:")]
    assert errors and all(line.startswith("calsync: scenarios: ") and " <" in line
                          for line in errors)
    assert 1 <= len(written) <= expected - 1
    assert len(shared) < 21  # the faults were met
    second = cli("--config", config, "run", "--now", SCENARIO_NOW)
    assert second.exit_code == 0, second.output
    assert written.isdisjoint(_written(second.output))  # only what failed is written now
    assert len(written) + len(_written(second.output)) == expected


def test_a_steady_run_stores_only_its_log_line(example: Path, calsync_home: Path) -> None:
    assert _run(example)[0] == 0
    config = load(example)
    store = Store(data_dir() / "state.sqlite3")
    try:
        before = store.db.total_changes
        report = run(config, datetime.fromisoformat(EXAMPLE_NOW), store)
        assert report.changes == [] and report.exit_code() == 0
        assert store.db.total_changes - before == 1  # the runs row, nothing else
        runs = store.db.execute("SELECT count(*) FROM runs").fetchone()[0]
        assert runs == 2
    finally:
        store.close()


def test_a_phase_is_one_transaction_and_a_dry_run_rolls_it_back(example: Path,
                                                                calsync_home: Path) -> None:
    config = load(example)
    store = Store(data_dir() / "state.sqlite3")
    try:
        commits: list[str] = []
        store.db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
        run(config, datetime.fromisoformat(EXAMPLE_NOW), store, dry_run=True)
        assert commits == []
        assert store.db.execute("SELECT count(*) FROM kv WHERE ns='docs'").fetchone()[0] == 0
        report = run(config, datetime.fromisoformat(EXAMPLE_NOW), store)
        wrote = sum(1 for c in report.changes if c.status.value == "written")
        assert wrote >= 2
        # one per invite written (kept at once), one for the rest of the phase
        assert len(commits) == wrote + 1
        assert store.db.execute("SELECT count(*) FROM kv WHERE ns='docs'").fetchone()[0] >= wrote
    finally:
        store.close()
