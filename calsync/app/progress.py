"""Progress for long runs: a bar on a terminal, nothing anywhere else.

A first run can create many docs and write many invites; a person at a terminal should
see it move. Cron, pipes, ``--quiet`` and ``--format json`` get no bar at all, and even a
terminal gets one only once the run has taken longer than a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TextIO, TypeVar

T = TypeVar("T")

SHOW_AFTER = 2.0  # seconds: quick runs stay as quiet as cron runs


class Progress(Protocol):
    """Wraps a step's items to show progress while they are iterated."""

    def __call__(self, items: Sequence[T], label: str) -> Iterator[T]: ...


def silent(items: Sequence[T], label: str) -> Iterator[T]:
    """No progress shown: cron, pipes, ``--quiet`` and JSON output."""
    yield from items


class TerminalProgress:
    """A click progress bar per step, shown once ``after`` seconds have passed since start."""

    def __init__(self, stream: TextIO, after: float = SHOW_AFTER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.after, self.clock = stream, after, clock
        self.started = clock()

    def __call__(self, items: Sequence[T], label: str) -> Iterator[T]:
        import click

        bar: Any = None
        try:
            for done, item in enumerate(items):
                if bar is None and len(items) > 1 and self.clock() - self.started >= self.after:
                    bar = click.progressbar(length=len(items), label=label, file=self.stream,
                                            show_pos=True)
                    bar.__enter__()
                    bar.update(done)
                yield item
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)


def for_output(fmt: str, quiet: bool, stream: TextIO) -> Progress:
    """The bar only for text output, not quiet, on a terminal."""
    isatty = getattr(stream, "isatty", None)
    if fmt == "text" and not quiet and callable(isatty) and isatty():
        return TerminalProgress(stream)
    return silent
