"""Bad input never gives a traceback or a hang: one line naming the file or key, exit 2 or 4.

* every config key (from config.example.toml and the config dataclasses) with a value of
  the wrong type: exit 2, one line naming the config file and the dotted key;
* every .ics of the shared corpus truncated at 10 seeded-random points and with random
  bytes flipped: exit 0 (the damage left a valid calendar) or 4 with one line naming the
  file; each case bounded by an alarm, so a hang fails instead of stalling the suite.
"""

from __future__ import annotations

import random
import re
import signal
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from calsync.backends.google.config import GoogleCalendar
from calsync.backends.local.config import IcsCalendar
from calsync.backends.microsoft.config import MicrosoftCalendar
from calsync.backends.registry import BACKENDS
from calsync.config import Agenda, Detection, Owner, Policy
from calsync.config_reader import COMMON_KEYS
from tests.conftest import ROOT, corpus_files
from tests.helpers import cli

SECONDS_PER_CASE = 20


class Hang(AssertionError):
    pass


@contextmanager
def bounded(seconds: int, what: str) -> Iterator[None]:
    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"{what}: no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --- config keys ---------------------------------------------------------------------------

_EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")
_BASE = {
    "ics": 'provider = "ics"\npath = "calendar.ics"\n',
    "google": 'provider = "google"\n',
    "microsoft": 'provider = "microsoft"\nclient_id = "cid"\n',
    "caldav": 'provider = "caldav"\nurl = "https://dav.example.com/me/work/"\nusername = "me"\n',
}


def _documented(key: str) -> bool:
    return re.search(rf"(?m)^#?\s*{re.escape(key)} =", _EXAMPLE) is not None


def _config_keys() -> list[tuple[str, str, str]]:
    """(table, key, provider): every key the example documents and the loader knows."""
    example = tomllib.loads(_EXAMPLE)
    keys: set[tuple[str, str, str]] = set()
    keys |= {("", k, "ics") for k, v in example.items() if not isinstance(v, dict | list)}
    owner = {"email"} | {f.name for f in fields(Owner)}
    for table, names in (("owner", owner), ("policy", {f.name for f in fields(Policy)}),
                         ("detection", {f.name for f in fields(Detection)}),
                         ("agenda", {f.name for f in fields(Agenda)})):
        keys |= {(table, k, "ics") for k in names}
    for provider, backend in BACKENDS.items():
        names = COMMON_KEYS | backend.schema.keys
        keys |= {("calendars", k, provider) for k in names if k != "provider"}
    keys |= {("", t, "ics") for t in ("owner", "policy", "detection", "agenda", "calendars")}
    return sorted(k for k in keys if _documented(k[1]) or k[0] == "")


def _wrong(table: str, key: str) -> str:
    """A TOML value of the wrong type for this key (found from its valid default)."""
    example = tomllib.loads(_EXAMPLE)
    if table == "" and key in ("owner", "policy", "detection", "agenda", "calendars"):
        return '"not a table"'
    defaults: dict[str, Any] = {}
    numeric: set[str] = set()  # optional numbers (default None) are known by their annotation
    for cls in (Owner, Policy, Detection, Agenda, IcsCalendar, GoogleCalendar, MicrosoftCalendar):
        defaults |= {f.name: f.default for f in fields(cls)}
        numeric |= {f.name for f in fields(cls) if str(f.type).split(" |")[0] in ("int", "float")}
    value = example.get(table, {}).get(key, example.get(key)) if table != "calendars" else None
    value = value if value is not None else defaults.get(key, "")
    if value is None and key in numeric:
        return '"seven"'
    if isinstance(value, bool):
        return '"yes"'
    if isinstance(value, int | float):
        return '"seven"'
    if isinstance(value, list | tuple):
        return "5"
    return "42"


