"""The reading commands: ``status``, ``detect`` and ``report`` (nothing is written but
the HTML page and the providers' sync state)."""

from __future__ import annotations

from pathlib import Path

import click

from calsync.cli import common


@click.command()
@common.NOW
@common.FORMAT
@click.pass_context
@common.friendly
def status(ctx: click.Context, now_text: str | None, fmt: str) -> None:
    """Every 1on1 relationship, how often and how long it really meets, and drift warnings."""
    from calsync.app import engine, report

    config = common.load(ctx)
    report_ = engine.status(config, common.now(now_text, config), common.store(config))
    text = report.status_json(report_) if fmt == "json" else report.status_text(report_)
    if text:
        click.echo(text)
    common.finish(report_)


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
@click.pass_context
@common.friendly
def report_cmd(ctx: click.Context, now_text: str | None, output: Path, open_it: bool) -> None:
    """Write every 1on1's rhythm as one self-contained HTML page with charts."""
    from calsync.app import engine, html_report

    config = common.load(ctx)
    report_ = engine.status(config, common.now(now_text, config), common.store(config))
    path = html_report.write(output, html_report.render(report_, config))
    click.echo(str(path))
    if open_it:
        import webbrowser

        webbrowser.open(path.as_uri())
    common.finish(report_)
