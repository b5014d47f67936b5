"""What an organisation run says: one line per organisation, its summary, and JSON.

Metadata only: counts of owners, relationships per label and interval bucket per team,
requests and seconds per phase. Who met whom stays in each owner's own output lines
(their changes, warnings and failures, named ``org/address``).
"""

from __future__ import annotations

from typing import Any

from calsync.app.fleet import FleetReport, OrgRun


def org_json(org: OrgRun) -> dict[str, Any]:
    """One organisation's run for ``run --format json``."""
    owners = len(org.owners)
    return {
        "name": org.org.name,
        "provider": org.org.provider,
        "owners": owners,
        "quiet": sum(o.report.quiet for o in org.owners if o.report),
        "requests": org.requests,
        "requests_per_owner": round(org.requests / owners, 2) if owners else None,
        "seconds": {k: round(v, 3) for k, v in org.phases.items()},
        "errors": [str(f) for f in org.failures],
        "summary": org.summary(),
    }


def fleet_json(report: FleetReport) -> list[dict[str, Any]]:
    """Every organisation's run, for ``run --format json``."""
    return [org_json(o) for o in report.orgs]


def org_line(org: OrgRun, dry_run: bool) -> str:
    """``eng: 1,000 owners (2 failed, 3 busy elsewhere, 990 unchanged); 12 agendas written;
    1,020 requests in 4.2 s``."""
    s = org.summary()
    quiet = sum(o.report.quiet for o in org.owners if o.report)
    written = sum(1 for o in org.owners if o.report
                  for c in o.report.changes if c.status.value == "written")
    notes = [f"{s['failed']:,} failed" if s["failed"] else "",
             f"{s['busy']:,} busy elsewhere" if s["busy"] else "",
             f"{quiet:,} unchanged" if quiet else ""]
    extra = ", ".join(n for n in notes if n)
    seconds = sum(org.phases.values())
    verb = "would write" if dry_run else "written"
    return (f"{org.org.name}: {len(org.owners):,} owners{f' ({extra})' if extra else ''}; "
            f"{written:,} agendas {verb}; {org.requests:,} requests in {seconds:.1f} s")


def summary_text(name: str, summary: dict[str, Any]) -> str:
    """An organisation's stored summary as a table: per team, owners, pairs, labels, intervals."""
    lines = [f"{name}: {summary['owners']:,} owners, as of {summary.get('generated_at', '?')}"
             + (f" ({summary['failed']:,} failed)" if summary.get("failed") else "")]
    for team, t in summary["teams"].items():
        labels = ", ".join(f"{k} {v}" for k, v in t["labels"].items()) or "no 1on1s"
        intervals = ", ".join(f"{k} {v}" for k, v in t["intervals"].items())
        lines.append(f"  {team}: {t['owners']} owners, {t['relationships']} 1on1s: {labels}"
                     + (f"; intervals: {intervals}" if intervals else ""))
    return "\n".join(lines)
