"""Drive headless Chromium over the DevTools pipe (stdlib only) to look at a report.

Chromium reads DevTools commands on fd 3 and writes replies and events on fd 4, each
message one JSON object followed by a NUL byte (``--remote-debugging-pipe``). That is
enough to set a viewport, load a file, run a measuring script and take a screenshot;
the page itself needs no JavaScript.

``python -m tests.browser REPORT.html OUT.png [WIDTH]`` writes a full-page screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
TIMEOUT = 30.0


def chromium_path() -> str:
    """The browser binary; a clear failure (never a skip) when it is not installed."""
    found = os.environ.get("CALSYNC_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser"
    )
    if not found:
        raise AssertionError(
            "chromium not found: install it (`apt-get install -y chromium`; .ci/run does) "
            "or point CALSYNC_CHROMIUM at the binary"
        )
    return found


class DevTools:
    """One browser, one page session, synchronous request/reply."""

    def __init__(self, proc: subprocess.Popen[bytes], to_browser: int, from_browser: int) -> None:
        self.proc = proc
        self._out = to_browser
        self._in = from_browser
        self._buf = b""
        self._next_id = 0
        self.session: str | None = None
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._in], [], [], max(left, 0))
            if not ready:
                raise AssertionError("chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise AssertionError(f"chromium exited (code {self.proc.poll()})")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            msg["sessionId"] = self.session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = self._read_message(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")


def _to_fd(fd: int, target: int) -> None:
    if fd != target:
        os.dup2(fd, target)
        os.set_inheritable(target, True)


@contextmanager
def browser() -> Iterator[DevTools]:
    """A headless Chromium with a page session attached."""
    binary = chromium_path()
    cmd_r, cmd_w = os.pipe()  # we write commands, chromium reads fd 3
    ev_r, ev_w = os.pipe()  # chromium writes fd 4, we read
    # Move the child's ends out of the way of 3/4 before placing them there.
    child_in, child_out = os.dup(cmd_r), os.dup(ev_w)
    for fd in (cmd_r, ev_w):
        os.close(fd)
    # the lowest free fds above 4 (a fixed number could be an fd already open: after many
    # tests a process holds over a hundred, and dup2 would silently close one of them)
    hi_in, hi_out = fcntl.fcntl(child_in, fcntl.F_DUPFD, 5), fcntl.fcntl(child_out, fcntl.F_DUPFD, 5)
    os.close(child_in)
    os.close(child_out)

    def place() -> None:
        _to_fd(hi_in, 3)
        _to_fd(hi_out, 4)

    with tempfile.TemporaryDirectory(prefix="calsync-chromium-") as profile:
        proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=place,
            pass_fds=(3, 4),  # kept open after `place` runs; close_fds closes the rest
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(hi_in)
        os.close(hi_out)
        tools = DevTools(proc, cmd_w, ev_r)
        try:
            targets = tools.call("Target.getTargets")["targetInfos"]
            page = next(t for t in targets if t["type"] == "page")
            tools.session = tools.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)[
                "sessionId"
            ]
            tools.call("Page.enable")
            yield tools
        finally:
            with suppress(AssertionError, OSError):
                tools.call("Browser.close")
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(cmd_w)
            os.close(ev_r)


@dataclass
class Look:
    """What the browser saw of a page at one width."""

    width: int
    inner_width: int
    overflowing: list[str]  # elements whose box leaves the viewport
    png: bytes  # full-page screenshot


# Every element's box must stay inside the requested width (a phone widens its layout
# viewport to fit wide content, so innerWidth alone would hide an overflow); the page
# must not scroll sideways either. Reports "tag.class" of the offenders.
_OVERFLOW_JS = """
((w) => {
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > w + 0.5 || r.left < -0.5) {
      out.push(el.tagName.toLowerCase() + (el.className && el.className.baseVal === undefined
        ? '.' + el.className : '') + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
    }
  }
  if (document.documentElement.scrollWidth > w) out.push('document scrollWidth ' +
    document.documentElement.scrollWidth);
  return out;
})(%d)
"""


def look(page: Path, width: int, height: int = 900, media: str = "screen") -> Look:
    """Load ``page`` at ``width`` CSS px (a phone below 600 px), measure, screenshot it whole.

    ``media="print"`` shows it as the print style sheet lays it out.
    """
    with browser() as tools:
        mobile = width < 600
        tools.call("Emulation.setEmulatedMedia", media=media)
        tools.call(
            "Emulation.setDeviceMetricsOverride",
            width=width, height=height, deviceScaleFactor=1, mobile=mobile,
        )
        tools.call("Page.navigate", url=page.resolve().as_uri())
        tools.wait_event("Page.loadEventFired")
        inner = int(tools.evaluate("window.innerWidth"))
        overflowing = list(tools.evaluate(_OVERFLOW_JS % width))
        full = int(tools.evaluate("document.documentElement.scrollHeight"))
        tools.call(
            "Emulation.setDeviceMetricsOverride",
            width=width, height=max(full, height), deviceScaleFactor=1, mobile=mobile,
        )
        shot = tools.call("Page.captureScreenshot", format="png")
    return Look(width, inner, overflowing, base64.b64decode(shot["data"]))


def ink(png: bytes) -> tuple[int, int, float, int]:
    """(width, height, share of pixels unlike the background, distinct colours) of a PNG."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        rgb = img.convert("RGB")
        width, height = rgb.size
        colours = rgb.getcolors(maxcolors=1 << 20) or []
    background = max(colours)[1] if colours else (0, 0, 0)
    drawn = sum(count for count, colour in colours if colour != background)
    return width, height, drawn / (width * height), len(colours)


def main(argv: list[str]) -> None:
    page, out = Path(argv[0]), Path(argv[1])
    width = int(argv[2]) if len(argv) > 2 else 1280
    seen = look(page, width, media=argv[3] if len(argv) > 3 else "screen")
    out.write_bytes(seen.png)
    print(f"{out}: {width}px, overflowing: {seen.overflowing or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1:])
