"""``calsync run``: put the agenda into the next 1on1 invite of every relationship.

For each relationship the owner organizes, one step (:mod:`calsync.app.pair`) carries
the open action items forward, adds a dated section to the pair's doc and splices the
agenda block into the next occurrence inside the horizon. Every step is idempotent, so a
run killed anywhere converges on the next run, and a run with nothing new writes nothing.

Here: one run at a time (a second exits at once), one calendar after another (each
read dropped before the next is read), each calendar's agenda phase in one state
transaction, and per-relationship isolation: one pair's failure is reported with its
name and the other pairs are still written; the exit code says there were problems.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from calsync.app.book import Booking, book_pair
from calsync.app.engine import (
    CalendarSurvey,
    Failure,
    Makeup,
    Opener,
    QuietCalendar,
    RelationshipStatus,
    exit_code,
    survey,
)
from calsync.app.pair import Change, Planned, Step, finish, write_pair
from calsync.app.progress import Progress, silent
from calsync.app.quiet import Figures, Memo, Memos, due
from calsync.app.shown import ShownToday
from calsync.app.store import StateStore
from calsync.backends.base import Books, DocBackend, HasDocs, WritesMany, WriteStatus
from calsync.backends.local.docs import LocalDocs
from calsync.backends.registry import open_provider
from calsync.config import Config
from calsync.core.cadence import who
from calsync.errors import AuthError, CalsyncError, ConfigError
from calsync.paths import data_dir

__all__ = ["Change", "Proposal", "RunReport", "run"]


@dataclass
class RunReport:
    """What one ``calsync run`` did: changes, warnings (new today and all), failures, make-up slots."""

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
    booked: list[Booking] = field(default_factory=list)  # make-ups booked ([rescue] book)
    figures: list[tuple[str, float | None]] = field(default_factory=list)  # per pair: label, interval
    quiet: int = 0  # calendars left alone: unchanged, their memo holding (calsync.app.quiet)

    def exit_code(self) -> int:
        """A login failure (3) first, else the highest failure's exit code; 0 when none failed."""
        return exit_code(self.failures)

    def merge(self, other: RunReport) -> None:
        """Add another run's changes, warnings, failures and make-ups (organisation owners')."""
        for name in ("changes", "warnings", "all_warnings", "problems", "new_problems",
                     "failures", "makeups", "new_makeups", "booked", "figures"):
            getattr(self, name).extend(getattr(other, name))
        self.quiet += other.quiet


@dataclass(frozen=True)
class Proposal:
    """Make-up slots for one relationship, as the run reports them."""

    calendar: str
    counterpart: str
    name: str | None
    makeup: Makeup


@dataclass(frozen=True)
class _Ctx(Step):
    shown: ShownToday = field(kw_only=True)
    progress: Progress = field(default=silent, kw_only=True)


def run(config: Config, now: datetime, store: StateStore, dry_run: bool = False,
        progress: Progress = silent, opener: Opener = open_provider,
        quiet: str | None = None) -> RunReport:
    """Survey every calendar and write each pair's agenda into its next invite, under the run lock.
    Each calendar's writes commit together; a dry run rolls everything back and logs no run
    (``opener``: an organisation's tenant opens its owners' calendars; ``quiet``: the config's
    digest, with which an unchanged calendar is left alone while its memo holds,
    :mod:`calsync.app.quiet`)."""
    report = RunReport(generated_at=now, dry_run=dry_run)
    memos = Memos(store.namespace("quiet", durable=True), quiet) \
        if quiet is not None and not dry_run else None
    started = datetime.now().astimezone()  # the run log keeps real times, not --now
    with store.lock():
        # a dry run rolls everything back at the end, provider sync state included
        whole = store.transaction(rollback=True) if dry_run else nullcontext()
        with whole:
            ctx = _Ctx(config, now, store, dry_run,
                       shown=ShownToday(store, now.date(), dry_run), progress=progress)
            for item in survey(config, now, store, opener=opener, memos=memos):
                if isinstance(item, Failure):
                    report.failures.append(item)
                    continue
                try:
                    if isinstance(item, QuietCalendar):
                        report.quiet += 1
                        report.figures += item.memo.figures
                        report.all_warnings += item.memo.warnings
                        continue
                    # the phase's bookkeeping in one commit (a backend's write-ahead
                    # records and each invite written commit at once: Store.checkpoint)
                    with store.transaction():
                        failed = len(report.failures)
                        try:
                            _calendar(ctx, item, report)
                        except CalsyncError as exc:  # kept: what the pairs before it did
                            report.failures.append(Failure(item.calendar.name, exc))
                        if memos is not None and len(report.failures) == failed:
                            memos.keep(item.calendar.name, _memo(ctx, item), now)
                finally:  # what was read stays valid: save sync state, close connections
                    try:
                        item.provider.close()
                    except CalsyncError as exc:
                        report.failures.append(Failure(item.calendar.name, exc))
                    del item  # this calendar's read is dropped before the next is read
            ctx.shown.save()
        if not dry_run:
            written = sum(1 for c in report.changes if c.status is WriteStatus.WRITTEN)
            store.log_run(started, datetime.now().astimezone(), "run", written,
                          len(report.all_warnings), len(report.failures), report.exit_code())
    return report


