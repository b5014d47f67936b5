"""``state_url``: calsync's state in a real PostgreSQL server (:mod:`tests.pg`), shared by
runners on several machines (here: several ``CALSYNC_HOME`` folders)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from calsync.app.store_pg import PgStore, lock_key, redact
from calsync.errors import LockedError, ProviderError
from tests.conftest import EXAMPLES
from tests.fakes.google import FakeGoogle, api_requests
from tests.google_fixtures import *  # noqa: F403
from tests.helpers import EXAMPLE_NOW, SCENARIO_NOW, cli
from tests.pg import *  # noqa: F403
from tests.pg import PASSWORD, USER, PgServer, free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_TIME = datetime.fromisoformat(EXAMPLE_NOW)


def with_state(config: Path, url: str) -> Path:
    """The config with ``state_url`` on top, 0600 (it holds the password)."""
    config.write_text(f'state_url = "{url}"\n' + config.read_text())
    config.chmod(0o600)
    return config


@pytest.fixture
def example(tmp_path: Path) -> Path:
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLES, folder)
    return folder / "config.toml"


def test_redact_drops_the_password_wherever_it_is() -> None:
    assert redact("postgresql://u:s%40cret@db.example:5432/cal") == "postgresql://u@db.example:5432/cal"
    assert redact("postgresql://u@h/cal?password=x&sslmode=require") == "postgresql://u@h/cal?sslmode=require"
    assert redact("postgres://h/cal") == "postgres://h/cal"
    assert lock_key("me@example.com") == lock_key("me@example.com") != lock_key("you@example.com")
    assert 0 <= lock_key("me@example.com") < 2**63


def test_a_url_libpq_cannot_read_is_a_config_error(example: Path) -> None:
    with_state(example, f"postgresql://{USER}:{PASSWORD}@127.0.0.1:5432/db?bogus_option=1")
    result = cli("--config", example, "run", "--now", EXAMPLE_NOW)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("calsync: state_url: not a PostgreSQL URL (")
    assert "bogus_option" in result.stderr and PASSWORD not in result.output


def test_run_keeps_its_state_in_postgresql_and_a_second_run_writes_nothing(
        example: Path, pg_url: str, calsync_home: Path) -> None:
    with_state(example, pg_url)
    first = cli("--config", example, "run", "--now", EXAMPLE_NOW)
    assert first.exit_code == 0, first.output
    assert "wrote" in first.stdout
    with psycopg.connect(pg_url) as db:
        writes = db.execute("SELECT scope, count(*) FROM calsync_writes GROUP BY scope").fetchall()
        runs = db.execute("SELECT command, written, exit_code FROM calsync_runs").fetchall()
    assert writes and writes[0][0] == "mia@example.com" and writes[0][1] >= 1
    assert runs == [("run", writes[0][1], 0)]
    assert not (calsync_home / "state.sqlite3").exists()  # nothing kept beside it
    calendar = (example.parent / "calendar.ics").read_text()
    again = cli("--config", example, "run", "--now", EXAMPLE_NOW)
    assert again.exit_code == 0 and again.stdout == "", again.output
    assert (example.parent / "calendar.ics").read_text() == calendar
    # status reads the same state (the pulse, the action items) without complaint
    assert cli("--config", example, "status", "--now", EXAMPLE_NOW).exit_code == 0


def test_dry_run_leaves_the_postgresql_state_as_it_was(example: Path, pg_url: str) -> None:
    with_state(example, pg_url)
    result = cli("--config", example, "run", "--dry-run", "--now", EXAMPLE_NOW)
    assert result.exit_code == 0, result.output
    with psycopg.connect(pg_url) as db:
        counts = [db.execute(f"SELECT count(*) FROM {t}").fetchone()
                  for t in ("calsync_kv", "calsync_writes", "calsync_action_items", "calsync_runs")]
    assert counts == [(0,)] * 4


def test_a_down_server_is_one_line_exit_4_without_the_password(example: Path) -> None:
    url = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/calsync"
    with_state(example, url)
    for command in ("run", "status"):
        result = cli("--config", example, command, "--now", EXAMPLE_NOW)
        assert result.exit_code == 4, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"calsync: {redact(url)}: cannot open calsync state: ")
        assert "refused" in lines[0]
        assert PASSWORD not in result.output


def test_a_wrong_password_is_one_line_exit_4_naming_neither_password(
        example: Path, pg_server: PgServer) -> None:
    wrong = "Wr0ng-guess-77"
    url = pg_server.url().replace(PASSWORD, wrong)
    with_state(example, url)
    result = cli("--config", example, "run", "--now", EXAMPLE_NOW)
    assert result.exit_code == 4, result.output
    assert "password authentication failed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert wrong not in result.output and PASSWORD not in result.output


def test_the_password_can_live_in_a_pgpass_file(example: Path, pg_url: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    without = pg_url.replace(f":{PASSWORD}@", "@")
    assert PASSWORD not in without
    example.write_text(f'state_url = "{without}"\n' + example.read_text())
    example.chmod(0o644)  # no secret in it: may stay readable
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:*:*:{USER}:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    result = cli("--config", example, "run", "--now", EXAMPLE_NOW)
    assert result.exit_code == 0 and "wrote" in result.stdout, result.output
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "missing"))
    refused = cli("--config", example, "run", "--now", EXAMPLE_NOW)
    assert refused.exit_code == 4 and "password" in refused.stderr, refused.output


def test_a_password_in_a_config_others_can_read_is_refused(example: Path, pg_url: str) -> None:
    with_state(example, pg_url)
    example.chmod(0o644)
    result = cli("--config", example, "run", "--now", EXAMPLE_NOW)
    assert result.exit_code == 2, result.output
    assert "chmod 600" in result.stderr and "~/.pgpass" in result.stderr
    assert PASSWORD not in result.output


def test_owners_sharing_a_database_keep_their_own_state_and_locks(pg_url: str) -> None:
    mia, sam = PgStore(pg_url, "mia@example.com"), PgStore(pg_url, "sam@example.com")
    mia.namespace("warned").set("today", "mia's")
    mia.record_write("work", "evt", "h1", EXAMPLE_TIME)
    mia.upsert_action_item("rel", "k", None, "mia's item", "2026-05-01", None)
    assert sam.namespace("warned").get("today") is None
    assert sam.written_hash("work", "evt") is None and sam.action_items("rel") == []
    with mia.lock(), sam.lock(), pytest.raises(LockedError):  # different owners side by side
        PgStore(pg_url, "MIA@example.com").lock().__enter__()


_HOLDER = """
import sys, time
from calsync.app.store_pg import PgStore
store = PgStore(sys.argv[1], "mia@example.com")
with store.lock():
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_runner_that_dies_lets_go_of_the_lock(pg_url: str, example: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, pg_url], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with_state(example, pg_url)
        blocked = cli("--config", example, "run", "--now", EXAMPLE_NOW)
        assert blocked.exit_code == 5 and blocked.stdout == "", blocked.output
        assert f"calsync {holder.pid}@" in blocked.stderr  # names the runner holding it
        assert "mia@example.com" in blocked.stderr and PASSWORD not in blocked.stderr
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        deadline = time.monotonic() + 20  # the server notices the closed connection
        store = PgStore(pg_url, "mia@example.com")
        while True:
            try:
                with store.lock():
                    break
            except LockedError:
                assert time.monotonic() < deadline, "the dead runner's lock was never released"
                time.sleep(0.1)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert cli("--config", example, "run", "--now", EXAMPLE_NOW).exit_code == 0


