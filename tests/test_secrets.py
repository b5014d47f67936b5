"""Tokens and client secrets never leave their 0600 login files.

Against the loopback Google and Graph fakes: setup (Microsoft), status, run, a second
run, a dry run, and the error paths (revoked login, expired access token, unreadable
and group/world-readable login file, server errors). Every output stream, every log
record (DEBUG and up, client libraries included) and every file written outside the
login files themselves is searched for every token the fake issued and the client secret.
"""

from __future__ import annotations

import json
import logging
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.conftest import SCENARIOS
from tests.fakes.google import FakeGoogle
from tests.fakes.microsoft import FakeMicrosoft
from tests.google_fixtures import fake_google  # noqa: F401
from tests.helpers import SCENARIO_NOW, cli
from tests.microsoft_fixtures import ms_tls, trust_ca  # noqa: F401

CLIENT_SECRET = "SENTINEL-client-secret-4b1d9e"


def _files(root: Path, skip: set[Path]) -> Iterable[Path]:
    for p in root.rglob("*"):
        if p.is_file() and p.resolve() not in skip and not p.name.endswith(".lock"):
            yield p


def _assert_nowhere(secrets: set[str], outputs: list[str], caplog: pytest.LogCaptureFixture,
                    root: Path, token_files: set[Path]) -> None:
    secrets = {s for s in secrets if s}
    assert secrets, "no secrets collected: the test would pass vacuously"
    logs = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    for s in secrets:
        for out in outputs:
            assert s not in out, f"secret in output: {out!r}"
        assert s not in logs, "secret in a log record"
    written = list(_files(root, {p.resolve() for p in token_files}))
    assert any(p.suffix == ".sqlite3" for p in written), written  # the state db was searched
    for p in written:
        data = p.read_bytes()
        for s in secrets:
            assert s.encode() not in data, f"secret in {p}"
    for t in token_files:
        assert stat.S_IMODE(t.stat().st_mode) == 0o600, t


def _out(r: Result) -> str:
    return r.stdout + "\n" + r.stderr


# --- Google ----------------------------------------------------------------------------------


def _doctor(config: Path) -> list[str]:
    """doctor refreshes the login for real: its text and JSON must not show a token either."""
    out = []
    for fmt in ("text", "json"):
        r = cli("--config", config, "doctor", "--format", fmt)
        assert r.exit_code in (0, 4), r.output  # 4: no timer installed in a test HOME
        refreshed = r.stdout if fmt == "text" else "\n".join(
            f"{'✓' if c['ok'] else '✗'} {c['name']}" for c in json.loads(r.stdout)["checks"])
        assert re.search(r"^✓ login \S+ refresh", refreshed, re.M), r.output  # the token was used
        out.append(_out(r))
    return out


def _google_config(fake: FakeGoogle, folder: Path) -> tuple[Path, Path]:
    fake.clients = {"cid.apps.googleusercontent.com": CLIENT_SECRET}
    fake.seed_ics((SCENARIOS / "core.ics").read_text(), ["me@example.com"], tz="Europe/Berlin")
    token = folder / "tokens" / "google.json"
    fake.write_token(token, "me@example.com", expired=True)  # the first call refreshes
    config = folder / "config.toml"
    config.write_text(
        '[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n\n'
        f'[[calendars]]\nname = "g"\nprovider = "google"\ntoken_file = "{token}"\n'
        f'api_url = "{fake.base}"\n'
    )
    return config, token


def _google_secrets(fake: FakeGoogle) -> set[str]:
    return {*fake.access, *fake.refresh, *fake.clients.values()}


