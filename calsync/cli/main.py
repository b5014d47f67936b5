"""The ``calsync`` command: a thin layer over the engine.

The commands live beside this module by concern (:mod:`calsync.cli.report`,
:mod:`calsync.cli.setup`); ``run``, ``doctor`` and ``schedule`` are here. Heavy modules
are imported inside the commands, so ``calsync --help`` and a cron run on local files
never pay for the Google or Microsoft client libraries.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from calsync.cli import common
from calsync.cli import report as reading
from calsync.cli import setup as setting_up


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


@main.command()
@click.option("--dry-run", is_flag=True, help="Show what would be written, as a diff; write nothing.")
@common.NOW
@common.FORMAT
@click.option("--quiet", is_flag=True, help="Print warnings and errors only.")
@click.pass_context
@common.friendly
def run(ctx: click.Context, dry_run: bool, now_text: str | None, fmt: str, quiet: bool) -> None:
    """Write the agenda into the next 1on1 invite of every relationship (for cron)."""
    from calsync.app import report
    from calsync.app.progress import for_output
    from calsync.app.run import run as run_once

    config = common.load(ctx)
    now = common.now(now_text, config)
    bar = for_output(fmt, quiet, sys.stderr)
    result = run_once(config, now, common.store(config), dry_run=dry_run, progress=bar) \
        if config.calendars else None
    orgs = _organisations(config, now, dry_run, bar) if config.organizations else None
    merged = orgs.merged() if orgs else None
    if result is None:
        assert merged is not None
        result = merged
    elif merged is not None:
        result.merge(merged)
    if fmt == "json":
        click.echo(report.run_json(result, orgs))
    else:
        out, err = report.run_text(result, quiet)
        if orgs and not quiet:
            from calsync.app.fleet_report import org_line

            out = "\n".join([out, *(org_line(o, dry_run) for o in orgs.orgs)]).strip("\n")
        if out:
            click.echo(out)
        if err:
            click.echo(err, err=True)
    code = result.exit_code()
    if code:
        sys.exit(code)


def _organisations(config: Any, now: Any, dry_run: bool, bar: Any) -> Any:
    """Every ``[[organizations]]`` owner's run (:mod:`calsync.app.fleet`)."""
    from calsync.app import fleet
    from calsync.app.stores import open_owner_stores

    stores = open_owner_stores(config)
    try:
        return fleet.run_all(config, now, stores, dry_run=dry_run, progress=bar)
    finally:
        stores.close()


@main.command()
@common.FORMAT
@click.pass_context
@common.friendly
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
@common.friendly
def schedule_install(ctx: click.Context, every: str) -> None:
    """Install (or update) the timer, with this invocation's config and home."""
    from calsync.app import schedule as sched
    from calsync.config import default_config_path

    job = sched.job_for(ctx.obj or default_config_path(), sched.parse_every(every))
    click.echo(sched.install(job))


@schedule.command("remove")
@common.friendly
def schedule_remove() -> None:
    """Remove the timer or crontab line that `schedule install` added."""
    from calsync.app import schedule as sched

    click.echo(sched.remove())


@schedule.command("show")
@common.friendly
def schedule_show() -> None:
    """Say what is installed; exit 1 when nothing is."""
    from calsync.app import schedule as sched

    current = sched.state()
    for line in sched.describe(current):
        click.echo(line)
    if not current.installed:
        sys.exit(1)


for command in (reading.status, reading.detect, reading.report_cmd, setting_up.setup,
                setting_up.init_command):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
