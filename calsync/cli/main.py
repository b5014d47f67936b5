"""The ``calsync`` command: a thin layer over the engine.

Heavy modules are imported inside the commands, so ``calsync --help`` and a cron
run on local files never pay for the Google or Microsoft client libraries.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from calsync.config import Config

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(fn: F) -> F:
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


def _now(value: str | None, config: Config) -> datetime:
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


def _store(config: Config) -> Any:
    from calsync.app.stores import open_store

    return open_store(config)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $CALSYNC_CONFIG, then the user config dir).",
)
@click.version_option(package_name="calsync")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Keep 1on1 invites stocked with an agenda; warn when their cadence drifts."""
    ctx.obj = config_path


def _load(ctx: click.Context) -> Config:
    from calsync.config import load

    return load(ctx.obj)


_NOW = click.option("--now", "now_text", metavar="ISO8601", help="Fix the current instant.")
_FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


@main.command()
@_NOW
@_FORMAT
@click.pass_context
@_friendly
def status(ctx: click.Context, now_text: str | None, fmt: str) -> None:
    """Every 1on1 relationship, how often and how long it really meets, and drift warnings."""
    from calsync.app import engine, report

    config = _load(ctx)
    report_ = engine.status(config, _now(now_text, config), _store(config))
    text = report.status_json(report_) if fmt == "json" else report.status_text(report_)
    if text:
        click.echo(text)
    _finish(report_)


@main.command()
@click.option("--explain", is_flag=True, help="Say why each candidate was taken or skipped.")
@_NOW
@click.pass_context
@_friendly
def detect(ctx: click.Context, explain: bool, now_text: str | None) -> None:
    """List the detected 1on1 relationships (with --explain: every candidate and why)."""
    from calsync.app import engine, report

    config = _load(ctx)
    report_ = engine.status(config, _now(now_text, config), _store(config))
    if explain:
        click.echo(report.explain_text(report_))
    else:
        for item in report_.statuses:
            rel = item.relationship
            click.echo(f"{rel.counterpart}\t{rel.calendar}\t{'; '.join(rel.titles)}")
    _finish(report_)


@main.command("report")
@_NOW
@click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              default="calsync-report.html", show_default=True, help="Where to write the page.")
@click.option("--open", "open_it", is_flag=True, help="Open the page in the web browser.")
@click.pass_context
@_friendly
def report_cmd(ctx: click.Context, now_text: str | None, output: Path, open_it: bool) -> None:
    """Write every 1on1's rhythm as one self-contained HTML page with charts."""
    from calsync.app import engine, html_report

    config = _load(ctx)
    report_ = engine.status(config, _now(now_text, config), _store(config))
    path = html_report.write(output, html_report.render(report_, config))
    click.echo(str(path))
    if open_it:
        import webbrowser

        webbrowser.open(path.as_uri())
    _finish(report_)


@main.command()
@click.option("--dry-run", is_flag=True, help="Show what would be written, as a diff; write nothing.")
@_NOW
@_FORMAT
@click.option("--quiet", is_flag=True, help="Print warnings and errors only.")
@click.pass_context
@_friendly
def run(ctx: click.Context, dry_run: bool, now_text: str | None, fmt: str, quiet: bool) -> None:
    """Write the agenda into the next 1on1 invite of every relationship (for cron)."""
    from calsync.app import report
    from calsync.app.progress import for_output
    from calsync.app.run import run as run_once

    config = _load(ctx)
    now = _now(now_text, config)
    bar = for_output(fmt, quiet, sys.stderr)
    result = run_once(config, now, _store(config), dry_run=dry_run, progress=bar)
    if fmt == "json":
        click.echo(report.run_json(result))
    else:
        out, err = report.run_text(result, quiet)
        if out:
            click.echo(out)
        if err:
            click.echo(err, err=True)
    code = result.exit_code()
    if code:
        sys.exit(code)


