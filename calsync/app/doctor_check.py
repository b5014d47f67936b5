"""One line of ``calsync doctor``: a named check, whether it passed, and the fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    code: int = 4  # the exit code when this check fails

    def line(self) -> str:
        mark = "✓" if self.ok else "✗"
        fix = f" — fix: {self.fix}" if self.fix and not self.ok else ""
        return f"{mark} {self.name}: {self.detail}{fix}"


Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)