def test_losing_the_server_mid_run_is_an_error_line_not_a_traceback(pg_url: str) -> None:
    store = PgStore(pg_url, "mia@example.com")
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name LIKE 'calsync %%' AND pid <> pg_backend_pid()")
    with pytest.raises(ProviderError) as caught:
        store.namespace("x").get("k")
    assert str(caught.value).startswith(redact(pg_url) + ": calsync state: ")
    assert PASSWORD not in str(caught.value)


# -- two runners on one Google calendar, sharing the state ---------------------------------


def google_runner(fake: FakeGoogle, folder: Path, state_url: str | None) -> tuple[list[str], dict[str, str]]:
    """A `calsync run` command and environment of its own (its own CALSYNC_HOME: another
    machine), on the fake's calendar."""
    folder.mkdir()
    token = folder / "token.json"
    fake.write_token(token, "me@example.com")
    config = folder / "config.toml"
    config.write_text(
        (f'state_url = "{state_url}"\n' if state_url else "")
        + '[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n\n'
        f'[[calendars]]\nname = "scenarios"\nprovider = "google"\ntoken_file = "{token}"\n'
        f'api_url = "{fake.base}"\n')
    config.chmod(0o600)
    env = {**os.environ, "CALSYNC_HOME": str(folder / "home")}
    env.pop("CALSYNC_CONFIG", None)
    return [sys.executable, "-m", "calsync", "--config", str(config), "run", "--now", SCENARIO_NOW], env


def seed(fake: FakeGoogle) -> None:
    fake.seed_ics((ROOT / "tests" / "scenarios" / "core.ics").read_text(), ["me@example.com"],
                  tz="Europe/Berlin")


def patched(fake: FakeGoogle) -> Counter[str]:
    return Counter(p["path"].rsplit("/", 1)[-1] for p in api_requests(fake, "PATCH"))


Ran = subprocess.CompletedProcess[str]


