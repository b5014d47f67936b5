"""`calsync init`: a commented config that calsync itself loads, from flags or prompts."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tomllib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.app import init
from calsync.config import load
from tests.helpers import cli


def test_flags_without_a_terminal_write_a_config_calsync_loads(tmp_path: Path) -> None:
    cal = tmp_path / "cal.ics"
    cal.write_text("BEGIN:VCALENDAR\nEND:VCALENDAR\n")
    config = tmp_path / "conf" / "config.toml"
    result = cli("--config", config, "init", "--owner", "Me@Example.com", "--owner", "me@old.example",
                 "--timezone", "Asia/Tokyo", "--language", "ja", "--ics", cal)
    assert result.exit_code == 0, result.output
    loaded = load(config)
    assert loaded.owner.emails == ("me@example.com", "me@old.example")
    assert loaded.owner.timezone == "Asia/Tokyo" and loaded.language == "ja"
    (calendar,) = loaded.calendars
    assert calendar.provider == "ics" and calendar.path == cal
    text = config.read_text()
    assert text.startswith("# calsync configuration") and "# [policy]" in text
    assert result.output.splitlines() == [
        f"wrote {config}",
        f"next: calsync --config {config} status",
        f"then: calsync --config {config} doctor, then calsync --config {config} schedule install",
    ]


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("# mine\n")
    args = ["--config", str(config), "init", "--owner", "a@b.example", "--ics", str(tmp_path)]
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr == f"calsync: {config} already exists; edit it, or pass --force to replace it\n"
    assert config.read_text() == "# mine\n"
    assert cli(*args, "--force").exit_code == 0
    assert load(config).calendars[0].path == tmp_path


def test_default_path_follows_calsync_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "env" / "calsync.toml"
    monkeypatch.setenv("CALSYNC_CONFIG", str(target))
    result = cli("init", "--owner", "a@b.example", "--google")
    assert result.exit_code == 0, result.output
    assert load(target).calendars[0].provider == "google"
    assert "next: calsync setup google --client-secrets CLIENT_SECRET.json" in result.output


def test_microsoft_needs_the_client_id_and_setup_then_needs_no_flags(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    result = cli("--config", config, "init", "--owner", "a@b.example", "--microsoft")
    assert result.exit_code == 2
    assert "--client-id ID is needed with --microsoft" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and not config.exists()
    ok = cli("--config", config, "init", "--owner", "a@b.example", "--microsoft", "--client-id", "cid-1")
    assert ok.exit_code == 0, ok.output
    assert load(config).calendars[0].client_id == "cid-1"
    assert f"next: calsync --config {config} setup microsoft\n" in ok.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ics", "x.ics"], "--owner ADDRESS is needed"),
        (["--owner", "a@b.example"], "a first calendar is needed"),
        (["--owner", "not-an-address", "--google"], "owner.email: not an email address"),
        (["--owner", "a@b.example", "--ics", "nowhere.ics"], "nowhere.ics: no such file or folder"),
        (["--owner", "a@b.example", "--google", "--microsoft"], "choose one first calendar"),
    ],
)
def test_bad_answers_are_one_line_and_write_nothing(tmp_path: Path, args: list[str], message: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.toml"
    result = cli("--config", config, "init", *args)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("calsync: ") and message in line
    assert not config.exists()


def test_ask_fills_only_what_flags_left_open(tmp_path: Path) -> None:
    asked: list[str] = []
    replies = {"Your email address": "a@b.example, c@d.example", "Your first calendar": "google",
               "OAuth client file": ""}

    def prompt(text: str, **kw: object) -> object:
        asked.append(text)
        key = next((k for k in replies if text.startswith(k)), None)
        return replies[key] if key else kw.get("default")

    answers = init.ask(init.Answers((), "Europe/Paris", "", ""), prompt)
    assert answers.owners == ("a@b.example", "c@d.example")
    assert answers.timezone == "Europe/Paris" and answers.language == "en"
    assert answers.provider == "google" and answers.client_secrets is None
    assert not any(t.startswith("Your time zone") for t in asked)


_paths = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda s: "/" not in s and s not in (".", ".."))


@given(name=_paths, tz=st.sampled_from(["UTC", "Asia/Tokyo", None]),
       lang=st.sampled_from(["en", "ja"]))
def test_any_path_and_answers_render_to_a_config_that_loads_back(
        name: str, tz: str | None, lang: str) -> None:
    path = Path("/tmp") / f'we"ird\\{name}'
    answers = init.Answers(("x@y.example",), tz, lang, "ics", path)
    text = init.render(answers, date(2026, 1, 2))
    config = init.parse(tomllib.loads(text), Path("/etc/calsync.toml"))
    assert config.calendars[0].path == path
    assert config.owner.timezone == tz and config.language == lang


def test_prompts_on_a_real_terminal(tmp_path: Path) -> None:
    cal = tmp_path / "cal.ics"
    cal.write_text("BEGIN:VCALENDAR\nEND:VCALENDAR\n")
    config = tmp_path / "c.toml"
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from calsync.cli.main import main; main(prog_name='calsync')",
         "--config", str(config), "init"],
        stdin=slave, stdout=slave, stderr=slave, env={**os.environ, "TZ": "Europe/Berlin"},
    )
    os.close(slave)
    answers = iter(["me@example.com", "", "ja", "ics", str(cal)])
    seen = b""
    while proc.poll() is None:
        ready, _, _ = select.select([master], [], [], 10)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        seen += chunk
        if seen.rstrip().endswith((b":", b"]:", b"):")):
            os.write(master, (next(answers, "") + "\n").encode())
            seen += b"\n"
    proc.wait(timeout=10)
    os.close(master)
    assert proc.returncode == 0, seen.decode()
    assert b"Your time zone (IANA name) [Europe/Berlin]:" in seen
    loaded = load(config)
    assert loaded.owner.emails == ("me@example.com",) and loaded.owner.timezone == "Europe/Berlin"
    assert loaded.language == "ja" and loaded.calendars[0].path == cal
