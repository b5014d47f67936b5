"""The fault matrix for a remote backend: one fault at every request index of a run.

A cell is (phase, request index, fault kind). The phase is the first run on the scenario
calendar, or the run after one human change (a note typed outside the block of a written
invite). The cell replays the phase with that one fault, then runs again without faults,
and checks the end state against a fault-free run: same invites and docs, one block per
invite at most, every byte outside the block as people left it, every event write under
If-Match, a documented exit code. Shared by tests/faults/ and benchmarks/fault_matrix.py;
:class:`World` is Google's, ``tests/faults/ms_world.py`` has Microsoft's.

"Timeout" is an answer that comes :data:`LATE` seconds after the request was carried out,
with calsync's per-try timeout cut to :data:`TIMEOUT` for the matrix.

"Killed" is simulated in-process: the fake carries the request out and answers, then the
client's transport raises :class:`Killed` (a BaseException, as SIGKILL would leave no
handler running) before calsync sees the answer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calsync.core import agenda
from calsync.core.model import Body
from tests.conftest import SCENARIOS
from tests.fakes.google import FakeGoogle
from tests.helpers import SCENARIO_NOW, cli

KINDS: tuple[int | str, ...] = (500, 503, 429, 412, "revoke", "reset", "kill", "timeout")
TIMEOUT = 1.0  # calsync's per-try timeout in the matrix (20 s in real runs)
LATE = TIMEOUT + 0.5  # a "timeout" cell's answer comes this late, after the request was carried out
EXIT_OK = {0, 3, 4}  # documented: success, log in again, a calendar could not be processed
NOTE = "\nNote typed by a person after the first run."
LATER = "2026-05-06T12:00:00+02:00"  # the second phase: a week on, the next meetings are due


class Killed(BaseException):
    """The process died right after a request: nothing of calsync runs after it."""


@dataclass
class Outcome:
    tried: int = 0
    converged: int = 0
    failures: list[str] | None = None


@contextmanager
def client_hooks(fake: FakeGoogle) -> Iterator[list[float]]:
    """No real sleeping between retries; a kill right after the marked request."""
    import httplib2

    from calsync.backends.retry import RetryPolicy

    slept: list[float] = []
    real_request, real_sleep = httplib2.Http.request, RetryPolicy.sleep
    real_init = RetryPolicy.__init__

    def request(self: Any, *args: Any, **kw: Any) -> Any:
        answer = real_request(self, *args, **kw)
        if fake.killed:
            fake.killed = False
            raise Killed
        return answer

    httplib2.Http.request = request  # type: ignore[method-assign]
    RetryPolicy.sleep = lambda self, seconds: slept.append(seconds)  # type: ignore[method-assign]
    RetryPolicy.__init__ = short_timeout(real_init)  # type: ignore[method-assign]
    try:
        yield slept
    finally:
        httplib2.Http.request = real_request  # type: ignore[method-assign]
        RetryPolicy.sleep = real_sleep  # type: ignore[method-assign]
        RetryPolicy.__init__ = real_init  # type: ignore[method-assign]


def short_timeout(real_init: Any) -> Any:
    """RetryPolicy with the matrix's per-try timeout, so a timeout cell takes a second."""
    def init(self: Any, *args: Any, **kw: Any) -> None:
        real_init(self, *args, **kw)
        self.timeout = TIMEOUT
    return init


def fault(kind: int | str) -> int | str | tuple[str, float]:
    """What the fakes' hook answers for a kind: "timeout" is an answer later than TIMEOUT."""
    return ("late", LATE) if kind == "timeout" else kind


