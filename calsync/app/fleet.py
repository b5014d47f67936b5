"""Organisation runs: ``calsync run`` for every owner of every ``[[organizations]]`` entry.

Each organisation's tenant (:mod:`calsync.backends.org`) lists its owners — explicit
addresses, groups expanded transitively, the directory narrowed by a filter, minus
``exclude`` — and each owner gets an ordinary single-owner run (:func:`calsync.app.run.run`)
on their own calendar, with their own state namespace, docs and lock
(:mod:`calsync.app.store_owners`). Owners run side by side on ``tenant.workers`` threads
(the tenant keeps requests in flight within the organisation's ``concurrency``). One
owner's failure — a refused delegation, an unlicensed mailbox, a bug — is reported with
the owner's name and never stops the others; an organisation whose login or directory
fails is reported as one line and the next organisation runs.

What is kept per owner is small (their changes, warnings and failures, and each
relationship's label and interval bucket), so 10,000 owners fit in memory; the
organisation summary (counts per label and interval bucket per team, metadata only) is
stored for ``calsync status --org`` and printed by ``run --format json``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime

from calsync.app.engine import Failure, Opener, exit_code
from calsync.app.progress import Progress, silent
from calsync.app.quiet import config_digest
from calsync.app.run import RunReport, run
from calsync.app.store import StateStore
from calsync.app.store_owners import OwnerStores
from calsync.backends.org import Member, Tenant
from calsync.backends.registry import open_tenant
from calsync.config import CalendarConfig, Config
from calsync.config_reader import OrgBase
from calsync.core.hours import WorkingHours, parse_hours
from calsync.core.model import Label, Owner
from calsync.errors import CalsyncError, ConfigError, LockedError, ProviderError

BUCKETS = ((8.0, "weekly"), (16.0, "fortnightly"), (35.0, "monthly"))  # median interval ≤ days
RARER = "rarer"
NO_INTERVAL = "none"  # not enough held meetings for an interval


def bucket(days: float | None) -> str:
    """The interval bucket a relationship's median interval falls in."""
    if days is None:
        return NO_INTERVAL
    return next((name for limit, name in BUCKETS if days <= limit), RARER)


@dataclass
class OwnerRun:
    """What one owner's run did, kept small: the run's report without its cadences."""

    member: Member
    report: RunReport | None = None
    failure: Failure | None = None  # the owner could not be run at all (held elsewhere, a bug)
    busy: bool = False  # another runner holds this owner: skipped, not failed
    seconds: float = 0.0
    cadences: list[tuple[str, str]] = field(default_factory=list)  # (label, interval bucket)

    @property
    def failures(self) -> list[Failure]:
        """The owner's failures, from their run or before it."""
        found = list(self.report.failures) if self.report else []
        return found + ([self.failure] if self.failure else [])


@dataclass
class OrgRun:
    """One organisation's run: its owners, its own failures, requests and phase times."""

    org: OrgBase
    owners: list[OwnerRun] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)  # login, directory
    requests: int = 0
    phases: dict[str, float] = field(default_factory=dict)  # seconds: open, members, owners, close

    def summary(self) -> dict[str, object]:
        """Counts per label and interval bucket per team: metadata only, no names."""
        teams: dict[str, dict[str, Counter[str]]] = {}
        owners: Counter[str] = Counter()
        for o in self.owners:
            team = o.member.team or self.org.name
            owners[team] += 1
            t = teams.setdefault(team, {"labels": Counter(), "intervals": Counter()})
            for label, interval in o.cadences:
                t["labels"][label] += 1
                t["intervals"][interval] += 1
        return {
            "owners": len(self.owners),
            "failed": sum(1 for o in self.owners if o.failures),
            "busy": sum(1 for o in self.owners if o.busy),
            "teams": {
                team: {"owners": owners[team],
                       "relationships": sum(t["labels"].values()),
                       "labels": dict(sorted(t["labels"].items())),
                       "intervals": dict(sorted(t["intervals"].items()))}
                for team, t in sorted(teams.items())
            },
        }