def second_runner_mid_write(fake: FakeGoogle, tmp_path: Path, state: str | None,
                            ) -> tuple[Ran, Ran, str]:
    """Runner A starts; at its first invite write, runner B (another machine) runs to its
    end; then A goes on. Returns A, B and the event A was writing when B ran."""
    seed(fake)
    cmd_a, env_a = google_runner(fake, tmp_path / "a", state)
    cmd_b, env_b = google_runner(fake, tmp_path / "b", state)
    done: dict[str, subprocess.CompletedProcess[str]] = {}
    started: list[str] = []

    def at_patch(event_id: str) -> None:
        if not started:  # B's own writes pass straight through
            started.append(event_id)
            done["b"] = subprocess.run(cmd_b, env=env_b, capture_output=True, text=True, timeout=300)

    fake.before_patch = at_patch
    a = subprocess.run(cmd_a, env=env_a, capture_output=True, text=True, timeout=300)
    fake.before_patch = None
    assert "b" in done, a.stderr
    return a, done["b"], started[0]


def test_two_runners_sharing_postgresql_write_each_invite_and_doc_once(
        fake_google: FakeGoogle, tmp_path: Path, pg_url: str) -> None:
    a, b, _ = second_runner_mid_write(fake_google, tmp_path, pg_url)
    assert a.returncode == 0, a.stderr
    assert b.returncode == 5 and b.stdout == "", b.stderr
    assert b.stderr.count("\n") == 1 and "another calsync run" in b.stderr
    writes = patched(fake_google)
    assert len(writes) >= 5 and set(writes.values()) == {1}  # every invite once, none twice
    docs = len(fake_google.files)
    assert docs == len({p[0]["emailAddress"] for p in fake_google.permissions.values()})
    # B's next run, on the state A left in PostgreSQL: nothing more to write
    cmd_b, env_b = google_runner(fake_google, tmp_path / "b2", pg_url)
    fake_google.log.clear()
    later = subprocess.run(cmd_b, env=env_b, capture_output=True, text=True, timeout=300)
    assert later.returncode == 0 and later.stdout == "", later.stderr
    assert api_requests(fake_google, "PATCH") == [] and len(fake_google.files) == docs
    assert api_requests(fake_google, "POST") == []


def test_without_shared_state_the_same_two_runners_collide(
        fake_google: FakeGoogle, tmp_path: Path) -> None:
    """The control: each runner with its own SQLite state, in the same interleaving, both
    write the invite A was at (A's write then refused by its ETag, A re-reads and stops):
    the count above would catch a runner that ignored the shared lock."""
    a, b, at = second_runner_mid_write(fake_google, tmp_path, None)
    assert (a.returncode, b.returncode) == (0, 0), a.stderr + b.stderr
    assert patched(fake_google)[at] == 2


def test_two_runners_started_together_write_each_invite_once(
        fake_google: FakeGoogle, tmp_path: Path, pg_url: str) -> None:
    seed(fake_google)
    fake_google.before_patch = lambda event_id: time.sleep(0.2)  # slow writes: the runs overlap
    runners = [google_runner(fake_google, tmp_path / name, pg_url) for name in ("a", "b")]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cmd, env in runners]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 5]), results
    writes = patched(fake_google)
    assert len(writes) >= 5 and set(writes.values()) == {1}, writes
    shared_with = [p[0]["emailAddress"] for p in fake_google.permissions.values()]
    assert len(shared_with) == len(set(shared_with))  # one doc per relationship


_IMPORTS = """
import sys
from calsync.cli.main import main
try:
    main(sys.argv[1:], prog_name="calsync")
except SystemExit:
    pass
print("PSYCOPG:", "psycopg" in sys.modules)
"""


def test_psycopg_is_imported_only_for_a_state_url(example: Path, pg_url: str,
                                                  calsync_home: Path) -> None:
    def imported(config: Path) -> bool:
        out = subprocess.run([sys.executable, "-c", _IMPORTS, "--config", str(config), "run",
                              "--now", EXAMPLE_NOW], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "CALSYNC_HOME": str(calsync_home)})
        assert "Traceback" not in out.stderr, out.stderr
        return out.stdout.strip().splitlines()[-1] == "PSYCOPG: True"

    assert not imported(example)
    assert imported(with_state(example, pg_url))


def test_doctor_checks_the_postgresql_state_not_a_sqlite_file(example: Path, pg_url: str) -> None:
    with_state(example, pg_url)
    ok = cli("--config", example, "doctor")
    line = next(x for x in ok.stdout.splitlines() if "state database" in x)
    assert line == f"✓ state database: {redact(pg_url)} is reachable; no run in progress"
    assert "run lock" not in ok.stdout and "state.sqlite3" not in ok.stdout
    holder = PgStore(pg_url, scope="mia@example.com")
    with holder.lock():  # a run in progress elsewhere is no failure, but doctor says so
        busy = next(x for x in cli("--config", example, "doctor").stdout.splitlines()
                    if "state database" in x)
    holder.close()
    assert busy == f"✓ state database: {redact(pg_url)} is reachable; a run holds this owner's lock now"
    down = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/calsync"
    example.write_text(example.read_text().replace(pg_url, down))
    bad = cli("--config", example, "doctor")
    line = next(x for x in bad.stdout.splitlines() if "state database" in x)
    assert line.startswith(f"✗ state database: {redact(down)}: cannot open calsync state: ")
    assert bad.exit_code == 4 and PASSWORD not in bad.output