class World:
    """One fake Google account with the scenario calendar, a config and its own state."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["CALSYNC_HOME"] = str(folder / "home")
        self.fake = FakeGoogle().start()
        self.fake.seed_ics((SCENARIOS / "core.ics").read_text(), ["me@example.com"], tz="Europe/Berlin")
        self.token = folder / "token.json"
        self.fake.write_token(self.token, "me@example.com")
        self.config = folder / "config.toml"
        self.config.write_text(
            '[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n\n'
            f'[[calendars]]\nname = "g"\nprovider = "google"\ntoken_file = "{self.token}"\n'
            f'api_url = "{self.fake.base}"\n'
        )
        self.original = {eid: ev.get("description") or "" for eid, ev in self.fake.events.items()}

    def close(self) -> None:
        self.fake.stop()

    def hooks(self) -> Any:
        return client_hooks(self.fake)

    def run(self, now: str = SCENARIO_NOW) -> int:
        with self.hooks():
            try:
                r = cli("--config", self.config, "run", "--now", now)
            except Killed:
                return -9
        assert "Traceback" not in r.output, r.output
        if r.exit_code:
            errors = [ln for ln in r.stderr.splitlines() if ln.startswith("calsync:")]
            assert errors, r.output  # a failing run says why, in its own words
        return r.exit_code

    def human_edit(self) -> None:
        """Someone adds a note below the block of one written invite."""
        eid = sorted(e for e, ev in self.fake.events.items()
                     if agenda.BEGIN in (ev.get("description") or ""))[0]
        text = self.fake.events[eid]["description"] + NOTE
        self.fake.edit(eid, description=text)
        html = "<" in text and ">" in text
        back = agenda.unsplice(Body(text, html)) or agenda.unsplice(Body(text, not html))
        assert back is not None
        self.original[eid] = back.text

    def relogin(self) -> None:
        self.fake.write_token(self.token, "me@example.com")

    def mark(self) -> int:
        return len(self.fake.log)

    def writes_since(self, mark: int) -> bool:
        return any(e["method"] in ("PATCH", "PUT", "POST") and "/events" in e["path"]
                   for e in self.fake.log[mark:])

    def unguarded_writes(self) -> list[str]:
        return [e["path"] for e in self.fake.log
                if e["method"] in ("PATCH", "PUT") and "/events/" in e["path"]
                and not e["headers"].get("if-match")]

    def start_fresh_log(self) -> None:
        self.fake.log.clear()

    def state(self) -> dict[str, Any]:
        """Invites and docs, with generated doc ids replaced by the doc's name."""
        names = {fid: f.get("name", "") for fid, f in self.fake.files.items()}

        def norm(text: str) -> str:
            return re.sub(r"/d/([\w-]+)", lambda m: "/d/" + names.get(m.group(1), m.group(1)), text)

        events = {eid: norm(ev.get("description") or "") for eid, ev in self.fake.events.items()}
        docs = sorted((names.get(fid, fid), tuple(p[0] for p in d.paragraphs))
                      for fid, d in self.fake.docs.items())
        return {"events": events, "docs": docs}

    def bodies(self) -> dict[str, str]:
        return {eid: ev.get("description") or "" for eid, ev in self.fake.events.items()}

    def original_of(self, eid: str) -> str:
        return self.original.get(eid, "")

    def check(self, baseline: dict[str, Any]) -> list[str]:
        problems = []
        for eid, text in self.bodies().items():
            html = "<" in text and ">" in text
            blocks = max(len(agenda.find_blocks(text, False)), len(agenda.find_blocks(text, True)))
            if blocks > 1:
                problems.append(f"{eid}: {blocks} blocks")
            if blocks == 1:
                back = agenda.unsplice(Body(text, html)) or agenda.unsplice(Body(text, not html))
                assert back is not None
                want = self.original_of(eid)
                if back.text != want:
                    problems.append(f"{eid}: text outside the block changed: {back.text!r} != {want!r}")
            elif text != self.original_of(eid):
                problems.append(f"{eid}: changed without a block")
        problems += [f"write without If-Match: {path}" for path in self.unguarded_writes()]
        state = self.state()
        if state != baseline:
            diff = [k for k in baseline["events"] if baseline["events"][k] != state["events"].get(k)]
            problems.append(f"end state differs (events {diff[:3]}; docs {len(state['docs'])} vs "
                            f"{len(baseline['docs'])})")
        return problems


Make = Callable[[Path], Any]  # a folder -> a world (Google's World, Microsoft's MsWorld)


def baseline(folder: Path, make: Make = World) -> tuple[list[dict[str, Any]], list[int]]:
    """End state after each phase of a fault-free pair of runs, and their request counts."""
    w = make(folder)
    try:
        assert w.run() == 0
        n1, want1 = w.mark(), w.state()
        w.human_edit()
        w.start_fresh_log()
        assert w.run(LATER) == 0
        return [want1, w.state()], [n1, w.mark()]
    finally:
        w.close()


def cell(folder: Path, want: dict[str, Any], phase: int, index: int, kind: int | str,
         make: Make = World) -> list[str]:
    w = make(folder)
    try:
        def hit(i: int, method: str, path: str) -> int | str | tuple[str, float] | None:
            return fault(kind) if i == index else None

        if phase == 2:
            assert w.run() == 0
            w.human_edit()
            w.start_fresh_log()
        w.fake.fault_at = hit
        now = LATER if phase == 2 else SCENARIO_NOW
        code = w.run(now)
        w.fake.fault_at = None
        problems = []
        if code not in EXIT_OK | {-9}:
            problems.append(f"exit {code} under the fault")
        if kind == "revoke" and code == 3:
            w.relogin()
        again = w.run(now)
        if again != 0:
            problems.append(f"exit {again} on the run after the fault")
        third = w.mark()
        w.run(now)  # converged means quiet: a further run writes nothing
        if w.writes_since(third):
            problems.append("a further run still writes")
        problems += w.check(want)
        return [f"phase {phase} request {index} {kind}: {p}" for p in problems]
    finally:
        w.close()


def matrix(folder: Path, kinds: tuple[int | str, ...] = KINDS, stride: int = 1,
           make: Make = World) -> Outcome:
    wants, counts = baseline(folder / "baseline", make)
    out = Outcome(failures=[])
    assert out.failures is not None
    for phase, n in ((1, counts[0]), (2, counts[1])):
        for index in range(0, n, stride):
            for kind in kinds:
                out.tried += 1
                problems = cell(folder / f"p{phase}-{index}-{kind}", wants[phase - 1], phase,
                                index, kind, make)
                out.converged += not problems
                out.failures += problems
    return out