@dataclass
class FleetReport:
    """Every organisation's run, and the owners' reports merged for the usual output."""

    generated_at: datetime
    dry_run: bool
    orgs: list[OrgRun] = field(default_factory=list)

    @property
    def failures(self) -> list[Failure]:
        """Every organisation's and every owner's failures."""
        return [f for o in self.orgs for f in o.failures + [x for r in o.owners for x in r.failures]]

    def exit_code(self) -> int:
        """As a single run's: a login failure (3) first, else the highest."""
        return exit_code(self.failures)

    def merged(self) -> RunReport:
        """One :class:`RunReport` of every owner's, each owner's warnings named by their
        calendar (``org/address``), for the text and JSON output a single run has."""
        out = RunReport(generated_at=self.generated_at, dry_run=self.dry_run)
        for org in self.orgs:
            out.failures += org.failures
            for o in org.owners:
                if o.failure:
                    out.failures.append(o.failure)
                r = o.report
                if r is None:
                    continue
                who = f"{org.org.name}/{o.member.address}: "
                out.changes += r.changes
                out.failures += r.failures
                out.warnings += [who + w for w in r.warnings]
                out.all_warnings += [who + w for w in r.all_warnings]
                out.problems += [who + p for p in r.problems]
                out.new_problems += [who + p for p in r.new_problems]
                out.makeups += r.makeups
                out.new_makeups += r.new_makeups
                out.booked += r.booked
        return out


TenantOpener = Callable[[OrgBase], Tenant]


def members(org: OrgBase, tenant: Tenant) -> list[Member]:
    """The organisation's owners, each once (the first source naming them gives their
    team), minus ``exclude``, in address order so runs and summaries are stable."""
    found: dict[str, Member] = {a: Member(a) for a in org.members}
    for group in org.groups:
        for m in tenant.group_members(group):
            found.setdefault(m.address.lower(), m)
    if org.directory:
        for m in tenant.directory(org.filter):
            found.setdefault(m.address.lower(), m)
    skip = set(org.exclude)
    return [m for a, m in sorted(found.items()) if a not in skip]


def owner_config(config: Config, org: OrgBase, member: Member, cal: CalendarConfig) -> Config:
    """A single owner's config: their addresses, the organisation's defaults, one calendar."""
    hours = parse_hours(org.working_hours) if org.working_hours else None
    emails = tuple(dict.fromkeys((member.address.lower(), *member.aliases)))
    owner = Owner(emails, org.timezone or config.owner.timezone,
                  hours or (config.owner.working_hours if config.owner.emails else WorkingHours()))
    return replace(config, owner=owner, calendars=(cal,), organizations=())


def _cadences(figures: list[tuple[str, float | None]]) -> list[tuple[str, str]]:
    return [(label, bucket(days if label != Label.INSUFFICIENT.value else None))
            for label, days in figures]


def _one(config: Config, org: OrgBase, tenant: Tenant, member: Member, now: datetime,
         stores: OwnerStores, dry_run: bool, digest: str) -> OwnerRun:
    """One owner's run; whatever goes wrong is theirs alone."""
    started = time.perf_counter()
    result = OwnerRun(member)
    name = f"{org.name}/{member.address}"
    try:
        cal = tenant.calendar(member)
        with stores.owner(member.address) as store:
            report = run(owner_config(config, org, member, cal), now, store, dry_run,
                         opener=lambda c, owner, state, at: tenant.open(cal, owner, state, at),
                         quiet=digest)
        result.cadences = _cadences(report.figures)
        report.figures = []  # the summary keeps what it needs; 10,000 owners add up
        result.report = report
    except LockedError:
        result.busy = True  # another runner works for this owner now
    except CalsyncError as exc:
        result.failure = Failure(name, exc)
    except Exception as exc:  # a bug for one owner must not stop the organisation
        result.failure = Failure(name, ProviderError(
            f"internal error ({type(exc).__name__}: {exc}); the other owners were run"))
    result.seconds = time.perf_counter() - started
    return result


