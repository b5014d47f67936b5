"""``calsync run``: put the agenda into the next 1on1 invite of every relationship.

For each relationship the owner organizes: carry the open action items forward
(from the last held meeting's invite and the shared doc), add a dated section to the
pair's doc, and splice the agenda block into the next occurrence inside the horizon.
Every step is idempotent (the doc section by its marker, the invite by comparing the
block), so a run killed anywhere converges on the next run, and a run with nothing
new writes nothing. One run at a time: a second exits at once.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import calsync.core.actions as actions
import calsync.core.agenda as agenda
import calsync.core.pulse as pulse
from calsync.app.engine import CalendarSurvey, Failure, Makeup, RelationshipStatus, pulse_key, survey
from calsync.app.progress import Progress, silent
from calsync.app.store import StateStore
from calsync.backends.base import DocBackend, DocRef, DocRequest, HasDocs, ReadsDescription, WriteStatus
from calsync.backends.local.docs import LocalDocs
from calsync.config import Config
from calsync.core.cadence import figures, held_meetings, who
from calsync.core.model import Occurrence
from calsync.errors import AuthError, CalsyncError, ConflictError
from calsync.paths import data_dir


@dataclass
class Change:
    calendar: str
    counterpart: str
    name: str | None
    start: datetime
    status: WriteStatus
    detail: str = ""
    diff: str = ""
    doc_url: str | None = None
    repeat: bool = False  # a not-written warning already shown today (text output skips it)


@dataclass
class RunReport:
    generated_at: datetime
    dry_run: bool
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # new today: what text output shows
    all_warnings: list[str] = field(default_factory=list)  # every current one: for JSON
    problems: list[str] = field(default_factory=list)  # every one: for JSON
    new_problems: list[str] = field(default_factory=list)  # not yet shown today: for text
    failures: list[Failure] = field(default_factory=list)
    makeups: list[Proposal] = field(default_factory=list)  # every current one: for JSON
    new_makeups: list[Proposal] = field(default_factory=list)  # not yet shown today: for text

    def exit_code(self) -> int:
        if any(isinstance(f.error, AuthError) for f in self.failures):
            return AuthError.exit_code
        return max((f.error.exit_code for f in self.failures), default=0)


@dataclass(frozen=True)
class Proposal:
    """Make-up slots for one relationship, as the run reports them."""

    calendar: str
    counterpart: str
    name: str | None
    makeup: Makeup


class ShownToday:
    """Which warnings a ``run`` already printed today: each distinct one goes out once a
    day (cron mails every output), while ``status`` and JSON always list them all.

    Kept in state as today's date and the hashes of today's warnings, so it stays small.
    """

    _KEY = "today"

    def __init__(self, store: StateStore, day: date, show_all: bool) -> None:
        self.ns = store.namespace("warned")
        self.day = day.isoformat()
        self.show_all = show_all
        self.seen: set[str] = set()
        raw = self.ns.get(self._KEY)
        with suppress(ValueError, TypeError, AttributeError):
            rec = json.loads(raw) if raw else {}
            if rec.get("day") == self.day:
                self.seen = {str(k) for k in rec.get("keys", [])}
        self.now_seen = set(self.seen)

    def first(self, identity: str) -> bool:
        """True the first time today a warning of this identity is met (always in a dry run)."""
        key = hashlib.sha256(identity.encode()).hexdigest()[:16]
        new = key not in self.now_seen
        self.now_seen.add(key)
        return new or self.show_all

    def save(self) -> None:
        if self.now_seen != self.seen:
            self.ns.set(self._KEY, json.dumps({"day": self.day, "keys": sorted(self.now_seen)}))


@dataclass(frozen=True)
class _Ctx:
    config: Config
    now: datetime
    store: StateStore
    dry_run: bool
    shown: ShownToday
    progress: Progress = silent


def run(config: Config, now: datetime, store: StateStore, dry_run: bool = False,
        progress: Progress = silent) -> RunReport:
    report = RunReport(generated_at=now, dry_run=dry_run)
    started = datetime.now().astimezone()  # the run log keeps real times, not --now
    with store.lock():
        # a dry run rolls everything back at the end, provider sync state included
        whole = store.transaction(rollback=True) if dry_run else nullcontext()
        with whole:
            ctx = _Ctx(config, now, store, dry_run, ShownToday(store, now.date(), dry_run), progress)
            for item in survey(config, now, store):
                if isinstance(item, Failure):
                    report.failures.append(item)
                    continue
                try:
                    _calendar(ctx, item, report)
                except CalsyncError as exc:
                    report.failures.append(Failure(item.calendar.name, exc))
                finally:  # what was read stays valid: save sync state, close connections
                    try:
                        item.provider.close()
                    except CalsyncError as exc:
                        report.failures.append(Failure(item.calendar.name, exc))
            ctx.shown.save()
        if not dry_run:
            written = sum(1 for c in report.changes if c.status is WriteStatus.WRITTEN)
            store.log_run(started, datetime.now().astimezone(), "run", written,
                          len(report.all_warnings), len(report.failures), report.exit_code())
    return report


def _calendar(ctx: _Ctx, item: CalendarSurvey, report: RunReport) -> None:
    _problems(ctx, report, item.fetched.warnings)
    docs = _docs(ctx.config, item)
    for status in ctx.progress(item.statuses, f"{item.calendar.name}: agendas"):
        _warn_once(ctx, item.calendar.name, status, report)
        if status.makeup is not None:
            rel = status.relationship
            proposal = Proposal(item.calendar.name, rel.counterpart, rel.name, status.makeup)
            report.makeups.append(proposal)
            if ctx.shown.first(f"makeup|{item.calendar.name}|{rel.counterpart}|"
                               f"{status.makeup.skipped.isoformat()}"):
                report.new_makeups.append(proposal)
        if item.calendar.read_only:
            _warn_pulse(ctx, item.calendar.name, status, report)
            continue
        try:
            change = _relationship(ctx, item, status, docs, report)
            _warn_pulse(ctx, item.calendar.name, status, report)
        except AuthError:
            raise  # the login is gone: every other pair would fail the same way
        except CalsyncError as exc:
            # one pair's failure (a refused upload, a server error after retries) leaves
            # the others to be written; the exit code still reports it
            report.failures.append(Failure(item.calendar.name, exc, pair=who(status.relationship)))
            continue
        if change is not None:
            if change.status is not WriteStatus.WRITTEN:  # e.g. forbidden: says so once a day
                change.repeat = not ctx.shown.first(
                    f"change|{change.calendar}|{change.counterpart}|{change.start.isoformat()}"
                    f"|{change.status.value}|{change.detail}")
            report.changes.append(change)
    _problems(ctx, report, getattr(docs, "warnings", []))  # e.g. a doc that could not be shared


def _problems(ctx: _Ctx, report: RunReport, problems: list[str]) -> None:
    for problem in problems:
        report.problems.append(problem)
        if ctx.shown.first(f"problem|{problem}"):
            report.new_problems.append(problem)


def _docs(config: Config, item: CalendarSurvey) -> DocBackend:
    if isinstance(item.provider, HasDocs) and config.agenda.docs_dir is None:
        return item.provider.docs()
    folder = config.agenda.docs_dir or data_dir() / "docs"
    return LocalDocs(folder, config.agenda.doc_url_template)


def _warn_once(ctx: _Ctx, calendar: str, status: RelationshipStatus, report: RunReport) -> None:
    """Cadence warnings go out once a day per relationship and label (their figures may
    move within the day; the news is the label)."""
    if not status.cadence.warnings:
        return
    report.all_warnings.extend(status.cadence.warnings)
    key = f"cadence|{calendar}|{status.relationship.counterpart}|{status.cadence.label.value}"
    if ctx.shown.first(key):
        report.warnings.extend(status.cadence.warnings)


def _warn_pulse(ctx: _Ctx, calendar: str, status: RelationshipStatus, report: RunReport) -> None:
    """The pulse warning (after this run read the doc), once a day while it holds."""
    said = status.pulse.warning if status.pulse else None
    if said:
        report.all_warnings.append(said)
        if ctx.shown.first(f"pulse|{calendar}|{said}"):
            report.warnings.append(said)


def next_occurrence(
    status: RelationshipStatus, now: datetime, horizon: timedelta, owner: tuple[str, ...]
) -> Occurrence | None:
    """The first occurrence inside the horizon that calsync may write (the owner organizes it)."""
    for occ in status.relationship.occurrences:
        if (now < occ.start <= now + horizon and not occ.cancelled
                and occ.owner_organizes(owner) and occ.writable):
            return occ
    return None


def last_held(status: RelationshipStatus, now: datetime, owner: tuple[str, ...]) -> Occurrence | None:
    meetings = held_meetings(status.relationship, now, owner)
    return meetings[-1] if meetings else None


def _relationship(
    ctx: _Ctx, item: CalendarSurvey, status: RelationshipStatus, docs: DocBackend,
    report: RunReport,
) -> Change | None:
    config, now, store = ctx.config, ctx.now, ctx.store
    rel = status.relationship
    target = next_occurrence(status, now, timedelta(days=config.agenda.horizon_days), config.owner.emails)
    if target is None:
        return None
    key = pulse_key(item.calendar.name, rel)
    doc_state = store.namespace("docs")
    doc: DocRef | None = None
    if not ctx.dry_run:  # a dry run creates nothing, not even the doc
        doc = docs.ensure(
            DocRequest(
                key=key,
                counterpart=rel.counterpart,
                counterpart_name=rel.name,
                title=f"1on1: {rel.name or rel.counterpart}",
                template=agenda.doc_template(_input(config, status, target, None, ())),
            )
        )
        doc_state.set(key, doc.url)
    doc_url = doc.url if doc else doc_state.get(key)

    previous = last_held(status, now, config.owner.emails)
    if previous is not None:
        body = previous.description
        _remember(store, key, actions.parse(body.text, body.html), previous.start.date(), now)
    if doc is not None:
        text = docs.read_text(doc)
        _remember(store, key, actions.parse(text), now.date(), now)
        if config.pulse.enabled:
            _pulse(ctx, report, key, who(rel), text)
            status.pulse = pulse.summarise(pulse.load(store.namespace("pulse"), key),
                                           rel.name or rel.counterpart)
    # A tick made inside the upcoming invite's block counts too (its unchecked lines are ours).
    ticked = [i for i in actions.parse(target.description.text, target.description.html) if i.done]
    _remember(store, key, ticked, now.date(), now)
    open_items = tuple(
        agenda.OpenItem(row.text, row.owner, date.fromisoformat(row.first_seen))
        for row in store.action_items(key)
        if row.done_at is None
    )
    data = _input(config, status, target, doc_url, open_items)
    if doc is not None:
        marker, section = agenda.doc_section(data)
        try:
            docs.add_section(doc, marker, section)
        except ConflictError as exc:  # the doc kept changing: the invite is written all the same
            _problems(ctx, report, [f"{item.calendar.name}: {who(rel)}: {exc}"])

    if len(agenda.find_blocks(target.description.text, target.description.html)) > 1:
        return Change(item.calendar.name, rel.counterpart, rel.name, target.start,
                      WriteStatus.CONFLICT, doc_url=doc_url,
                      detail="the invite holds more than one calsync agenda block (pasted?); "
                             "remove all but one and calsync will update it again")
    expected = agenda.splice(target.description, data)
    if expected is None:
        return None
    block = agenda.render(data, expected.html)
    digest = hashlib.sha256(block.encode()).hexdigest()[:16]
    if store.written_hash(item.calendar.name, target.ref) == digest and agenda.find_block(
        target.description.text, target.description.html
    ):
        # We wrote this very block before; the provider only re-encoded its markup
        # (Outlook rewrites HTML). Writing again would email the attendee for nothing.
        return None
    change = Change(item.calendar.name, rel.counterpart, rel.name, target.start,
                    WriteStatus.WRITTEN, doc_url=doc_url)
    before, after = target.description, expected
    if ctx.dry_run and isinstance(item.provider, ReadsDescription):
        # the cached occurrence keeps only part of the body: diff against the whole one
        whole = item.provider.read_description(target)
        if whole is not None:
            before, after = whole, agenda.splice(whole, data) or whole
    if not ctx.dry_run:
        result = item.provider.write_description(
            target, lambda body: agenda.splice(body, data), digest,
            attach=doc,  # the block links the pair's doc: a calendar that attaches files adds it
        )
        change.status, change.detail = result.status, result.detail
        if result.status is WriteStatus.UNCHANGED:
            return None
        if result.status is not WriteStatus.WRITTEN:
            return change
        store.record_write(item.calendar.name, target.ref, digest, now)
        before, after = result.before or before, result.after or after  # as actually stored
    change.diff = _diff(before.text, after.text, who(rel), target.start)
    return change


def _pulse(ctx: _Ctx, report: RunReport, key: str, label: str, text: str) -> None:
    """Keep the answers on the doc's pulse lines; a line that cannot be read is named once."""
    readings = pulse.read(text)
    pulse.remember(ctx.store.namespace("pulse"), key, readings)
    _problems(ctx, report, [
        f"{label}: pulse line of {r.answer.day.isoformat()} in the shared doc: {r.problem} "
        "(keep one answer per question)"
        for r in readings if r.problem])


def _remember(store: StateStore, key: str, items: list[actions.ActionItem], seen: date,
              now: datetime) -> None:
    for it in items:
        store.upsert_action_item(
            key, it.key, it.owner, it.text, seen.isoformat(), now.isoformat() if it.done else None
        )


def _input(
    config: Config,
    status: RelationshipStatus,
    target: Occurrence,
    doc_url: str | None,
    open_items: tuple[agenda.OpenItem, ...],
) -> agenda.AgendaInput:
    c = status.cadence
    note = None
    if config.agenda.cadence_note and c.median_interval_days is not None:
        note = f"{figures(c.median_interval_days, c.median_duration_min)} ({c.label.value})"
    return agenda.AgendaInput(
        language=config.language,
        template=config.agenda.template,
        counterpart_email=status.relationship.counterpart,
        counterpart_name=status.relationship.name,
        start=target.start,
        doc_url=doc_url,
        open_items=open_items,
        cadence_note=note,
        pulse=config.pulse.enabled,
    )


def _diff(before: str, after: str, label: str, start: datetime) -> str:
    name = f"{label} {start.isoformat()}"
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"{name} (now)",
            tofile=f"{name} (calsync)",
        )
    )
