"""A real Radicale CalDAV server for the tests, and a counting proxy in front of it.

Radicale runs as a child process on a free loopback port with a temp storage folder and
htpasswd logins (sha512-crypt, which Radicale reads through its own dependency libpass:
no extra package). The proxy forwards every request unchanged and records it, so tests
count what calsync asked; it can answer 403 to ``sync-collection`` (a server without
RFC 6578) and run a hook before a PUT reaches the server (someone saving meanwhile).
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

USER, PASSWORD = "me", "s3cret-app-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Radicale:
    def __init__(self, folder: Path) -> None:
        from passlib.hash import sha512_crypt  # libpass, a dependency of Radicale

        folder.mkdir(parents=True, exist_ok=True)
        users = folder / "users"
        # few rounds: the default 656,000 cost a second per request under a loaded test machine
        users.write_text(f"{USER}:{sha512_crypt.using(rounds=1000).hash(PASSWORD)}\n")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / "radicale.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", "",
             "--server-hosts", f"127.0.0.1:{self.port}",
             "--storage-filesystem-folder", str(folder / "collections"),
             "--auth-type", "htpasswd", "--auth-htpasswd-filename", str(users),
             "--auth-htpasswd-encryption", "sha512", "--auth-delay", "0",
             "--rights-type", "owner_only", "--logging-level", "warning"],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        self.http = httpx.Client(auth=(USER, PASSWORD), timeout=10)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.http.request("PROPFIND", f"{self.base}/", headers={"Depth": "0"})
                break
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Radicale did not start: {self.log.read_text()}") from None
                time.sleep(0.1)

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(10)

    def calendar(self, name: str | None = None, display: str | None = None) -> str:
        """A new calendar collection of the user; its URL (ending in /)."""
        name = name or f"cal-{uuid.uuid4().hex[:8]}"
        url = f"{self.base}/{USER}/{name}/"
        body = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
                f"<D:displayname>{display or name}</D:displayname></D:prop></D:set></C:mkcalendar>")
        resp = self.http.request("MKCALENDAR", url, content=body)
        assert resp.status_code == 201, resp.text
        return url

    def upload(self, collection: str, ics: str) -> dict[str, str]:
        """Each UID of ``ics`` as its own resource (as CalDAV stores them): UID → URL."""
        out = {}
        for uid, text in split_by_uid(ics).items():
            url = collection + re.sub(r"[^A-Za-z0-9._-]", "_", uid) + ".ics"
            self.put(url, text)
            out[uid] = url
        return out

    def put(self, url: str, text: str, etag: str | None = None) -> httpx.Response:
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if etag:
            headers["If-Match"] = etag
        resp = self.http.put(url, content=text.encode(), headers=headers)
        assert resp.status_code in (201, 204), resp.text
        return resp

    def get(self, url: str) -> httpx.Response:
        return self.http.get(url)


def split_by_uid(ics: str) -> dict[str, str]:
    """One VCALENDAR per UID, each with the file's header and time zones."""
    newline = "\r\n" if "\r\n" in ics else "\n"
    events = re.findall(r"^BEGIN:VEVENT\r?\n.*?^END:VEVENT\r?\n", ics, re.M | re.S)
    zones = re.findall(r"^BEGIN:VTIMEZONE\r?\n.*?^END:VTIMEZONE\r?\n", ics, re.M | re.S)
    head = ics.split("BEGIN:VEVENT", 1)[0]
    for zone in zones:
        head = head.replace(zone, "")
    by_uid: dict[str, list[str]] = {}
    for event in events:
        m = re.search(r"^UID:(.*?)\r?$", event, re.M)
        assert m, "the scenario events all have a UID"
        by_uid.setdefault(m.group(1).strip(), []).append(event)
    return {uid: head + "".join(zones) + "".join(evs) + f"END:VCALENDAR{newline}"
            for uid, evs in by_uid.items()}


@dataclass
class Seen:
    method: str
    path: str
    report: str  # the REPORT's root element (sync-collection, calendar-query, ...) or ""


@dataclass
class Proxy:
    """Forwards to ``target``; records requests; optional refusals and hooks."""

    target: str
    seen: list[Seen] = field(default_factory=list)
    refuse_sync: bool = False
    no_etag: set[str] = field(default_factory=set)  # paths answered without an ETag header
    before_put: Callable[[str], None] | None = None
    port: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def writes(self) -> list[Seen]:
        return [s for s in self.seen if s.method in ("PUT", "DELETE", "PROPPATCH", "MOVE")]

    def reports(self, kind: str) -> list[Seen]:
        return [s for s in self.seen if s.report == kind]

    def start(self) -> Proxy:
        proxy = self
        host, port = re.match(r"http://([^:/]+):(\d+)", self.target).groups()  # type: ignore[union-attr]

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                root = re.search(rb"<(?:[A-Za-z]+:)?([a-z-]+)[\s>]", body.split(b"?>", 1)[-1])
                report = root.group(1).decode() if self.command == "REPORT" and root else ""
                proxy.seen.append(Seen(self.command, self.path, report))
                if proxy.refuse_sync and report == "sync-collection":
                    self._answer(403, b'<?xml version="1.0"?><D:error xmlns:D="DAV:">'
                                      b"<D:supported-report/></D:error>", "application/xml")
                    return
                if self.command == "PUT" and proxy.before_put is not None:
                    hook, proxy.before_put = proxy.before_put, None
                    hook(self.path)
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                dropped = {"transfer-encoding", "connection", "content-length"}
                if self.path in proxy.no_etag:
                    dropped.add("etag")
                for k, v in resp.getheaders():
                    if k.lower() not in dropped:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def _answer(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_DELETE = do_REPORT = do_PROPFIND = do_OPTIONS = _any
            do_MKCALENDAR = do_PROPPATCH = do_HEAD = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@contextlib.contextmanager
def running(folder: Path) -> Iterator[Radicale]:
    server = Radicale(folder)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def radicale_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    """One Radicale for the session (the contract suite: a new collection per test)."""
    with running(tmp_path_factory.mktemp("radicale")) as server:
        yield server