def _write(folder: Path, table: str, key: str, provider: str, value: str) -> Path:
    owner = {"email": '"mgr@example.com"'}
    sections: dict[str, dict[str, str]] = {"owner": owner, "policy": {}, "detection": {}, "agenda": {}}
    top: dict[str, str] = {}
    cal = dict(line.split(" = ", 1) for line in _BASE[provider].splitlines())
    if table == "calendars":
        cal[key] = value
    elif table:
        if table == "owner" and key == "emails":
            owner.pop("email")
        sections[table][key] = value
    else:
        top[key] = value
    lines = [f"{k} = {v}" for k, v in top.items()]
    for name, body in sections.items():
        if name in top:
            continue
        lines += [f"[{name}]", *(f"{k} = {v}" for k, v in body.items())]
    if "calendars" not in top:
        lines += ["[[calendars]]", *(f"{k} = {v}" for k, v in cal.items())]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "calendar.ics").write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
    return path


def test_the_key_list_covers_the_example_and_the_loader() -> None:
    keys = {(t, k) for t, k, _ in _config_keys()}
    assert {("policy", "lapse_days"), ("agenda", "docs_dir"), ("calendars", "graph_url"),
            ("calendars", "send_updates"), ("owner", "timezone"), ("", "language")} <= keys
    assert len(keys) >= 40


@pytest.mark.parametrize(("table", "key", "provider"), _config_keys())
def test_every_config_key_with_a_wrong_type_is_one_line_exit_2(
    tmp_path: Path, table: str, key: str, provider: str
) -> None:
    path = _write(tmp_path, table, key, provider, _wrong(table, key))
    result = cli("--config", path, "status", "--now", "2026-04-29T12:00:00+02:00")
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, (result.exit_code, result.stderr, path.read_text())
    assert len(lines) == 1 and lines[0].startswith(f"calsync: {path}: "), lines
    dotted = f"calendars[0].{key}" if table == "calendars" else (f"{table}.{key}" if table else key)
    assert f": {dotted}:" in lines[0] or f": {dotted} " in lines[0], lines[0]
    assert "Traceback" not in result.output


# --- damaged .ics files ----------------------------------------------------------------------

_CORPUS = corpus_files()


def _now_for(data: bytes) -> str:
    """A month after the file's first DTSTART, so its meetings fall in the window."""
    m = re.search(rb"DTSTART[^:\r\n]*:(\d{4})(\d{2})(\d{2})", data)
    year, month = (int(m.group(1)), int(m.group(2))) if m else (2026, 1)
    year = min(max(year, 1990), 2990)
    return f"{year + (month == 12):04d}-{month % 12 + 1:02d}-15T12:00:00+00:00"


def _damaged(data: bytes, seed: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    cases = [(f"truncated@{n}", data[:n]) for n in sorted(rng.sample(range(len(data)), min(10, len(data))))]
    for k in range(5):
        flipped = bytearray(data)
        spots = sorted(rng.sample(range(len(data)), min(3, len(data))))
        for i in spots:
            flipped[i] ^= rng.randrange(1, 256)
        cases.append((f"flipped{k}@{','.join(map(str, spots))}", bytes(flipped)))
    return cases


def _check(tmp_path: Path, name: str, how: str, data: bytes) -> None:
    folder = tmp_path / re.sub(r"\W", "_", how)
    folder.mkdir()
    ics = folder / name
    ics.write_bytes(data)
    cfg = folder / "config.toml"
    cfg.write_text(f'[owner]\nemail = "me@example.com"\n\n[[calendars]]\nprovider = "ics"\npath = "{name}"\n')
    with bounded(SECONDS_PER_CASE, f"{name} {how}"):
        result = cli("--config", cfg, "status", "--now", _now_for(data))
    assert "Traceback" not in result.output, (how, result.output)
    assert result.exit_code in (0, 4), (how, result.exit_code, result.output)
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("calsync:")]
    if result.exit_code == 4:
        assert len(errors) == 1 and str(ics) in errors[0], (how, result.stderr)
    else:
        assert errors == [], (how, result.stderr)


@pytest.mark.parametrize("path", _CORPUS, ids=[p.stem for p in _CORPUS])
def test_a_damaged_corpus_file_is_one_line_or_still_read(tmp_path: Path, path: Path) -> None:
    data = path.read_bytes()
    seed = sum(data) % 10_007  # stable per file, different across files
    for how, damaged in _damaged(data, seed):
        _check(tmp_path, path.name, how, damaged)


def test_the_corpus_is_there() -> None:
    assert len(_CORPUS) >= 40, "set CALSYNC_ICS_CORPUS to the shared ics corpus"