def _memo(ctx: _Ctx, item: CalendarSurvey) -> Memo:
    """What a calendar handled without a failure leaves for the runs it stays unchanged."""
    pending = any(st.makeup is not None for st in item.statuses)
    warnings = [w for st in item.statuses for w in st.cadence.warnings]
    warnings += [st.pulse.warning for st in item.statuses if st.pulse and st.pulse.warning]
    return Memo(due(item.calendar.name, pending, ctx.now), _figures(item.statuses),
                tuple(warnings))


def _figures(statuses: list[RelationshipStatus]) -> Figures:
    return tuple((st.cadence.label.value, st.cadence.median_interval_days) for st in statuses)


def _calendar(ctx: _Ctx, item: CalendarSurvey, report: RunReport) -> None:
    _problems(ctx, report, item.fetched.warnings)
    report.figures += _figures(item.statuses)
    docs = _docs(ctx.config, item)
    books = _booker(ctx, item, report)
    slots: list[Change | Planned | None] = []  # in the order of the relationships
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
            change = write_pair(ctx, item, status, docs,
                                lambda problems: _problems(ctx, report, problems))
            if books is not None:
                booked = book_pair(ctx, item.calendar.name, books, status, docs)
                if booked is not None:
                    report.booked.append(booked)
            _warn_pulse(ctx, item.calendar.name, status, report)
        except AuthError:
            raise  # the login is gone: every other pair would fail the same way
        except CalsyncError as exc:
            # one pair's failure (a refused upload, a server error after retries) leaves
            # the others to be written; the exit code still reports it
            report.failures.append(Failure(item.calendar.name, exc, pair=who(status.relationship)))
            continue
        slots.append(change)
    _write_planned(ctx, item, slots, report)
    for slot in slots:
        if isinstance(slot, Change):
            if slot.status is not WriteStatus.WRITTEN:  # e.g. forbidden: says so once a day
                slot.repeat = not ctx.shown.first(
                    f"change|{slot.calendar}|{slot.counterpart}|{slot.start.isoformat()}"
                    f"|{slot.status.value}|{slot.detail}")
            report.changes.append(slot)
    _problems(ctx, report, getattr(docs, "warnings", []))  # e.g. a doc that could not be shared


def _booker(ctx: _Ctx, item: CalendarSurvey, report: RunReport) -> Books | None:
    """The calendar's booking verb when ``[rescue] book`` is on and it may write; a
    calendar that cannot book is one config error, its agendas are written all the same."""
    if not ctx.config.rescue.book or item.calendar.read_only:
        return None
    if not isinstance(item.provider, Books):
        report.failures.append(Failure(item.calendar.name, ConfigError(
            f"{ctx.config.path}: [rescue] book = true, but calendar {item.calendar.name!r} "
            f"({item.provider.kind}) cannot book make-up meetings; set book = false")))
        return None
    return item.provider


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


def _write_planned(
    ctx: _Ctx, item: CalendarSurvey, slots: list[Change | Planned | None], report: RunReport
) -> None:
    """The writes a provider takes together (one pass over an .ics file), each then
    finished as if written alone; a file that cannot be written fails every pair in it."""
    planned = [(i, p) for i, p in enumerate(slots) if isinstance(p, Planned)]
    if not planned:
        return
    assert isinstance(item.provider, WritesMany)
    try:
        results = item.provider.write_descriptions([(p.target, p.splice) for _, p in planned])
    except AuthError:
        raise
    except CalsyncError as exc:
        for i, p in planned:
            report.failures.append(Failure(item.calendar.name, exc, pair=p.pair))
            slots[i] = None
        return
    for (i, p), result in zip(planned, results, strict=True):
        slots[i] = finish(ctx, item, p, result)
