"""The commands that set calsync up: ``setup google|microsoft|caldav`` and ``init``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from calsync.cli import common


@click.group()
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
@click.option("--service-account", type=click.Path(dir_okay=False, path_type=Path),
              help="Organisations: the service account's JSON key (mode 0600); checks its "
                   "domain-wide delegation instead of logging in.")
@click.option("--admin", metavar="ADDRESS", help="With --service-account: a Workspace admin.")
@click.option("--check-user", metavar="ADDRESS",
              help="With --service-account: the user to check calendar access as (default: the admin).")
@click.option("--name", "org_name", default="workspace", show_default=True,
              help="With --service-account: the organisation's name in the config.")
@click.pass_context
@common.friendly
def setup_google(
    ctx: click.Context,
    client_secrets: Path | None,
    no_browser: bool,
    port: int,
    calendar_id: str,
    read_only: bool,
    service_account: Path | None,
    admin: str | None,
    check_user: str | None,
    org_name: str,
) -> None:
    """Log in to Google Calendar and add the calendar to the config (with
    --service-account: check a Workspace service account's domain-wide delegation)."""
    from calsync.backends.google.setup import setup as run_setup
    from calsync.config import default_config_path

    path = ctx.obj or default_config_path()
    if service_account is not None:
        from calsync.backends.google.setup import setup_service_account
        from calsync.errors import ConfigError

        if not admin:
            raise ConfigError("--service-account needs --admin ADDRESS (a Workspace admin)")
        click.echo(setup_service_account(path, service_account, admin, check_user, read_only,
                                         org_name))
        return
    click.echo(run_setup(path, client_secrets, no_browser, port, calendar_id, read_only))


@setup.command("microsoft")
@click.option("--client-id", help="The application (client) id of your app registration.")
@click.option("--tenant", default="organizations", show_default=True)
@click.option("--browser", is_flag=True, help="Interactive browser login instead of a device code.")
@click.option("--read-only", is_flag=True, help="Ask for read-only access; never write.")
@click.pass_context
@common.friendly
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
@common.friendly
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


@click.command("init")
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
@common.friendly
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
