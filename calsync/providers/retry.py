"""One retry policy for every HTTP provider: capped exponential backoff with jitter.

Callers decide *what* is safe to retry (reads, and writes guarded by If-Match); this
module decides *how long* to wait. ``Retry-After`` from the server wins over the
computed backoff, and ``budget`` caps the total sleep of one request, so a cron run
under a throttling storm gives up cleanly instead of hanging.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime


class RetryPolicy:
    def __init__(
        self,
        *,
        tries: int = 6,
        base: float = 1.0,
        cap: float = 60.0,
        budget: float = 120.0,
        sleep: Callable[[float], None] | None = None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self.tries, self.base, self.cap, self.budget = tries, base, cap, budget
        self._sleep = sleep
        self._rand = rand or random.random

    def sleep(self, seconds: float) -> None:
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