def _finish(report_: Any) -> None:
    for problem in report_.problems:
        click.echo(f"warning: {problem}", err=True)
    for failure in report_.failures:
        click.echo(f"calsync: {failure}", err=True)
    code = report_.exit_code()
    if code:
        sys.exit(code)


@main.group()
def setup() -> None:
    """Grant calsync access to a calendar (once)."""


@setup.command("google")
@click.option("--client-secrets", type=click.Path(dir_okay=False, path_type=Path),
              help="The OAuth client JSON downloaded from Google Cloud Console.")
@click.option("--no-browser", is_flag=True, help="Print the URL instead of opening a browser.")
@click.option("--port", type=int, default=0, show_default=True,
              help="Loopback port for the redirect (0: any free port).")
@click.option("--calendar-id", default="primary", show_default=True)
@click.option("--read-only", is_flag=True, help="Ask for read-only access; never write.")
@click.pass_context
@_friendly
def setup_google(
    ctx: click.Context,
    client_secrets: Path | None,
    no_browser: bool,
    port: int,
    calendar_id: str,
    read_only: bool,
) -> None:
    """Log in to Google Calendar and add the calendar to the config."""
    from calsync.backends.google.setup import setup as run_setup
    from calsync.config import default_config_path

    path = ctx.obj or default_config_path()
    click.echo(run_setup(path, client_secrets, no_browser, port, calendar_id, read_only))


@setup.command("microsoft")
@click.option("--client-id", help="The application (client) id of your app registration.")
@click.option("--tenant", default="organizations", show_default=True)
@click.option("--browser", is_flag=True, help="Interactive browser login instead of a device code.")
@click.option("--read-only", is_flag=True, help="Ask for read-only access; never write.")
@click.pass_context
@_friendly
def setup_microsoft(
    ctx: click.Context, client_id: str | None, tenant: str, browser: bool, read_only: bool
) -> None:
    """Log in to Microsoft 365 and add the Outlook calendar to the config."""
    from calsync.backends.microsoft.setup import setup as run_setup
    from calsync.config import default_config_path

    path = ctx.obj or default_config_path()
    click.echo(run_setup(path, client_id, tenant, browser, read_only))


@setup.command("caldav")
@click.argument("url")
@click.option("--username", required=True, help="The login name on the CalDAV server.")
@click.option("--calendar", "calendar_name", help="The calendar's name, when URL is not the calendar.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Where the password is (mode 0600), or is to be kept.")
@click.option("--keyring", "use_keyring", is_flag=True, help="Keep the password in the OS keyring.")
@click.option("--owner", help="Your address (needed when the config does not exist yet).")
@click.option("--read-only", is_flag=True, help="Detect and warn; never write.")
@click.pass_context
@_friendly
def setup_caldav(ctx: click.Context, url: str, username: str, calendar_name: str | None,
                 password_file: Path | None, use_keyring: bool, owner: str | None,
                 read_only: bool) -> None:
    """Log in to a CalDAV server (Fastmail, iCloud, Nextcloud...), list its calendars and
    add one to the config."""
    from calsync.backends.caldav.setup import Request
    from calsync.backends.caldav.setup import setup as run_setup
    from calsync.config import default_config_path

    path = ctx.obj or default_config_path()
    stored = password_file is not None and password_file.exists() and not use_keyring
    password = None if stored else click.prompt("CalDAV password (an app password)",
                                                hide_input=True)
    req = Request(url, username, calendar_name, password_file, use_keyring, read_only, owner)
    click.echo(run_setup(path, req, password))


@main.command()
@_FORMAT
@click.pass_context
@_friendly
def doctor(ctx: click.Context, fmt: str) -> None:
    """Check config, calendars, logins, clock, state, lock and timer; one line each."""
    from calsync.app import doctor as doc
    from calsync.config import default_config_path

    checks = doc.diagnose(ctx.obj or default_config_path())
    click.echo(doc.as_json(checks) if fmt == "json" else doc.as_text(checks))
    code = doc.exit_code(checks)
    if code:
        sys.exit(code)


