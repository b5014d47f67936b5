"""Small helpers shared by tests: run the CLI in-process, load scenario configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from calsync.cli.main import main

SCENARIO_NOW = "2026-04-29T12:00:00+02:00"
EXAMPLE_NOW = "2026-11-25T09:00:00+01:00"


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def status_json(config: Path, now: str) -> dict[str, Any]:
    result = cli("--config", config, "status", "--now", now, "--format", "json")
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def by_counterpart(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["counterpart"]: r for r in doc["relationships"]}


def write_config(folder: Path, calendar: Path | str, extra: str = "") -> Path:
    path = folder / "config.toml"
    path.write_text(
        '[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n\n'
        f'[[calendars]]\nprovider = "ics"\npath = "{calendar}"\n\n{extra}',
        encoding="utf-8",
    )
    return path


def assert_private_state(home: Path, *secrets: str) -> None:
    """No secret in any file calsync keeps (the database, its -wal, tokens, locks), the
    folder 0700 and the database files 0600."""
    import stat

    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    db = home / "state.sqlite3"
    files = [p for p in home.rglob("*") if p.is_file()]
    assert db in files
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret!r} found in {path}"
            assert secret.encode("utf-16-le") not in data, f"{secret!r} found in {path}"
        if path.name.startswith("state.sqlite3"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
