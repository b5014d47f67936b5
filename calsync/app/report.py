"""Turn a :class:`calsync.app.engine.Report` into the text table or the JSON scripts rely on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from calsync.app.engine import Makeup, RelationshipStatus, Report
from calsync.config import Policy
from calsync.core.cadence import attendance_words, num, plan_words
from calsync.core.model import Cadence, Mark, MarkKind
from calsync.core.pulse import Summary

if TYPE_CHECKING:
    from calsync.app.fleet import FleetReport
    from calsync.app.run import RunReport


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def relationship_json(item: RelationshipStatus) -> dict[str, Any]:
    """One relationship as ``status --format json`` gives it: figures, marks, pulse, make-up slots."""
    rel, c = item.relationship, item.cadence
    return {
        "counterpart": rel.counterpart,
        "name": rel.name,
        "role": item.role,
        "provider": rel.provider,
        "calendar": rel.calendar,
        "series": rel.series,
        "titles": rel.titles,
        "held": c.held,
        "planned": c.planned,
        "cancelled": c.cancelled,
        "declined": c.declined,
        "median_interval_days": _round(c.median_interval_days),
        "median_duration_min": _round(c.median_duration_min),
        "baseline_interval_days": _round(c.baseline_interval_days),
        "baseline_duration_min": _round(c.baseline_duration_min),
        "cadence": c.label.value,
        "warnings": list(c.warnings),
        "last_held": _iso(c.last_held),
        "next": _iso(c.next),
        "recent_days": _round(c.recent_days),
        "attendance": _round(c.attendance),
        "open_gap_days": _round(c.open_gap_days),
        "planned_interval_days": _round(c.planned_interval_days),
        "planned_duration_min": _round(c.planned_duration_min),
        "next_planned": [t.isoformat() for t in c.next_planned],
        "reasons": list(c.reasons),
        "pulse": _pulse_json(item.pulse),
        "makeup": _makeup_json(item.makeup),
    }


def _makeup_json(m: Makeup | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {"skipped": m.skipped.isoformat(), "kind": m.kind, "minutes": m.minutes,
            "slots": [s.isoformat() for s in m.slots], "checked": "both" if m.both else "owner"}


def makeup_text(label: str, m: Makeup, zone_of: datetime) -> str:
    """One line: which meeting was skipped and the free times found (for you both when
    the provider showed the counterpart's busy times, else in your calendar only)."""
    fmt = "%a %Y-%m-%d %H:%M"
    when = m.skipped.astimezone(zone_of.tzinfo).strftime(fmt)
    free = ", ".join(s.strftime(fmt) for s in m.slots) or "no free slot found"
    return (f"make-up: {label}: the 1on1 of {when} was {m.kind} and nothing is planned soon; "
            f"free {'for you both' if m.both else 'in your calendar'} ({m.minutes} min): {free}")


def _pulse_json(s: Summary | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "answered": s.answered,
        "last": s.last,
        "median_last4": s.median_last4,
        "trend": s.trend,
        "grilled": s.grilled,
        "more": dict(s.more),
        "warning": s.warning,
    }


def status_json(report: Report) -> str:
    """``calsync status --format json``: the relationships, every warning and the errors."""
    doc = {
        "generated_at": report.generated_at.isoformat(),
        "relationships": [relationship_json(s) for s in report.statuses],
        "warnings": report.problems,  # file- and event-level: every one, every time
        "errors": [str(f) for f in report.failures],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)


def _fig(value: float | None, unit: str) -> str:
    return f"{num(value)}{unit}" if value is not None else "-"


STRIP_WEEKS = 12
_GLYPH = {MarkKind.HELD: "●", MarkKind.PLANNED: "·"}  # any other fate: ×


def strip(marks: Sequence[Mark], now: datetime, weeks: int = STRIP_WEEKS) -> str:
    """One glyph per calendar week (Monday first, in ``now``'s zone), oldest left, this week last.

    A week with a held meeting shows ●; else one still ahead ·; else a cancelled,
    declined or removed one ×; a week with nothing planned stays blank.
    """
    today = now.date()
    first = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    cells = [" "] * weeks
    for m in marks:
        week = (m.start.astimezone(now.tzinfo).date() - first).days // 7
        if 0 <= week < weeks:
            glyph = _GLYPH.get(m.kind, "×")
            if _ORDER.index(glyph) < _ORDER.index(cells[week]):
                cells[week] = glyph
    return "".join(cells)


_ORDER = ("●", "·", "×", " ")

_REASON_WORDS = {
    "interval": lambda c, p: f"meets every {num(c.median_interval_days or 0)} days "
    f"(at most {num(p.max_interval_days)})",
    "duration": lambda c, p: f"meetings last {num(c.median_duration_min or 0)} min "
    f"(at most {num(p.max_duration_min)})",
    "attendance": lambda c, p: f"{attendance_words(c)} (at least {round(p.min_attendance * 100)} % needed)",
    "open-gap": lambda c, p: f"no 1on1 for {int(c.open_gap_days or 0)} days "
    f"(at most {num(p.max_interval_days)})",
    "plan": lambda c, p: f"the plan ahead breaks the policy: {plan_words(c)}",
    "lapsed": lambda c, p: f"no held meeting for {int(c.idle_days or 0)} days "
    f"(lapsed after {num(p.lapse_days)})",
    "insufficient-data": lambda c, p: f"{c.held} held meetings, {p.min_sessions} needed to judge",
}


def reasons_text(c: Cadence, policy: Policy) -> str:
    """The reason codes of one relationship in words, with the figures and the limits."""
    return "; ".join(_REASON_WORDS[r](c, policy) for r in c.reasons)


def status_text(report: Report) -> str:
    """``calsync status`` as a table, then why each flagged relationship is flagged, then warnings."""
    rows = [("counterpart", "role", "cadence", "last 12 weeks", "held/planned", "every", "length",
             "last", "next")]
    warnings: list[str] = []
    why: list[str] = []
    for item in report.statuses:
        rel, c = item.relationship, item.cadence
        if c.reasons:
            why.append(f"  {rel.name or rel.counterpart}: {reasons_text(c, item.policy)}")
        rows.append(
            (
                rel.name or rel.counterpart,
                item.role,
                c.label.value,
                f"|{strip(c.marks, report.generated_at)}|",
                f"{c.held}/{c.planned}",
                _fig(c.median_interval_days, "d"),
                _fig(c.median_duration_min, "m"),
                c.last_held.date().isoformat() if c.last_held else "-",
                c.next.date().isoformat() if c.next else "-",
            )
        )
        warnings.extend(c.warnings)
        if item.pulse is not None and item.pulse.warning:
            warnings.append(item.pulse.warning)
    if len(rows) == 1 and report.failures and not report.surveys:
        lines = []  # every calendar failed: the error lines say so, "none found" would mislead
    elif len(rows) == 1:
        lines = ["No 1on1 relationships found (try `calsync detect --explain`)."]
    else:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
                 for r in rows]
    if why:
        lines += ["", "why:", *why]
    if warnings:
        lines += ["", *[f"warning: {w}" for w in warnings]]
    return "\n".join(lines)


