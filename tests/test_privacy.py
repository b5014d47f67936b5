"""What calsync keeps of a description (calsync.core.privacy) and the state files' modes."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync.app.store import Store
from calsync.core import actions, agenda
from calsync.core.model import Body
from calsync.core.privacy import keepable
from tests.fakes.microsoft import TEAMS_BODY

SECRET = "Passcode: Zq7Hd3"
A = agenda.AgendaInput("en", "default", "sam@example.com", "Sam",
                       datetime(2026, 5, 4, 10, tzinfo=ZoneInfo("Europe/Berlin")),
                       "https://docs.example/d/1", (), None)
OTHER = agenda.AgendaInput("en", "default", "sam@example.com", "Sam",
                           datetime(2026, 5, 11, 10, tzinfo=ZoneInfo("Europe/Berlin")),
                           None, (), None)


def _bodies() -> list[Body]:
    plain = f"Notes\n{SECRET}\n- [ ] Sam: draft the plan\n☑ Mona: book a room\n"
    html = f"<p>{SECRET}</p><ul><li>☐ Sam: a &lt;b&gt; tag</li></ul><p>- [x] done it</p>"
    out = [Body(plain), Body(html, True), Body(TEAMS_BODY, True), Body(""), Body("", True)]
    for b in list(out):
        spliced = agenda.splice(b, A)
        assert spliced is not None
        out.append(spliced)
        ticked = spliced.text.replace("☐", "☑", 1).replace("- [ ]", "- [x]", 1)
        out.append(Body(ticked, b.html))
        out.append(Body(spliced.text + ("<br>" if b.html else "\n") + agenda.render(A, b.html),
                        b.html))  # two blocks: pasted
    out.append(Body(plain.replace("\n", "\r\n") + agenda.render(A, False)))
    return out


@pytest.mark.parametrize("body", _bodies(), ids=lambda b: f"{'html' if b.html else 'text'}"
                         f"-{len(b.text)}")
def test_kept_part_reads_as_the_whole(body: Body) -> None:
    kept = keepable(body)
    assert SECRET not in kept.text and "Weekly catch-up" not in kept.text
    assert "meetup-join" not in kept.text and kept.html == body.html
    assert actions.parse(kept.text, kept.html) == actions.parse(body.text, body.html)
    assert len(agenda.find_blocks(kept.text, kept.html)) == len(
        agenda.find_blocks(body.text, body.html))
    for a in (A, OTHER):  # "nothing to change" exactly when it is so for the whole body
        assert (agenda.splice(kept, a) is None) == (agenda.splice(body, a) is None)
    assert keepable(kept) == kept


def test_state_folder_and_database_are_private_and_old_modes_are_fixed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    db = home / "state.sqlite3"
    sqlite3.connect(db).close()  # an older calsync's database, 0644
    os.chmod(db, 0o644)
    wal = home / "state.sqlite3-wal"
    wal.write_bytes(b"")
    os.chmod(wal, 0o644)
    store = Store(db)
    store.namespace("x").set("k", "v")
    try:
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        for path in home.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert wal.exists()
    finally:
        store.close()
    fresh = tmp_path / "new" / "deeper" / "state.sqlite3"
    Store(fresh).close()
    assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


def test_overwritten_values_do_not_linger_in_the_file(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    store = Store(db)
    ns = store.namespace("cal:x")
    ns.set("google.events", "old cache " + SECRET * 200)
    ns.set("google.events", "new cache")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    assert SECRET.encode() not in db.read_bytes()
