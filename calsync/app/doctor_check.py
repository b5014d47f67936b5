"""One line of ``calsync doctor``: a named check, whether it passed, and the fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Check:
    """One named check: passed or not, what was found, and the fix when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    code: int = 4  # the exit code when this check fails

    def line(self) -> str:
        """The check as one printed line, with the fix only when it failed."""
        mark = "✓" if self.ok else "✗"
        fix = f" — fix: {self.fix}" if self.fix and not self.ok else ""
        return f"{mark} {self.name}: {self.detail}{fix}"


Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(UTC)