def explain_text(report: Report) -> str:
    """``detect --explain``: per calendar, each candidate taken or skipped and why."""
    lines = []
    for survey in report.surveys:
        lines.append(f"{survey.calendar.name}:")
        merged: dict[tuple[bool, str, str, str], int] = {}
        for cand in survey.candidates:  # single events with one title read as one line
            key = (cand.taken, cand.title, cand.counterpart or "", cand.reason)
            merged[key] = merged.get(key, 0) + cand.occurrences
        for (taken, title, counterpart, reason), count in merged.items():
            mark = "take" if taken else "skip"
            who = f" with {counterpart}" if counterpart else ""
            lines.append(f"  {mark}  {title or '(no title)'!r}{who} ({count} occ.): {reason}")
    return "\n".join(lines)


def run_json(report: RunReport, orgs: FleetReport | None = None) -> str:
    """``calsync run --format json``: the changes, every current warning, the errors and
    make-up slots; with organisations, each one's owners, requests, seconds per phase and
    summary (:mod:`calsync.app.fleet_report`)."""
    doc = {
        "generated_at": report.generated_at.isoformat(),
        "dry_run": report.dry_run,
        "changes": [
            {
                "calendar": c.calendar,
                "counterpart": c.counterpart,
                "name": c.name,
                "start": c.start.isoformat(),
                "status": c.status.value,
                "detail": c.detail,
                "doc": c.doc_url,
                "diff": c.diff,
            }
            for c in report.changes
        ],
        "warnings": report.all_warnings,
        "problems": report.problems,
        "errors": [str(f) for f in report.failures],
        "makeup": [
            {"calendar": p.calendar, "counterpart": p.counterpart, "name": p.name,
             **(_makeup_json(p.makeup) or {})}
            for p in report.makeups
        ],
        "booked": [
            {"calendar": b.calendar, "counterpart": b.counterpart, "name": b.name,
             "start": b.start.isoformat(), "end": b.end.isoformat(),
             "skipped": b.skipped.isoformat(), "status": b.status}
            for b in report.booked
        ],
    }
    if orgs is not None:
        from calsync.app.fleet_report import fleet_json

        doc["organizations"] = fleet_json(orgs)
    return json.dumps(doc, ensure_ascii=False, indent=2)


def run_text(report: RunReport, quiet: bool) -> tuple[str, str]:
    """(stdout, stderr): changes on stdout unless quiet; warnings and errors on stderr."""
    out: list[str] = []
    err: list[str] = []
    verb = "would write" if report.dry_run else "wrote"
    for c in report.changes:
        when = c.start.strftime("%a %Y-%m-%d %H:%M")
        person = c.name or c.counterpart
        if c.status.value == "written":
            if not quiet:
                out.append(f"{verb} agenda: {person}, {when} ({c.calendar})")
                if report.dry_run and c.diff:
                    out.append(c.diff.rstrip("\n"))
        elif not c.repeat:  # said once today already (cron mails every output)
            err.append(f"warning: agenda for {person}, {when} not written ({c.status.value}): "
                       f"{c.detail}")
    if not quiet:
        out += [makeup_text(p.name or p.counterpart, p.makeup, report.generated_at)
                for p in report.new_makeups]
        out += [f"{'found already booked' if b.status == 'already' else b.status} make-up 1on1: "
                f"{b.name or b.counterpart}, "
                f"{b.start.strftime('%a %Y-%m-%d %H:%M')}-{b.end.strftime('%H:%M')} ({b.calendar})"
                for b in report.booked if not b.status.startswith("not")]
    err += [f"warning: make-up 1on1 for {b.name or b.counterpart} {b.status}"
            for b in report.booked if b.status.startswith("not")]
    err += [f"warning: {w}" for w in report.warnings]
    err += [f"warning: {p}" for p in report.new_problems]
    err += [f"calsync: {f}" for f in report.failures]
    return "\n".join(out), "\n".join(err)
