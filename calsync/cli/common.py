"""What every ``calsync`` command shares: one-line errors, ``--now``, the state store.

Heavy modules are imported inside the functions, so ``calsync --help`` and a cron run
on local files never pay for the Google or Microsoft client libraries.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from calsync.config import Config

F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Turn calsync's own errors into one line on stderr and their exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from calsync.errors import CalsyncError

        try:
            return fn(*args, **kwargs)
        except CalsyncError as exc:
            click.echo(f"calsync: {exc}", err=True)
            sys.exit(exc.exit_code)
        except ModuleNotFoundError as exc:
            from calsync.app.install import missing_library

            error = missing_library(exc)
            if error is None:
                raise
            click.echo(f"calsync: {error}", err=True)
            sys.exit(error.exit_code)

    return wrapper  # type: ignore[return-value]


def now(value: str | None, config: Config) -> datetime:
    """``--now`` as an aware instant (a naive one in the owner's zone); the real time without it."""
    if value is None:
        return datetime.now().astimezone()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 date-time: {value!r}", param_hint="--now") from None
    if not 1900 <= parsed.year <= 2999:
        raise click.BadParameter(f"{value!r} is out of range (years 1900–2999)", param_hint="--now")
    if parsed.tzinfo is None:
        if config.owner.timezone:
            from zoneinfo import ZoneInfo

            return parsed.replace(tzinfo=ZoneInfo(config.owner.timezone))
        return parsed.astimezone()
    return parsed


def store(config: Config) -> Any:
    """The state store the config names: SQLite by default, PostgreSQL with ``state_url``."""
    from calsync.app.stores import open_store

    return open_store(config)


def load(ctx: click.Context) -> Config:
    """The config named by the top-level ``--config`` (else ``$CALSYNC_CONFIG`` or the default path)."""
    from calsync.config import load as load_config

    return load_config(ctx.obj)


NOW = click.option("--now", "now_text", metavar="ISO8601", help="Fix the current instant.")
FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def finish(report_: Any) -> None:
    """Print a report's warnings and failures to stderr and exit with its code when it failed."""
    for problem in report_.problems:
        click.echo(f"warning: {problem}", err=True)
    for failure in report_.failures:
        click.echo(f"calsync: {failure}", err=True)
    code = report_.exit_code()
    if code:
        sys.exit(code)
