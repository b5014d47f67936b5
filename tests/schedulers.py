"""Fake `systemctl` and `crontab` on PATH that record their calls (for schedule and doctor).

They keep their state in files: ``crontab`` the user's crontab text, ``enabled`` the timers
``systemctl --user enable`` turned on; ``systemd-down`` makes ``systemctl --user`` fail as
it does without a user session (a container, cron's own environment).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

_SYSTEMCTL = r'''
import json, os, sys
state = os.environ["FAKE_SCHED_STATE"]
with open(os.path.join(state, "calls.jsonl"), "a") as log:
    log.write(json.dumps(["systemctl", *sys.argv[1:]]) + "\n")
if os.path.exists(os.path.join(state, "systemd-down")):
    print("Failed to connect to bus: No medium found", file=sys.stderr)
    sys.exit(1)
args = sys.argv[1:]
enabled = os.path.join(state, "enabled")
names = set(open(enabled).read().split()) if os.path.exists(enabled) else set()
if args[:1] == ["--user"]:
    args = args[1:]
if args[:1] == ["enable"]:
    names.add(args[-1])
elif args[:1] == ["disable"]:
    names.discard(args[-1])
elif args[:1] == ["is-enabled"]:
    print("enabled" if args[-1] in names else "disabled")
    sys.exit(0 if args[-1] in names else 1)
open(enabled, "w").write(" ".join(sorted(names)))
'''

_CRONTAB = r'''
import json, os, sys
state = os.environ["FAKE_SCHED_STATE"]
path = os.path.join(state, "crontab")
args = sys.argv[1:]
if args == ["-"]:
    text = sys.stdin.read()
    open(path, "w").write(text)
else:
    text = None
with open(os.path.join(state, "calls.jsonl"), "a") as log:
    log.write(json.dumps(["crontab", *args] + ([text] if text is not None else [])) + "\n")
if args == ["-l"]:
    if not os.path.exists(path):
        print("no crontab for tester", file=sys.stderr)
        sys.exit(1)
    sys.stdout.write(open(path).read())
'''


@dataclass
class Schedulers:
    bin: Path
    state: Path
    home: Path

    def calls(self) -> list[list[str]]:
        log = self.state / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def clear(self) -> None:
        (self.state / "calls.jsonl").unlink(missing_ok=True)

    def systemd_down(self) -> None:
        (self.state / "systemd-down").touch()

    def no_crontab(self) -> None:
        (self.bin / "crontab").unlink()

    @property
    def crontab(self) -> str | None:
        path = self.state / "crontab"
        return path.read_text() if path.exists() else None

    @crontab.setter
    def crontab(self, text: str) -> None:
        (self.state / "crontab").write_text(text)

    @property
    def units(self) -> Path:
        return self.home / ".config" / "systemd" / "user"


@pytest.fixture
def schedulers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Schedulers:
    fake = Schedulers(tmp_path / "fakebin", tmp_path / "sched-state", tmp_path / "home")
    for folder in (fake.bin, fake.state, fake.home):
        folder.mkdir()
    for name, code in (("systemctl", _SYSTEMCTL), ("crontab", _CRONTAB)):
        script = fake.bin / name
        script.write_text(f"#!{sys.executable}\n{code}")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.bin))
    monkeypatch.setenv("HOME", str(fake.home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("FAKE_SCHED_STATE", str(fake.state))
    return fake
