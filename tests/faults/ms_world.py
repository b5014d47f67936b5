"""Microsoft's world for the fault matrix: the scenario calendar in the Graph fake.

Same cells as Google's (see tests/faults/matrix.py). The login is msal's device-code flow
against the fake; "killed" is the client's transport (httpx for Graph, requests for
msal) raising :class:`~tests.faults.matrix.Killed` right after the answer came.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from calsync.core import agenda
from calsync.core.model import Body
from tests.conftest import SCENARIOS
from tests.fakes.microsoft import FakeMicrosoft, make_tls
from tests.faults.matrix import NOTE, Killed, World, short_timeout

_TRUST = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


@cache
def _tls(folder: str) -> tuple[Any, str]:
    """One CA per process (trustme is slow); its certificate where the clients look."""
    ca, ctx = make_tls()
    path = Path(folder) / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ctx, str(path)


@contextmanager
def ms_hooks(fake: FakeMicrosoft) -> Iterator[None]:
    """No real sleeping between retries; a kill right after the marked request."""
    import httpx
    import requests

    from calsync.backends.retry import RetryPolicy

    real_send, real_rsend, real_sleep = httpx.Client.send, requests.Session.send, RetryPolicy.sleep
    real_init = RetryPolicy.__init__

    def killing(real: Any) -> Any:
        def send(self: Any, *args: Any, **kw: Any) -> Any:
            answer = real(self, *args, **kw)
            if fake.killed:
                fake.killed = False
                raise Killed
            return answer
        return send

    httpx.Client.send = killing(real_send)  # type: ignore[method-assign]
    requests.Session.send = killing(real_rsend)  # type: ignore[method-assign]
    RetryPolicy.sleep = lambda self, seconds: None  # type: ignore[method-assign]
    RetryPolicy.__init__ = short_timeout(real_init)  # type: ignore[method-assign]
    try:
        yield
    finally:
        httpx.Client.send = real_send  # type: ignore[method-assign]
        requests.Session.send = real_rsend  # type: ignore[method-assign]
        RetryPolicy.sleep = real_sleep  # type: ignore[method-assign]
        RetryPolicy.__init__ = real_init  # type: ignore[method-assign]


class MsWorld(World):
    """One fake Microsoft 365 mailbox with the scenario calendar, a config, its own state."""

    def __init__(self, folder: Path) -> None:  # noqa: D107 - World's, for Graph
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        ctx, ca = _tls(str(folder.parent))
        self._saved_env = {var: os.environ.get(var) for var in _TRUST + ("CALSYNC_HOME",)}
        for var in _TRUST:
            os.environ[var] = ca
        os.environ["CALSYNC_HOME"] = str(folder / "home")
        fake = FakeMicrosoft(user_email="me@example.com", user_name="Me Owner").start(ctx)
        self.fake: Any = fake
        fake.seed_ics((SCENARIOS / "core.ics").read_text(encoding="utf-8"),
                      default_tz="Europe/Berlin")
        self.config = folder / "config.toml"
        self.config.write_text(
            '[owner]\nemail = "me@example.com"\ntimezone = "Europe/Berlin"\n\n'
            f'[[calendars]]\nname = "outlook"\nprovider = "microsoft"\nclient_id = "cid"\n'
            f'authority_url = "{fake.base}"\ngraph_url = "{fake.graph_url}"\n',
            encoding="utf-8",
        )
        self.relogin()
        fake.log.clear()
        self.original = self.bodies()

    def close(self) -> None:
        """The fake stops; the trust settings go back (pip, for one, needs the real CAs)."""
        self.fake.stop()
        for var, value in self._saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value

    def hooks(self) -> Any:
        return ms_hooks(self.fake)

    def relogin(self) -> None:
        from calsync.backends.microsoft.setup import setup

        setup(self.config, None, "organizations", browser=False, read_only=False,
              echo=lambda s: None)

    def bodies(self) -> dict[str, str]:
        return {eid: str((ev.get("body") or {}).get("content") or "")
                for eid, ev in self.fake.events.items()}

    def original_of(self, eid: str) -> str:
        """An occurrence calsync wrote became an exception: it had its series' body."""
        if eid not in self.original and "-OCC" in eid:
            return self.original.get(eid.rsplit("-OCC", 1)[0], "")
        return self.original.get(eid, "")

    def human_edit(self) -> None:
        """Someone adds a note below the block of one written invite (in its HTML)."""
        eid = min((e for e, text in self.bodies().items() if agenda.BEGIN in text),
                  key=self._stable)
        text = self.bodies()[eid]
        note = f"<p>{NOTE.strip()}</p>"
        text = (text[: text.rindex("</body>")] + note + text[text.rindex("</body>"):]
                if "</body>" in text else text + note)
        self.fake.edit(eid, body=text)
        back = agenda.unsplice(Body(text, True))
        assert back is not None
        self.original[eid] = back.text

    def mark(self) -> int:
        return len(self.fake.log)

    def writes_since(self, mark: int) -> bool:
        return any(r.method in ("PATCH", "PUT", "POST") and "/events" in r.path
                   for r in self.fake.log[mark:])

    def unguarded_writes(self) -> list[str]:
        return [r.path for r in self.fake.log
                if r.method in ("PATCH", "PUT") and "/events/" in r.path
                and not r.headers.get("If-Match")]

    def _stable(self, eid: str) -> str:
        """Graph ids are random per fake; the .ics UID and the slot are not."""
        ev = self.fake.events[eid]
        return f"{ev['iCalUId']} {ev.get('type')} {ev.get('_start')}"

    def state(self) -> dict[str, Any]:
        """Invites and docs, with generated ids replaced by stable names."""
        names = {iid: item.get("name", "") for iid, item in self.fake.drive.items()}

        def norm(text: str) -> str:
            return re.sub(r"/g/([\w-]+)", lambda m: "/g/" + names.get(m.group(1), m.group(1)),
                          text)

        events = {self._stable(eid): norm(text) for eid, text in self.bodies().items()}
        docs = sorted((names[iid], self.fake.docx_text(iid)) for iid in self.fake.drive)
        return {"events": events, "docs": docs}
