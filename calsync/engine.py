"""One pass over the configured calendars: fetch → normalise → detect → analyse.

Each calendar is processed on its own: one failing (a revoked login, an unreadable
file) is reported and does not stop the others. ``calsync run`` builds on
:func:`survey` to render and write agendas (see :mod:`calsync.run`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from calsync import rescue
from calsync.cadence import analyse
from calsync.config import CalendarConfig, Config, Policy
from calsync.detect import Candidate, detect
from calsync.errors import AuthError, CalsyncError
from calsync.model import Cadence, FetchResult, Relationship
from calsync.providers import open_provider
from calsync.providers.base import Provider, Window
from calsync.pulse import Summary, load, summarise
from calsync.store import Store


@dataclass(frozen=True)
class Makeup:
    """A skipped meeting and the free starts proposed to make up for it."""

    skipped: datetime
    kind: str  # cancelled | declined | removed
    minutes: int
    slots: tuple[datetime, ...]


@dataclass
class RelationshipStatus:
    relationship: Relationship
    cadence: Cadence
    policy: Policy = field(default_factory=Policy)  # the thresholds the cadence was judged by
    pulse: Summary | None = None  # the pair's pulse answers; None when [pulse] is off
    makeup: Makeup | None = None  # free slots after a skipped meeting (file calendars)

    @property
    def role(self) -> str:
        """The owner's role: organizer when they organize most of the pair's meetings.

        A majority, not the next meeting alone, so a one-off meeting the report sets up
        does not turn the owner's weekly 1on1 into someone else's.
        """
        live = [o for o in self.relationship.occurrences if not o.cancelled]
        mine = sum(1 for o in live if o.organizer_is_self)
        return "organizer" if live and mine * 2 >= len(live) else "attendee"


@dataclass
class CalendarSurvey:
    calendar: CalendarConfig
    provider: Provider
    fetched: FetchResult
    statuses: list[RelationshipStatus]
    candidates: list[Candidate]


@dataclass
class Failure:
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
    generated_at: datetime
    surveys: list[CalendarSurvey] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def statuses(self) -> list[RelationshipStatus]:
        return [s for survey in self.surveys for s in survey.statuses]

    @property
    def problems(self) -> list[str]:
        return [w for survey in self.surveys for w in survey.fetched.warnings]

    def exit_code(self) -> int:
        if any(isinstance(f.error, AuthError) for f in self.failures):
            return AuthError.exit_code
        return max((f.error.exit_code for f in self.failures), default=0)


def pulse_key(calendar: str, rel: Relationship) -> str:
    """The relationship's key in the state store (action items and docs use it too)."""
    return f"{calendar}:{rel.counterpart}"


def makeup(st: RelationshipStatus, config: Config, now: datetime,
           busy: list[tuple[datetime, datetime]]) -> Makeup | None:
    """Make-up slots when the pair's last planned meeting was skipped and nothing is
    planned within ``[rescue] rescue_within_days``; None otherwise."""
    within = timedelta(days=config.rescue.within_days)
    lost = rescue.skipped(st.cadence, now, within)
    if lost is None:
        return None
    minutes = round(st.cadence.median_duration_min or config.policy.target_duration_min)
    zone = ZoneInfo(config.owner.timezone) if config.owner.timezone else now.tzinfo or UTC
    found = rescue.slots(busy, now, now + within, timedelta(minutes=minutes),
                         config.owner.working_hours, zone)
    return Makeup(lost.start, lost.kind.value, minutes, tuple(found))


def window(config: Config, now: datetime) -> Window:
    """Back over the lookback; ahead as far too, so the plan ahead is seen (cadence.current_plan)."""
    policy = config.policy
    ahead = max(policy.lookahead_days, policy.lookback_days, config.agenda.horizon_days)
    return Window(now - timedelta(days=config.policy.lookback_days), now + timedelta(days=ahead))


def survey(config: Config, now: datetime, store: Store) -> Iterator[CalendarSurvey | Failure]:
    """Per calendar: its occurrences, relationships and their cadence, or why it failed."""
    span = window(config, now)
    owner = config.owner.emails
    for cal in config.calendars:
        try:
            provider = open_provider(cal, config.owner, store.namespace(f"cal:{cal.name}"), now)
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
        if cal.provider == "ics":  # only the owner's own busy times are known in a file
            busy = rescue.owner_busy(fetched.occurrences, owner)
            for st in statuses:
                st.makeup = makeup(st, config, now, busy)
        yield CalendarSurvey(cal, provider, fetched, statuses, found.candidates)


def status(config: Config, now: datetime, store: Store) -> Report:
    report = Report(generated_at=now)
    for item in survey(config, now, store):
        if isinstance(item, Failure):
            report.failures.append(item)
        else:
            report.surveys.append(item)
            try:
                item.provider.close()
            except CalsyncError as exc:
                report.failures.append(Failure(item.calendar.name, exc))
    return report