@main.group()
def schedule() -> None:
    """Run `calsync run --quiet` regularly (systemd user timer, else crontab)."""


@schedule.command("install")
@click.option("--every", default="15m", show_default=True, help="Interval: 15m, 30m, 1h, ...")
@click.pass_context
@_friendly
def schedule_install(ctx: click.Context, every: str) -> None:
    """Install (or update) the timer, with this invocation's config and home."""
    from calsync.app import schedule as sched
    from calsync.config import default_config_path

    job = sched.job_for(ctx.obj or default_config_path(), sched.parse_every(every))
    click.echo(sched.install(job))


@schedule.command("remove")
@_friendly
def schedule_remove() -> None:
    """Remove the timer or crontab line that `schedule install` added."""
    from calsync.app import schedule as sched

    click.echo(sched.remove())


@schedule.command("show")
@_friendly
def schedule_show() -> None:
    """Say what is installed; exit 1 when nothing is."""
    from calsync.app import schedule as sched

    current = sched.state()
    for line in sched.describe(current):
        click.echo(line)
    if not current.installed:
        sys.exit(1)


@main.command("init")
@click.option("--owner", "owners", multiple=True, metavar="ADDRESS",
              help="Your email address (repeat for several).")
@click.option("--timezone", help="Your IANA time zone (default: the system's).")
@click.option("--language", type=click.Choice(["en", "ja"]), help="Language of the agenda.")
@click.option("--ics", "ics_path", type=click.Path(path_type=Path),
              help="First calendar: an .ics file or a folder of them.")
@click.option("--google", "use_google", is_flag=True, help="First calendar: Google Calendar.")
@click.option("--microsoft", "use_microsoft", is_flag=True, help="First calendar: Microsoft 365.")
@click.option("--client-secrets", type=click.Path(dir_okay=False, path_type=Path),
              help="With --google: the Desktop app OAuth client JSON.")
@click.option("--client-id", help="With --microsoft: your app registration's client id.")
@click.option("--force", is_flag=True, help="Replace an existing config.")
@click.pass_context
@_friendly
def init_command(
    ctx: click.Context, owners: tuple[str, ...], timezone: str | None, language: str | None,
    ics_path: Path | None, use_google: bool, use_microsoft: bool, client_secrets: Path | None,
    client_id: str | None, force: bool,
) -> None:
    """Write a first, commented config (asks for what the flags leave open)."""
    import shlex
    from datetime import date

    from calsync.app import init
    from calsync.config import default_config_path
    from calsync.errors import ConfigError

    chosen = [n for n, on in (("ics", ics_path is not None), ("google", use_google),
                              ("microsoft", use_microsoft)) if on]
    if len(chosen) > 1:
        raise ConfigError("choose one first calendar: --ics PATH, --google or --microsoft")
    path = (ctx.obj or default_config_path()).expanduser()
    if path.exists() and not force:  # before asking anything
        init.write(path, "", force)
    owner_list = tuple(a for o in owners for a in init.split_addresses(o))
    given = init.Answers(owner_list, timezone, language or "", chosen[0] if chosen else "",
                         ics_path, client_secrets, client_id)
    if sys.stdin.isatty():
        given = init.ask(given, click.prompt)
    else:
        hint = init.missing(given)
        if hint:
            raise ConfigError(f"init: {hint} (no terminal to ask on)")
        given = init.Answers(given.owners, given.timezone or init.local_timezone(),
                             given.language or "en", given.provider, given.ics_path,
                             given.client_secrets, given.client_id)
    answers = init.absolute(given)
    text = init.render(answers, date.today())
    init.check(answers, path, text)
    init.write(path, text, force)
    flag = f" --config {shlex.quote(str(path))}" if ctx.obj else ""
    first, *then = init.next_steps(answers, flag)
    click.echo(f"wrote {path}")
    click.echo(f"next: {first}")
    click.echo("then: " + ", then ".join(then))


if __name__ == "__main__":  # pragma: no cover
    main()