def test_google_run_status_and_errors_never_show_a_secret(
    fake_google: FakeGoogle, tmp_path: Path, caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    config, token = _google_config(fake_google, tmp_path)
    outputs: list[str] = []
    secrets: set[str] = set()
    for args in (["status"], ["run"], ["run"], ["run", "--dry-run"], ["status", "--format", "json"],
                 ["run", "--format", "json"]):
        r = cli("--config", config, *args, "--now", SCENARIO_NOW)
        assert r.exit_code == 0, r.output
        outputs.append(_out(r))
        secrets |= _google_secrets(fake_google)
    assert "wrote agenda" in outputs[1]  # the first run wrote agendas: the write paths ran
    outputs += _doctor(config)

    token.chmod(0o644)
    r = cli("--config", config, "status", "--now", SCENARIO_NOW)
    assert r.exit_code == 3
    assert r.stderr.strip().splitlines() == [
        f"calsync: g: the login file {token} is readable by others (mode 644); run `chmod 600 {token}`"
        " (and a new `calsync setup` if others may have read it)"
    ]
    outputs.append(_out(r))
    token.chmod(0o640)
    assert cli("--config", config, "run", "--now", SCENARIO_NOW).exit_code == 3
    token.chmod(0o600)

    fake_google.expire_access_tokens()
    fake_google.revoke_all()  # invalid_grant on the refresh
    r = cli("--config", config, "run", "--now", SCENARIO_NOW)
    assert r.exit_code == 3 and "calsync setup google" in r.stderr, r.output
    outputs.append(_out(r))

    token.write_text(token.read_text()[:40])  # a torn login file
    r = cli("--config", config, "status", "--now", SCENARIO_NOW)
    assert r.exit_code == 3, r.output
    outputs.append(_out(r))
    _assert_nowhere(secrets | _google_secrets(fake_google), outputs, caplog, tmp_path, {token})


# --- Microsoft -------------------------------------------------------------------------------


@pytest.fixture
def graph(ms_tls: Any) -> Any:  # noqa: F811
    fake = FakeMicrosoft(user_email="me@example.com", user_name="Me Owner").start(ms_tls[1])
    yield fake
    fake.stop()


def _ms_secrets(fake: FakeMicrosoft) -> set[str]:
    return {*fake.access_tokens, *fake.refresh_tokens}


def test_microsoft_setup_run_status_and_errors_never_show_a_secret(
    graph: FakeMicrosoft, trust_ca: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    from calsync.backends.microsoft.setup import setup

    caplog.set_level(logging.DEBUG)
    token = tmp_path / "tokens" / "ms.json"
    config = tmp_path / "config.toml"
    config.write_text(
        '[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n\n'
        f'[[calendars]]\nname = "outlook"\nprovider = "microsoft"\nclient_id = "cid"\n'
        f'authority_url = "{graph.base}"\ngraph_url = "{graph.graph_url}"\ntoken_file = "{token}"\n',
        encoding="utf-8",
    )
    said: list[str] = []
    setup(config, None, "organizations", browser=False, read_only=False, echo=said.append)
    outputs = ["\n".join(said)]
    secrets = _ms_secrets(graph)
    graph.seed_ics((SCENARIOS / "core.ics").read_text(encoding="utf-8"), default_tz="Europe/Berlin")
    for args in (["status"], ["run"], ["run"], ["run", "--dry-run"], ["run", "--format", "json"]):
        r = cli("--config", config, *args, "--now", SCENARIO_NOW)
        assert r.exit_code == 0, r.output
        outputs.append(_out(r))
        secrets |= _ms_secrets(graph)
    assert "wrote agenda" in outputs[2]
    outputs += _doctor(config)

    token.chmod(0o604)
    r = cli("--config", config, "run", "--now", SCENARIO_NOW)
    assert r.exit_code == 3 and f"run `chmod 600 {token}`" in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1
    outputs.append(_out(r))
    token.chmod(0o600)

    graph.revoke_all()
    r = cli("--config", config, "run", "--now", SCENARIO_NOW)
    assert r.exit_code == 3 and "calsync setup microsoft" in r.stderr, r.output
    outputs.append(_out(r))
    _assert_nowhere(secrets | _ms_secrets(graph), outputs, caplog, tmp_path, {token})