def run_org(config: Config, org: OrgBase, now: datetime, stores: OwnerStores,
            dry_run: bool = False, progress: Progress = silent,
            opener: TenantOpener = open_tenant) -> OrgRun:
    """One organisation: open its tenant, list its owners, run them side by side."""
    out = OrgRun(org)
    clock = time.perf_counter
    t0 = clock()
    try:
        tenant = opener(org)
    except CalsyncError as exc:
        out.failures.append(Failure(org.name, exc))
        return out
    try:
        t1 = clock()
        out.phases["open"] = t1 - t0
        try:
            people = members(org, tenant)
        except CalsyncError as exc:
            out.failures.append(Failure(org.name, exc))
            return out
        t2 = clock()
        out.phases["members"] = t2 - t1
        digest = config_digest(config, org.name)
        out.owners = list(_side_by_side(
            people, max(1, tenant.workers), progress, f"{org.name}: owners",
            lambda m: _one(config, org, tenant, m, now, stores, dry_run, digest)))
        out.phases["owners"] = clock() - t2
    finally:
        t3 = clock()
        out.requests = tenant.requests()
        try:
            tenant.close()
        except CalsyncError as exc:
            out.failures.append(Failure(org.name, exc))
        out.phases["close"] = clock() - t3
    return out


def _side_by_side(people: list[Member], workers: int, progress: Progress, label: str,
                  work: Callable[[Member], OwnerRun]) -> Iterator[OwnerRun]:
    """Each member's run on a pool of ``workers`` threads, yielded in member order; the
    progress bar moves as owners finish."""
    done = threading.Semaphore(0)
    with ThreadPoolExecutor(max_workers=min(workers, max(1, len(people))),
                            thread_name_prefix="calsync-owner") as pool:
        futures: list[Future[OwnerRun]] = []
        for m in people:
            fut = pool.submit(work, m)
            fut.add_done_callback(lambda _: done.release())
            futures.append(fut)
        for _ in progress(range(len(futures)), label):
            done.acquire()
        yield from (f.result() for f in futures)


def run_all(config: Config, now: datetime, stores: OwnerStores, dry_run: bool = False,
            progress: Progress = silent, opener: TenantOpener = open_tenant) -> FleetReport:
    """Every organisation in the config, one after another, under the run lock; each
    organisation's summary is kept for ``status --org`` (not on a dry run)."""
    report = FleetReport(generated_at=now, dry_run=dry_run)
    started = datetime.now().astimezone()
    with stores.lock(), stores.session(dry_run):
        for org in config.organizations:
            done = run_org(config, org, now, stores, dry_run, progress, opener)
            report.orgs.append(done)
            if not dry_run:
                stores.namespace(f"org:{org.name}").set("summary", json.dumps(
                    {"generated_at": now.isoformat(), **done.summary()}, sort_keys=True))
        if not dry_run:
            merged = report.merged()
            written = sum(1 for c in merged.changes if c.status.value == "written")
            stores.log_run(started, datetime.now().astimezone(), "run --organizations",
                           written, len(merged.all_warnings), len(merged.failures),
                           report.exit_code())
    return report


def stored_summary(stores: OwnerStores, org: str) -> dict[str, object] | None:
    """The organisation's summary as its last run left it, or None before the first run."""
    text = stores.namespace(f"org:{org}").get("summary")
    return json.loads(text) if text else None


def find_org(config: Config, name: str | None) -> OrgBase:
    """The organisation ``name`` names (or the only one); ConfigError otherwise."""
    orgs = {o.name: o for o in config.organizations}
    if name is None and len(orgs) == 1:
        return next(iter(orgs.values()))
    if name in orgs:
        return orgs[name]
    known = ", ".join(orgs) or "none configured"
    raise ConfigError(f"{config.path}: {'--org ' + repr(name) if name else '--org'}: "
                      f"name one of the [[organizations]] ({known})")


@contextlib.contextmanager
def one_owner(config: Config, org: OrgBase, address: str, stores: OwnerStores,
              opener: TenantOpener = open_tenant) -> Iterator[tuple[Config, StateStore, Opener]]:
    """One organisation owner as a single-owner run sees them (``status --owner``):
    their config, their state and the tenant's opener for their calendar."""
    tenant = opener(org)
    try:
        member = Member(address.lower())
        cal = tenant.calendar(member)
        with stores.owner(member.address) as store:
            yield (owner_config(config, org, member, cal), store,
                   lambda c, owner, state, at: tenant.open(cal, owner, state, at))
    finally:
        tenant.close()
