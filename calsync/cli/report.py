"""The reading commands: ``status``, ``detect`` and ``report`` (nothing is written but
the HTML page and the providers' sync state)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from calsync.cli import common

OWNER = click.option("--owner", metavar="ADDRESS",
                     help="An organisation owner's own view (see [[organizations]]).")
ORG = click.option("--org", "org_name", metavar="NAME",
                   help="The organisation (when there are several).")


@click.command()
@common.NOW
@common.FORMAT
@OWNER
@ORG
@click.pass_context
@common.friendly
def status(ctx: click.Context, now_text: str | None, fmt: str, owner: str | None,
           org_name: str | None) -> None:
    """Every 1on1 relationship, how often and how long it really meets, and drift warnings.

    With [[organizations]]: each organisation's summary as its last run left it (counts
    per label and interval bucket per team), or one owner's status with --owner."""
    from calsync.app import engine, report

    config = common.load(ctx)
    now = common.now(now_text, config)
    if owner is None and config.organizations and (org_name or not config.calendars):
        _summaries(config, org_name, fmt)
        return
    with _view(config, owner, org_name) as (cfg, store, opener):
        report_ = engine.status(cfg, now, store, opener=opener)
    text = report.status_json(report_) if fmt == "json" else report.status_text(report_)
    if text:
        click.echo(text)
    common.finish(report_)


@contextlib.contextmanager
def _view(config: Any, owner: str | None, org_name: str | None) -> Iterator[Any]:
    """The personal config, state and opener; or, with ``--owner``, an organisation owner's."""
    if owner is None:
        from calsync.backends.registry import open_provider

        yield config, common.store(config), open_provider
        return
    from calsync.app import fleet
    from calsync.app.stores import open_owner_stores

    org = fleet.find_org(config, org_name)
    stores = open_owner_stores(config)
    try:
        with stores.session(dry_run=False), fleet.one_owner(config, org, owner, stores) as view:
            yield view
    finally:
        stores.close()


def _summaries(config: Any, org_name: str | None, fmt: str) -> None:
    import json

    from calsync.app import fleet
    from calsync.app.fleet_report import summary_text
    from calsync.app.stores import open_owner_stores

    orgs = [fleet.find_org(config, org_name)] if org_name else list(config.organizations)
    stores = open_owner_stores(config)
    try:
        found = {o.name: fleet.stored_summary(stores, o.name) for o in orgs}
    finally:
        stores.close()
    if fmt == "json":
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for name, summary in found.items():
        click.echo(summary_text(name, summary) if summary else
                   f"{name}: no organisation run yet (run `calsync run`)")


@click.command()
@click.option("--explain", is_flag=True, help="Say why each candidate was taken or skipped.")
@common.NOW
@click.pass_context
@common.friendly
def detect(ctx: click.Context, explain: bool, now_text: str | None) -> None:
    """List the detected 1on1 relationships (with --explain: every candidate and why)."""
    from calsync.app import engine, report

    config = common.load(ctx)
    report_ = engine.status(config, common.now(now_text, config), common.store(config),
                            everything=explain)
    if explain:
        click.echo(report.explain_text(report_))
    else:
        for item in report_.statuses:
            rel = item.relationship
            click.echo(f"{rel.counterpart}\t{rel.calendar}\t{'; '.join(rel.titles)}")
    common.finish(report_)


@click.command("report")
@common.NOW
@click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              default="calsync-report.html", show_default=True, help="Where to write the page.")
@click.option("--open", "open_it", is_flag=True, help="Open the page in the web browser.")
@OWNER
@ORG
@click.pass_context
@common.friendly
def report_cmd(ctx: click.Context, now_text: str | None, output: Path, open_it: bool,
               owner: str | None, org_name: str | None) -> None:
    """Write every 1on1's rhythm as one self-contained HTML page with charts (an
    organisation owner's with --owner)."""
    from calsync.app import engine, html_report

    config = common.load(ctx)
    now = common.now(now_text, config)
    with _view(config, owner, org_name) as (cfg, store, opener):
        report_ = engine.status(cfg, now, store, opener=opener)
    path = html_report.write(output, html_report.render(report_, cfg))
    click.echo(str(path))
    if open_it:
        import webbrowser

        webbrowser.open(path.as_uri())
    common.finish(report_)
