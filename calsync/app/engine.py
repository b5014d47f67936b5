"""One pass over the configured calendars: fetch → normalise → detect → analyse.

Each calendar is processed on its own: one failing (a revoked login, an unreadable
file) is reported and does not stop the others. ``calsync run`` builds on
:func:`survey` to render and write agendas (see :mod:`calsync.app.run`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from calsync.app.quiet import Memo, Memos
from calsync.app.store import StateStore
from calsync.backends.base import FreeBusy, Interval, Polls, Provider, Window
from calsync.backends.registry import open_provider
from calsync.config import CalendarConfig, Config, Policy
from calsync.core import rescue
from calsync.core.cadence import analyse
from calsync.core.detect import Candidate, detect
from calsync.core.model import Cadence, FetchResult, Owner, Relationship
from calsync.core.pulse import Summary, load, summarise
from calsync.core.state import KeyValue
from calsync.errors import AuthError, CalsyncError


@dataclass(frozen=True)
class Makeup:
    """A skipped meeting and the free starts proposed to make up for it."""

    skipped: datetime
    kind: str  # cancelled | declined | removed
    minutes: int
    slots: tuple[datetime, ...]
    both: bool = False  # the counterpart's busy times were seen too (free/busy), not only the owner's


@dataclass
class RelationshipStatus:
    """One relationship with its cadence, the policy it was judged by, pulse and make-up slots."""

    relationship: Relationship
    cadence: Cadence
    policy: Policy = field(default_factory=Policy)  # the thresholds the cadence was judged by
    pulse: Summary | None = None  # the pair's pulse answers; None when [pulse] is off
    makeup: Makeup | None = None  # free slots after a skipped meeting
    known_role: str | None = None  # the role, once the occurrences are dropped (summary)

    @property
    def role(self) -> str:
        """The owner's role: organizer when they organize most of the pair's meetings.

        A majority, not the next meeting alone, so a one-off meeting the report sets up
        does not turn the owner's weekly 1on1 into someone else's.
        """
        if self.known_role is not None:
            return self.known_role
        live = [o for o in self.relationship.occurrences if not o.cancelled]
        mine = sum(1 for o in live if o.owner_organizes(()))  # the provider's word alone
        return "organizer" if live and mine * 2 >= len(live) else "attendee"

    def summary(self) -> RelationshipStatus:
        """What a report shows of it: the figures, marks and role, and of the occurrences
        only those that first show a series or a title (so ``series`` and ``titles`` read
        the same), so ``status`` keeps little per relationship."""
        series: set[str] = set()
        titles: set[str] = set()
        firsts = []
        for occ in self.relationship.occurrences:
            sid = occ.series_id or occ.uid
            if sid not in series or (occ.title and occ.title not in titles):
                firsts.append(occ)
                series.add(sid)
                titles.add(occ.title)
        rel = replace(self.relationship, occurrences=firsts)
        return replace(self, relationship=rel, known_role=self.role)


@dataclass
class CalendarSurvey:
    """One calendar as read and analysed, with its open provider so ``run`` can write to it."""

    calendar: CalendarConfig
    provider: Provider
    fetched: FetchResult
    statuses: list[RelationshipStatus]
    candidates: list[Candidate]


@dataclass
class QuietCalendar:
    """A calendar left alone: unchanged since a full handling whose memo still holds."""

    calendar: CalendarConfig
    provider: Provider
    memo: Memo


@dataclass
class CalendarSummary:
    """What ``status`` keeps of one calendar once it is analysed: each relationship's
    figures and marks (:meth:`RelationshipStatus.summary`), the candidates for
    ``--explain`` and the read's warnings; the occurrences and the provider are dropped
    before the next calendar is read."""

    calendar: CalendarConfig
    statuses: list[RelationshipStatus]
    candidates: list[Candidate]
    warnings: list[str]


@dataclass
class Failure:
    """A calendar (or one relationship's step) that failed, and why."""

    calendar: str
    error: CalsyncError
    pair: str | None = None  # the relationship whose step failed, when only it did

    def __str__(self) -> str:
        """One line naming the calendar once (providers often name it already), and the
        relationship when the failure was its alone."""
        text = str(self.error).removeprefix(f"{self.calendar}: ")
        return f"{self.calendar}: {f'{self.pair}: ' if self.pair else ''}{text}"


@dataclass
class Report:
    """What ``calsync status`` shows: each calendar's summary and the failures."""

    generated_at: datetime
    surveys: list[CalendarSummary] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def statuses(self) -> list[RelationshipStatus]:
        """Every relationship of every calendar."""
        return [s for survey in self.surveys for s in survey.statuses]

    @property
    def problems(self) -> list[str]:
        """Every calendar's read warnings."""
        return [w for survey in self.surveys for w in survey.warnings]

    def exit_code(self) -> int:
        """A login failure (3) first, else the highest failure's exit code; 0 when none failed."""
        return exit_code(self.failures)


def exit_code(failures: list[Failure]) -> int:
    """A login failure (3) first (every pair would fail alike), else the highest exit code."""
    if any(isinstance(f.error, AuthError) for f in failures):
        return AuthError.exit_code
    return max((f.error.exit_code for f in failures), default=0)


def pulse_key(calendar: str, rel: Relationship) -> str:
    """The relationship's key in the state store (action items and docs use it too)."""
    return f"{calendar}:{rel.counterpart}"


def makeup(st: RelationshipStatus, lost: rescue.Skipped, config: Config, now: datetime,
           busy: list[tuple[datetime, datetime]], both: bool = False) -> Makeup:
    """Free slots of the pair's usual length within ``[rescue] rescue_within_days`` after
    the skipped meeting ``lost`` (what :func:`calsync.core.rescue.skipped` found)."""
    within = timedelta(days=config.rescue.within_days)
    minutes = round(st.cadence.median_duration_min or config.policy.target_duration_min)
    zone = ZoneInfo(config.owner.timezone) if config.owner.timezone else now.tzinfo or UTC
    found = rescue.slots(busy, now, now + within, timedelta(minutes=minutes),
                         config.owner.working_hours, zone)
    return Makeup(lost.start, lost.kind.value, minutes, tuple(found), both)


def _makeups(statuses: list[RelationshipStatus], provider: Provider, fetched: FetchResult,
             span: Window, config: Config, now: datetime) -> None:
    """Make-up slots for the pairs whose last meeting was skipped. The owner's own events
    are always busy; a provider that sees free/busy adds the counterpart's busy times,
    asked only for the pairs that need a slot (a steady run asks nothing)."""
    within = timedelta(days=config.rescue.within_days)
    found = ((st, rescue.skipped(st.cadence, now, within)) for st in statuses)
    lost = [(st, skip) for st, skip in found if skip is not None]
    if not lost:
        return
    occurrences = fetched.occurrences
    if fetched.partial:  # the owner's other meetings are busy too: read them as well
        occurrences = provider.fetch(Window(span.start, span.end, everything=True)).occurrences
    own = rescue.owner_busy(occurrences, config.owner.emails)
    seen: dict[str, list[Interval]] = {}
    if isinstance(provider, FreeBusy):
        seen = provider.busy(sorted({st.relationship.counterpart for st, _ in lost}), now, now + within)
    for st, skip in lost:
        theirs = seen.get(st.relationship.counterpart.lower())
        st.makeup = makeup(st, skip, config, now, own + (theirs or []), both=theirs is not None)


def window(config: Config, now: datetime) -> Window:
    """Back over the lookback; ahead as far too, so the plan ahead is seen (cadence.current_plan)."""
    policy = config.policy
    ahead = max(policy.lookahead_days, policy.lookback_days, config.agenda.horizon_days)
    return Window(now - timedelta(days=config.policy.lookback_days), now + timedelta(days=ahead))


Opener = Callable[[CalendarConfig, Owner, KeyValue, datetime], Provider]
"""How a configured calendar is opened: the registry's factory, or an organisation's tenant."""


def survey(config: Config, now: datetime, store: StateStore, everything: bool = False,
           opener: Opener = open_provider,
           memos: Memos | None = None) -> Iterator[CalendarSurvey | QuietCalendar | Failure]:
    """Per calendar: its occurrences, relationships and their cadence, or why it failed
    (``everything``: read every event, as ``detect --explain`` lists them all; ``opener``:
    an organisation's tenant opens its owners' calendars; ``memos``: a calendar whose
    memo holds and whose sync brings no change is left alone, :mod:`calsync.app.quiet`)."""
    span = window(config, now)
    if everything:
        span = Window(span.start, span.end, everything=True)
    owner = config.owner.emails
    for cal in config.calendars:
        try:
            state = store.namespace(f"cal:{cal.name}", durable=True)
            provider = opener(cal, config.owner, state, now)
            if memos is not None and isinstance(provider, Polls):
                held = memos.valid(cal.name, now)
                if held is not None:
                    # dropped before the sync commits its new token: a run killed between
                    # the two must not find the memo and the change already synced away
                    memos.forget(cal.name)
                    if not provider.changed(span):
                        memos.keep(cal.name, held, now)
                        yield QuietCalendar(cal, provider, held)
                        continue
            fetched = provider.fetch(span)
        except CalsyncError as exc:
            yield Failure(cal.name, exc)
            continue
        found = detect(fetched.occurrences, owner, config.detection)
        pulses = store.namespace("pulse")
        statuses = [
            RelationshipStatus(
                rel, analyse(rel, config.policy, now, owner), config.policy,
                summarise(load(pulses, pulse_key(cal.name, rel)), rel.name or rel.counterpart)
                if config.pulse.enabled else None,
            )
            for rel in found.relationships
        ]
        try:
            _makeups(statuses, provider, fetched, span, config, now)
        except CalsyncError as exc:
            yield Failure(cal.name, exc)
            continue
        yield CalendarSurvey(cal, provider, fetched, statuses, found.candidates)
        del provider, fetched, found, statuses  # not held while the next calendar is read


def status(config: Config, now: datetime, store: StateStore, everything: bool = False,
           opener: Opener = open_provider) -> Report:
    """The survey of every calendar, kept as summaries; each provider is closed once read
    (``everything``: every event is read, as ``detect --explain`` lists them all)."""
    report = Report(generated_at=now)
    for item in survey(config, now, store, everything, opener):
        if isinstance(item, Failure):
            report.failures.append(item)
        elif isinstance(item, CalendarSurvey):
            report.surveys.append(CalendarSummary(
                item.calendar, [st.summary() for st in item.statuses], item.candidates,
                item.fetched.warnings))
            try:
                item.provider.close()
            except CalsyncError as exc:
                report.failures.append(Failure(item.calendar.name, exc))
            del item
    return report
