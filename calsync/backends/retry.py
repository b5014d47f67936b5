"""One retry policy for every HTTP provider: capped exponential backoff with jitter.

Callers decide *what* is safe to retry (reads, and writes guarded by If-Match); this
module decides *how long* to wait. ``Retry-After`` from the server wins over the
computed backoff, and ``budget`` caps the total sleep of one request, so a cron run
under a throttling storm gives up cleanly instead of hanging. A server that does not
answer at all (refused, reset, silent) gets ``timeout`` seconds per try, at most
``net_tries`` tries and ``deadline`` seconds in all, and the error says which host, what
happened and how long was tried (:func:`unreachable`).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime


class RetryPolicy:
    """How often and how long a provider retries one request (see the module docstring)."""

    def __init__(
        self,
        *,
        tries: int = 6,
        base: float = 1.0,
        cap: float = 60.0,
        budget: float = 120.0,
        sleep: Callable[[float], None] | None = None,
        rand: Callable[[], float] | None = None,
        timeout: float = 20.0,
        net_tries: int = 3,
        deadline: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tries, self.base, self.cap, self.budget = tries, base, cap, budget
        self._sleep = sleep
        self._rand = rand or random.random
        self.timeout = timeout  # seconds to connect, and between bytes of an answer
        self.net_tries = net_tries  # tries when no answer came at all
        self.deadline = deadline  # wall seconds one request may take, retries included
        self.clock = clock

    def another_network_try(self, tries: int, started: float, wait: float) -> bool:
        """Whether a request that got no answer ``tries`` times may go once more, after
        ``wait`` seconds, and still end (one more ``timeout``) within ``deadline``."""
        if tries >= min(self.tries, self.net_tries):
            return False
        return self.clock() - started + wait + self.timeout <= self.deadline

    def sleep(self, seconds: float) -> None:
        """Wait, with the injected sleep when a test gave one."""
        (self._sleep or time.sleep)(seconds)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failure number ``attempt`` (0-based)."""
        if retry_after is not None:
            return retry_after
        step = min(self.cap, self.base * (2.0**attempt))
        return step * (0.5 + self._rand() / 2)  # jitter: 50–100 % of the step


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def why_unreachable(exc: BaseException) -> str:
    """What a transport failure means, in words (``ConnectError`` says nothing)."""
    import socket

    text = f"{type(exc).__name__} {exc}".lower()
    if isinstance(exc, ConnectionRefusedError) or "refused" in text:
        return "connection refused"
    if "timed out" in text or "timeout" in text or isinstance(exc, socket.timeout):
        return "no answer in time"
    if "reset" in text or "broken pipe" in text:
        return "connection reset"
    if "disconnected" in text or "without" in text or "closed" in text or "eof" in text:
        return "connection closed without an answer"
    if "name or service" in text or "nodename" in text or "getaddrinfo" in text or (
            "servernotfound" in text):
        return "host not found"
    return type(exc).__name__


def unreachable(host: str, exc: BaseException, tries: int, started: float,
                clock: Callable[[], float] = time.monotonic) -> str:
    """``cannot reach graph.example:443 (connection reset) after 3 tries in 9 s``."""
    spent = clock() - started
    times = "1 try" if tries == 1 else f"{tries} tries"
    return f"cannot reach {host} ({why_unreachable(exc)}) after {times} in {spent:.0f} s"


def host_of(url: str, default: str) -> str:
    """``host:port`` of a URL, for messages."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url or default)
    port = parts.port or (80 if parts.scheme == "http" else 443)
    return f"{parts.hostname or parts.netloc}:{port}"
